"""Structured triangulations of rectangles for the finite-element references (no mesher needed).

Each cell of an ``nx × ny`` grid is cut along one diagonal, alternating from cell to cell so
that, with even ``nx`` and ``ny``, a diagonal runs into every corner of the rectangle: no
triangle then has two edges on the boundary (which would carry a spurious pressure mode
for Taylor–Hood elements). ``grading`` clusters the grid lines towards the walls.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from pinnlab.errors import SpecError
from pinnlab.geometry.meshing import Triangulation


def graded_axis(low: float, high: float, n: int, grading: float = 0.0) -> NDArray:
    """``n + 1`` points on ``[low, high]``: uniform for ``grading = 0``, towards a cosine
    (Chebyshev–Lobatto) spacing, clustered at both ends, as ``grading`` goes to 1."""
    if not 0.0 <= grading <= 1.0:
        raise SpecError(f"grading must lie in [0, 1], got {grading!r}")
    s = np.linspace(0.0, 1.0, n + 1)
    t = (1 - grading) * s + grading * 0.5 * (1 - np.cos(np.pi * s))
    return low + (high - low) * t


def rectangle_triangulation(low: Sequence[float], high: Sequence[float], n: Sequence[int],
                            grading: float = 0.0) -> Triangulation:
    """The rectangle ``[low, high]`` cut into ``2 n[0] n[1]`` triangles; edges labelled ``x_min`` ... ``y_max``."""
    nx, ny = (int(k) for k in n)
    if nx < 2 or ny < 2 or nx % 2 or ny % 2:
        raise SpecError(f"a rectangle triangulation needs even cell counts >= 2, got {tuple(n)}")
    xs, ys = graded_axis(low[0], high[0], nx, grading), graded_axis(low[1], high[1], ny, grading)
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    points = np.column_stack([X.ravel(), Y.ravel()])
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    i, j = i.ravel(), j.ravel()
    a, b, c, d = i * (ny + 1) + j, (i + 1) * (ny + 1) + j, (i + 1) * (ny + 1) + j + 1, i * (ny + 1) + j + 1
    even = (i + j) % 2 == 0
    first = np.where(even[:, None], np.column_stack([a, b, c]), np.column_stack([a, b, d]))
    second = np.where(even[:, None], np.column_stack([a, c, d]), np.column_stack([b, c, d]))
    triangles = np.vstack([first, second]).astype(np.int64)
    node = lambda ii, jj: ii * (ny + 1) + jj
    k, m = np.arange(nx), np.arange(ny)
    sides = [
        (np.column_stack([node(k, 0), node(k + 1, 0)]), "y_min"),
        (np.column_stack([node(nx, m), node(nx, m + 1)]), "x_max"),
        (np.column_stack([node(k + 1, ny), node(k, ny)]), "y_max"),
        (np.column_stack([node(0, m + 1), node(0, m)]), "x_min"),
    ]
    edges = np.vstack([e for e, _ in sides]).astype(np.int64)
    labels = tuple(label for e, label in sides for _ in range(len(e)))
    return Triangulation(points, triangles, edges, labels)
