"""Triangulated surfaces of simple solids, e.g. to write STL files of test geometries with meshio.

Each function returns ``(points (P, 3), triangles (T, 3))`` with normals ``(b − a) × (c − a)``
pointing out of the solid; :func:`combine` joins surfaces (``flip`` turns one inside out,
for a cavity).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Surface = tuple[np.ndarray, np.ndarray]


def box_surface(low: Sequence[float], high: Sequence[float], cells: int = 1) -> Surface:
    """The six faces of ``[low, high]``, each split into ``cells × cells`` squares of two triangles."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    s = np.linspace(0.0, 1.0, cells + 1)
    points, triangles = [], []
    for axis in range(3):
        u, v = [a for a in range(3) if a != axis]
        for side in (0, 1):
            grid = np.zeros((cells + 1, cells + 1, 3))
            grid[..., axis] = side
            grid[..., u], grid[..., v] = np.meshgrid(s, s, indexing="ij")
            start = sum(len(p) for p in points)
            points.append(grid.reshape(-1, 3))
            idx = start + np.arange((cells + 1) ** 2).reshape(cells + 1, cells + 1)
            a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]
            quads = np.stack([a, b, c, d], -1).reshape(-1, 4)
            tri = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
            # (e_u × e_v) points along +axis for (axis, u, v) cyclic; flip where it should point the other way
            outward = 1 if side == 1 else -1
            cyclic = 1 if (u - axis) % 3 == 1 else -1
            triangles.append(tri if outward * cyclic > 0 else tri[:, [0, 2, 1]])
    unit, index = np.unique(np.round(np.concatenate(points), 12), axis=0, return_inverse=True)
    return low + unit * (high - low), index.reshape(-1)[np.concatenate(triangles)]


def icosphere(center: Sequence[float] = (0.0, 0.0, 0.0), radius: float = 1.0, subdivisions: int = 2) -> Surface:
    """A sphere triangulated by subdividing an icosahedron ``subdivisions`` times (20 · 4^k triangles)."""
    t = (1 + 5**0.5) / 2
    verts = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t), (0, -1, -t), (0, 1, -t),
             (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    faces = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2),
             (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5), (2, 4, 11),
             (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    points = [np.asarray(v, dtype=np.float64) / np.linalg.norm(v) for v in verts]
    for _ in range(int(subdivisions)):
        faces = _subdivide(faces, points)
    return np.asarray(center, dtype=np.float64) + radius * np.stack(points), np.asarray(faces, dtype=np.int64)


def _subdivide(faces: list[tuple[int, int, int]], points: list[np.ndarray]) -> list[tuple[int, int, int]]:
    """Each triangle into four, new vertices (appended to ``points``) pushed out to the unit sphere."""
    middle: dict[tuple[int, int], int] = {}

    def mid(i: int, j: int) -> int:
        key = (min(i, j), max(i, j))
        if key not in middle:
            m = points[i] + points[j]
            points.append(m / np.linalg.norm(m))
            middle[key] = len(points) - 1
        return middle[key]

    return [f for a, b, c in faces for f in
            ((a, mid(a, b), mid(c, a)), (b, mid(b, c), mid(a, b)), (c, mid(c, a), mid(b, c)),
             (mid(a, b), mid(b, c), mid(c, a)))]


def combine(*surfaces: Surface, flip: Sequence[bool] | None = None) -> Surface:
    """One surface of several; ``flip[i]`` reverses the orientation of surface ``i`` (a cavity)."""
    flip = list(flip or [False] * len(surfaces))
    points, triangles, offset = [], [], 0
    for (p, t), reverse in zip(surfaces, flip):
        points.append(p)
        triangles.append((t[:, [0, 2, 1]] if reverse else t) + offset)
        offset += len(p)
    return np.concatenate(points), np.concatenate(triangles)
