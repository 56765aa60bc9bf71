"""Deterministic quadrature on boundaries and domains of shapes.

Boundary rules follow the pieces (:mod:`pinnlab.geometry.pieces`): Gauss–Legendre on every
segment and on every arc of an ellipse (in its angle), the trapezoid rule on a closed
circle or ellipse (spectrally accurate for smooth periodic integrands), tensor Gauss on box
faces, Gauss in ``z`` times the trapezoid rule in the azimuth on spheres and cylinders, and
Radon's 7-point degree-5 rule on triangles. On a CSG domain only the parts of pieces that
lie on the final boundary are kept, with the test the boundary sampler uses (a step of ε
along the normal leaves the domain, coincident pieces count once): for plane curves the
end points of the kept parts are found by bisection to roundoff, so each kept arc is
integrated by its own Gauss rule; surface pieces must lie entirely on or off the boundary.

Domain rules: tensor Gauss on boxes, Gauss in the radius times the trapezoid rule in the
angle on disks, ellipses and spheres, the degree-5 triangle rule on the cells of a plane
mesh or of a triangulation (:mod:`pinnlab.geometry.meshing`), a 4-point degree-2 rule on
tetrahedra. Normals always point out of the domain; everything is float64 numpy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .box import Box
from .pieces import BoxFaces, CylinderSurfaces, EllipseCurve, Pieces, Segments, SphereSurface, Triangles
from .shape import PieceRef, Shape

BISECTIONS = 60
"""Halvings of the parameter interval that locates an end of a kept part of a curve."""
PROBES = 2048
"""Parameter samples, per diameter of the domain, along a curve piece of a CSG domain that find where it
leaves the boundary (a kept or dropped stretch shorter than diameter/PROBES may be missed)."""
MIN_PROBES = 16
"""Samples on the shortest pieces (the facets of a mesh)."""
STEP = 1e-10
"""ε of the on-boundary test (relative to the size of the coordinates): far below the sampler's, so that the ends of
kept arcs, found by bisection, are exact to about this."""
ON_CURVE = 1e-12
"""|margin| (relative to the size of the coordinates) below which a point of a piece lies on the domain's boundary."""
MAX_NODES = 4_000_000
"""Refuse a rule with more nodes than this (a tensor rule in many dimensions)."""


@dataclass(frozen=True)
class Quadrature:
    """Nodes ``(N, dim)``, weights ``(N,)`` and, on boundaries, outward unit normals ``(N, dim)``."""

    points: np.ndarray
    weights: np.ndarray
    normals: np.ndarray | None = None

    def integrate(self, values: np.ndarray) -> float:
        """Σ w_i f_i for values ``(N,)`` at the nodes."""
        return float(np.dot(self.weights, np.asarray(values, dtype=np.float64)))

    @property
    def measure(self) -> float:
        return float(self.weights.sum())


def gauss(n: int, a: float = 0.0, b: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights of ``n`` points on ``[a, b]`` (exact to degree 2n − 1)."""
    x, w = np.polynomial.legendre.leggauss(int(n))
    return a + 0.5 * (b - a) * (x + 1), 0.5 * (b - a) * w


def periodic(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Trapezoid rule of ``n`` equispaced angles on ``[0, 2π)``."""
    theta = 2 * math.pi * np.arange(n) / n
    return theta, np.full(n, 2 * math.pi / n)


def _tensor(rules: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    size = math.prod(len(r[0]) for r in rules)
    if size > MAX_NODES:
        raise ValueError(f"a tensor rule of {size} nodes is too large; use fewer points per axis")
    grids = np.meshgrid(*[r[0] for r in rules], indexing="ij")
    weights = np.meshgrid(*[r[1] for r in rules], indexing="ij")
    return np.stack([g.ravel() for g in grids], -1), np.prod(np.stack([w.ravel() for w in weights], -1), -1)


# ---------------------------------------------------------------------------- curves in the plane
class _Curve:
    """One plane curve of a piece as a smooth map of t in [0, 1]: points, unit normals, speed |x'(t)|."""

    def __init__(self, pieces: Pieces, k: int):
        self.pieces, self.k = pieces, k
        self.closed = isinstance(pieces, EllipseCurve)

    def at(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p, k = self.pieces, self.k
        if isinstance(p, Segments):
            a, b = p.a[k], p.b[k]
            x = a + t[:, None] * (b - a)
            return x, np.broadcast_to(p.normals[k], x.shape), np.full(len(t), float(np.hypot(*(b - a))))
        if isinstance(p, BoxFaces):  # a side of a rectangle: axis fixed, the other column varies
            axis, side = divmod(k, 2)
            other = 1 - axis
            x = np.empty((len(t), 2))
            x[:, axis] = p.high[axis] if side else p.low[axis]
            x[:, other] = p.low[other] + t * (p.high[other] - p.low[other])
            n = np.zeros(2)
            n[axis] = 1.0 if side else -1.0
            return x, np.broadcast_to(n, x.shape), np.full(len(t), float(p.high[other] - p.low[other]))
        assert isinstance(p, EllipseCurve)
        theta = 2 * math.pi * t
        c, s = np.cos(theta), np.sin(theta)
        x = np.stack([p.a * c, p.b * s], -1) @ p.rot.T + p.center
        n = np.stack([p.b * c, p.a * s], -1)
        n = (n / np.linalg.norm(n, axis=-1, keepdims=True)) @ p.rot.T
        return x, n, 2 * math.pi * np.hypot(p.a * s, p.b * c)


def _curves(pieces: Pieces, k: int) -> _Curve:
    if isinstance(pieces, (Segments, EllipseCurve)) or (isinstance(pieces, BoxFaces) and pieces.dim == 2):
        return _Curve(pieces, k)
    raise TypeError(f"no plane curve for {type(pieces).__name__}")


# ---------------------------------------------------------------------------- surfaces in space
_RADON_A = ((6 - math.sqrt(15)) / 21, (6 + math.sqrt(15)) / 21)
_RADON_W = ((155 - math.sqrt(15)) / 1200, (155 + math.sqrt(15)) / 1200)


def triangle_rule() -> tuple[np.ndarray, np.ndarray]:
    """Radon's 7-point rule (degree 5): barycentric coordinates (7, 3) and weights summing to 1."""
    bary, weights = [[1 / 3, 1 / 3, 1 / 3]], [0.225]
    for a, w in zip(_RADON_A, _RADON_W):
        b = 1 - 2 * a
        bary += [[a, a, b], [a, b, a], [b, a, a]]
        weights += [w] * 3
    return np.array(bary), np.array(weights)


def triangles_quadrature(vertices: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Degree-5 nodes and weights on triangles ``(M, 3)`` of ``vertices`` ``(V, 2 or 3)``."""
    bary, w = triangle_rule()
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    d1, d2 = b - a, c - a
    if vertices.shape[1] == 2:
        area = 0.5 * np.abs(d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0])
    else:
        area = 0.5 * np.linalg.norm(np.cross(d1, d2), axis=-1)
    pts = bary[None, :, 0, None] * a[:, None] + bary[None, :, 1, None] * b[:, None] + bary[None, :, 2, None] * c[:, None]
    return pts.reshape(-1, vertices.shape[1]), (area[:, None] * w[None]).ravel()


def curved_triangles_quadrature(vertices: np.ndarray, triangles: np.ndarray, edges: np.ndarray,
                                midpoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The degree-5 rule on quadratic (isoparametric) triangles in the plane: the boundary ``edges``
    ``(k, 2)`` bend through ``midpoints`` ``(k, 2)`` (points of the true curve), other edges are straight.

    Curved boundaries are then matched to O(h³) instead of the O(h²) of straight triangles."""
    bary, w = triangle_rule()
    n = len(vertices)
    tri = np.asarray(triangles, dtype=np.int64)
    corners = vertices[tri]  # (M, 3, 2)
    mids = 0.5 * (corners + corners[:, [1, 2, 0]])  # edges (0,1), (1,2), (2,0)
    if len(edges):
        key = np.sort(edges, axis=1) @ np.array([n, 1])
        order = np.argsort(key)
        for e in range(3):
            pair = np.sort(tri[:, [e, (e + 1) % 3]], axis=1) @ np.array([n, 1])
            pos = np.clip(np.searchsorted(key[order], pair), 0, len(key) - 1)
            hit = key[order][pos] == pair
            mids[hit, e] = midpoints[order[pos[hit]]]
    l1, l2, l3 = bary.T  # λ1 = 1 − ξ − η, λ2 = ξ, λ3 = η
    shape = np.stack([l1 * (2 * l1 - 1), l2 * (2 * l2 - 1), l3 * (2 * l3 - 1), 4 * l1 * l2, 4 * l2 * l3, 4 * l3 * l1], -1)
    d_xi = np.stack([1 - 4 * l1, 4 * l2 - 1, 0 * l3, 4 * (l1 - l2), 4 * l3, -4 * l3], -1)
    d_eta = np.stack([1 - 4 * l1, 0 * l2, 4 * l3 - 1, -4 * l2, 4 * l2, 4 * (l1 - l3)], -1)
    nodes = np.concatenate([corners, mids], axis=1)  # (M, 6, 2)
    pts = np.einsum("qa,mad->mqd", shape, nodes)
    j_xi, j_eta = np.einsum("qa,mad->mqd", d_xi, nodes), np.einsum("qa,mad->mqd", d_eta, nodes)
    det = j_xi[..., 0] * j_eta[..., 1] - j_xi[..., 1] * j_eta[..., 0]
    return pts.reshape(-1, 2), (0.5 * np.abs(det) * w[None]).ravel()


def tetrahedra_quadrature(vertices: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The symmetric 4-point rule (degree 2) on tetrahedra ``(M, 4)``."""
    alpha, beta = 0.5854101966249685, 0.1381966011250105
    bary = np.full((4, 4), beta) + np.eye(4) * (alpha - beta)
    v = vertices[cells]  # (M, 4, 3)
    volume = np.abs(np.linalg.det(v[:, 1:] - v[:, :1])) / 6
    pts = np.einsum("qi,mid->mqd", bary, v)
    return pts.reshape(-1, 3), np.repeat(volume / 4, 4)


def _surface_rule(pieces: Pieces, k: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes, weights and outward normals of one surface piece (box face, sphere, cylinder part, triangle)."""
    if isinstance(pieces, BoxFaces):
        axis, side = divmod(k, 2)
        others = [j for j in range(pieces.dim) if j != axis]
        local, w = _tensor([gauss(n, pieces.low[j], pieces.high[j]) for j in others]) if others else (
            np.zeros((1, 0)), np.ones(1))
        x = np.empty((len(w), pieces.dim))
        x[:, others] = local
        x[:, axis] = pieces.high[axis] if side else pieces.low[axis]
        normal = np.zeros(pieces.dim)
        normal[axis] = 1.0 if side else -1.0
        return x, w, np.broadcast_to(normal, x.shape).copy()
    if isinstance(pieces, SphereSurface):
        nodes, w = _tensor([gauss(n, -1.0, 1.0), periodic(2 * n)])
        z, phi = nodes.T
        w = w * pieces.radius**2
        r = np.sqrt(np.clip(1 - z * z, 0, None))
        normal = np.stack([r * np.cos(phi), r * np.sin(phi), z], -1)
        return pieces.center + pieces.radius * normal, w, normal
    if isinstance(pieces, CylinderSurfaces):
        R, H = pieces.radius, pieces.height
        if k == 0:
            nodes, w = _tensor([periodic(2 * n), gauss(n, -0.5 * H, 0.5 * H)])
            theta, h = nodes.T
            local = np.stack([R * np.cos(theta), R * np.sin(theta), h], -1)
            normal = np.stack([np.cos(theta), np.sin(theta), np.zeros_like(h)], -1)
            w = w * R
        else:
            nodes, w = _tensor([gauss(n, 0.0, R), periodic(2 * n)])
            r, theta = nodes.T
            h = -0.5 * H if k == 1 else 0.5 * H
            local = np.stack([r * np.cos(theta), r * np.sin(theta), np.full_like(r, h)], -1)
            normal = np.broadcast_to([0.0, 0.0, -1.0 if k == 1 else 1.0], local.shape)
            w = w * r
        return local @ pieces.frame + pieces.center, w, normal @ pieces.frame
    if isinstance(pieces, Triangles):
        verts = np.stack([pieces.a[k], pieces.b[k], pieces.c[k]])
        x, w = triangles_quadrature(verts, np.array([[0, 1, 2]]))
        return x, w, np.broadcast_to(pieces.normals[k], x.shape).copy()
    raise TypeError(f"no quadrature rule for boundary pieces of type {type(pieces).__name__}")


# ---------------------------------------------------------------------------- the boundary test of CSG
class _OnBoundary:
    """The sampler's boundary test, split in two: ``on`` (a step of ε along the normal leaves the
    domain) and ``shared`` (an earlier selected piece passes within roundoff, so it keeps the point)."""

    def __init__(self, shape: Shape, items: Sequence[tuple[int, int]]):
        from .csg import COINCIDENT, Composite

        self.shape, self.items = shape, list(items)
        self.trivial = not isinstance(shape, Composite)
        diameter = shape.diameter()
        low, high = shape.bounding_box()
        size = max(diameter, *(abs(v) for v in low + high))  # roundoff of the margin grows with the coordinates
        self.eps, self.on_tol, self.tol = STEP * size, ON_CURVE * size, COINCIDENT * diameter

    def on(self, x: np.ndarray, n: np.ndarray) -> np.ndarray:
        if self.trivial:
            return np.ones(len(x), dtype=bool)
        xt, nt = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(n, dtype=torch.float64)
        margin = self.shape.margin
        keep = (margin(xt - self.eps * nt) > 0) & (margin(xt + self.eps * nt) < 0) & (margin(xt).abs() <= self.on_tol)
        return keep.numpy()

    def shared(self, x: np.ndarray, j: int) -> np.ndarray:
        refs = self.shape.piece_refs()
        xt = torch.as_tensor(x, dtype=torch.float64)
        near = torch.zeros(len(x), dtype=torch.bool)
        for r, k in self.items[:j]:
            near |= refs[r].pieces.distance(xt)[:, k] <= self.tol
        return near.numpy()

    def __call__(self, x: np.ndarray, n: np.ndarray, j: int) -> np.ndarray:
        if self.trivial:
            return np.ones(len(x), dtype=bool)
        return self.on(x, n) & ~self.shared(x, j)


def _runs(flag: Callable[[np.ndarray], np.ndarray], a: float, b: float, periodic: bool,
          probes: int = PROBES) -> list[tuple[float, float]] | None:
    """Intervals of ``[a, b]`` where ``flag`` holds (``None``: all of it), ends located by bisection.

    With ``periodic`` a run may wrap around; it is returned as ``(s − (b − a), e)``."""
    t = a + (b - a) * (np.arange(probes) + 0.5) / probes
    flags = flag(t)
    if flags.all():
        return None
    if not flags.any():
        return []
    change = np.nonzero(flags[1:] != flags[:-1])[0]
    lo, hi = t[change].copy(), t[change + 1].copy()
    rising = ~flags[change]  # False -> True: a run starts
    for _ in range(BISECTIONS):
        mid = 0.5 * (lo + hi)
        like_lo = flag(mid) != rising
        lo, hi = np.where(like_lo, mid, lo), np.where(like_lo, hi, mid)
    ends = sorted(zip((0.5 * (lo + hi)).tolist(), rising.tolist()))
    start = a if flags[0] else None
    out: list[tuple[float, float]] = []
    for e, up in ends:
        if up:
            start = e
        elif start is not None:
            out.append((start, e))
            start = None
    if start is not None:
        if periodic and flags[0] and out:  # a run across the ends
            out[0] = (start - (b - a), out[0][1])
        else:
            out.append((start, b))
    return out


def _kept_intervals(curve: _Curve, test: _OnBoundary, j: int, sign: float) -> list[tuple[float, float]] | None:
    """Parameter intervals of a curve on the boundary; ``None`` when the whole (closed) curve is.

    The runs on the boundary come first; stretches shared with an earlier piece are then cut
    out of each run (a crossing piece shares only a point, so its ends stay exact)."""
    if test.trivial:
        return None if curve.closed else [(0.0, 1.0)]

    def on(s: np.ndarray) -> np.ndarray:
        x, n, _ = curve.at(s)
        return test.on(x, sign * n)

    def free(s: np.ndarray) -> np.ndarray:
        return ~test.shared(curve.at(s)[0], j)

    length = float(curve.pieces.measures[curve.k])
    probes = int(np.clip(PROBES * length / test.shape.diameter(), MIN_PROBES, PROBES))
    runs = _runs(on, 0.0, 1.0, curve.closed, probes)
    whole = runs is None
    runs = [(0.0, 1.0)] if whole else runs
    out: list[tuple[float, float]] = []
    for a, b in runs:
        kept = _runs(free, a, b, curve.closed and whole, max(MIN_PROBES, int(probes * (b - a))))
        if kept is None:
            out.append((a, b))
        else:
            out += kept
    return None if whole and out == [(0.0, 1.0)] and curve.closed else out


# ---------------------------------------------------------------------------- public rules
def _items(shape: Shape, labels: Sequence[str] | None) -> list[tuple[int, int]]:
    if labels is None:
        return [(r, k) for r, ref in enumerate(shape.piece_refs()) for k in range(len(ref.labels))]
    return list(shape._select(list(labels)).items)


def boundary_quadrature(shape: Shape | Box, labels: Sequence[str] | None = None, points: int = 32,
                        closed_points: int = 256) -> Quadrature:
    """A rule on the boundary parts ``labels`` of ``shape`` (``None``: the whole boundary).

    ``points`` Gauss nodes per segment, arc or axis of a face; ``closed_points`` trapezoid
    nodes on a closed curve that lies wholly on the boundary.
    """
    from .csg import as_shape

    shape = as_shape(shape)
    items = _items(shape, labels)
    test = _OnBoundary(shape, items)
    refs: list[PieceRef] = shape.piece_refs()
    xs, ws, ns = [], [], []
    for j, (r, k) in enumerate(items):
        ref = refs[r]
        if shape.dim == 2:
            curve = _curves(ref.pieces, k)
            intervals = _kept_intervals(curve, test, j, ref.sign)
            if intervals is None:
                theta, w = periodic(closed_points)
                t, w = theta / (2 * math.pi), w / (2 * math.pi)
            else:
                rules = [gauss(points, a, b) for a, b in intervals if b > a]
                t = np.concatenate([q[0] for q in rules]) % 1.0 if rules else np.zeros(0)
                w = np.concatenate([q[1] for q in rules]) if rules else np.zeros(0)
            x, n, speed = curve.at(t)
            xs.append(x)
            ws.append(w * speed)
            ns.append(ref.sign * n)
            continue
        x, w, n = _surface_rule(ref.pieces, k, points)
        n = ref.sign * n
        kept = test(x, n, j)
        if kept.any() and not kept.all():
            raise ValueError(f"a surface piece of {shape!r} lies partly inside the domain; integrals over surfaces "
                             "cut by CSG are not supported (use a mesh of the domain)")
        if kept.all():
            xs.append(x)
            ws.append(w)
            ns.append(n)
    if not xs:
        raise ValueError("the selected boundary is empty")
    return Quadrature(np.concatenate(xs), np.concatenate(ws), np.concatenate(ns))


def domain_quadrature(shape: Shape | Box, points: int = 32, mesh_size: float | None = None) -> Quadrature:
    """A rule on the domain: tensor Gauss on boxes (``points`` per axis), polar rules on disks,
    ellipses and spheres, the cells of a mesh, else a triangulation of size ``mesh_size`` (2-D)."""
    from .csg import as_shape
    from .mesh import MeshShape
    from .shapes2d import AxisBox, Ellipse
    from .shapes3d import Sphere

    shape = as_shape(shape)
    if isinstance(shape, AxisBox):
        x, w = _tensor([gauss(points, lo, hi) for lo, hi in zip(shape.low, shape.high)])
        return Quadrature(x, w)
    if isinstance(shape, Ellipse):
        (r, theta), w = _polar(points)
        local = np.stack([shape.a * r * np.cos(theta), shape.b * r * np.sin(theta)], -1)
        return Quadrature(local @ shape.curve.rot.T + shape.center, w * shape.a * shape.b)
    if isinstance(shape, Sphere):
        nodes, w = _tensor([gauss(points, 0.0, shape.radius), gauss(points, -1.0, 1.0), periodic(2 * points)])
        r, z, phi = nodes.T
        s = np.sqrt(np.clip(1 - z * z, 0, None))
        x = shape.center + r[:, None] * np.stack([s * np.cos(phi), s * np.sin(phi), z], -1)
        return Quadrature(x, w * r * r)
    if isinstance(shape, MeshShape) and shape.cells is not None:
        pts = shape.points
        if shape.cells.shape[1] == 3:
            return Quadrature(*triangles_quadrature(pts, shape.cells))
        return Quadrature(*tetrahedra_quadrature(pts, shape.cells))
    if shape.dim != 2:
        raise ValueError(f"domain integrals over {shape!r} need a mesh of it (3-D CSG domains are not triangulated)")
    from .meshing import triangulate

    h = mesh_size if mesh_size is not None else default_mesh_size(shape)
    tri = triangulate(shape, h)
    points = np.asarray(tri.points, dtype=np.float64)
    if tri.edge_midpoints is None:
        return Quadrature(*triangles_quadrature(points, np.asarray(tri.triangles)))
    return Quadrature(*curved_triangles_quadrature(points, tri.triangles, np.asarray(tri.boundary_edges),
                                                   np.asarray(tri.edge_midpoints, dtype=np.float64)))


def default_mesh_size(shape: Shape) -> float:
    """The triangle size used when none is given: 1/60 of the bounding box's longer side."""
    low, high = shape.bounding_box()
    return max(h - lo for lo, h in zip(low, high)) / 60


def _polar(points: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Gauss in r on [0, 1] (weight r) times the trapezoid rule in the angle: the unit disk."""
    nodes, w = _tensor([gauss(points, 0.0, 1.0), periodic(2 * points)])
    r, theta = nodes.T
    return (r, theta), w * r
