"""Steady incompressible Navier–Stokes by Taylor–Hood (P2–P1) finite elements and Newton's method.

    -ν Δu + (u·∇)u + ∇p/ρ = 0,    ∇·u = 0    in a planar domain Ω.

Weak form: find u (continuous piecewise quadratic, the Dirichlet data interpolated at the
nodes) and p (continuous piecewise linear) with

    ν (∇u, ∇v) + ((u·∇)u, v) − (p/ρ, ∇·v) = 0,    (∇·u, q) = 0

for all test functions v vanishing on the Dirichlet parts and all q. On boundary parts without
Dirichlet data the weak form leaves the natural "do-nothing" condition ν ∂u/∂n − (p/ρ) n = 0,
the usual outflow condition (Heywood, Rannacher & Turek 1996); per component (``{"v": ...}``)
the other component keeps the natural condition. When the velocity is given on the whole
boundary, p is fixed only up to a constant: one pressure unknown is pinned in the solve and p
is then shifted to zero mean, or to a given value at a given point.

Nonlinear solve: a Stokes solution with the boundary data starts Newton's method (the exact
Jacobian of the convection term, a backtracking line search on the residual); if Newton fails to
converge, the solution at a larger viscosity (2ν, 4ν, ...) starts it again (continuation in ν).
Linear systems are solved by a sparse direct factorisation (SuperLU through scipy).

The mesh is a :class:`pinnlab.geometry.meshing.Triangulation` (points, counter-clockwise triangles,
boundary edges and their labels). Triangles with two edges on the boundary (mesh corners) carry a
spurious pressure mode for Taylor–Hood elements; they are split at their centroid first.

scikit-fem does the assembly (an optional dependency: ``pip install pinnlab[fem]``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pinnlab.errors import SolverError, SpecError, did_you_mean

from .taylor_hood import TaylorHoodField, mesh_edges

#: a boundary value: ``g(x, y) -> (u, v)`` (arrays or numbers), or ``{"u": g_u, "v": g_v}`` per component
BoundaryValue = Callable[..., Any] | Mapping[str, Callable[..., Any]]
COMPONENTS = ("u", "v")


def _skfem() -> Any:
    try:
        import skfem
    except ImportError:
        raise ImportError("the finite-element reference solver needs scikit-fem: pip install pinnlab[fem]") from None
    return skfem


@dataclass(frozen=True)
class NewtonReport:
    """How a solve went: Newton iterations and residual norms (per viscosity of the continuation), time."""

    viscosities: tuple[float, ...]
    iterations: tuple[int, ...]
    residuals: tuple[float, ...]
    seconds: float
    dofs: int


@dataclass(frozen=True)
class _Mesh:
    points: NDArray
    triangles: NDArray
    boundary_edges: NDArray
    edge_labels: tuple[tuple[str, ...], ...]
    labels: list[str] = field(default_factory=list)


def _prepare_mesh(mesh: Any) -> _Mesh:
    """The triangulation as arrays, corner triangles (two boundary edges) split at their centroids."""
    points = np.asarray(mesh.points, dtype=np.float64)
    triangles = np.asarray(mesh.triangles, dtype=np.int64)
    edges = np.asarray(mesh.boundary_edges, dtype=np.int64).reshape(-1, 2)
    sets = tuple(getattr(mesh, "edge_label_sets", ()) or ())
    if not sets:
        sets = tuple((label,) for label in mesh.edge_labels)
    if len(sets) != len(edges):
        raise SpecError(f"the mesh has {len(edges)} boundary edges but {len(sets)} labels")
    all_edges, tri_edges = mesh_edges(triangles)
    keys = np.sort(edges, axis=1)
    n = len(points)
    on_boundary = np.isin(all_edges[:, 0] * n + all_edges[:, 1], keys[:, 0] * n + keys[:, 1])
    corner = on_boundary[tri_edges].sum(axis=1) >= 2
    if np.any(corner):
        split = triangles[corner]
        centre = np.arange(n, n + len(split))
        points = np.vstack([points, points[split].mean(axis=1)])
        parts = [np.column_stack([split[:, a], split[:, b], centre]) for a, b in ((0, 1), (1, 2), (2, 0))]
        triangles = np.vstack([triangles[~corner], *parts])
    labels = list(dict.fromkeys(lab for s in sets for lab in s))
    return _Mesh(points, triangles, edges, sets, labels)


def _boundary_values(g: Any, x: NDArray, name: str) -> dict[str, NDArray]:
    """Component values of the boundary data ``g`` at the points ``x`` ``(N, 2)``."""
    if isinstance(g, Mapping):
        unknown = [c for c in g if c not in COMPONENTS]
        if unknown:
            raise SpecError(f"boundary data on {name!r}: components are 'u' and 'v', got {unknown[0]!r}")
        funcs = dict(g)
    elif callable(g):
        def pair(c: int) -> Callable[..., Any]:
            return lambda xx, yy: g(xx, yy)[c]
        funcs = {"u": pair(0), "v": pair(1)}
    else:
        raise SpecError(f"boundary data on {name!r} must be a function (x, y) -> (u, v) or a dict of functions")
    out = {}
    for c, f in funcs.items():
        value = np.broadcast_to(np.asarray(f(x[:, 0], x[:, 1]), dtype=np.float64), (len(x),)).copy()
        if not np.all(np.isfinite(value)):
            raise SpecError(f"boundary data on {name!r}: component {c!r} is not finite")
        out[c] = value
    return out


class _System:
    """The Taylor–Hood discretisation on one mesh: bases, constant blocks, residual and Jacobian."""

    def __init__(self, mesh: _Mesh, intorder: int = 5):
        skfem = _skfem()
        from skfem.helpers import ddot, div, grad

        self.mesh = mesh
        self.sk = skfem.MeshTri(mesh.points.T.copy(), mesh.triangles.T.copy())
        self.ub = skfem.Basis(self.sk, skfem.ElementVector(skfem.ElementTriP2()), intorder=intorder)
        self.pb = skfem.Basis(self.sk, skfem.ElementTriP1(), intorder=intorder)
        self.nu_dofs, self.np_dofs = self.ub.N, self.pb.N
        laplace = skfem.BilinearForm(lambda u, v, w: ddot(grad(u), grad(v)))
        divergence = skfem.BilinearForm(lambda u, q, w: div(u) * q)
        self.A = skfem.asm(laplace, self.ub).tocsr()
        self.B = skfem.asm(divergence, self.ub, self.pb).tocsr()  # (pressure, velocity)
        edges, _ = mesh_edges(mesh.triangles)
        self.edges = edges
        facets = self.sk.facets.astype(np.int64)  # sorted vertex pairs (int64: codes overflow int32)
        n = len(mesh.points)
        order = np.argsort(facets[0] * n + facets[1])
        code = (facets[0] * n + facets[1])[order]
        self.facet_of_edge = order[np.searchsorted(code, edges[:, 0] * n + edges[:, 1])]

    def node_dofs(self, component: int) -> NDArray:
        """Velocity dofs of one component at the field's nodes (vertices, then edges)."""
        return np.concatenate([self.ub.nodal_dofs[component], self.ub.facet_dofs[component][self.facet_of_edge]])

    def convection(self, uvec: NDArray) -> NDArray:
        """The vector ((u·∇)u, v_i) over the velocity test functions."""
        skfem = _skfem()
        from skfem.helpers import dot, grad, mul

        form = skfem.LinearForm(lambda v, w: dot(mul(grad(w["w"]), w["w"]), v))
        return skfem.asm(form, self.ub, w=self.ub.interpolate(uvec))

    def jacobian_convection(self, uvec: NDArray) -> Any:
        """The derivative of the convection vector: ((w·∇)δ + (δ·∇)w, v)."""
        skfem = _skfem()
        from skfem.helpers import dot, grad, mul

        form = skfem.BilinearForm(lambda u, v, w: dot(mul(grad(u), w["w"]) + mul(grad(w["w"]), u), v))
        return skfem.asm(form, self.ub, w=self.ub.interpolate(uvec))

    def residual(self, x: NDArray, nu: float) -> NDArray:
        u, p = x[:self.nu_dofs], x[self.nu_dofs:]
        ru = nu * (self.A @ u) + self.convection(u) - self.B.T @ p
        return np.concatenate([ru, -(self.B @ u)])

    def matrix(self, nu: float, conv: Any | None) -> Any:
        from scipy.sparse import bmat

        block = nu * self.A if conv is None else nu * self.A + conv
        return bmat([[block, -self.B.T], [-self.B, None]], format="csc")


def _dissection(pattern: Any, xy: NDArray, idx: NDArray, leaf: int = 48) -> list[NDArray]:
    """Geometric nested dissection: halves split at the median of the longer extent, separators last."""
    if len(idx) <= leaf:
        return [idx]
    ax = int((xy[idx].max(0) - xy[idx].min(0)).argmax())
    median = np.median(xy[idx, ax])
    left, right = idx[xy[idx, ax] <= median], idx[xy[idx, ax] > median]
    if len(left) == 0 or len(right) == 0:
        return [idx]
    mark = np.zeros(pattern.shape[0])
    mark[right] = 1.0
    touch = (pattern[left] @ mark) > 0
    return [*_dissection(pattern, xy, left[~touch], leaf), *_dissection(pattern, xy, right, leaf), left[touch]]


class _Linear:
    """Sparse direct solves on the free unknowns, in a nested-dissection order (about half the fill of COLAMD)."""

    def __init__(self, system: _System, free: NDArray):
        self.free = free
        xy = np.vstack([system.ub.doflocs.T, system.pb.doflocs.T])[free]
        block = system.matrix(1.0, None)[free][:, free]
        pattern = (abs(block) + abs(block.T)).tocsr()
        self.perm = np.concatenate(_dissection(pattern, xy, np.arange(len(free))))

    def solve(self, matrix: Any, rhs: NDArray) -> NDArray:
        from scipy.sparse.linalg import splu

        index = self.free[self.perm]
        sub = matrix[index][:, index].tocsc()
        try:
            lu = splu(sub, permc_spec="NATURAL", diag_pivot_thresh=0.1, options={"SymmetricMode": True})
        except RuntimeError as exc:
            raise SolverError(f"the finite-element system is singular ({exc}); check the boundary conditions "
                              "(is the pressure fixed?)") from None
        out = np.zeros(matrix.shape[0])
        out[index] = lu.solve(rhs[index])
        return out


def _newton(system: _System, x: NDArray, nu: float, linear: _Linear, tol: float, max_iter: int,
            history: list[float]) -> tuple[NDArray, int, bool]:
    """Damped Newton iterations from ``x``; returns the iterate, the count and whether it converged."""
    free = linear.free
    r = system.residual(x, nu)
    norm = float(np.linalg.norm(r[free]))
    scale = max(norm, 1e-300)
    history.append(norm)
    for it in range(1, max_iter + 1):
        J = system.matrix(nu, system.jacobian_convection(x[:system.nu_dofs]))
        dx = linear.solve(J, -r)
        step = 1.0
        while True:
            trial = x + step * dx
            r_trial = system.residual(trial, nu)
            trial_norm = float(np.linalg.norm(r_trial[free]))
            if trial_norm < (1 - 1e-4 * step) * norm or step < 1 / 16:
                break
            step /= 2
        if not np.isfinite(trial_norm) or (step < 1 / 16 and trial_norm >= norm):
            return x, it, False
        x, r, norm = trial, r_trial, trial_norm
        history.append(norm)
        size = float(np.abs(step * dx[free]).max()) / max(float(np.abs(x).max()), 1e-300)
        if size < tol or norm < 1e-12 * scale:
            return x, it, True
    return x, max_iter, False


def solve_navier_stokes(mesh: Any, nu: float, dirichlet: Mapping[str | Sequence[str], BoundaryValue], *,
                        rho: float = 1.0, pressure: str | tuple[Sequence[float], float] | None = None,
                        tol: float = 1e-10, max_iter: int = 25, max_continuation: int = 8,
                        metadata: Mapping[str, Any] | None = None) -> NavierStokesSolution:
    """Solve steady Navier–Stokes on ``mesh`` and return the discrete solution.

    ``dirichlet`` maps boundary labels (or tuples of labels) to velocity data (see
    :data:`BoundaryValue`); where two entries share a node the later one wins. Parts not
    named keep the do-nothing condition. ``pressure`` fixes the constant of p when the velocity
    is given on the whole boundary: ``"mean"`` (the default there) for zero mean, or
    ``((x, y), value)``. ``tol`` bounds the last Newton update relative to the solution.
    """
    start = time.perf_counter()
    if not (isinstance(nu, (int, float)) and np.isfinite(nu) and nu > 0):
        raise SpecError(f"the viscosity must be a positive number, got {nu!r}")
    if not (isinstance(rho, (int, float)) and np.isfinite(rho) and rho > 0):
        raise SpecError(f"the density must be a positive number, got {rho!r}")
    m = _prepare_mesh(mesh)
    system = _System(m)
    nu_dofs = system.nu_dofs
    total = nu_dofs + system.np_dofs
    x = np.zeros(total)
    fixed = np.zeros(total, dtype=bool)
    covered = {c: np.zeros(len(m.boundary_edges), dtype=bool) for c in COMPONENTS}
    n = len(m.points)
    edge_code = system.edges[:, 0] * n + system.edges[:, 1]
    nodes = np.vstack([m.points, 0.5 * (m.points[system.edges[:, 0]] + m.points[system.edges[:, 1]])])
    for key, g in dirichlet.items():
        wanted = [key] if isinstance(key, str) else list(key)
        for label in wanted:
            if label not in m.labels:
                raise SpecError(f"boundary data on {label!r}: the mesh has no such part{did_you_mean(label, m.labels)}"
                                f"; parts: {', '.join(m.labels)}")
        rows = np.array([any(lab in s for lab in wanted) for s in m.edge_labels], dtype=bool)
        pairs = np.sort(m.boundary_edges[rows], axis=1)
        edge = np.searchsorted(edge_code, pairs[:, 0] * n + pairs[:, 1])
        node_ids = np.unique(np.concatenate([pairs.ravel(), n + edge]))
        values = _boundary_values(g, nodes[node_ids], "/".join(wanted))
        for c, value in values.items():
            dofs = system.node_dofs(COMPONENTS.index(c))[node_ids]
            x[dofs] = value
            fixed[dofs] = True
            covered[c] |= rows
    closed = all(cov.all() for cov in covered.values())
    if pressure is not None and not closed:
        raise SpecError("the pressure is fixed by the outflow (do-nothing) boundary; give 'pressure' only when "
                        "the velocity is prescribed on the whole boundary")
    gauge = pressure if pressure is not None else ("mean" if closed else None)
    if closed:
        fixed[nu_dofs + int(system.pb.nodal_dofs[0, 0])] = True  # pinned during the solve, shifted after it
    free = np.flatnonzero(~fixed)
    # Stokes start, then Newton with continuation in the viscosity where it fails
    linear = _Linear(system, free)
    stokes = system.matrix(nu, None)
    x = x + linear.solve(stokes, -(stokes @ x))
    viscosities, iterations, history = [], [], []
    ok = False
    for level in range(max_continuation + 1):
        chain = [nu * 2.0 ** k for k in range(level, -1, -1)]
        trial = x.copy()
        for value in chain:
            trial, count, ok = _newton(system, trial, value, linear, tol, max_iter, history)
            viscosities.append(value)
            iterations.append(count)
            if not ok:
                break
        if ok:
            x = trial
            break
    else:
        raise SolverError(f"Newton's method did not converge for nu = {nu:g}, even with continuation from "
                          f"{nu * 2.0 ** max_continuation:g}; refine the mesh or check the data")
    velocity = np.column_stack([x[system.node_dofs(c)] for c in range(2)])
    p = rho * x[nu_dofs + system.pb.nodal_dofs[0]]
    report = NewtonReport(tuple(viscosities), tuple(iterations), tuple(history), time.perf_counter() - start, int(total))
    info = {"nu": float(nu), "rho": float(rho), **dict(metadata or {})}
    solution = NavierStokesSolution(m.points, m.triangles, velocity, p, info, m.boundary_edges, m.edge_labels,
                                    report=report)
    if gauge == "mean":
        return solution.shifted(-solution.pressure_mean())
    if gauge is not None:
        try:
            where, value = gauge
            where = np.asarray(where, dtype=np.float64).reshape(1, 2)
            value = float(value)
        except (TypeError, ValueError):
            raise SpecError(f"pressure must be 'mean' or ((x, y), value), got {pressure!r}") from None
        return solution.shifted(value - float(solution.evaluate(where)[0, 2]))
    return solution


class NavierStokesSolution(TaylorHoodField):
    """A :class:`TaylorHoodField` with the report of its solve (``report``) and ``nu``, ``rho`` in ``metadata``."""

    def __init__(self, *args: Any, report: NewtonReport | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.report = report

    def shifted(self, dp: float) -> NavierStokesSolution:
        return NavierStokesSolution(self.points, self.triangles, self.velocity, self.pressure + dp, self.metadata,
                                    self.boundary_edges, self.edge_labels, report=self.report)
