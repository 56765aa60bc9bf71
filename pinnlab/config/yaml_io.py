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


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML file into a dict (ConfigError on a missing file or malformed YAML)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: malformed YAML{where}: {problem}") from None
    if data is None:
        raise ConfigError(f"{path}: the file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str], source: str = "--set") -> dict[str, Any]:
    """Apply ``KEY.PATH=VALUE`` overrides (values parsed as YAML scalars/lists)."""
    data = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{source}: '{item}' is not of the form key.path=value")
        key, raw = item.split("=", 1)
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise ConfigError(f"{source}: empty key in '{item}'")
        try:
            value = yaml_load(raw)
        except yaml.YAMLError:
            value = raw
        node = data
        for part in parts[:-1]:
            if isinstance(node, list):
                try:
                    node = node[int(part)]
                except (ValueError, IndexError):
                    raise ConfigError(f"{source}: '{key}': '{part}' is not a valid list index") from None
                continue
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, (dict, list)):
                raise ConfigError(f"{source}: '{key}': '{part}' is a value, not a section")
            node = nxt
        last = parts[-1]
        if isinstance(node, list):
            try:
                node[int(last)] = value
            except (ValueError, IndexError):
                raise ConfigError(f"{source}: '{key}': '{last}' is not a valid list index") from None
        else:
            node[last] = value
    return data
