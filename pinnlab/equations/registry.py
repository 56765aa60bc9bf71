"""One registry of built-in problems: YAML names map to factories here."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from pinnlab.errors import SpecError
from pinnlab.spec.pde import Problem


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., Problem]
    summary: str


_EQUATIONS: dict[str, Entry] = {}


def register_equation(name: str, summary: str):
    """Decorator registering ``factory(**options) -> Problem`` under ``name``."""

    def wrap(factory: Callable[..., Problem]) -> Callable[..., Problem]:
        _EQUATIONS[name] = Entry(name, factory, summary)
        return factory

    return wrap


def equation_names() -> list[str]:
    return sorted(_EQUATIONS)


def equation_entries() -> list[Entry]:
    return [_EQUATIONS[n] for n in equation_names()]


def get_equation(name: str, **options) -> Problem:
    """Build the built-in problem ``name`` (options are factory keyword arguments)."""
    if name not in _EQUATIONS:
        close = difflib.get_close_matches(name, list(_EQUATIONS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise SpecError(f"unknown equation '{name}'{hint}; built-in: {', '.join(equation_names())}")
    try:
        return _EQUATIONS[name].factory(**options)
    except TypeError as exc:
        raise SpecError(f"equation '{name}': bad option ({exc})") from None
