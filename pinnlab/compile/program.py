"""Compile a :class:`~pinnlab.spec.Problem` into a :class:`ResidualProgram`.

Every equation and condition becomes a loss term evaluated on a *point set*
(all equations share the interior points). The compiler collects the derivatives
each point set needs, asks the derivative backend for one plan per point set, and
turns every expression into a function of those derivative values. Trainable PDE parameters
are an input of :meth:`ResidualProgram.residuals` (their current values); the others are constants.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from pinnlab.autodiff import Backend, Derivative, ModelFunction, Plan, make_backend
from pinnlab.compile.data import Observations, load_data
from pinnlab.compile.evaluate import evaluate
from pinnlab.compile.parameters import ParameterMap
from pinnlab.errors import SpecError
from pinnlab.spec import expr
from pinnlab.spec.conditions import Boundary, Data, Dirichlet, Initial, Neumann, Periodic
from pinnlab.spec.pde import PDE
from pinnlab.spec.problem import Problem


@dataclass
class PointSet:
    """Where a group of terms is evaluated: ``kind`` is interior, boundary, initial, periodic or data.

    Data point sets hold their observations: ``coords``, ``values``, per-point ``weights`` (1/σ²)
    and the ``held_out`` validation points."""

    name: str
    kind: str
    n: int = 0
    faces: list[str] | None = None
    coordinate: str | None = None
    coords: Tensor | None = None
    values: Tensor | None = None
    weights: Tensor | None = None
    held_out: Observations | None = None


@dataclass
class Batch:
    """Points of one point set: ``x`` (N, D); ``normals`` on boundaries; ``pair`` the
    periodic partners; ``values`` (N, k) observed data; ``weights`` (N,) optional
    per-point loss weights (e.g. a causal gate), applied to squared residuals."""

    x: Tensor
    normals: Tensor | None = None
    pair: Tensor | None = None
    values: Tensor | None = None
    weights: Tensor | None = None

    def to(self, **kwargs) -> Batch:
        def move(t):
            return None if t is None else t.to(**kwargs)

        return Batch(move(self.x), move(self.normals), move(self.pair), move(self.values), move(self.weights))


@dataclass
class Term:
    """One loss term: a residual function over a point set.

    ``column`` is the input column a periodic term compares across (None for other kinds).
    """

    name: str
    kind: str
    point_set: str
    nodes: list[expr.Node] = field(default_factory=list)
    fields: list[int] = field(default_factory=list)
    derivative_orders: int = 0
    column: int | None = None


class ResidualProgram:
    """Pure residual functions of a model function, one per loss term.

    ``residuals(f, batches, step, parameters=...)`` maps term names to residual tensors (N,) or (N, k).
    ``unknowns`` are the PDE's trainable parameters (see :mod:`pinnlab.compile.parameters`).
    """

    def __init__(self, problem: Problem, backend: Backend | None = None, defaults: Mapping[str, int] | None = None):
        self.problem = problem
        self.pde: PDE = problem.pde
        self.backend = backend or make_backend("autograd")
        self.columns = self.pde.columns
        self.cmap = self.pde.column_map()
        self.spatial_cols = tuple(self.pde.spatial_columns())
        self.field_index = {f: i for i, f in enumerate(self.pde.fields)}
        self.parameters = self.pde.parameter_values
        self.unknowns = ParameterMap(self.pde.trainable_parameters)
        defaults = dict(defaults or {})
        self.point_sets: dict[str, PointSet] = {}
        self.terms: dict[str, Term] = {}
        self._build_terms(defaults)
        self.requests = self._collect_requests()
        n_inputs = len(self.columns)
        self.plans: dict[str, Plan] = {name: self.backend.plan(sorted(reqs), n_inputs)
                                       for name, reqs in self.requests.items()}

    # -- construction -------------------------------------------------------------
    def _build_terms(self, defaults: dict[str, int]) -> None:
        self.point_sets["interior"] = PointSet("interior", "interior", defaults.get("interior", 1000))
        for name, node in self.pde.parsed.items():
            self.terms[name] = Term(name, "equation", "interior", [node])
        for name, cond in self.problem.conditions.items():
            n = cond.points
            if isinstance(cond, Initial):
                self.point_sets[name] = PointSet(name, "initial", n or defaults.get("initial", 200))
                self.terms[name] = Term(name, "initial", name, [cond.parsed])
            elif isinstance(cond, (Dirichlet, Neumann, Boundary)):
                faces = self._faces(name, cond.on)
                self.point_sets[name] = PointSet(name, "boundary", n or defaults.get("boundary", 200), faces=faces)
                self.terms[name] = Term(name, cond.kind, name, [cond.parsed])
            elif isinstance(cond, Periodic):
                self.point_sets[name] = PointSet(name, "periodic", n or defaults.get("boundary", 200),
                                                 coordinate=cond.coordinate)
                self.terms[name] = Term(name, "periodic", name, fields=[self.field_index[f] for f in cond.fields],
                                        derivative_orders=cond.derivatives, column=self.cmap[cond.coordinate])
            elif isinstance(cond, Data):
                obs, held_out = load_data(name, cond, self.problem)
                self.point_sets[name] = PointSet(name, "data", len(obs), coords=obs.coords, values=obs.values,
                                                 weights=obs.weights, held_out=held_out)
                self.terms[name] = Term(name, "data", name, fields=[self.field_index[f] for f in obs.fields])
            else:  # pragma: no cover - guarded by Problem validation
                raise SpecError(f"condition '{name}': unsupported type {type(cond).__name__}")

    def _faces(self, name: str, on: list[str] | None) -> list[str] | None:
        if on is None:
            return None
        faces: list[str] = []
        for item in on:
            if item in self.cmap and isinstance(self.cmap[item], int):
                if item == self.pde.time:
                    raise SpecError(f"condition '{name}': 'on: {item}' names the time coordinate; "
                                    "use an initial condition instead")
                faces += [f"{item}_min", f"{item}_max"]
            else:
                faces.append(item)
        return faces

    def _node_requests(self, node: expr.Node) -> set[Derivative]:
        return node_requests(node, self.field_index, self.cmap, self.spatial_cols)

    def _partial_cols(self, node: expr.Partial) -> tuple[int, ...]:
        return tuple(sorted(self.cmap[c] for c in node.wrt))  # type: ignore[misc]

    def _collect_requests(self) -> dict[str, set[Derivative]]:
        requests: dict[str, set[Derivative]] = {name: set() for name in self.point_sets}
        for term in self.terms.values():
            reqs = requests[term.point_set]
            for node in term.nodes:
                reqs |= self._node_requests(node)
            if term.kind == "periodic":
                col = term.column
                for f in term.fields:
                    for k in range(term.derivative_orders + 1):
                        reqs.add(Derivative(f, "partial", (col,) * k))
            elif term.kind == "data":
                for f in term.fields:
                    reqs.add(Derivative(f, "partial", ()))
        return requests

    # -- evaluation ---------------------------------------------------------------
    def _lookup(self, x: Tensor, values: dict[Derivative, Tensor], batch: Batch,
                parameters: Mapping[str, Any]) -> Callable[[expr.Node], Any]:
        def lookup(node: expr.Node) -> Any:
            if isinstance(node, expr.Symbol):
                name = node.name
                if name in self.field_index:
                    return values[Derivative(self.field_index[name], "partial", ())]
                if name in self.cmap:
                    return x[:, self.cmap[name]]
                if name in parameters:
                    return parameters[name]
                return self.pde.functions[name](x)
            if isinstance(node, expr.Partial):
                return values[Derivative(self.field_index[node.field], "partial", self._partial_cols(node))]
            if isinstance(node, expr.Laplacian):
                kind = "laplacian" if node.power == 1 else "bilaplacian"
                return values[Derivative(self.field_index[node.field], kind, self.spatial_cols)]
            if isinstance(node, expr.Gradient):
                return values[Derivative(self.field_index[node.field], "gradient", self.spatial_cols)]
            if isinstance(node, expr.NormalDerivative):
                grad = values[Derivative(self.field_index[node.field], "gradient", self.spatial_cols)]
                return (grad * batch.normals[:, list(self.spatial_cols)]).sum(-1)
            raise TypeError(f"cannot evaluate {node!r}")

        return lookup

    def residuals(self, f: ModelFunction, batches: Mapping[str, Batch], step: int = 0,
                  terms: list[str] | None = None, parameters: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
        """Residuals of every term (or of ``terms``) at the given batches.

        ``parameters`` gives the current values of some PDE parameters (0-dim tensors, e.g. the
        trainable ones); the others keep their declared values."""
        wanted = list(self.terms) if terms is None else terms
        constants = self.parameters if not parameters else {**self.parameters, **parameters}
        # in term order, not a set's: string hashes differ between processes, and so would the rounding
        sets = list(dict.fromkeys(self.terms[t].point_set for t in wanted))
        computed: dict[str, tuple[Tensor, dict[Derivative, Tensor]]] = {}
        for name in sets:
            batch = batches[name]
            x = batch.x if batch.pair is None else torch.cat([batch.x, batch.pair])
            computed[name] = (x, self.plans[name](f, x, step))
        out: dict[str, Tensor] = {}
        for tname in wanted:
            term = self.terms[tname]
            batch = batches[term.point_set]
            x, values = computed[term.point_set]
            if term.kind == "periodic":
                n = batch.x.shape[0]
                col = term.column
                diffs = [values[Derivative(fi, "partial", (col,) * k)] for fi in term.fields
                         for k in range(term.derivative_orders + 1)]
                out[tname] = torch.stack([d[:n] - d[n:] for d in diffs], dim=-1)
            elif term.kind == "data":
                pred = torch.stack([values[Derivative(fi, "partial", ())] for fi in term.fields], dim=-1)
                out[tname] = pred - batch.values
            else:
                r = evaluate(term.nodes[0], self._lookup(x, values, batch, constants))
                if not isinstance(r, Tensor) or r.dim() == 0:
                    raise SpecError(f"term '{tname}' does not depend on the solution")
                out[tname] = r
        return out


def node_requests(node: expr.Node, field_index: Mapping[str, int], cmap: Mapping[str, int],
                  spatial_cols: tuple[int, ...]) -> set[Derivative]:
    """The derivatives of the network outputs that evaluating ``node`` reads."""
    reqs: set[Derivative] = set()
    for n in expr.walk(node):
        if isinstance(n, expr.Symbol) and n.name in field_index:
            reqs.add(Derivative(field_index[n.name], "partial", ()))
        elif isinstance(n, expr.Partial):
            reqs.add(Derivative(field_index[n.field], "partial", tuple(sorted(cmap[c] for c in n.wrt))))
        elif isinstance(n, expr.Laplacian):
            kind = "laplacian" if n.power == 1 else "bilaplacian"
            reqs.add(Derivative(field_index[n.field], kind, spatial_cols))
        elif isinstance(n, (expr.Gradient, expr.NormalDerivative)):
            reqs.add(Derivative(field_index[n.field], "gradient", spatial_cols))
    return reqs
