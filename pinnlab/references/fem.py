"""Finite-element references for scalar second-order problems on triangulated planar domains.

:func:`solve_elliptic` solves ``−div(a ∇u) + c u = f`` with continuous Lagrange elements
of degree 1 or 2 (default 2) assembled by scikit-fem on a
:class:`~pinnlab.geometry.meshing.Triangulation`: Dirichlet data on named boundary parts,
a prescribed flux ``a ∂u/∂n = g`` on others, and the natural condition ``a ∂u/∂n = 0`` on
the rest. Quadratic elements are isoparametric where the boundary is curved (edge nodes on
the exact curve), so the L2 error stays O(h³) on domains with circular holes.

The result, :class:`FESolution`, evaluates u and ∇u at arbitrary points of the domain with
the elements' own shape functions, integrates errors against closed forms or other
solutions, and writes itself to ``.vtu``. scikit-fem is an optional dependency
(``pip install pinnlab[fem]``), imported when a problem is solved.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pinnlab.errors import ConfigError, SpecError
from pinnlab.geometry.meshing import Triangulation

from ._lagrange import LagrangeField

Coefficient = float | Callable[[NDArray, NDArray], Any]
"""A number, or a vectorised function of the coordinate arrays ``(x, y)``."""
Parts = str | Sequence[str]


def _skfem() -> Any:
    try:
        import skfem
    except ImportError:
        raise ConfigError("finite-element references need scikit-fem: pip install pinnlab[fem]") from None
    return skfem


def _values(fn: Coefficient, x: NDArray, y: NDArray, what: str) -> NDArray:
    """``fn`` at the points ``(x, y)`` as a finite float64 array of their shape."""
    if callable(fn):
        try:
            out = np.asarray(fn(x, y), dtype=np.float64)
        except Exception as err:  # noqa: BLE001 - a user's function: name it and the reason
            raise SpecError(f"{what}: evaluating the function failed: {type(err).__name__}: {err}") from None
    elif isinstance(fn, (int, float)) and not isinstance(fn, bool):
        out = np.asarray(float(fn))
    else:
        raise SpecError(f"{what} must be a number or a function of (x, y), got {type(fn).__name__}")
    try:
        out = np.broadcast_to(out, x.shape)
    except ValueError:
        raise SpecError(f"{what}: the function returned shape {out.shape} for points of shape {x.shape}") from None
    if not np.all(np.isfinite(out)):
        raise SpecError(f"{what} is not finite at some points (e.g. {_first_bad(out, x, y)})")
    return out


def _first_bad(values: NDArray, x: NDArray, y: NDArray) -> list[float]:
    i = np.unravel_index(int(np.argmax(~np.isfinite(values))), values.shape)
    return [float(x[i]), float(y[i])]


class FESolution:
    """A finite-element solution u_h: nodes, values, evaluation anywhere in the domain, errors, ``.vtu`` output."""

    def __init__(self, triangulation: Triangulation, field: LagrangeField, nodes: NDArray, info: dict[str, Any]):
        self.triangulation = triangulation
        self.field = field
        self.nodes = nodes
        self.info = info

    def __repr__(self) -> str:
        return (f"FESolution(P{self.order}, {self.num_dofs} dofs, longest edge {self.info['h']:.3g}, "
                f"{len(self.triangulation.triangles)} triangles)")

    @property
    def order(self) -> int:
        return self.field.order

    @property
    def values(self) -> NDArray:
        """u_h at :attr:`nodes` ``(N, 2)`` (vertices, then edge nodes for P2)."""
        return self.field.values

    @property
    def num_dofs(self) -> int:
        return len(self.field.values)

    def __call__(self, x: ArrayLike) -> NDArray:
        """u_h at the rows of ``x`` ``(n, 2)``."""
        return self.evaluate(x)[0]

    def gradient(self, x: ArrayLike) -> NDArray:
        """∇u_h ``(n, 2)`` at the rows of ``x`` (from the cell holding each point)."""
        grad = self.evaluate(x, gradient=True)[1]
        assert grad is not None
        return grad

    def evaluate(self, x: ArrayLike, gradient: bool = False) -> tuple[NDArray, NDArray | None]:
        """Values ``(n,)`` and, with ``gradient``, gradients ``(n, 2)``; points far outside the mesh are an error."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != 2:
            raise SpecError(f"points must have shape (n, 2), got {x.shape}")
        try:
            return self.field.evaluate(x, gradient)
        except ValueError as err:
            raise SpecError(f"cannot evaluate the finite-element solution: {err}") from None

    # ----------------------------------------------------------------- integrals
    def _degree(self) -> int:
        return 2 * self.order + 2

    def l2_norm(self) -> float:
        """‖u_h‖ in L2 over the (discrete) domain."""
        _, w, _ = self.field.quadrature(self._degree())
        u, _ = self.field.values_at_quadrature(self._degree())
        return float(np.sqrt(np.sum(w * u * u)))

    def l2_error(self, exact: Callable[[NDArray, NDArray], Any], relative: bool = False) -> float:
        """‖u_h − exact‖ in L2 (divided by ‖exact‖ when ``relative``)."""
        x, w, _ = self.field.quadrature(self._degree())
        u, _ = self.field.values_at_quadrature(self._degree())
        ref = _values(exact, x[..., 0], x[..., 1], "the exact solution")
        err = float(np.sqrt(np.sum(w * (u - ref) ** 2)))
        return err / float(np.sqrt(np.sum(w * ref * ref))) if relative else err

    def h1_error(self, exact_gradient: Callable[[NDArray, NDArray], Any]) -> float:
        """‖∇u_h − ∇exact‖ in L2; ``exact_gradient(x, y)`` returns the pair ``(u_x, u_y)``."""
        x, w, _ = self.field.quadrature(self._degree())
        _, g = self.field.values_at_quadrature(self._degree(), gradient=True)
        assert g is not None
        gx, gy = exact_gradient(x[..., 0], x[..., 1])
        ex = _values(lambda *_: gx, x[..., 0], x[..., 1], "the exact gradient")
        ey = _values(lambda *_: gy, x[..., 0], x[..., 1], "the exact gradient")
        return float(np.sqrt(np.sum(w * ((g[..., 0] - ex) ** 2 + (g[..., 1] - ey) ** 2))))

    def difference(self, other: FESolution | Callable[[NDArray], NDArray], relative: bool = True) -> float:
        """‖u_h − other‖ in L2 over this solution's mesh (``other`` evaluated at its quadrature points)."""
        x, w, _ = self.field.quadrature(self._degree())
        u, _ = self.field.values_at_quadrature(self._degree())
        v = np.asarray(other(x.reshape(-1, 2)), dtype=np.float64).reshape(u.shape)
        err = float(np.sqrt(np.sum(w * (u - v) ** 2)))
        return err / float(np.sqrt(np.sum(w * u * u))) if relative else err

    # ----------------------------------------------------------------- output
    def write_vtu(self, path: str | Path, name: str = "u") -> Path:
        """The solution as a ``.vtu`` file of (quadratic) triangles with the point field ``name``."""
        import meshio

        path = Path(path)
        points = np.column_stack([self.nodes, np.zeros(len(self.nodes))])
        kind = "triangle6" if self.order == 2 else "triangle"
        cells = self.field.dofs.copy()
        corners = self.field.geometry[:, :3]
        d1, d2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
        clockwise = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0] < 0
        flip = [0, 2, 1, 5, 4, 3] if self.order == 2 else [0, 2, 1]  # counter-clockwise, edge nodes along
        cells[clockwise] = cells[clockwise][:, flip]
        meshio.write(path, meshio.Mesh(points, [(kind, cells)], point_data={name: self.values}))
        return path


def solve_elliptic(mesh: Triangulation, *, f: Coefficient = 0.0, a: Coefficient = 1.0, c: Coefficient = 0.0,
                   dirichlet: Mapping[Parts, Coefficient] | None = None,
                   neumann: Mapping[Parts, Coefficient] | None = None,
                   order: int = 2, curved: bool = True) -> FESolution:
    """The P1 or P2 finite-element solution of ``−div(a ∇u) + c u = f`` on ``mesh``.

    ``dirichlet`` maps boundary parts (a label or a list of labels, as in conditions'
    ``on:``) to the value of u there; ``neumann`` maps parts to the flux ``a ∂u/∂n``; the
    rest of the boundary has ``a ∂u/∂n = 0``. Where parts given later share nodes with
    earlier ones (corners), the later value is used. ``curved`` puts the edge nodes of
    quadratic elements on the exact boundary curves (isoparametric cells).
    """
    skfem = _skfem()
    if not isinstance(mesh, Triangulation):
        raise SpecError(f"solve_elliptic needs a Triangulation (pinnlab.geometry.triangulate), got {type(mesh).__name__}")
    if order not in (1, 2):
        raise SpecError(f"order must be 1 or 2, got {order!r}")
    dirichlet, neumann = dict(dirichlet or {}), dict(neumann or {})
    start = time.perf_counter()
    m1 = skfem.MeshTri1(np.ascontiguousarray(mesh.points.T), np.ascontiguousarray(mesh.triangles.T))
    facet_of = _facet_index(m1, mesh.boundary_edges)
    is_curved = bool(curved and order == 2 and mesh.edge_midpoints is not None and np.any(
        np.abs(mesh.edge_midpoints - mesh.points[mesh.boundary_edges].mean(1)) > 0))
    geometry = m1
    if is_curved:
        m2 = skfem.MeshTri2.from_mesh(m1)
        doflocs = m2.doflocs.copy()
        doflocs[:, m2.dofs.facet_dofs[0, facet_of]] = mesh.edge_midpoints.T
        geometry = skfem.MeshTri2(doflocs, m2.t)
    element = skfem.ElementTriP2() if order == 2 else skfem.ElementTriP1()
    degree = 2 * order + 2
    basis = skfem.Basis(geometry, element, intorder=degree)
    system, rhs = _assemble(skfem, basis, f, a, c)
    for key, flux in neumann.items():
        facets = facet_of[mesh.edges_on(key)]
        fb = skfem.FacetBasis(geometry, element, facets=facets, intorder=degree)
        rhs = rhs + skfem.LinearForm(lambda v, w, g=flux, k=key: _values(
            g, w.x[0], w.x[1], f"the Neumann data on {k!r}") * v).assemble(fb)
    values = np.zeros(basis.N)
    fixed = np.zeros(basis.N, dtype=bool)
    locs = basis.doflocs
    for key, g in dirichlet.items():
        dofs = basis.get_dofs(facets=facet_of[mesh.edges_on(key)]).all()
        values[dofs] = _values(g, locs[0, dofs], locs[1, dofs], f"the Dirichlet data on {key!r}")
        fixed[dofs] = True
    if not fixed.any() and not np.any(_values(c, locs[0], locs[1], "c")):
        raise SpecError("without Dirichlet data and with c = 0 the problem has no unique solution")
    free = np.flatnonzero(~fixed)
    values[free] += _linear_solve(system, rhs, values, free)
    field = LagrangeField(order, locs[:, basis.element_dofs].transpose(2, 1, 0), basis.element_dofs.T, values)
    info = {"order": order, "dofs": int(basis.N), "h": float(mesh.edge_lengths().max()), "curved": is_curved,
            "time_s": time.perf_counter() - start}
    return FESolution(mesh, field, np.ascontiguousarray(locs.T), info)


def _facet_index(m1: Any, edges: NDArray) -> NDArray:
    """scikit-fem's facet number of every boundary edge."""
    facets = m1.facets.T
    n = int(m1.p.shape[1])
    keys = np.sort(facets, axis=1) @ np.array([n, 1])
    order = np.argsort(keys)
    wanted = np.sort(edges, axis=1) @ np.array([n, 1])
    pos = np.searchsorted(keys[order], wanted)
    found = order[np.clip(pos, 0, len(order) - 1)]
    if len(edges) and not np.array_equal(keys[found], wanted):
        raise SpecError("the boundary edges of the triangulation are not edges of its triangles")
    return found


def _assemble(skfem: Any, basis: Any, f: Coefficient, a: Coefficient, c: Coefficient) -> tuple[Any, NDArray]:
    from skfem.helpers import dot, grad

    x = basis.mapping.F(basis.X)
    a_q = _values(a, x[0], x[1], "a")
    if np.any(a_q <= 0):
        raise SpecError("the diffusion coefficient a must be positive in the domain")
    c_q = _values(c, x[0], x[1], "c")
    f_q = _values(f, x[0], x[1], "f")

    @skfem.BilinearForm
    def form(u: Any, v: Any, w: Any) -> Any:
        return w["a"] * dot(grad(u), grad(v)) + w["c"] * u * v

    @skfem.LinearForm
    def load(v: Any, w: Any) -> Any:
        return w["f"] * v

    return form.assemble(basis, a=a_q, c=c_q), load.assemble(basis, f=f_q)


def _linear_solve(system: Any, rhs: NDArray, values: NDArray, free: NDArray) -> NDArray:
    """The free unknowns' correction: ``A_ff x = b_f − A u0`` by a sparse LU factorisation (the matrix is
    symmetric: a minimum-degree ordering of A + Aᵀ and symmetric pivoting)."""
    from scipy.sparse.linalg import splu

    residual = rhs - system @ values
    block = system.tocsr()[free][:, free].tocsc()
    return splu(block, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True}).solve(residual[free])
