"""Error messages of the configuration: the config key each is about, then the reason.

Pydantic's locations lose their union-member tags (``key_path``) and quote what was given; a whole
number beyond 64 bits is refused wherever it stands (``check_integers``). A :class:`~pinnlab.errors.SpecError` from building a problem names a place of the problem
(``condition 'initial': ...``); :func:`problem_error` turns it into ``FILE: key 'problem.conditions.initial':
...``. A solver rejects a bad option with a ``ValueError`` or ``TypeError`` that names the option;
:func:`solver_error` names its key (``solver.lr``, ``solver.stages.1.damping``) and lists the valid options
when one is unknown.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from typing import Any

from pinnlab.errors import ConfigError, did_you_mean
from pinnlab.solvers.base import solver_class

# -- the schema's messages ----------------------------------------------------------------------

_UNION_TAG = re.compile(r"^(?:float|int|str|bool|none|[a-z-]+\[.*\]|[A-Z]\w*Config)$")


def key_path(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The location without pydantic's union-member tags (``('k', 'float')`` -> ``('k',)``)."""
    return tuple(p for p in loc if not (isinstance(p, str) and _UNION_TAG.match(p)))


def validation_reason(err: Mapping[str, Any]) -> str:
    """A pydantic error's message, without pydantic's prefix and class names."""
    return re.sub(r" or instance of \w+", "", err["msg"].removeprefix("Value error, "))


def quoted(path: str) -> str:
    """A key path in quotes (``repr`` when it holds quotes or characters that do not print)."""
    return f"'{path}'" if path.isprintable() and "'" not in path else repr(path)


def shown_value(value: Any) -> str | None:
    """A scalar value as a message quotes it (shortened), or None for anything larger."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return None


#: the largest whole number a configuration may hold (every count, size and seed is a 64-bit integer)
MAX_INTEGER = 2**63 - 1


def check_integers(data: Any, source: str, path: str = "", seen: set[int] | None = None) -> None:
    """A whole number beyond 64 bits anywhere in the configuration is an error naming its key."""
    seen = set() if seen is None else seen
    if id(data) in seen:  # a YAML alias may make a list contain itself
        return
    seen.add(id(data))
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        where = f"{path}.{key}" if path else str(key)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
            shown = str(value) if len(str(value)) <= 30 else f"{str(value)[:12]}...({len(str(value))} digits)"
            raise ConfigError(f"{source}: key {quoted(where)}: the number {shown} is too large "
                              f"(at most {MAX_INTEGER})")
        check_integers(value, source, where, seen)



# -- problems and solvers -----------------------------------------------------------------------


#: (pattern on a problem SpecError, key for an inline PDE, key for a built-in equation); ``{0}`` is the name
#: the pattern caught. The first match wins; the place named in the key is dropped from the message.
_PROBLEM_PLACES: list[tuple[str, str, str]] = [
    (r"equation '([^']+)': bad option \((.*)\)$", "problem.options", "problem.options"),
    (r"equation '([^']+)': ", "problem.pde.equations.{0}", "problem.options"),
    (r"condition '([^']+)': ", "problem.conditions.{0}", "problem.conditions.{0}"),
    (r"condition '([^']+)' ", "problem.conditions.{0}", "problem.conditions.{0}"),
    (r"parameter '([^']+)': ", "problem.pde.parameters.{0}", "problem.parameters.{0}"),
    (r"(?:parameter name|unknown parameter) ", "problem.pde.parameters", "problem.parameters"),
    (r"time coordinate ", "problem.pde.time", "problem.domain"),
    (r"(?:coordinate|column name|a PDE needs at least one coordinate)", "problem.pde.coordinates", "problem.options"),
    (r"(?:field name|a PDE needs at least one field)", "problem.pde.fields", "problem.options"),
    (r"a PDE needs at least one equation", "problem.pde.equations", "problem.options"),
    (r"(?:function name|the name '[^']+' is used twice)", "problem.pde", "problem.options"),
    (r"exact solution", "problem.exact", "problem.exact"),
    (r"(?:unknown domain|invalid domain|domain|a domain|the domain|a \w+ domain|the range of|dims)", "problem.domain",
     "problem.domain"),
    (r"unknown equation ", "problem.equation", "problem.equation"),
]


def problem_key(message: str, inline: bool, fallback: str | None = None) -> tuple[str, str]:
    """The config key a problem-building message is about, and the message without the place it names
    (``fallback``, or the problem section, when the message names no place)."""
    for pattern, inline_key, builtin_key in _PROBLEM_PLACES:
        match = re.match(pattern, message)
        if match is None:
            continue
        key = (inline_key if inline else builtin_key).format(*match.groups())
        if pattern.startswith("equation '([^']+)': bad option"):
            return key, message
        rest = message[match.end():] if match.group(0).endswith(": ") else message
        return key, rest
    return fallback or ("problem.pde" if inline else "problem"), message


def problem_error(exc: Exception, source: str, inline: bool, fallback: str | None = None) -> ConfigError:
    """A ConfigError naming ``source``, the key of the problem section and the reason."""
    message = str(exc)
    if message.startswith(f"{source}: "):  # already a ConfigError with its own key
        return ConfigError(message)
    key, reason = problem_key(message, inline, fallback)
    return ConfigError(f"{source}: key '{key}': {reason}")


def solver_options(name: str) -> list[str]:
    """The options the solver registered as ``name`` accepts (from its constructors' signatures)."""
    try:
        cls = solver_class(name)
    except ValueError:  # an unknown name is reported by the registry itself
        return []
    names: list[str] = []
    for klass in inspect.getmro(cls) if inspect.isclass(cls) else [cls]:
        init = klass.__dict__.get("__init__") if inspect.isclass(cls) else klass
        if init is None:
            continue
        for p in inspect.signature(init).parameters.values():
            usable = p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in ("self", "steps")
            if usable and p.name not in names:
                names.append(p.name)
    return names


def stage_key(cfg: Any, index: int) -> str | None:
    """Where the options of solver stage ``index`` are written: ``solver`` or ``solver.stages.K``."""
    solver = getattr(cfg, "solver", None)
    if solver is None:
        return None
    return "solver" if getattr(solver, "stages", None) is None else f"solver.stages.{index}"


def solver_error(exc: Exception, source: str, cfg: Any, index: int, stage: Mapping[str, Any]) -> ConfigError:
    """A ConfigError for a bad option of solver stage ``index``: the key of the option and the reason."""
    name = str(stage.get("name"))
    message = str(exc)
    prefix = stage_key(cfg, index)
    where = f"solver stage {index + 1} ('{name}')"
    unknown = re.search(r"unexpected keyword argument '([^']*)'", message)
    if unknown:
        option, valid = unknown.group(1), solver_options(name)
        hint = did_you_mean(option, valid, listing="options")
        key = f"{prefix}.{option}" if prefix else option
        return ConfigError(f"{source}: key '{key}': unknown option of solver '{name}'{hint}")
    if message.startswith(f"unknown solver '{name}'"):
        return ConfigError(f"{source}: key '{prefix}.name': {message}" if prefix else f"{source}: {where}: {message}")
    options = [k for k in stage if k not in ("name",)]
    first = re.match(r"[A-Za-z_][A-Za-z0-9_]*", message)
    option = first.group(0) if first and first.group(0) in options else None
    if option is None:
        named = [k for k in options if re.search(rf"\b{re.escape(str(k))}\b", message)]
        option = named[0] if len(named) == 1 else None
    if prefix is None:
        return ConfigError(f"{source}: {where}: {message}")
    key = f"{prefix}.{option}" if option else prefix
    return ConfigError(f"{source}: key '{key}': {message}" + ("" if option else f" ({where})"))


__all__ = ["MAX_INTEGER", "check_integers", "key_path", "problem_error", "problem_key", "quoted", "shown_value",
           "solver_error", "solver_options", "stage_key", "validation_reason"]
