"""Primitive shapes: axis-aligned boxes in any dimension, and the plane's disks, ellipses and polygons.

Every primitive takes ``names`` (its column names; ``("x", "y")`` in the plane) and an
optional ``name``, a label for its whole boundary next to the labels of its own parts:
``x_min``, ``x_max``, ... for boxes, ``circle`` for a disk, ``ellipse``, and ``edge0``,
``edge1``, ... for the edges of a polygon (edge k joins vertex k to vertex k + 1). A named
primitive with several parts also labels them ``NAME_PART`` (``block_x_min``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._checks import check_interval
from .distance import Arithmetic, Columns, conjoin, join, segment_adf, slab
from .pieces import BoxFaces, EllipseCurve, Pieces, Segments
from .shape import F64, Primitive, RejectionInterior, as_points, check_names, part_labels, positive

PLANE = ("x", "y")
SPACE = ("x", "y", "z")


def default_names(dim: int) -> tuple[str, ...]:
    """``x, y`` in the plane, ``x, y, z`` in space, ``x1 .. xd`` otherwise."""
    if dim <= 3:
        return SPACE[:dim]
    return tuple(f"x{i}" for i in range(1, dim + 1))


class AxisBox(Primitive):
    """The box ``[low[i], high[i]]`` in any dimension, faces ``{name}_min`` / ``{name}_max`` per column."""

    def __init__(self, low: Sequence[float], high: Sequence[float], names: Sequence[str] | None = None,
                 name: str | None = None):
        if isinstance(low, str) or not isinstance(low, Sequence) or not low:
            raise ValueError(f"low must be a non-empty list of numbers, got {low!r}")
        dim = len(low)
        if isinstance(high, str) or not isinstance(high, Sequence) or len(high) != dim:
            raise ValueError(f"high must be a list of {dim} numbers, got {high!r}")
        names = check_names(default_names(dim) if names is None else names, dim)
        bounds = [check_interval(lo, hi, f"column {n!r}") for n, lo, hi in zip(names, low, high)]
        super().__init__(names, name)
        self.low = np.array([b[0] for b in bounds])
        self.high = np.array([b[1] for b in bounds])

    def __repr__(self) -> str:
        sides = ", ".join(f"{n}=[{lo:g}, {hi:g}]" for n, lo, hi in zip(self.names, self.low, self.high))
        return f"{type(self).__name__}({sides}{'' if self.name is None else f', name={self.name!r}'})"

    def pieces(self) -> list[Pieces]:
        parts = [f"{n}_{side}" for n in self.names for side in ("min", "max")]
        return [BoxFaces(self.low, self.high, part_labels(parts, self.name))]

    def bounding_box(self) -> tuple[list[float], list[float]]:
        return self.low.tolist(), self.high.tolist()

    def exact_volume(self) -> float:
        return float(np.prod(self.high - self.low))

    def margin(self, x: Tensor) -> Tensor:
        low, high = (torch.as_tensor(v, dtype=x.dtype, device=x.device) for v in (self.low, self.high))
        inner = torch.minimum(x - low, high - x)
        outside = torch.clamp(-inner, min=0).norm(dim=-1)
        return torch.where(outside > 0, -outside, inner.amin(-1))

    def signed(self, cols: Columns, ar: Arithmetic) -> Any:
        centre, width = 0.5 * (self.low + self.high), self.high - self.low
        slabs = [slab(cols[i], float(centre[i]), float(width[i])) for i in range(self.dim)]
        if len(slabs) == 1:
            return slabs[0]
        return conjoin(ar.cat([ar.unsqueeze(s) for s in slabs]), len(slabs), ar)

    def _interior_from_unit(self, u: Tensor) -> Tensor:
        low, high = (torch.as_tensor(v, dtype=u.dtype, device=u.device) for v in (self.low, self.high))
        return torch.clamp(low + u * (high - low), low, high)


class Rectangle(AxisBox):
    """``[low[0], high[0]] × [low[1], high[1]]``; faces ``x_min``, ``x_max``, ``y_min``, ``y_max``."""

    def __init__(self, low: Sequence[float] = (0.0, 0.0), high: Sequence[float] = (1.0, 1.0),
                 names: Sequence[str] = PLANE, name: str | None = None):
        if isinstance(low, Sequence) and len(low) != 2:
            raise ValueError(f"a rectangle needs low = [x, y], got {low!r}")
        super().__init__(low, high, names, name)


class Ellipse(Primitive):
    """An ellipse with semi-axes ``(a, b)`` rotated by ``angle`` degrees (counter-clockwise); part ``ellipse``.

    Its R-function is ``g / sqrt(g² + |∇g|²)`` with ``g = 1 − (ξ/a)² − (η/b)²`` in the
    ellipse's frame: first-order normalised on the curve and smooth everywhere.
    """

    part = "ellipse"

    def __init__(self, center: Sequence[float], semi_axes: Sequence[float], angle: float = 0.0,
                 names: Sequence[str] = PLANE, name: str | None = None):
        super().__init__(check_names(names, 2), name)
        self.center = as_points(center, 2, "center")
        if isinstance(semi_axes, str) or not isinstance(semi_axes, Sequence) or len(semi_axes) != 2:
            raise ValueError(f"semi_axes must be [a, b], got {semi_axes!r}")
        self.a, self.b = (positive(v, "a semi-axis") for v in semi_axes)
        if isinstance(angle, bool) or not isinstance(angle, (int, float)) or not math.isfinite(angle):
            raise ValueError(f"angle must be a number of degrees, got {angle!r}")
        self.angle = math.radians(float(angle))
        self.curve = EllipseCurve(self.center, self.a, self.b, self.angle, part_labels([self.part], name))

    def __repr__(self) -> str:
        return (f"Ellipse(center={self.center.tolist()}, semi_axes=[{self.a:g}, {self.b:g}], "
                f"angle={math.degrees(self.angle):g})")

    def pieces(self) -> list[Pieces]:
        return [self.curve]

    def bounding_box(self) -> tuple[list[float], list[float]]:
        c, s = math.cos(self.angle), math.sin(self.angle)
        half = np.array([math.hypot(self.a * c, self.b * s), math.hypot(self.a * s, self.b * c)])
        return (self.center - half).tolist(), (self.center + half).tolist()

    def exact_volume(self) -> float:
        return math.pi * self.a * self.b

    def margin(self, x: Tensor) -> Tensor:
        if self.a == self.b:
            return self.a - (x - torch.as_tensor(self.center, dtype=x.dtype, device=x.device)).norm(dim=-1)
        g, grad = self.curve.implicit(x)
        return g / grad.clamp_min(1e-300)

    def signed(self, cols: Columns, ar: Arithmetic) -> Any:
        return self.curve.signed(cols, ar)

    @property
    def _interior_unit_dim(self) -> int:
        return 2

    def _interior_from_unit(self, u: Tensor) -> Tensor:
        r = u[:, 0].clamp_min(0).sqrt()
        theta = 2 * math.pi * u[:, 1]
        local = torch.stack([self.a * r * torch.cos(theta), self.b * r * torch.sin(theta)], -1)
        rot = torch.as_tensor(self.curve.rot, dtype=u.dtype, device=u.device)
        return local @ rot.T + torch.as_tensor(self.center, dtype=u.dtype, device=u.device)


class Disk(Ellipse):
    """The disk ``|x − center| <= radius``; part ``circle``, R-function ``(R² − |x − c|²)/(2R)``."""

    part = "circle"

    def __init__(self, center: Sequence[float] = (0.0, 0.0), radius: float = 1.0, names: Sequence[str] = PLANE,
                 name: str | None = None):
        radius = positive(radius, "radius")
        super().__init__(center, (radius, radius), 0.0, names, name)
        self.radius = radius

    def __repr__(self) -> str:
        return f"Disk(center={self.center.tolist()}, radius={self.radius:g})"


class Polygon(RejectionInterior, Primitive):
    """A simple polygon (convex or not: L-shapes, stars) given by its vertices in order, either orientation.

    Parts ``edge0 .. edge{k-1}`` (edge i from vertex i to vertex i + 1). Its R-function is
    the R-equivalence of the trimmed segment ADFs, signed by an even–odd inside test.
    Interior points are drawn by rejection from the bounding box.
    """

    def __init__(self, vertices: Sequence[Sequence[float]], names: Sequence[str] = PLANE, name: str | None = None):
        super().__init__(check_names(names, 2), name)
        v = _vertices(vertices)
        self.vertices = v
        nxt = np.roll(v, -1, axis=0)
        area2 = float(np.sum(v[:, 0] * nxt[:, 1] - nxt[:, 0] * v[:, 1]))
        self.area = abs(area2) / 2
        d = nxt - v
        orient = 1.0 if area2 > 0 else -1.0
        normals = orient * np.stack([d[:, 1], -d[:, 0]], -1) / np.hypot(d[:, 0], d[:, 1])[:, None]
        parts = [f"edge{i}" for i in range(len(v))]
        self.edges = Segments(v, nxt, normals, part_labels(parts, name))

    def __repr__(self) -> str:
        return f"Polygon({len(self.vertices)} vertices{'' if self.name is None else f', name={self.name!r}'})"

    def pieces(self) -> list[Pieces]:
        return [self.edges]

    def bounding_box(self) -> tuple[list[float], list[float]]:
        return self.vertices.min(0).tolist(), self.vertices.max(0).tolist()

    def exact_volume(self) -> float:
        return self.area

    def inside(self, x: Tensor) -> Tensor:
        """Even–odd test ``(N,)`` (points on edges may fall either way)."""
        a = torch.as_tensor(self.vertices, dtype=x.dtype, device=x.device)
        b = torch.roll(a, -1, 0)
        px, py = x[:, :1], x[:, 1:2]
        straddle = (a[:, 1] > py) != (b[:, 1] > py)
        dy = torch.where(b[:, 1] == a[:, 1], torch.ones_like(b[:, 1]), b[:, 1] - a[:, 1])
        cross_x = a[:, 0] + (py - a[:, 1]) * (b[:, 0] - a[:, 0]) / dy
        return ((straddle & (px < cross_x)).sum(-1) % 2) == 1

    def margin(self, x: Tensor) -> Tensor:
        d = self.edges.distance(x).amin(-1)
        return torch.where(self.inside(x), d, -d)

    def signed(self, cols: Columns, ar: Arithmetic) -> Any:
        phi = join(segment_adf(cols[0], cols[1], self.edges.a, self.edges.b, ar), len(self.vertices), ar)
        points = torch.stack([ar.value(cols[0]), ar.value(cols[1])], -1).to(F64)
        sign = torch.where(self.inside(points), 1.0, -1.0).to(ar.value(cols[0]).dtype)
        return phi * sign



def _vertices(vertices: Any) -> np.ndarray:
    try:
        v = np.asarray(vertices, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"vertices must be a list of [x, y] pairs, got {vertices!r}") from None
    if v.ndim != 2 or v.shape[1] != 2 or not np.all(np.isfinite(v)):
        raise ValueError(f"vertices must be a list of [x, y] pairs of finite numbers, got {vertices!r}")
    if len(v) > 1 and np.array_equal(v[0], v[-1]):
        v = v[:-1]
    if len(v) < 3:
        raise ValueError(f"a polygon needs at least 3 distinct vertices, got {len(v)}")
    d = np.roll(v, -1, axis=0) - v
    if np.any(np.hypot(d[:, 0], d[:, 1]) == 0):
        raise ValueError("a polygon may not repeat a vertex twice in a row")
    _check_simple(v)
    return v


def _check_simple(v: np.ndarray) -> None:
    """Raise unless no two non-adjacent edges meet and the area is non-zero."""
    k = len(v)
    a, b = v, np.roll(v, -1, axis=0)

    def orient(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
        return np.sign((q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0]))

    i, j = np.triu_indices(k, 1)
    keep = (j != i + 1) & ~((i == 0) & (j == k - 1))
    i, j = i[keep], j[keep]
    o1, o2 = orient(a[i], b[i], a[j]), orient(a[i], b[i], b[j])
    o3, o4 = orient(a[j], b[j], a[i]), orient(a[j], b[j], b[i])
    crossing = (o1 * o2 <= 0) & (o3 * o4 <= 0)
    collinear = (o1 == 0) & (o2 == 0)
    if collinear.any():
        lo_i, hi_i = np.minimum(a[i], b[i]), np.maximum(a[i], b[i])
        lo_j, hi_j = np.minimum(a[j], b[j]), np.maximum(a[j], b[j])
        overlap = np.all((lo_i <= hi_j) & (lo_j <= hi_i), axis=-1)
        crossing = np.where(collinear, overlap, crossing)
    if crossing.any():
        first = int(np.argmax(crossing))
        raise ValueError(f"the polygon is not simple: edges {i[first]} and {j[first]} intersect")
    area2 = float(np.sum(a[:, 0] * b[:, 1] - b[:, 0] * a[:, 1]))
    if abs(area2) <= 1e-14 * float(np.ptp(v, axis=0).max()) ** 2:
        raise ValueError("the polygon has zero area")

