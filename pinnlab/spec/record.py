"""Immutable spec objects: frozen dataclasses that change only by building a validated copy."""

from __future__ import annotations

import dataclasses
from typing import Any, Self

from pinnlab.errors import SpecError, did_you_mean


class Record:
    """Mixin for the frozen dataclasses of :mod:`pinnlab.spec`.

    ``replace(**changes)`` is :func:`dataclasses.replace` with the changed fields
    checked by name: the copy runs the class's validation again, so a bad value
    raises :class:`~pinnlab.errors.SpecError` just as it would in the constructor.
    Derived values (parsed expressions, filled-in defaults) are recomputed, never copied.
    """

    __slots__ = ()

    def replace(self, **changes: Any) -> Self:
        """A validated copy with ``changes`` applied (field name -> new value)."""
        allowed = [f.name for f in dataclasses.fields(self) if f.init]  # type: ignore[arg-type]
        for key in changes:
            if key not in allowed:
                raise SpecError(f"{type(self).__name__}.replace: unknown field '{key}'"
                                f"{did_you_mean(key, allowed)}; fields: {', '.join(allowed)}")
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def _set(self, **values: Any) -> None:
        """Store normalised or derived field values while the object is being built."""
        declared = {f.name for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        for key, value in values.items():
            if key not in declared:
                raise AttributeError(f"{type(self).__name__} has no field '{key}'")
            object.__setattr__(self, key, value)
