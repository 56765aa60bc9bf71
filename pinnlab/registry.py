"""One registry class: the names a configuration may use, mapped to the code they select.

Each kind of pluggable thing (equations, solvers, samplers, derivative backends)
keeps one :class:`Registry`; its module offers thin functions over it
(``register_solver``, ``make_solver``, ``solver_names``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from pinnlab.errors import did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Names mapped to objects of one ``kind`` (classes, factories or entries).

    ``label`` introduces the list of names in the unknown-name message
    (``"unknown solver 'adamw'; available: adam, lbfgs (did you mean 'adam'?)"``);
    ``error`` is the exception class raised for an unknown name.
    """

    def __init__(self, kind: str, *, label: str = "available", error: type[Exception] = ValueError):
        self.kind = kind
        self.label = label
        self.error = error
        self._items: dict[str, T] = {}

    def add(self, name: str, obj: T) -> T:
        """Register ``obj`` as ``name`` and return it; a name already taken is a ValueError."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        if name in self._items:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._items[name] = obj
        return obj

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`: ``@registry.register("name")``."""

        def wrap(obj: T) -> T:
            return self.add(name, obj)

        return wrap

    def get(self, name: str) -> T:
        """The object registered as ``name``; an unknown name raises ``error`` with a hint."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise self.error(self.unknown_message(name)) from None

    def create(self, name: str, *args: Any, **options: Any) -> Any:
        """Call the factory registered as ``name`` with ``args`` and ``options``."""
        factory: Any = self.get(name)
        return factory(*args, **options)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        """``(name, object)`` pairs, sorted by name."""
        return [(name, self._items[name]) for name in self.names()]

    def unknown_message(self, name: object) -> str:
        """The message for an unknown ``name``: what was asked for, the registered names, the nearest one."""
        names = self.names()
        return f"unknown {self.kind} '{name}'; {self.label}: {', '.join(names) or 'none'}{did_you_mean(name, names)}"

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.names())})"
