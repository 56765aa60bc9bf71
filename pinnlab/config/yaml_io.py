"""Reading configuration files: safe YAML (1.2 booleans and floats) and ``--set KEY=VALUE`` overrides."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from pinnlab.errors import ConfigError


class _YAMLLoader(yaml.SafeLoader):
    """Safe YAML with YAML 1.2 booleans and floats: a condition's ``on:`` key stays a string, ``1e-3`` is a number."""


_YAMLLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YAMLLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                  list("tTfF"))
_YAMLLoader.add_implicit_resolver(  # tried after the int resolver, so plain integers stay ints
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)


def yaml_load(text: str) -> Any:
    """Parse YAML text safely (no tags that build objects; YAML 1.2 booleans and floats)."""
    return yaml.load(text, Loader=_YAMLLoader)


def _load_text(text: str, source: str) -> Any:
    """``yaml_load`` with every failure a ConfigError naming ``source``, the line and the problem."""
    try:
        return yaml_load(text)
    except yaml.reader.ReaderError as exc:
        raise ConfigError(f"{source}: malformed YAML at character {exc.position + 1}: {exc.reason} "
                          f"({exc.character!r})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join((getattr(exc, "problem", None) or str(exc)).split())
        raise ConfigError(f"{source}: malformed YAML{where}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{source}: malformed YAML: nested too deeply") from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML file into a dict (ConfigError on a missing file or malformed YAML)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start + 1} is {raw[exc.start:exc.start + 1]!r}); "
                          "save the file as UTF-8") from None
    data = _load_text(text, str(path))
    if data is None:
        raise ConfigError(f"{path}: the file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return data


def _list_index(node: list[Any], part: str, source: str, key: str) -> int:
    try:
        index = int(part)
    except ValueError:
        index = -1
    if not 0 <= index < len(node):
        raise ConfigError(f"{source}: key {key!r}: {part!r} is not a valid list index (0 to {len(node) - 1})")
    return index


def apply_overrides(data: dict[str, Any], overrides: list[str], source: str = "--set") -> dict[str, Any]:
    """Apply ``KEY.PATH=VALUE`` overrides (values parsed as YAML scalars/lists; list items by index)."""
    data = copy.deepcopy(data)
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError(f"{source}: {item!r} is not of the form key.path=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        parts = [p for p in key.split(".") if p]
        if not parts:
            raise ConfigError(f"{source}: empty key in {item!r}")
        try:
            value = yaml_load(raw)
        except (yaml.YAMLError, RecursionError):
            value = raw
        node: Any = data
        for part in parts[:-1]:
            if isinstance(node, list):
                node = node[_list_index(node, part, source, key)]
            else:
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"{source}: key {key!r}: {part!r} is a value, not a section")
        last = parts[-1]
        if isinstance(node, list):
            node[_list_index(node, last, source, key)] = value
        else:
            node[last] = value
    return data
