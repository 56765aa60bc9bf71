"""Lagrange triangles of degree 1 and 2, possibly curved (isoparametric), evaluated anywhere with numpy.

A :class:`LagrangeField` is a continuous piecewise polynomial on triangles whose local
nodes are given per cell: 3 vertices (P1) or 3 vertices and the nodes of the edges
(0, 1), (1, 2), (0, 2) (P2, also the cell's geometry: curved edges have their midpoint
node on the curve). Points are located by the reference coordinates of a few nearby
cells (Newton on the quadratic map), values and gradients come from the shape functions,
and integrals over the domain use a triangle rule mapped through each cell.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

OUTSIDE = 0.5
"""A point whose best reference coordinate is below −OUTSIDE lies outside the mesh (an error)."""
NEWTON_STEPS = 12


def shape(order: int, xi: NDArray, eta: NDArray) -> tuple[NDArray, NDArray]:
    """Shape functions ``(..., n)`` and their reference gradients ``(..., n, 2)`` at reference points."""
    one = np.ones_like(xi)
    zero = np.zeros_like(xi)
    if order == 1:
        phi = np.stack([1 - xi - eta, xi, eta], -1)
        grad = np.stack([np.stack([-one, -one], -1), np.stack([one, zero], -1), np.stack([zero, one], -1)], -2)
        return phi, grad
    lam = 1 - xi - eta
    phi = np.stack([lam * (2 * lam - 1), xi * (2 * xi - 1), eta * (2 * eta - 1), 4 * lam * xi, 4 * xi * eta,
                    4 * lam * eta], -1)
    grad = np.stack([
        np.stack([1 - 4 * lam, 1 - 4 * lam], -1),
        np.stack([4 * xi - 1, zero], -1),
        np.stack([zero, 4 * eta - 1], -1),
        np.stack([4 * (lam - xi), -4 * xi], -1),
        np.stack([4 * eta, 4 * xi], -1),
        np.stack([-4 * eta, 4 * (lam - eta)], -1),
    ], -2)
    return phi, grad


class LagrangeField:
    """Values ``values[dofs[e, j]]`` at the local nodes ``geometry[e, j]`` of every cell ``e``."""

    def __init__(self, order: int, geometry: NDArray, dofs: NDArray, values: NDArray):
        self.order = order
        self.geometry = np.ascontiguousarray(geometry, dtype=np.float64)  # (m, 3 or 6, 2)
        self.dofs = np.ascontiguousarray(dofs, dtype=np.int64)
        self.values = np.ascontiguousarray(values, dtype=np.float64)
        self._tree: Any = None
        self._origin = self.geometry[:, 0]
        jac = np.stack([self.geometry[:, 1] - self._origin, self.geometry[:, 2] - self._origin], -1)
        self._affine_inverse = np.linalg.inv(jac)

    # ----------------------------------------------------------------- the map of each cell
    def _map(self, cells: NDArray, xi: NDArray, eta: NDArray) -> tuple[NDArray, NDArray]:
        """Physical points ``(..., 2)`` and Jacobians ``(..., 2, 2)`` of cells at reference points."""
        phi, grad = shape(self.order, xi, eta)
        nodes = self.geometry[cells]
        return np.einsum("...n,...nd->...d", phi, nodes), np.einsum("...nr,...nd->...dr", grad, nodes)

    def _reference(self, x: NDArray, cells: NDArray) -> NDArray:
        """Reference coordinates ``(..., 2)`` of points ``x`` in ``cells`` (exact for straight cells)."""
        ref = np.einsum("...ij,...j->...i", self._affine_inverse[cells], x - self._origin[cells])
        if self.order == 1:
            return ref
        for _ in range(NEWTON_STEPS):
            y, jac = self._map(cells, ref[..., 0], ref[..., 1])
            det = jac[..., 0, 0] * jac[..., 1, 1] - jac[..., 0, 1] * jac[..., 1, 0]
            r = x - y
            step = np.stack([jac[..., 1, 1] * r[..., 0] - jac[..., 0, 1] * r[..., 1],
                             jac[..., 0, 0] * r[..., 1] - jac[..., 1, 0] * r[..., 0]], -1) / det[..., None]
            ref = np.clip(ref + step, -2.0, 3.0)
            if np.abs(step).max(initial=0.0) < 1e-15:
                break
        return ref

    @staticmethod
    def _score(ref: NDArray) -> NDArray:
        return np.minimum(np.minimum(ref[..., 0], ref[..., 1]), 1 - ref[..., 0] - ref[..., 1])

    def locate(self, x: NDArray) -> tuple[NDArray, NDArray]:
        """The cell of each point and its reference coordinates there.

        The straight triangles are searched with a trapezoidal map (matplotlib); points in
        none of them (between a curved boundary and its chords, or within roundoff outside)
        take the nearby cell that holds them best, whose polynomial extends there.
        """
        x = np.asarray(x, dtype=np.float64).reshape(-1, 2)
        if self._tree is None:
            from matplotlib.tri import Triangulation as PlaneTriangulation

            corners = self.geometry[:, :3].reshape(-1, 2)
            nodes, index = np.unique(corners, axis=0, return_inverse=True)
            plane = PlaneTriangulation(nodes[:, 0], nodes[:, 1], index.reshape(-1, 3))
            self._tree = plane.get_trifinder()
        cells = np.asarray(self._tree(x[:, 0], x[:, 1]), dtype=np.int64)
        missing = np.flatnonzero(cells < 0)
        if len(missing):
            cells[missing] = self._nearby(x[missing])
        ref = self._reference(x, cells)
        far = self._score(ref) < -OUTSIDE
        if np.any(far):
            i = int(np.flatnonzero(far)[0])
            raise ValueError(f"{int(far.sum())} point(s) lie outside the mesh, e.g. {x[i].tolist()}")
        return cells, ref

    def _nearby(self, x: NDArray) -> NDArray:
        """Of the cells with the nearest centroids, the one holding each point best."""
        from scipy.spatial import cKDTree

        if not hasattr(self, "_centroids"):
            self._centroids = cKDTree(self.geometry[:, :3].mean(1))
        k = min(8, len(self.geometry))
        _, cand = self._centroids.query(x, k)
        cand = np.asarray(cand, dtype=np.int64).reshape(len(x), -1)
        s = self._score(self._reference(x[:, None, :], cand))
        return cand[np.arange(len(x)), s.argmax(-1)]

    # ----------------------------------------------------------------- evaluation
    def evaluate(self, x: NDArray, gradient: bool = False) -> tuple[NDArray, NDArray | None]:
        """Values ``(n,)`` at the rows of ``x`` and, with ``gradient``, the gradients ``(n, 2)``."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, 2)
        cells, ref = self.locate(x)
        return self._at(cells, ref[:, 0], ref[:, 1], gradient)

    def _at(self, cells: NDArray, xi: NDArray, eta: NDArray, gradient: bool) -> tuple[NDArray, NDArray | None]:
        phi, grad_ref = shape(self.order, xi, eta)
        local = self.values[self.dofs[cells]]
        value = np.einsum("...n,...n->...", phi, local)
        if not gradient:
            return value, None
        _, jac = self._map(cells, xi, eta)
        d_ref = np.einsum("...nr,...n->...r", grad_ref, local)
        return value, np.linalg.solve(np.swapaxes(jac, -1, -2), d_ref[..., None])[..., 0]

    # ----------------------------------------------------------------- quadrature
    def quadrature(self, degree: int) -> tuple[NDArray, NDArray, NDArray]:
        """Points ``(m, q, 2)``, weights ``(m, q)`` (with the Jacobians) and reference points ``(q, 2)``."""
        xi, w = triangle_rule(degree)
        cells = np.arange(len(self.geometry))[:, None]
        points, jac = self._map(cells, xi[None, :, 0], xi[None, :, 1])
        det = jac[..., 0, 0] * jac[..., 1, 1] - jac[..., 0, 1] * jac[..., 1, 0]
        return points, w[None] * np.abs(det), xi

    def values_at_quadrature(self, degree: int, gradient: bool = False) -> tuple[NDArray, NDArray | None]:
        """The field (and its gradient) at the quadrature points of :meth:`quadrature`."""
        xi, _ = triangle_rule(degree)
        cells = np.repeat(np.arange(len(self.geometry))[:, None], len(xi), 1)
        return self._at(cells, np.broadcast_to(xi[:, 0], cells.shape), np.broadcast_to(xi[:, 1], cells.shape),
                        gradient)


def triangle_rule(degree: int) -> tuple[NDArray, NDArray]:
    """A rule on the reference triangle exact to ``degree``: points ``(q, 2)``, weights ``(q,)`` summing to 1/2."""
    from skfem.quadrature import get_quadrature
    from skfem.refdom import RefTri

    points, weights = get_quadrature(RefTri, degree)
    return np.ascontiguousarray(points.T), np.asarray(weights)
