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

from pinnlab.errors import SpecError, did_you_mean
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
    """Observed values of some fields, from one source: ``coords`` (N, D) with ``values`` (N, len(fields)),
    a ``file`` (CSV, NPZ or VTU; see :mod:`pinnlab.compile.data`), or ``from_reference``, observations
    drawn from the problem's own exact solution or reference: ``{points: N, noise: σ, relative: false,
    seed: 0}`` (``relative``: σ is a fraction of each field's standard deviation over the points).

    ``fields`` defaults to every field for inline arrays, to the fields a file names, and to every
    field with a known solution for ``from_reference``. ``sigma`` is the noise standard deviation of
    each observation (a number, one number per point, or the name of a file column; a file column
    named ``sigma`` is used when the key is absent): points are weighted by 1/σ². ``validation`` holds
    that fraction of the points out of training (drawn with ``seed``); their loss is reported.
    """

    fields: list[str] | None = None
    coords: Any = None
    values: Any = None
    file: str | None = None
    from_reference: Any = None
    sigma: Any = None
    validation: float = 0.0
    seed: int = 0
    kind = "data"

    def bind(self, name: str, pde: PDE) -> Data:
        fields = None if self.fields is None else list(self.fields)
        for f in fields or []:
            _check_field(name, f, pde)
        if fields is not None and (not fields or len(set(fields)) != len(fields)):
            raise SpecError(f"condition '{name}': 'fields' must list distinct fields, got {fields}")
        sources = [k for k in ("file", "coords", "from_reference") if getattr(self, k) is not None]
        if len(sources) != 1:
            raise SpecError(f"condition '{name}': give one source of data: 'file', 'points' with 'values' ('coords' in "
                            f"Python) or 'from_reference'" + (f", not {' and '.join(sources)}" if sources else ""))
        if self.coords is not None and self.values is None:
            raise SpecError(f"condition '{name}': 'coords' needs 'values' ('points' in a configuration)")
        if self.values is not None and self.coords is None:
            raise SpecError(f"condition '{name}': 'values' needs 'coords' ('points' in a configuration)")
        if self.coords is not None and fields is None:
            fields = list(pde.fields)
        validation = self.validation
        if isinstance(validation, bool) or not isinstance(validation, (int, float)) or not 0 <= validation < 1:
            raise SpecError(f"condition '{name}': 'validation' must be a fraction in [0, 1), got {validation!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise SpecError(f"condition '{name}': 'seed' must be an integer, got {self.seed!r}")
        if isinstance(self.sigma, str) and self.file is None:
            raise SpecError(f"condition '{name}': 'sigma: {self.sigma}' names a file column, but the data "
                            "come from no file")
        if self.from_reference is not None:
            _check_reference_spec(name, self.from_reference)
            if self.sigma is not None:
                raise SpecError(f"condition '{name}': 'from_reference' sets sigma from its 'noise'; "
                                "do not give 'sigma' too")
        return dataclasses.replace(self, fields=fields, validation=float(validation))


REFERENCE_KEYS = {"points": None, "noise": 0.0, "relative": False, "seed": None}


def _check_reference_spec(name: str, spec: Any) -> None:
    where = f"condition '{name}': from_reference"
    if not isinstance(spec, dict):
        raise SpecError(f"{where} must be a mapping with keys {', '.join(REFERENCE_KEYS)}, got {spec!r}")
    unknown = [k for k in spec if k not in REFERENCE_KEYS]
    if unknown:
        raise SpecError(f"{where}: unknown key '{unknown[0]}'{did_you_mean(str(unknown[0]), REFERENCE_KEYS)}")
    points = spec.get("points")
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise SpecError(f"{where}: 'points' must be a positive integer, got {points!r}")
    noise = spec.get("noise", 0.0)
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not noise >= 0:
        raise SpecError(f"{where}: 'noise' must be a non-negative number, got {noise!r}")
    if not isinstance(spec.get("relative", False), bool):
        raise SpecError(f"{where}: 'relative' must be true or false")
    seed = spec.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise SpecError(f"{where}: 'seed' must be an integer, got {seed!r}")


CONDITION_TYPES: dict[str, type[Condition]] = {
    "initial": Initial,
    "dirichlet": Dirichlet,
    "neumann": Neumann,
    "boundary": Boundary,
    "periodic": Periodic,
    "data": Data,
}
