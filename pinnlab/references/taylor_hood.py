"""Taylor–Hood P2–P1 flow fields on a triangulation, evaluated anywhere with numpy and scipy only.

A :class:`TaylorHoodField` holds a triangulation, the velocity at its vertices and edge
midpoints (continuous piecewise quadratics) and the pressure at its vertices (continuous
piecewise linears). It evaluates u, v, p and the velocity gradient at arbitrary points,
integrates over the domain, writes ``.vtu`` files (quadratic triangles) and round-trips to
a compressed ``.npz`` file, so a computed reference can be shipped without the solver.

Node order of a triangle (VTK's quadratic triangle): vertices 0, 1, 2, then the midpoints
of the edges (0, 1), (1, 2), (2, 0). Global velocity nodes: the vertices, then the edges.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: a point whose best barycentric coordinate is below -OUTSIDE lies outside the mesh (an error)
OUTSIDE = 0.5
FORMAT = "pinnlab-taylor-hood-1"


def mesh_edges(triangles: NDArray) -> tuple[NDArray, NDArray]:
    """Unique edges ``(ne, 2)`` (sorted vertex pairs, sorted rows) and each triangle's edges ``(m, 3)``."""
    local = np.stack([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]], axis=1)
    pairs = np.sort(local.reshape(-1, 2), axis=1)
    edges, inverse = np.unique(pairs, axis=0, return_inverse=True)
    return edges.astype(np.int64), inverse.reshape(-1, 3).astype(np.int64)


class TaylorHoodField:
    """u, v (P2) and p (P1) on a triangulation; ``velocity`` is ``(n + ne, 2)``, ``pressure`` ``(n,)``."""

    def __init__(self, points: ArrayLike, triangles: ArrayLike, velocity: ArrayLike, pressure: ArrayLike,
                 metadata: Mapping[str, Any] | None = None, boundary_edges: ArrayLike | None = None,
                 edge_labels: Sequence[Sequence[str]] = ()):
        self.points = np.ascontiguousarray(points, dtype=np.float64)
        self.triangles = np.ascontiguousarray(triangles, dtype=np.int64)
        if self.points.ndim != 2 or self.points.shape[1] != 2:
            raise ValueError(f"points must have shape (n, 2), got {self.points.shape}")
        if self.triangles.ndim != 2 or self.triangles.shape[1] != 3:
            raise ValueError(f"triangles must have shape (m, 3), got {self.triangles.shape}")
        self.edges, self.tri_edges = mesh_edges(self.triangles)
        n, ne = len(self.points), len(self.edges)
        self.velocity = np.ascontiguousarray(velocity, dtype=np.float64)
        self.pressure = np.ascontiguousarray(pressure, dtype=np.float64)
        if self.velocity.shape != (n + ne, 2):
            raise ValueError(f"velocity must have shape ({n + ne}, 2) (vertices, then edges), got "
                             f"{self.velocity.shape}")
        if self.pressure.shape != (n,):
            raise ValueError(f"pressure must have shape ({n},), got {self.pressure.shape}")
        self.metadata = dict(metadata or {})
        self.boundary_edges = np.zeros((0, 2), np.int64) if boundary_edges is None else \
            np.asarray(boundary_edges, dtype=np.int64).reshape(-1, 2)
        self.edge_labels = tuple(tuple(labels) for labels in edge_labels)
        if self.edge_labels and len(self.edge_labels) != len(self.boundary_edges):
            raise ValueError(f"{len(self.edge_labels)} label sets for {len(self.boundary_edges)} boundary edges")
        p0 = self.points[self.triangles[:, 0]]
        jac = np.stack([self.points[self.triangles[:, 1]] - p0, self.points[self.triangles[:, 2]] - p0], axis=2)
        self.area = 0.5 * np.abs(np.linalg.det(jac))
        if np.any(self.area <= 0):
            raise ValueError("the triangulation has degenerate (zero-area) triangles")
        self._origin, self._inverse = p0, np.linalg.inv(jac)  # rows of the inverse: grad of lambda_1, lambda_2
        self._tree: Any = None

    # -- nodes ----------------------------------------------------------------------------------
    @property
    def nodes(self) -> NDArray:
        """The velocity nodes ``(n + ne, 2)``: vertices, then edge midpoints."""
        mid = 0.5 * (self.points[self.edges[:, 0]] + self.points[self.edges[:, 1]])
        return np.vstack([self.points, mid])

    @property
    def cells6(self) -> NDArray:
        """Each triangle's six velocity nodes ``(m, 6)`` in VTK order."""
        return np.hstack([self.triangles, len(self.points) + self.tri_edges])

    @property
    def num_dofs(self) -> int:
        """Unknowns of the discrete problem: two velocity components per node, one pressure per vertex."""
        return 2 * len(self.velocity) + len(self.pressure)

    @property
    def h_max(self) -> float:
        """The longest edge."""
        d = self.points[self.edges[:, 1]] - self.points[self.edges[:, 0]]
        return float(np.hypot(d[:, 0], d[:, 1]).max())

    # -- point location -------------------------------------------------------------------------
    def _barycentric(self, x: NDArray, cells: NDArray) -> NDArray:
        xi = np.einsum("...ij,...j->...i", self._inverse[cells], x - self._origin[cells])
        return np.concatenate([1.0 - xi.sum(-1, keepdims=True), xi], axis=-1)

    def locate(self, x: ArrayLike) -> tuple[NDArray, NDArray]:
        """The triangle holding each point and the point's barycentric coordinates there.

        Points outside the mesh but within half a triangle of it (between a curved
        boundary and its chords) take the nearest triangle, whose polynomials extend there.
        """
        from scipy.spatial import cKDTree

        x = np.asarray(x, dtype=np.float64).reshape(-1, 2)
        m = len(self.triangles)
        if self._tree is None:
            self._tree = cKDTree(self.points[self.triangles].mean(axis=1))
        cells = np.zeros(len(x), dtype=np.int64)
        score = np.full(len(x), -np.inf)
        todo = np.arange(len(x))
        for k in (min(8, m), min(48, m)):
            if len(todo) == 0:
                break
            _, cand = self._tree.query(x[todo], k)
            cand = np.asarray(cand).reshape(len(todo), -1)
            lam = self._barycentric(x[todo, None, :], cand)
            s = lam.min(-1)
            best = s.argmax(-1)
            better = s[np.arange(len(todo)), best] > score[todo]
            cells[todo[better]] = cand[better, best[better]]
            score[todo[better]] = s[better, best[better]]
            todo = todo[score[todo] < -1e-12]
        for i in todo:  # left over: graded meshes, or just outside the mesh; scan every triangle
            s = self._barycentric(np.broadcast_to(x[i], (m, 2)), np.arange(m)).min(-1)
            cells[i], score[i] = int(s.argmax()), float(s.max())
        far = score < -OUTSIDE
        if np.any(far):
            i = int(np.flatnonzero(far)[0])
            raise ValueError(f"{int(far.sum())} point(s) lie outside the mesh, e.g. {x[i].tolist()}")
        return cells, self._barycentric(x, cells)

    # -- evaluation -----------------------------------------------------------------------------
    def _grad_lambda(self, cells: NDArray) -> NDArray:
        g12 = self._inverse[cells]  # (N, 2, 2): rows are grad lambda_1, grad lambda_2
        return np.concatenate([-g12.sum(1, keepdims=True), g12], axis=1)  # (N, 3, 2)

    def _p2_shape(self, lam: NDArray, glam: NDArray | None) -> tuple[NDArray, NDArray | None]:
        i, j = np.array([0, 1, 2]), np.array([1, 2, 0])
        value = np.concatenate([lam * (2 * lam - 1), 4 * lam[:, i] * lam[:, j]], axis=1)
        if glam is None:
            return value, None
        grad_v = (4 * lam - 1)[:, :, None] * glam
        grad_e = 4 * (lam[:, i, None] * glam[:, j] + lam[:, j, None] * glam[:, i])
        return value, np.concatenate([grad_v, grad_e], axis=1)  # (N, 6, 2)

    def evaluate(self, x: ArrayLike, gradients: bool = False) -> NDArray:
        """``(N, 3)`` values (u, v, p) at ``x`` ``(N, 2)``; with ``gradients``, ``(N, 7)``:
        u, v, p, u_x, u_y, v_x, v_y."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, 2)
        cells, lam = self.locate(x)
        return self.evaluate_in(cells, lam, gradients)

    def evaluate_in(self, cells: NDArray, lam: NDArray, gradients: bool = False) -> NDArray:
        """As :meth:`evaluate`, at barycentric coordinates ``lam`` ``(N, 3)`` of the triangles ``cells``."""
        glam = self._grad_lambda(cells) if gradients else None
        phi, dphi = self._p2_shape(lam, glam)
        vel = self.velocity[self.cells6[cells]]  # (N, 6, 2)
        uv = np.einsum("nk,nkc->nc", phi, vel)
        p = np.einsum("nk,nk->n", lam, self.pressure[self.triangles[cells]])
        cols = [uv, p[:, None]]
        if gradients:
            grad = np.einsum("nkd,nkc->ncd", dphi, vel)  # (N, component, direction)
            cols.append(grad.reshape(len(cells), 4))
        return np.concatenate(cols, axis=1)

    # -- boundary -------------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        """Every label of the boundary edges, in order of first appearance."""
        return list(dict.fromkeys(lab for labels in self.edge_labels for lab in labels))

    def edges_on(self, on: str | Sequence[str]) -> NDArray:
        """Boolean ``(k,)``: the boundary edges carrying any of the labels ``on``."""
        wanted = [on] if isinstance(on, str) else list(on)
        missing = [lab for lab in wanted if lab not in self.labels]
        if missing:
            raise ValueError(f"the boundary has no part {missing[0]!r}; parts: {', '.join(self.labels)}")
        return np.array([any(lab in labels for lab in wanted) for labels in self.edge_labels], dtype=bool)

    def boundary_cells(self) -> NDArray:
        """The triangle next to each boundary edge ``(k,)``."""
        keys = np.sort(self.boundary_edges, axis=1)
        edge = _edge_index(self.edges, keys, len(self.points))
        owner = np.full(len(self.edges), -1, dtype=np.int64)
        owner[self.tri_edges.ravel()] = np.repeat(np.arange(len(self.triangles)), 3)
        return owner[edge]

    def body_nodes(self, on: str | Sequence[str]) -> NDArray:
        """Indices of the velocity nodes (vertices and edge midpoints) on the boundary parts ``on``."""
        rows = self.edges_on(on)
        pairs = self.boundary_edges[rows]
        edge = _edge_index(self.edges, np.sort(pairs, axis=1), len(self.points))
        return np.unique(np.concatenate([pairs.ravel(), len(self.points) + edge]))

    def __call__(self, x: ArrayLike) -> NDArray:
        """(u, v, p) at the points ``x`` ``(N, 2)``: the form a :class:`~pinnlab.spec.Problem` reference takes."""
        return self.evaluate(x)

    def pressure_mean(self) -> float:
        """The mean of p over the domain (exact for the P1 pressure)."""
        p = self.pressure[self.triangles].mean(axis=1)
        return float((p * self.area).sum() / self.area.sum())

    def shifted(self, dp: float) -> TaylorHoodField:
        """The same velocity with ``p + dp``."""
        return TaylorHoodField(self.points, self.triangles, self.velocity, self.pressure + dp, self.metadata,
                               self.boundary_edges, self.edge_labels)

    # -- errors against functions ------------------------------------------------------------------
    def l2_errors(self, exact, order: int = 6) -> dict[str, float]:
        """Relative L2 errors ``||f_h - f|| / ||f||`` of u, v and p against ``exact(x) -> (N, 3)``,
        by quadrature over the triangles (Dunavant's 12-point rule, exact to degree 6)."""
        bary, weights = triangle_rule(order)
        cells = np.repeat(np.arange(len(self.triangles)), len(weights))
        lam = np.tile(bary, (len(self.triangles), 1))
        corners = self.points[self.triangles[cells]]
        x = np.einsum("nk,nkd->nd", lam, corners)
        phi, _ = self._p2_shape(lam, None)
        vel = self.velocity[self.cells6[cells]]
        uv = np.einsum("nk,nkc->nc", phi, vel)
        p = np.einsum("nk,nk->n", lam, self.pressure[self.triangles[cells]])
        approx = np.column_stack([uv, p])
        ref = np.asarray(exact(x), dtype=np.float64).reshape(len(x), -1)[:, :3]
        w = (np.tile(weights, len(self.triangles)) * self.area[cells])[:, None]
        err = np.sqrt((w * (approx - ref) ** 2).sum(0))
        norm = np.sqrt((w * ref ** 2).sum(0))
        return {f: float(e / n if n > 0 else e) for f, e, n in zip("uvp", err, norm)}

    # -- files ----------------------------------------------------------------------------------
    def save(self, path: str | Path, single: bool = False) -> Path:
        """Write a compressed ``.npz`` file (mesh, nodal values, metadata as JSON); ``single`` stores the
        values (not the mesh) in float32, relative roundoff 6e-8."""
        path = Path(path)
        dtype = np.float32 if single else np.float64
        np.savez_compressed(path, points=self.points, triangles=self.triangles.astype(np.int32),
                            velocity=self.velocity.astype(dtype), pressure=self.pressure.astype(dtype),
                            boundary_edges=self.boundary_edges.astype(np.int32),
                            metadata=np.array(json.dumps({"format": FORMAT, "edge_labels": self.edge_labels,
                                                          **self.metadata})))
        return path

    @classmethod
    def load(cls, path: str | Path) -> TaylorHoodField:
        """Read a file written by :meth:`save`."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                metadata = json.loads(str(data["metadata"]))
                if metadata.pop("format", None) != FORMAT:
                    raise ValueError("not a Taylor–Hood field file")
                labels = metadata.pop("edge_labels", [])
                return cls(data["points"], data["triangles"], data["velocity"], data["pressure"], metadata,
                           data["boundary_edges"], labels)
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{path}: cannot read a Taylor–Hood field ({exc})") from None

    def write_vtu(self, path: str | Path) -> Path:
        """Write a ParaView ``.vtu`` file of quadratic triangles with u, v, p and the velocity vector."""
        import meshio

        nodes = self.nodes
        p_edges = 0.5 * (self.pressure[self.edges[:, 0]] + self.pressure[self.edges[:, 1]])
        velocity = np.column_stack([self.velocity, np.zeros(len(nodes))])
        mesh = meshio.Mesh(np.column_stack([nodes, np.zeros(len(nodes))]), [("triangle6", self.cells6)],
                           point_data={"u": self.velocity[:, 0], "v": self.velocity[:, 1],
                                       "p": np.concatenate([self.pressure, p_edges]), "velocity": velocity})
        path = Path(path)
        mesh.write(path)
        return path


def _edge_index(edges: NDArray, keys: NDArray, n: int) -> NDArray:
    """Rows of the sorted ``edges`` equal to the sorted vertex pairs ``keys``."""
    code = edges[:, 0] * n + edges[:, 1]
    want = keys[:, 0] * n + keys[:, 1]
    idx = np.searchsorted(code, want)
    if np.any(idx >= len(code)) or np.any(code[np.minimum(idx, len(code) - 1)] != want):
        raise ValueError("boundary edges that are not edges of the triangulation")
    return idx


def triangle_rule(order: int = 6) -> tuple[NDArray, NDArray]:
    """Barycentric points and weights (summing to 1) of a symmetric rule exact to degree 6 (Dunavant 1985)."""
    if order > 6:
        raise ValueError(f"quadrature order up to 6 is tabulated, got {order}")
    groups = [  # (weight, a, b): the orbit of (a, a, b) or the six permutations of (a, b, 1 - a - b)
        (0.116786275726379, 0.249286745170910, None),
        (0.050844906370207, 0.063089014491502, None),
        (0.082851075618374, 0.310352451033785, 0.053145049844816),
    ]
    pts, wts = [], []
    for w, a, b in groups:
        if b is None:
            c = 1 - 2 * a
            orbit = [(a, a, c), (a, c, a), (c, a, a)]
        else:
            c = 1 - a - b
            orbit = [(a, b, c), (a, c, b), (b, a, c), (b, c, a), (c, a, b), (c, b, a)]
        pts += orbit
        wts += [w] * len(orbit)
    return np.array(pts), np.array(wts)
