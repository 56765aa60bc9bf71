"""PDE descriptions: pure data, no torch.

A :class:`PDE` names coordinates, fields, parameters and equations;
:class:`~pinnlab.spec.problem.Problem` adds a domain, conditions and (optionally)
a known solution.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pinnlab.errors import SpecError, did_you_mean
from pinnlab.spec import expr
from pinnlab.spec.expr import split_equation
from pinnlab.spec.parameters import Parameter, parameter_from
from pinnlab.spec.record import Record

RESERVED = set(expr.CONSTANTS) | set(expr.UNARY_FUNCTIONS) | set(expr.VECTOR_FUNCTIONS) | set(expr.OPERATORS)


@dataclass(frozen=True)
class Coordinate(Record):
    """A scalar coordinate (``dim=None``) or a vector coordinate with ``dim`` components."""

    name: str
    dim: int | None = None

    @property
    def columns(self) -> list[str]:
        if self.dim is None:
            return [self.name]
        return [f"{self.name}{i + 1}" for i in range(self.dim)]


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise SpecError(f"{what} name {name!r} is not a valid identifier")
    if name in RESERVED:
        raise SpecError(f"{what} name '{name}' is reserved (a function or constant)")
    if "_" in name:
        raise SpecError(f"{what} name '{name}' may not contain '_' (it separates derivatives, as in u_x)")
    return name


@dataclass(frozen=True)
class PDE(Record):
    """A system of PDEs (immutable: change it with :meth:`replace` or :meth:`with_parameters`).

    ``coordinates`` are names (scalar) or :class:`Coordinate` objects (vector ones
    need ``dim``); ``time`` names the time coordinate, if any; ``equations`` map a
    name to an expression whose value must vanish (``"lhs = rhs"`` is allowed);
    ``parameters`` map names to numbers (constants) or :class:`~pinnlab.spec.parameters.Parameter`
    objects (or mappings of their keys), which may be trainable; ``functions`` are known functions of the points (source terms) given in Python:
    each takes the (N, D) point tensor and returns (N,). ``parsed`` holds the
    expression tree of each equation.
    """

    coordinates: list[str | Coordinate]
    fields: list[str]
    equations: dict[str, str]
    parameters: dict[str, float | Parameter] = field(default_factory=dict)
    time: str | None = None
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    parsed: dict[str, expr.Node] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        coords = []
        for c in self.coordinates:
            if isinstance(c, str):
                c = Coordinate(c)
            elif isinstance(c, Mapping):
                c = Coordinate(c.get("name"), c.get("dim"))
            if not isinstance(c, Coordinate):
                raise SpecError(f"coordinate {c!r} must be a name or a Coordinate")
            _check_name(c.name, "coordinate")
            if c.dim is not None and (not isinstance(c.dim, int) or c.dim < 1):
                raise SpecError(f"coordinate '{c.name}': dim must be a positive integer, got {c.dim!r}")
            coords.append(c)
        if not coords:
            raise SpecError("a PDE needs at least one coordinate")
        if not self.fields:
            raise SpecError("a PDE needs at least one field")
        self._set(
            coordinates=coords,
            fields=[_check_name(f, "field") for f in self.fields],
            parameters={_check_name(k, "parameter"): parameter_from(k, v) for k, v in dict(self.parameters).items()},
            functions=dict(self.functions),
        )
        for name in self.functions:
            _check_name(name, "function")
        names = [c.name for c in coords] + self.fields + list(self.parameters) + list(self.functions)
        columns = self.columns
        for name in set(names):
            if names.count(name) > 1:
                raise SpecError(f"the name '{name}' is used twice (coordinates, fields, parameters, functions)")
        clash = set(columns) & (set(names) - {c.name for c in coords})
        if clash:
            raise SpecError(f"column name(s) {sorted(clash)} clash with fields or parameters")
        if self.time is not None:
            scalar = [c.name for c in coords if c.dim is None]
            if self.time not in scalar:
                raise SpecError(f"time coordinate '{self.time}' is not one of the scalar coordinates {scalar}")
        if not self.equations:
            raise SpecError("a PDE needs at least one equation")
        equations = {str(k): split_equation(v) for k, v in dict(self.equations).items()}
        namespace = self.namespace()
        self._set(
            equations=equations,
            parsed={name: expr.parse(text, namespace, f"equation '{name}'") for name, text in equations.items()},
        )

    @property
    def columns(self) -> list[str]:
        """Input column names, in order (vector coordinate x of dim d gives x1..xd)."""
        return [col for c in self.coordinates for col in c.columns]

    @property
    def spatial(self) -> list[Coordinate]:
        return [c for c in self.coordinates if c.name != self.time]

    def column_map(self) -> dict[str, int | slice]:
        """Coordinate name -> column index (scalar) or slice (vector)."""
        out: dict[str, int | slice] = {}
        start = 0
        for c in self.coordinates:
            if c.dim is None:
                out[c.name] = start
                start += 1
            else:
                out[c.name] = slice(start, start + c.dim)
                start += c.dim
        return out

    def spatial_columns(self) -> list[int]:
        """Column indices of the spatial (non-time) coordinates."""
        cmap = self.column_map()
        cols: list[int] = []
        for c in self.spatial:
            loc = cmap[c.name]
            cols += [loc] if isinstance(loc, int) else list(range(loc.start, loc.stop))
        return cols

    def namespace(self, boundary: bool = False, extra_parameters: tuple[str, ...] = ()) -> expr.Namespace:
        return expr.Namespace(
            fields=tuple(self.fields),
            scalar_coords=tuple(c.name for c in self.coordinates if c.dim is None),
            vector_coords=tuple((c.name, c.dim) for c in self.coordinates if c.dim is not None),
            parameters=tuple(self.parameters) + extra_parameters,
            functions=tuple(self.functions),
            spatial=tuple(c.name for c in self.spatial),
            allow_normal=boundary,
        )

    @property
    def parameter_values(self) -> dict[str, float]:
        """Every parameter's value (a trainable one's initial guess)."""
        return {k: float(v) for k, v in self.parameters.items()}

    @property
    def reference_values(self) -> dict[str, float]:
        """The values an exact solution or reference is evaluated with: true values where known."""
        return {k: v.reference if isinstance(v, Parameter) else float(v) for k, v in self.parameters.items()}

    @property
    def trainable_parameters(self) -> dict[str, Parameter]:
        """The parameters learned with the network, in declaration order."""
        return {k: v for k, v in self.parameters.items() if isinstance(v, Parameter) and v.trainable}

    def with_parameters(self, **values: Any) -> PDE:
        """A copy with some parameters replaced: a number makes a constant, a :class:`Parameter`
        replaces the declaration, a mapping updates the existing declaration's keys."""
        unknown = [k for k in values if k not in self.parameters]
        if unknown:
            hint = did_you_mean(unknown[0], self.parameters)
            raise SpecError(f"unknown parameter '{unknown[0]}'{hint}; parameters: {list(self.parameters)}")
        changed = {k: parameter_from(k, v, self.parameters[k]) for k, v in values.items()}
        return self.replace(parameters={**self.parameters, **changed})

