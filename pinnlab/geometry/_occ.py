"""Shape trees as OpenCASCADE surfaces in gmsh, and the exact curves of boundary pieces.

:func:`build` adds a planar :class:`~pinnlab.geometry.shape.Shape` to the current gmsh
model through the OCC kernel: rectangles, polygons, disks and (rotated) ellipses as true
curves, meshes by their boundary loops, and the CSG nodes as OCC booleans. The second
half gives every 2-D boundary piece an implicit function (zero on the piece's curve),
used to put mesh nodes exactly on their curve, to polish corners where two pieces meet
and to find the true midpoints of curved edges.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pinnlab.errors import SpecError

from .csg import Composite, Difference, Intersection, Union
from .pieces import BoxFaces, EllipseCurve, Pieces, Segments
from .shape import Shape

DimTags = list[tuple[int, int]]


def build(occ: Any, shape: Shape) -> DimTags:
    """The surfaces of ``shape`` in the OCC kernel ``occ`` (``gmsh.model.occ``), built recursively."""
    from .mesh import MeshShape
    from .shapes2d import AxisBox, Ellipse, Polygon

    if isinstance(shape, Composite):
        parts = [build(occ, c) for c in shape.children]
        if isinstance(shape, Difference):
            out, _ = occ.cut(parts[0], parts[1])
        elif isinstance(shape, Union):
            out, _ = occ.fuse(parts[0], [t for p in parts[1:] for t in p])
        elif isinstance(shape, Intersection):
            out = parts[0]
            for p in parts[1:]:
                out, _ = occ.intersect(out, p)
        else:  # pragma: no cover - every composite is one of the three
            raise SpecError(f"cannot mesh a {type(shape).__name__}")
        return [t for t in out if t[0] == 2]
    if isinstance(shape, AxisBox):
        (x0, y0), (x1, y1) = shape.low, shape.high
        return [(2, occ.addRectangle(float(x0), float(y0), 0.0, float(x1 - x0), float(y1 - y0)))]
    if isinstance(shape, Ellipse):
        return [(2, _ellipse(occ, shape))]
    if isinstance(shape, Polygon):
        return [(2, _polygon(occ, shape.vertices))]
    if isinstance(shape, MeshShape) and shape.dim == 2 and shape.cells is not None:
        return _mesh_loops(occ, shape)
    raise SpecError(f"cannot mesh a {type(shape).__name__}: only rectangles, disks, ellipses, polygons, "
                    "2-D triangle meshes and their unions, intersections and differences")


def _ellipse(occ: Any, e: Any) -> int:
    cx, cy = (float(v) for v in e.center)
    if e.a == e.b:
        return occ.addDisk(cx, cy, 0.0, e.a, e.a)
    angle = e.angle if e.a >= e.b else e.angle + math.pi / 2  # OCC needs the major semi-axis first
    major, minor = max(e.a, e.b), min(e.a, e.b)
    return occ.addDisk(cx, cy, 0.0, major, minor, zAxis=[0.0, 0.0, 1.0], xAxis=[math.cos(angle), math.sin(angle), 0.0])


def _polygon(occ: Any, vertices: np.ndarray) -> int:
    points = [occ.addPoint(float(x), float(y), 0.0) for x, y in vertices]
    lines = [occ.addLine(points[i], points[(i + 1) % len(points)]) for i in range(len(points))]
    return occ.addPlaneSurface([occ.addCurveLoop(lines)])


def _mesh_loops(occ: Any, mesh: Any) -> DimTags:
    """A triangle mesh's domain from its boundary loops: outer loops fused, holes cut, largest first."""
    facets = np.asarray(mesh.facets)
    following = {int(a): int(b) for a, b in facets}
    loops, seen = [], set()
    for start in following:
        if start in seen:
            continue
        loop, node = [], start
        while node not in seen:
            seen.add(node)
            loop.append(node)
            node = following.get(node, start)
        loops.append(mesh.points[loop])
    signed = [0.5 * float(np.sum(v[:, 0] * np.roll(v[:, 1], -1) - np.roll(v[:, 0], -1) * v[:, 1])) for v in loops]
    result: DimTags = []
    for k in np.argsort([-abs(s) for s in signed]):
        surface = [(2, _polygon(occ, loops[k]))]
        if not result:
            result = surface
        elif signed[k] > 0:
            result, _ = occ.fuse(result, surface)
        else:
            result, _ = occ.cut(result, surface)
    return [t for t in result if t[0] == 2]


# ---------------------------------------------------------------------- exact curves of pieces
def implicit(pieces: Pieces, k: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A function zero on the curve of piece ``k`` (its line, circle or ellipse) and its gradient at rows ``x``."""
    if isinstance(pieces, Segments):
        a, n = pieces.a[k], pieces.normals[k]
        return (x - a) @ n, np.broadcast_to(n, x.shape)
    if isinstance(pieces, BoxFaces) and pieces.dim == 2:
        axis, side = divmod(int(k), 2)
        wall = pieces.high[axis] if side else pieces.low[axis]
        grad = np.zeros_like(x)
        grad[:, axis] = 1.0
        return x[:, axis] - wall, grad
    if isinstance(pieces, EllipseCurve):
        p = (x - pieces.center) @ pieces.rot
        if pieces.circle:
            r = np.hypot(p[:, 0], p[:, 1])
            radial = (x - pieces.center) / np.maximum(r, 1e-300)[:, None]
            return r - pieces.a, radial
        g = (p[:, 0] / pieces.a) ** 2 + (p[:, 1] / pieces.b) ** 2 - 1.0
        local = np.stack([2 * p[:, 0] / pieces.a**2, 2 * p[:, 1] / pieces.b**2], -1)
        return g, local @ pieces.rot.T
    raise SpecError(f"cannot mesh the boundary pieces {type(pieces).__name__} (a 2-D domain is needed)")


def project(pieces: Pieces, k: int, x: np.ndarray, steps: int = 8) -> np.ndarray:
    """Rows ``x`` (close to piece ``k``) moved onto its curve: exactly for lines and circles, by Newton otherwise."""
    if isinstance(pieces, EllipseCurve) and pieces.circle:
        d = x - pieces.center
        return pieces.center + pieces.a * d / np.hypot(d[:, 0], d[:, 1])[:, None]
    y = np.array(x, dtype=np.float64)
    for _ in range(steps if isinstance(pieces, EllipseCurve) else 1):
        f, g = implicit(pieces, k, y)
        y = y - (f / np.maximum(np.einsum("ij,ij->i", g, g), 1e-300))[:, None] * g
    return y


def polish_corner(first: tuple[Pieces, int], second: tuple[Pieces, int], x: np.ndarray) -> np.ndarray:
    """A point ``x`` near where two pieces' curves cross moved onto both (Newton on the two implicit functions)."""
    y = np.array(x, dtype=np.float64).reshape(1, 2)
    for _ in range(8):
        f1, g1 = implicit(*first, y)
        f2, g2 = implicit(*second, y)
        jac = np.stack([g1[0], g2[0]])
        if abs(np.linalg.det(jac)) < 1e-12 * np.linalg.norm(jac[0]) * np.linalg.norm(jac[1]):
            return x  # tangent curves: keep OCC's point
        step = np.linalg.solve(jac, -np.array([f1[0], f2[0]]))
        y = y + step
        if np.linalg.norm(step) <= 1e-16 * max(1.0, float(np.abs(y).max())):
            break
    return y[0] if np.linalg.norm(y[0] - x) <= 1e-6 * max(1.0, float(np.abs(x).max())) else x


def is_straight(pieces: Pieces) -> bool:
    """Whether the pieces are straight (segments, faces of a rectangle)."""
    return not isinstance(pieces, EllipseCurve)
