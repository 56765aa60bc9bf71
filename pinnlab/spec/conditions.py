"""Initial, boundary, periodic and data conditions (pure, immutable descriptions).

Each condition becomes one loss term. Value-style conditions (``field`` and
``value``) are shorthands for an ``equation`` whose residual must vanish:
``Dirichlet("u", "0")`` is the residual ``u - 0`` on the chosen faces,
``Neumann("u", "g")`` is ``dn(u) - g`` with ``dn`` the outward normal derivative.

A condition is checked against a PDE by :meth:`Condition.bind`, which returns a
copy with its defaults filled in (``fields``) and its expression parsed
(``parsed``); a :class:`~pinnlab.spec.problem.Problem` holds bound conditions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pinnlab.errors import SpecError
from pinnlab.spec import expr
from pinnlab.spec.expr import split_equation
from pinnlab.spec.pde import PDE
from pinnlab.spec.record import Record


def _check_field(name: str, field: str | None, pde: PDE) -> None:
    if field is not None and field not in pde.fields:
        raise SpecError(f"condition '{name}': '{field}' is not a field (fields: {', '.join(pde.fields)})")


@dataclass(frozen=True)
class Condition(Record):
    """Base class: ``points`` overrides the number of collocation points for this term."""

    points: int | None = None

    kind = "condition"

    def bind(self, name: str, pde: PDE) -> Condition:
        """A copy validated against ``pde``, defaults filled in and expressions parsed (raises SpecError)."""
        raise NotImplementedError

    def residual_text(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class _ValueCondition(Condition):
    field: str | None = None
    value: Any = 0.0
    equation: str | None = None
    parsed: expr.Node | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    def _bind(self, name: str, pde: PDE, boundary: bool) -> _ValueCondition:
        _check_field(name, self.field, pde)
        if (self.field is None) == (self.equation is None):
            raise SpecError(f"condition '{name}': give either 'field' (with 'value') or 'equation'")
        text = split_equation(self.equation) if self.equation is not None else self.residual_text()
        bound = dataclasses.replace(self)
        bound._set(parsed=expr.parse(text, pde.namespace(boundary=boundary), f"condition '{name}'"))
        return bound

    def residual_text(self) -> str:
        return f"{self.field} - ({self.value})"


@dataclass(frozen=True)
class Initial(_ValueCondition):
    """At the initial time: ``field = value`` (an expression of the spatial coordinates), or ``equation = 0``."""

    kind = "initial"

    def bind(self, name: str, pde: PDE) -> Initial:
        if pde.time is None:
            raise SpecError(f"condition '{name}': an initial condition needs a time coordinate")
        return self._bind(name, pde, boundary=False)  # type: ignore[return-value]


@dataclass(frozen=True)
class _BoundaryCondition(_ValueCondition):
    on: list[str] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.on, str):
            self._set(on=[self.on])
        elif self.on is not None:
            self._set(on=list(self.on))

    def bind(self, name: str, pde: PDE) -> _BoundaryCondition:
        return self._bind(name, pde, boundary=True)  # type: ignore[return-value]


@dataclass(frozen=True)
class Dirichlet(_BoundaryCondition):
    """``field = value`` on the faces ``on`` (coordinate names or face names; all faces if omitted)."""

    kind = "dirichlet"


@dataclass(frozen=True)
class Neumann(_BoundaryCondition):
    """Outward normal derivative ``dn(field) = value`` on the faces ``on``."""

    kind = "neumann"

    def residual_text(self) -> str:
        return f"dn({self.field}) - ({self.value})"


@dataclass(frozen=True)
class Boundary(_BoundaryCondition):
    """A general boundary equation (e.g. Robin ``dn(u) + u = 0``) on the faces ``on``."""

    kind = "boundary"


@dataclass(frozen=True)
class Periodic(Condition):
    """Equal values (and derivatives up to ``derivatives``) on the two faces of ``coordinate``.

    ``fields`` defaults to every field of the PDE.
    """

    coordinate: str = ""
    fields: list[str] | None = None
    derivatives: int = 1
    kind = "periodic"

    def bind(self, name: str, pde: PDE) -> Periodic:
        scalar = [c.name for c in pde.coordinates if c.dim is None and c.name != pde.time]
        if self.coordinate not in scalar:
            raise SpecError(
                f"condition '{name}': periodic coordinate '{self.coordinate}' must be a spatial scalar "
                f"coordinate ({', '.join(scalar) or 'none'})"
            )
        fields = list(pde.fields) if self.fields is None else list(self.fields)
        for f in fields:
            _check_field(name, f, pde)
        if not isinstance(self.derivatives, int) or self.derivatives < 0:
            raise SpecError(f"condition '{name}': derivatives must be a non-negative integer")
        return dataclasses.replace(self, fields=fields)


@dataclass(frozen=True)
class Data(Condition):
    """Observed values: ``points`` (N, D) and ``values`` (N, len(fields)), or a CSV/NPZ ``file``.

    A CSV file has a header row naming the coordinate columns and the fields; an NPZ
    file holds arrays named ``points`` and ``values`` (or one array per column name).
    ``fields`` defaults to every field of the PDE.
    """

    fields: list[str] | None = None
    coords: Any = None
    values: Any = None
    file: str | None = None
    kind = "data"

    def bind(self, name: str, pde: PDE) -> Data:
        fields = list(pde.fields) if self.fields is None else list(self.fields)
        for f in fields:
            _check_field(name, f, pde)
        if (self.file is None) == (self.coords is None):
            raise SpecError(f"condition '{name}': give either 'file' or 'coords' with 'values'")
        if self.file is None and self.values is None:
            raise SpecError(f"condition '{name}': 'coords' needs 'values'")
        return dataclasses.replace(self, fields=fields)


CONDITION_TYPES: dict[str, type[Condition]] = {
    "initial": Initial,
    "dirichlet": Dirichlet,
    "neumann": Neumann,
    "boundary": Boundary,
    "periodic": Periodic,
    "data": Data,
}
