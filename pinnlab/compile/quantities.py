"""Engineering quantities of a solution: boundary and domain integrals, point values and their combinations.

A quantity is declared by a mapping (``output.quantities.NAME`` of a configuration):

* ``{integral: EXPR, over: PART | [PARTS] | boundary | domain, region: SHAPE}`` — the integral
  of an expression of the fields, their derivatives, the coordinates and parameters over
  boundary parts (the expression may use the outward unit normal's components ``nx``,
  ``ny`` (``n`` + column name) and ``dn(u)``) or over the domain (``region``: only its
  part inside a shape, written like a domain tree);
* ``{value: EXPR, at: POINT, minus_at: POINT}`` — the expression at a point (minus its
  value at a second one);
* ``{combine: EXPR}`` — arithmetic of other quantities (by name, in any order, no cycles) and parameters;

each with an optional ``scale`` (a factor), ``time`` (time-dependent problems; default the
final time) and, for integrals, ``points`` (Gauss nodes per piece) and ``mesh_size``.
Integrals and values are weighted sums Σ wᵢ g(xᵢ) over fixed nodes
(:mod:`pinnlab.geometry.quadrature`); derivatives come from the reference (reverse mode)
backend of :mod:`pinnlab.autodiff` applied to the model function.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pinnlab.autodiff import Derivative, make_backend
from pinnlab.compile.evaluate import evaluate
from pinnlab.compile.program import node_requests
from pinnlab.errors import SpecError, did_you_mean
from pinnlab.geometry import Geometry, TimeSpace
from pinnlab.geometry.factory_shapes import shape_from_dict
from pinnlab.geometry.quadrature import Quadrature, boundary_quadrature, domain_quadrature
from pinnlab.spec import expr
from pinnlab.spec.problem import Problem

KINDS = ("integral", "value", "combine")
KEYS = {
    "integral": {"integral", "over", "region", "time", "points", "scale", "mesh_size"},
    "value": {"value", "at", "minus_at", "time", "scale"},
    "combine": {"combine", "scale"},
}
DEFAULT_POINTS = 32
"""Gauss nodes per segment or arc (and per axis of a face or box) of an integral."""
CLOSED_POINTS = 256
"""Trapezoid nodes on a closed curve lying wholly on the boundary."""
_UNSUPPORTED = ("integrals are taken on boxes, 2-D and 3-D shapes (CSG trees included) and meshes; "
                "this domain is a {}")
TRACE_OFFSET = 1e-7
"""Boundary integrands are evaluated this far inside (times the part's extent) and extrapolated."""


@dataclass(frozen=True)
class Quantity:
    """One compiled quantity: ``node`` at ``points`` (N, columns) summed with ``weights``; or, for a
    combination, ``node`` over the other quantities."""

    name: str
    kind: str
    node: expr.Node
    scale: float = 1.0
    points: np.ndarray | None = None
    weights: np.ndarray | None = None
    normals: np.ndarray | None = None


class Quantities:
    """Compiled quantities, evaluated for a model function by :meth:`evaluate`."""

    def __init__(self, problem: Problem, quantities: Sequence[Quantity]):
        self.problem = problem
        self.pde = problem.pde
        self.items = list(quantities)
        self.field_index = {f: i for i, f in enumerate(self.pde.fields)}
        self.cmap = self.pde.column_map()
        self.spatial = tuple(self.pde.spatial_columns())
        self.normal_names = normal_names(self.pde)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def names(self) -> list[str]:
        return [q.name for q in self.items]

    def _requests(self, node: expr.Node) -> list[Derivative]:
        return sorted(node_requests(node, self.field_index, self.cmap, tuple(self.spatial)))

    def _cols(self, node: expr.Partial) -> tuple[int, ...]:
        return tuple(sorted(self.cmap[c] for c in node.wrt))  # type: ignore[misc]

    def _values(self, q: Quantity, f: Callable[[Tensor], Tensor], parameters: Mapping[str, float],
                dtype: torch.dtype, device: torch.device | str) -> Tensor:
        if q.normals is None:
            return self._integrand(q, f, parameters, torch.as_tensor(q.points, dtype=dtype, device=device))
        # A boundary integrand is the trace from inside: fields imposed exactly through a distance
        # function φ have one-sided derivatives on φ = 0 (φ behaves as |distance| there), which the
        # formula at the boundary itself does not give. Evaluated at x − kδn, k = 1, 2, 3, and
        # extrapolated to δ = 0 by the quadratic through them (error O(δ³)).
        x = torch.as_tensor(q.points, dtype=dtype, device=device)
        normals = torch.as_tensor(q.normals, dtype=dtype, device=device)
        cols = list(self.spatial)
        extent = float((x[:, cols].amax(0) - x[:, cols].amin(0)).max()) if len(x) else 0.0
        scale = float(x[:, cols].abs().max()) if len(x) else 0.0
        delta = max(TRACE_OFFSET * extent, 1e4 * torch.finfo(dtype).eps * scale, torch.finfo(dtype).tiny)
        shift = torch.zeros_like(x)
        shift[:, cols] = normals * delta
        g1, g2, g3 = (self._integrand(q, f, parameters, x - k * shift, normals) for k in (1, 2, 3))
        return 3 * g1 - 3 * g2 + g3

    def _integrand(self, q: Quantity, f: Callable[[Tensor], Tensor], parameters: Mapping[str, float], x: Tensor,
                   normals: Tensor | None = None) -> Tensor:
        reqs = self._requests(q.node)
        values = make_backend("autograd").plan(reqs, x.shape[1])(f, x, 0) if reqs else {}

        def lookup(node: expr.Node) -> Any:
            if isinstance(node, expr.Symbol):
                name = node.name
                if name in self.field_index:
                    return values[Derivative(self.field_index[name], "partial", ())]
                if name in self.cmap:
                    return x[:, self.cmap[name]]
                if name in self.normal_names and normals is not None:
                    return normals[:, self.normal_names.index(name)]
                if name in parameters:
                    return float(parameters[name])
                return self.pde.functions[name](x)
            if isinstance(node, expr.Partial):
                return values[Derivative(self.field_index[node.field], "partial", self._cols(node))]
            if isinstance(node, expr.Laplacian):
                kind = "laplacian" if node.power == 1 else "bilaplacian"
                return values[Derivative(self.field_index[node.field], kind, self.spatial)]
            if isinstance(node, expr.Gradient):
                return values[Derivative(self.field_index[node.field], "gradient", self.spatial)]
            if isinstance(node, expr.NormalDerivative):
                grad = values[Derivative(self.field_index[node.field], "gradient", self.spatial)]
                return (grad * normals).sum(-1)
            raise TypeError(f"cannot evaluate {node!r}")

        out = evaluate(q.node, lookup)
        if not isinstance(out, Tensor):
            return torch.full((x.shape[0],), float(out), dtype=torch.float64)
        if out.dim() != 1:
            raise SpecError(f"quantity '{q.name}': the expression is a vector; integrate a scalar "
                            "(e.g. dot(grad(u), grad(u)) or a component)")
        return out.detach().double().cpu()

    def evaluate(self, f: Callable[[Tensor], Tensor], parameters: Mapping[str, float] | None = None,
                 dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> dict[str, float]:
        """Every quantity's value for the model function ``f`` (rows of points to rows of fields).

        ``parameters`` are the PDE parameters' values (default: as declared)."""
        params = {**self.pde.parameter_values, **(parameters or {})}
        results: dict[str, float] = {}
        with torch.no_grad():
            for q in self.items:
                if q.kind == "combine":
                    value = float(evaluate(q.node, lambda n: results.get(n.name, params.get(n.name))))
                else:
                    g = self._values(q, f, params, dtype, device).numpy()
                    value = float(np.dot(q.weights, g))
                results[q.name] = q.scale * value
        return results


def normal_names(pde: Any) -> tuple[str, ...]:
    """Names of the outward normal's components in integrands: ``n`` + each spatial column (``nx``, ``ny``)."""
    return tuple(f"n{pde.columns[c]}" for c in pde.spatial_columns())


# ---------------------------------------------------------------------------- compilation
class _Compiler:
    def __init__(self, problem: Problem, geometry: Geometry, where: str, mesh_size: float | None):
        self.problem, self.pde, self.where = problem, problem.pde, where
        self.geometry = geometry
        self.space = geometry.space if isinstance(geometry, TimeSpace) else geometry
        self.mesh_size = mesh_size
        self.spatial = self.pde.spatial_columns()
        self.columns = self.pde.columns

    def fail(self, name: str, key: str | None, message: str) -> SpecError:
        path = f"{self.where}.{name}" + (f".{key}" if key else "")
        return SpecError(f"key '{path}': {message}")

    def kind(self, name: str, spec: Mapping[str, Any]) -> str:
        given = [k for k in KINDS if spec.get(k) is not None]
        if len(given) != 1:
            raise self.fail(name, None, "give exactly one of 'integral', 'value' or 'combine'"
                            + (f" (got {', '.join(given)})" if given else ""))
        kind = given[0]
        for key, v in spec.items():
            if v is not None and key not in KEYS[kind]:
                raise self.fail(name, key, f"not a key of a '{kind}' quantity{did_you_mean(key, sorted(KEYS[kind]))}"
                                f"; its keys: {', '.join(sorted(KEYS[kind]))}")
        return kind

    def parse(self, name: str, key: str, text: Any, boundary: bool) -> expr.Node:
        ns = self.pde.namespace(boundary=boundary)
        normals = normal_names(self.pde) if boundary else ()
        taken = [n for n in normals if n in ns.known_names()]
        if taken:
            raise self.fail(name, key, f"'{taken[0]}' names the normal component here, but the problem declares "
                            "it too; rename that coordinate, field or parameter")
        ns = dataclasses.replace(ns, functions=ns.functions + normals)
        where = f"{self.where}.{name}.{key}"
        try:
            node = expr.parse(text, ns, where)
        except SpecError as exc:
            message = str(exc)
            if not boundary and any(f"'{n}'" in message for n in normal_names(self.pde)):
                message += " (normal components are known in boundary integrals only)"
            raise SpecError(message) from None
        return node

    def time(self, name: str, spec: Mapping[str, Any]) -> float | None:
        t = spec.get("time")
        if not isinstance(self.geometry, TimeSpace):
            if t is not None:
                raise self.fail(name, "time", "the problem has no time coordinate")
            return None
        if t is None:
            return float(self.geometry.t1)
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
            raise self.fail(name, "time", f"must be a number, got {t!r}")
        if not self.geometry.t0 <= t <= self.geometry.t1:
            raise self.fail(name, "time", f"{t} is outside the time interval [{self.geometry.t0}, {self.geometry.t1}]")
        return float(t)

    def full_points(self, space_points: np.ndarray, t: float | None) -> np.ndarray:
        out = np.zeros((len(space_points), len(self.columns)))
        out[:, self.spatial] = space_points
        if t is not None:
            out[:, self.columns.index(self.pde.time)] = t
        return out

    def point(self, name: str, key: str, value: Any) -> np.ndarray:
        d = len(self.spatial)
        names = [self.columns[c] for c in self.spatial]
        try:
            p = np.asarray(value, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise self.fail(name, key, f"must be a list of {d} numbers ({', '.join(names)}), got {value!r}") from None
        if p.shape != (d,) or not np.all(np.isfinite(p)):
            raise self.fail(name, key, f"must be a list of {d} finite numbers ({', '.join(names)}), got {value!r}")
        if not bool(self.space.contains(torch.as_tensor(p[None]), atol=1e-9)[0]):
            raise self.fail(name, key, f"the point {p.tolist()} is outside the domain")
        return p

    def positive_int(self, name: str, spec: Mapping[str, Any], key: str, default: int) -> int:
        v = spec.get(key)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise self.fail(name, key, f"must be a whole number >= 1, got {v!r}")
        return v

    def scale(self, name: str, spec: Mapping[str, Any]) -> float:
        s = spec.get("scale", 1.0)
        s = 1.0 if s is None else s
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s):
            raise self.fail(name, "scale", f"must be a finite number, got {s!r}")
        return float(s)

    def integral(self, name: str, spec: Mapping[str, Any]) -> Quantity:
        over = spec.get("over")
        if over is None:
            raise self.fail(name, "over", "an integral needs 'over': boundary part names, 'boundary' or 'domain'")
        parts = [over] if isinstance(over, str) else over
        if not isinstance(parts, list) or not parts or not all(isinstance(p, str) for p in parts):
            raise self.fail(name, "over", f"must be a boundary part, a list of them, 'boundary' or 'domain', got {over!r}")
        n = self.positive_int(name, spec, "points", DEFAULT_POINTS)
        t = self.time(name, spec)
        if parts == ["domain"]:
            node = self.parse(name, "integral", spec["integral"], boundary=False)
            rule = self.domain_rule(name, spec, n)
            return Quantity(name, "integral", node, self.scale(name, spec), self.full_points(rule.points, t),
                            rule.weights)
        if spec.get("region") is not None:
            raise self.fail(name, "region", "a region belongs to domain integrals ('over: domain')")
        node = self.parse(name, "integral", spec["integral"], boundary=True)
        labels = None if parts == ["boundary"] else self.labels(name, parts)
        try:
            rule = boundary_quadrature(self.space, labels, points=n, closed_points=max(CLOSED_POINTS, 8 * n))
        except TypeError:
            raise self.fail(name, "over", _UNSUPPORTED.format(type(self.space).__name__)) from None
        except ValueError as exc:
            raise self.fail(name, "over", str(exc)) from None
        return Quantity(name, "integral", node, self.scale(name, spec), self.full_points(rule.points, t),
                        rule.weights, rule.normals)

    def labels(self, name: str, parts: list[str]) -> list[str]:
        faces = list(self.space.faces)
        out: list[str] = []
        for p in parts:
            if p in self.columns and f"{p}_min" in faces:  # a coordinate: both its faces
                out += [f"{p}_min", f"{p}_max"]
            elif p in faces:
                out.append(p)
            else:
                raise self.fail(name, "over", f"unknown boundary part '{p}'{did_you_mean(p, faces + ['boundary', 'domain'])}"
                                f"; parts of this domain: {', '.join(faces)}")
        return out

    def domain_rule(self, name: str, spec: Mapping[str, Any], n: int) -> Quadrature:
        h = spec.get("mesh_size", self.mesh_size)
        if h is not None and (isinstance(h, bool) or not isinstance(h, (int, float)) or not h > 0):
            raise self.fail(name, "mesh_size", f"must be a positive number, got {h!r}")
        shape = self.space
        region = spec.get("region")
        if region is not None:
            names = [self.columns[c] for c in self.spatial]
            try:
                shape = shape_from_dict(region, names, f"{self.where}.{name}.region") & shape
            except SpecError:
                raise
            except (TypeError, ValueError) as exc:
                raise self.fail(name, "region", str(exc)) from None
            shape = _box_intersection(shape) or shape
        try:
            return domain_quadrature(shape, points=n, mesh_size=h)
        except TypeError:
            raise self.fail(name, "over", _UNSUPPORTED.format(type(shape).__name__)) from None
        except ValueError as exc:
            raise self.fail(name, "over", str(exc)) from None

    def value(self, name: str, spec: Mapping[str, Any]) -> Quantity:
        if spec.get("at") is None:
            raise self.fail(name, "at", "a value needs 'at', the point where it is taken")
        node = self.parse(name, "value", spec["value"], boundary=False)
        points = [self.point(name, "at", spec["at"])]
        weights = [1.0]
        if spec.get("minus_at") is not None:
            points.append(self.point(name, "minus_at", spec["minus_at"]))
            weights.append(-1.0)
        t = self.time(name, spec)
        return Quantity(name, "value", node, self.scale(name, spec), self.full_points(np.stack(points), t),
                        np.array(weights))

    def combine(self, name: str, spec: Mapping[str, Any], others: list[str]) -> Quantity:
        ns = expr.Namespace(fields=(), functions=tuple(others), parameters=tuple(self.pde.parameters))
        if isinstance(spec["combine"], str) and name in _words(spec["combine"]):
            raise self.fail(name, "combine", f"'{name}' refers to itself")
        node = expr.parse(spec["combine"], ns, f"{self.where}.{name}.combine")
        return Quantity(name, "combine", node, self.scale(name, spec))


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def _evaluation_order(items: list[Quantity], where: str) -> list[Quantity]:
    """Integrals and values first, then every combination after the quantities it uses; a cycle is an error."""
    by_name = {q.name: q for q in items}
    done: list[Quantity] = [q for q in items if q.kind != "combine"]
    placed = {q.name for q in done}
    pending = [q for q in items if q.kind == "combine"]
    while pending:
        ready = [q for q in pending if expr.symbols(q.node) & set(by_name) <= placed]
        if not ready:
            names = ", ".join(q.name for q in pending)
            raise SpecError(f"key '{where}.{pending[0].name}.combine': the combinations {names} refer to each "
                            "other in a cycle")
        done += ready
        placed |= {q.name for q in ready}
        pending = [q for q in pending if q.name not in placed]
    return done


def _box_intersection(shape: Any) -> Any:
    """An intersection of axis-aligned boxes as one box (for tensor Gauss), else None."""
    from pinnlab.geometry import AxisBox, Intersection, as_shape

    if not isinstance(shape, Intersection):
        return None
    children = [as_shape(c) for c in shape.children]
    boxes = [_box_intersection(c) or c for c in children]
    if not all(isinstance(b, AxisBox) for b in boxes):
        return None
    low = np.max([b.low for b in boxes], axis=0)
    high = np.min([b.high for b in boxes], axis=0)
    if np.any(high <= low):
        raise ValueError("the region does not overlap the domain")
    return AxisBox(low.tolist(), high.tolist(), shape.names)


def compile_quantities(specs: Mapping[str, Mapping[str, Any]], problem: Problem, geometry: Geometry, *,
                       mesh_size: float | None = None, where: str = "output.quantities") -> Quantities:
    """Check and compile quantity declarations (``name -> mapping``, see the module docstring).

    Raises :class:`SpecError` naming ``where.NAME.KEY`` for an unknown key, boundary part or
    symbol, a point outside the domain or a combination of undeclared quantities."""
    comp = _Compiler(problem, geometry, where, mesh_size)
    if not isinstance(specs, Mapping):
        raise SpecError(f"key '{where}': must map quantity names to declarations, got {specs!r}")
    names = list(specs)
    out: list[Quantity] = []
    for i, name in enumerate(names):
        spec = specs[name]
        if not isinstance(name, str) or not name.isidentifier():
            raise SpecError(f"key '{where}.{name}': a quantity name must be an identifier (letters, digits, _)")
        if name in expr.CONSTANTS or name in expr.UNARY_FUNCTIONS + expr.VECTOR_FUNCTIONS + expr.OPERATORS:
            raise SpecError(f"key '{where}.{name}': '{name}' is a constant or function name; give the quantity "
                            "another name")
        if name in problem.pde.parameters:
            raise SpecError(f"key '{where}.{name}': '{name}' is a parameter of the problem; give the quantity "
                            "another name")
        if not isinstance(spec, Mapping):
            raise SpecError(f"key '{where}.{name}': must be a mapping with 'integral', 'value' or 'combine'")
        kind = comp.kind(name, spec)
        if kind == "integral":
            out.append(comp.integral(name, spec))
        elif kind == "value":
            out.append(comp.value(name, spec))
        else:
            out.append(comp.combine(name, spec, names[:i] + names[i + 1:]))
    return Quantities(problem, _evaluation_order(out, where))


__all__ = ["Quantities", "Quantity", "compile_quantities", "normal_names"]
