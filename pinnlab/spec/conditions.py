"""Initial, boundary, periodic and data conditions (pure descriptions).

Each condition becomes one loss term. Value-style conditions (``field`` and
``value``) are shorthands for an ``equation`` whose residual must vanish:
``Dirichlet("u", "0")`` is the residual ``u - 0`` on the chosen faces,
``Neumann("u", "g")`` is ``dn(u) - g`` with ``dn`` the outward normal derivative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pinnlab.errors import SpecError
from pinnlab.spec import expr

if TYPE_CHECKING:
    from pinnlab.spec.pde import PDE


def _check_field(name: str, field: str | None, pde: PDE) -> None:
    if field is not None and field not in pde.fields:
        raise SpecError(f"condition '{name}': '{field}' is not a field (fields: {', '.join(pde.fields)})")


@dataclass
class Condition:
    """Base class: ``points`` overrides the number of collocation points for this term."""

    points: int | None = None

    kind = "condition"

    def check(self, name: str, pde: PDE) -> None:
        """Validate against the PDE and parse expressions (raises SpecError)."""
        raise NotImplementedError

    def residual_text(self) -> str:
        raise NotImplementedError


@dataclass
class _ValueCondition(Condition):
    field: str | None = None
    value: Any = 0.0
    equation: str | None = None

    def _parse(self, name: str, pde: PDE, boundary: bool) -> None:
        _check_field(name, self.field, pde)
        if (self.field is None) == (self.equation is None):
            raise SpecError(f"condition '{name}': give either 'field' (with 'value') or 'equation'")
        from pinnlab.spec.pde import split_equation

        text = split_equation(self.equation) if self.equation is not None else self.residual_text()
        self.parsed = expr.parse(text, pde.namespace(boundary=boundary), f"condition '{name}'")

    def residual_text(self) -> str:
        return f"{self.field} - ({self.value})"


@dataclass
class Initial(_ValueCondition):
    """At the initial time: ``field = value`` (an expression of the spatial coordinates), or ``equation = 0``."""

    kind = "initial"

    def check(self, name: str, pde: PDE) -> None:
        if pde.time is None:
            raise SpecError(f"condition '{name}': an initial condition needs a time coordinate")
        self._parse(name, pde, boundary=False)


@dataclass
class _BoundaryCondition(_ValueCondition):
    on: list[str] | None = None

    def check(self, name: str, pde: PDE) -> None:
        self._parse(name, pde, boundary=True)
        if self.on is not None and isinstance(self.on, str):
            self.on = [self.on]


@dataclass
class Dirichlet(_BoundaryCondition):
    """``field = value`` on the faces ``on`` (coordinate names or face names; all faces if omitted)."""

    kind = "dirichlet"


@dataclass
class Neumann(_BoundaryCondition):
    """Outward normal derivative ``dn(field) = value`` on the faces ``on``."""

    kind = "neumann"

    def residual_text(self) -> str:
        return f"dn({self.field}) - ({self.value})"


@dataclass
class Boundary(_BoundaryCondition):
    """A general boundary equation (e.g. Robin ``dn(u) + u = 0``) on the faces ``on``."""

    kind = "boundary"


@dataclass
class Periodic(Condition):
    """Equal values (and derivatives up to ``derivatives``) on the two faces of ``coordinate``."""

    coordinate: str = ""
    fields: list[str] | None = None
    derivatives: int = 1
    kind = "periodic"

    def check(self, name: str, pde: PDE) -> None:
        scalar = [c.name for c in pde.coordinates if c.dim is None and c.name != pde.time]
        if self.coordinate not in scalar:
            raise SpecError(
                f"condition '{name}': periodic coordinate '{self.coordinate}' must be a spatial scalar "
                f"coordinate ({', '.join(scalar) or 'none'})"
            )
        if self.fields is None:
            self.fields = list(pde.fields)
        for f in self.fields:
            _check_field(name, f, pde)
        if not isinstance(self.derivatives, int) or self.derivatives < 0:
            raise SpecError(f"condition '{name}': derivatives must be a non-negative integer")


@dataclass
class Data(Condition):
    """Observed values: ``points`` (N, D) and ``values`` (N, len(fields)), or a CSV/NPZ ``file``.

    A CSV file has a header row naming the coordinate columns and the fields; an NPZ
    file holds arrays named ``points`` and ``values`` (or one array per column name).
    """

    fields: list[str] | None = None
    coords: Any = None
    values: Any = None
    file: str | None = None
    kind = "data"

    def check(self, name: str, pde: PDE) -> None:
        if self.fields is None:
            self.fields = list(pde.fields)
        for f in self.fields:
            _check_field(name, f, pde)
        if (self.file is None) == (self.coords is None):
            raise SpecError(f"condition '{name}': give either 'file' or 'coords' with 'values'")
        if self.file is None and self.values is None:
            raise SpecError(f"condition '{name}': 'coords' needs 'values'")


CONDITION_TYPES: dict[str, type[Condition]] = {
    "initial": Initial,
    "dirichlet": Dirichlet,
    "neumann": Neumann,
    "boundary": Boundary,
    "periodic": Periodic,
    "data": Data,
}
