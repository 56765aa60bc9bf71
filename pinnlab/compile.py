"""Compile a :class:`~pinnlab.spec.Problem` into a :class:`ResidualProgram`.

Every equation and condition becomes a loss term evaluated on a *point set*
(all equations share the interior points). The compiler collects the derivatives
each point set needs, asks the derivative backend for one plan per point set, and
turns every expression into a function of those derivative values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pinnlab.autodiff import Backend, Derivative, ModelFunction, Plan, make_backend
from pinnlab.errors import SpecError
from pinnlab.evaluate import evaluate
from pinnlab.spec import expr
from pinnlab.spec.conditions import Boundary, Data, Dirichlet, Initial, Neumann, Periodic
from pinnlab.spec.pde import PDE, Problem


@dataclass
class PointSet:
    """Where a group of terms is evaluated: ``kind`` is interior, boundary, initial, periodic or data."""

    name: str
    kind: str
    n: int = 0
    faces: list[str] | None = None
    coordinate: str | None = None
    coords: Tensor | None = None
    values: Tensor | None = None


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
    """One loss term: a residual function over a point set."""

    name: str
    kind: str
    point_set: str
    nodes: list[expr.Node] = field(default_factory=list)
    fields: list[int] = field(default_factory=list)
    derivative_orders: int = 0


class ResidualProgram:
    """Pure residual functions of a model function, one per loss term.

    ``residuals(f, batches, step)`` maps term names to residual tensors (N,) or (N, k).
    """

    def __init__(self, problem: Problem, backend: Backend | None = None, defaults: Mapping[str, int] | None = None):
        self.problem = problem
        self.pde: PDE = problem.pde
        self.backend = backend or make_backend("autograd")
        self.columns = self.pde.columns
        self.cmap = self.pde.column_map()
        self.spatial_cols = tuple(self.pde.spatial_columns())
        self.field_index = {f: i for i, f in enumerate(self.pde.fields)}
        self.parameters = dict(self.pde.parameters)
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
                col = self.cmap[cond.coordinate]
                self.terms[name] = Term(name, "periodic", name, fields=[self.field_index[f] for f in cond.fields],
                                        derivative_orders=cond.derivatives)
                self.terms[name].column = col  # type: ignore[attr-defined]
            elif isinstance(cond, Data):
                coords, values = load_data(name, cond, self.columns)
                self.point_sets[name] = PointSet(name, "data", len(coords), coords=coords, values=values)
                self.terms[name] = Term(name, "data", name, fields=[self.field_index[f] for f in cond.fields])
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
        reqs: set[Derivative] = set()
        for n in expr.walk(node):
            if isinstance(n, expr.Symbol) and n.name in self.field_index:
                reqs.add(Derivative(self.field_index[n.name], "partial", ()))
            elif isinstance(n, expr.Partial):
                reqs.add(Derivative(self.field_index[n.field], "partial", self._partial_cols(n)))
            elif isinstance(n, expr.Laplacian):
                kind = "laplacian" if n.power == 1 else "bilaplacian"
                reqs.add(Derivative(self.field_index[n.field], kind, self.spatial_cols))
            elif isinstance(n, (expr.Gradient, expr.NormalDerivative)):
                reqs.add(Derivative(self.field_index[n.field], "gradient", self.spatial_cols))
        return reqs

    def _partial_cols(self, node: expr.Partial) -> tuple[int, ...]:
        return tuple(sorted(self.cmap[c] for c in node.wrt))  # type: ignore[misc]

    def _collect_requests(self) -> dict[str, set[Derivative]]:
        requests: dict[str, set[Derivative]] = {name: set() for name in self.point_sets}
        for term in self.terms.values():
            reqs = requests[term.point_set]
            for node in term.nodes:
                reqs |= self._node_requests(node)
            if term.kind == "periodic":
                col = term.column  # type: ignore[attr-defined]
                for f in term.fields:
                    for k in range(term.derivative_orders + 1):
                        reqs.add(Derivative(f, "partial", (col,) * k))
            elif term.kind == "data":
                for f in term.fields:
                    reqs.add(Derivative(f, "partial", ()))
        return requests

    # -- evaluation ---------------------------------------------------------------
    def _lookup(self, x: Tensor, values: dict[Derivative, Tensor], batch: Batch) -> Callable[[expr.Node], Any]:
        def lookup(node: expr.Node) -> Any:
            if isinstance(node, expr.Symbol):
                name = node.name
                if name in self.field_index:
                    return values[Derivative(self.field_index[name], "partial", ())]
                if name in self.cmap:
                    return x[:, self.cmap[name]]
                if name in self.parameters:
                    return self.parameters[name]
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
                  terms: list[str] | None = None) -> dict[str, Tensor]:
        """Residuals of every term (or of ``terms``) at the given batches."""
        wanted = list(self.terms) if terms is None else terms
        sets = {self.terms[t].point_set for t in wanted}
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
                col = term.column  # type: ignore[attr-defined]
                diffs = [values[Derivative(fi, "partial", (col,) * k)] for fi in term.fields
                         for k in range(term.derivative_orders + 1)]
                out[tname] = torch.stack([d[:n] - d[n:] for d in diffs], dim=-1)
            elif term.kind == "data":
                pred = torch.stack([values[Derivative(fi, "partial", ())] for fi in term.fields], dim=-1)
                out[tname] = pred - batch.values
            else:
                r = evaluate(term.nodes[0], self._lookup(x, values, batch))
                if not isinstance(r, Tensor) or r.dim() == 0:
                    raise SpecError(f"term '{tname}' does not depend on the solution")
                out[tname] = r
        return out


def exact_function(problem: Problem) -> Callable[[Tensor], Tensor] | None:
    """The closed-form solution as a function of points (N, D) -> (N, F), if the problem has one.

    Fields without a closed form are NaN.
    """
    if problem.exact is None:
        return None
    pde = problem.pde
    cmap = pde.column_map()
    nodes = problem.exact_parsed

    def solution(x: Tensor) -> Tensor:
        def lookup(node: expr.Node) -> Any:
            name = node.name  # type: ignore[union-attr]
            if name in cmap:
                return x[:, cmap[name]]
            if name in pde.parameters:
                return pde.parameters[name]
            return pde.functions[name](x)

        cols = []
        for f in pde.fields:
            v = evaluate(nodes[f], lookup) if f in nodes else float("nan")
            cols.append(v if isinstance(v, Tensor) else torch.full_like(x[:, 0], float(v)))
        return torch.stack(cols, dim=-1)

    return solution


def load_data(name: str, cond: Data, columns: list[str]) -> tuple[Tensor, Tensor]:
    """Read a data condition's points and values (inline arrays, CSV or NPZ)."""
    fields = list(cond.fields or [])
    if cond.file is None:
        coords = np.asarray(cond.coords, dtype=float)
        values = np.asarray(cond.values, dtype=float)
    else:
        coords, values = _read_data_file(name, cond.file, columns, fields)
    if coords.ndim == 1:
        coords = coords[None, :] if len(columns) > 1 else coords[:, None]
    if values.ndim == 1:
        values = values[:, None] if len(fields) == 1 else values[None, :]
    if coords.ndim != 2 or coords.shape[1] != len(columns):
        raise SpecError(f"condition '{name}': data points must have {len(columns)} columns ({columns}), "
                        f"got shape {coords.shape}")
    if values.shape != (coords.shape[0], len(fields)):
        raise SpecError(f"condition '{name}': data values must have shape ({coords.shape[0]}, {len(fields)}), "
                        f"got {values.shape}")
    if not (np.isfinite(coords).all() and np.isfinite(values).all()):
        raise SpecError(f"condition '{name}': data contain NaN or infinite values")
    dtype = torch.get_default_dtype()
    return torch.as_tensor(coords, dtype=dtype), torch.as_tensor(values, dtype=dtype)


def _read_data_file(name: str, path: str, columns: list[str], fields: list[str]) -> tuple[np.ndarray, np.ndarray]:
    import os

    if not os.path.exists(path):
        raise SpecError(f"condition '{name}': data file '{path}' does not exist")
    try:
        if path.endswith(".npz"):
            with np.load(path) as data:
                if "points" in data and "values" in data:
                    return np.asarray(data["points"], float), np.asarray(data["values"], float)
                missing = [c for c in columns + fields if c not in data]
                if missing:
                    raise SpecError(f"condition '{name}': '{path}' has no array '{missing[0]}' "
                                    "(expected 'points' and 'values', or one array per column and field)")
                return (np.stack([data[c] for c in columns], -1).astype(float),
                        np.stack([data[f] for f in fields], -1).astype(float))
        table = np.genfromtxt(path, delimiter=",", names=True)
    except SpecError:
        raise
    except (OSError, ValueError, KeyError) as exc:  # malformed file
        raise SpecError(f"condition '{name}': cannot read data file '{path}': {exc}") from None
    header = list(table.dtype.names or ())
    missing = [c for c in columns + fields if c not in header]
    if missing:
        raise SpecError(f"condition '{name}': '{path}' has no column '{missing[0]}' (header: {header})")
    table = np.atleast_1d(table)
    return (np.stack([table[c] for c in columns], -1).astype(float),
            np.stack([table[f] for f in fields], -1).astype(float))
