"""A problem: a PDE with its domain, conditions and, when known, its solution (pure data, no torch)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pinnlab.errors import SpecError
from pinnlab.spec import expr
from pinnlab.spec.conditions import Condition
from pinnlab.spec.pde import PDE
from pinnlab.spec.record import Record


@dataclass(frozen=True)
class Problem(Record):
    """A PDE with its domain, conditions and, when known, its solution.

    ``domain`` is a geometry object or a dict (see :func:`pinnlab.geometry.geometry_from_dict`).
    ``conditions`` map term names to conditions; the problem keeps them bound to
    its PDE (see :meth:`Condition.bind`). ``exact`` maps fields to closed-form
    expressions of coordinates and parameters (``exact_parsed`` holds their trees,
    ``exact_missing`` the fields without one); ``reference`` is a callable taking
    an (N, D) array and returning (N, F) values (for solutions known only
    numerically). Either gives the run its error metrics.

    A problem is immutable: :meth:`replace` gives a copy, validated again, with
    some fields changed, e.g. ``problem.replace(conditions={...})``.
    """

    pde: PDE
    domain: Any
    conditions: dict[str, Condition] = field(default_factory=dict)
    exact: dict[str, str] | None = None
    reference: Callable[[Any], Any] | None = None
    name: str = "problem"
    exact_parsed: dict[str, expr.Node] = field(default_factory=dict, init=False, repr=False, compare=False)
    exact_missing: list[str] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.conditions, Mapping):
            raise SpecError(f"conditions must map names to Condition objects, got {type(self.conditions).__name__}")
        bound: dict[str, Condition] = {}
        for name, cond in self.conditions.items():
            if not isinstance(cond, Condition):
                raise SpecError(f"condition '{name}' is not a Condition object")
            if name in self.pde.equations:
                raise SpecError(f"condition '{name}' has the same name as an equation")
            bound[name] = cond.bind(name, self.pde)
        self._set(conditions=bound)
        if self.exact is not None:
            exact = dict(self.exact)
            missing = [f for f in self.pde.fields if f not in exact]
            unknown = [f for f in exact if f not in self.pde.fields]
            if unknown:
                raise SpecError(f"exact solution: '{unknown[0]}' is not a field ({self.pde.fields})")
            ns = expr.Namespace(
                fields=(), scalar_coords=self.pde.namespace().scalar_coords,
                vector_coords=self.pde.namespace().vector_coords, parameters=tuple(self.pde.parameters),
                functions=tuple(self.pde.functions),
            )
            self._set(
                exact=exact,
                exact_parsed={f: expr.parse(text, ns, f"exact solution of '{f}'") for f, text in exact.items()},
                exact_missing=missing,
            )

    def has_reference(self) -> bool:
        return self.reference is not None or self.exact is not None
