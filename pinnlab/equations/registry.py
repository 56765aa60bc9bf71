"""One registry of built-in problems: YAML names map to factories here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pinnlab.errors import SpecError
from pinnlab.registry import Registry
from pinnlab.spec.problem import Problem


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., Problem]
    summary: str


_EQUATIONS: Registry[Entry] = Registry("equation", label="built-in", error=SpecError)


def register_equation(name: str, summary: str):
    """Decorator registering ``factory(**options) -> Problem`` under ``name``."""

    def wrap(factory: Callable[..., Problem]) -> Callable[..., Problem]:
        _EQUATIONS.add(name, Entry(name, factory, summary))
        return factory

    return wrap


def equation_names() -> list[str]:
    return _EQUATIONS.names()


def equation_entries() -> list[Entry]:
    return [entry for _, entry in _EQUATIONS.items()]


def get_equation(name: str, **options) -> Problem:
    """Build the built-in problem ``name`` (options are factory keyword arguments)."""
    entry = _EQUATIONS.get(name)
    try:
        return entry.factory(**options)
    except TypeError as exc:
        raise SpecError(f"equation '{name}': bad option ({exc})") from None
