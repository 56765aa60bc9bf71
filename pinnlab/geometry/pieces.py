"""Boundary pieces of the primitive shapes: where points go, their normals, distances and ADFs.

A :class:`Pieces` object holds K pieces of one kind (the edges of a polygon, the faces
of a box, one circle). Each piece has labels (the names that select it), a measure
(length or area), a map from ``param_dim`` unit-cube columns to points uniform on it
with outward unit normals, an unsigned distance (exact, or first-order accurate near the
piece) and a trimmed approximate distance function. Everything is computed in float64.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .box import place_on_faces
from .distance import Arithmetic, Columns, conjoin, segment_adf, slab, triangle_adf, trimmed, unsigned

F64 = torch.float64


class Pieces(ABC):
    """K boundary pieces of one kind in R^dim."""

    dim: int
    param_dim: int
    labels: list[tuple[str, ...]]
    measures: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @abstractmethod
    def place(self, index: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        """Points ``(M, dim)`` on pieces ``index`` ``(M,)`` from unit columns ``u`` ``(M, param_dim)``, and normals."""

    @abstractmethod
    def distance(self, x: Tensor) -> Tensor:
        """Unsigned distances ``(N, K)`` of the rows of ``x`` to every piece."""

    @abstractmethod
    def adf(self, cols: Columns, ar: Arithmetic, index: Sequence[int]) -> Any:
        """Trimmed ADFs ``(N, len(index))`` of the pieces ``index``."""


def _t(values: Any, like: Tensor) -> Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=like.dtype, device=like.device)


class Segments(Pieces):
    """Straight segments ``a[k] → b[k]`` in the plane with given outward normals."""

    dim, param_dim = 2, 1

    def __init__(self, a: np.ndarray, b: np.ndarray, normals: np.ndarray, labels: list[tuple[str, ...]]):
        self.a, self.b, self.normals = (np.asarray(v, dtype=np.float64).reshape(-1, 2) for v in (a, b, normals))
        self.labels = list(labels)
        self.measures = np.hypot(*(self.b - self.a).T)

    def place(self, index: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        a, b, n = (_t(v, u)[index] for v in (self.a, self.b, self.normals))
        s = u[:, :1]
        x = a + s * (b - a)
        return x, n

    def distance(self, x: Tensor) -> Tensor:
        a, b = _t(self.a, x), _t(self.b, x)
        d = b - a
        s = (((x[:, None, :] - a) * d).sum(-1) / (d * d).sum(-1)).clamp(0.0, 1.0)
        return (x[:, None, :] - a - s[..., None] * d).norm(dim=-1)

    def adf(self, cols: Columns, ar: Arithmetic, index: Sequence[int]) -> Any:
        idx = list(index)
        return segment_adf(cols[0], cols[1], self.a[idx], self.b[idx], ar)


class BoxFaces(Pieces):
    """The 2·dim faces of an axis-aligned box; face ``2 i + s`` is ``x_i = low_i`` (s = 0) or ``high_i``."""

    def __init__(self, low: Sequence[float], high: Sequence[float], labels: list[tuple[str, ...]]):
        self.low, self.high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        self.dim = len(self.low)
        self.param_dim = self.dim - 1
        self.labels = list(labels)
        sides = self.high - self.low
        per_axis = [float(np.prod(np.delete(sides, i))) for i in range(self.dim)]
        self.measures = np.repeat(per_axis, 2)

    def place(self, index: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        return place_on_faces(u, index // 2, index % 2, _t(self.low, u), _t(self.high, u))

    def distance(self, x: Tensor) -> Tensor:
        low, high = _t(self.low, x), _t(self.high, x)
        excess = torch.clamp(torch.maximum(low - x, x - high), min=0.0)
        total = (excess * excess).sum(-1, keepdim=True)
        out = []
        for i in range(self.dim):
            rest = total[:, 0] - excess[:, i] ** 2
            out += [((x[:, i] - low[i]) ** 2 + rest).sqrt(), ((x[:, i] - high[i]) ** 2 + rest).sqrt()]
        return torch.stack(out, -1)

    def adf(self, cols: Columns, ar: Arithmetic, index: Sequence[int]) -> Any:
        centre, width = 0.5 * (self.low + self.high), self.high - self.low
        out = []
        for k in index:
            axis, side = divmod(int(k), 2)
            wall = self.high[axis] if side else self.low[axis]
            f = cols[axis] - wall
            others = [j for j in range(self.dim) if j != axis]
            if not others:
                out.append(ar.unsqueeze(unsigned(f, ar)))
                continue
            slabs = [slab(cols[j], centre[j], width[j]) for j in others]
            t = slabs[0] if len(slabs) == 1 else conjoin(ar.cat([ar.unsqueeze(s) for s in slabs]), len(slabs), ar)
            out.append(ar.unsqueeze(trimmed(f, t, ar)))
        return out[0] if len(out) == 1 else ar.cat(out)


def rotation(angle: float) -> np.ndarray:
    """The 2×2 matrix of a rotation by ``angle`` radians."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


class EllipseCurve(Pieces):
    """The curve of an ellipse with semi-axes ``(a, b)`` rotated by ``angle`` (a circle when a = b).

    Points are uniform in arc length: the angle parameter is read from a table of the
    arc length (trapezoidal rule on 4096 intervals, spectrally accurate for this periodic
    integrand); for a circle the parameter is the angle itself.
    """

    dim, param_dim = 2, 1
    TABLE = 4096

    def __init__(self, center: Sequence[float], a: float, b: float, angle: float, labels: list[tuple[str, ...]]):
        self.center = np.asarray(center, dtype=np.float64)
        self.a, self.b, self.angle = float(a), float(b), float(angle)
        self.rot = rotation(self.angle)
        self.labels = list(labels)
        self.circle = self.a == self.b
        theta = np.linspace(0.0, 2 * np.pi, self.TABLE + 1)
        speed = np.hypot(self.a * np.sin(theta), self.b * np.cos(theta))
        arc = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * np.diff(theta))])
        self.theta, self.arc = theta, arc / arc[-1]
        self.measures = np.array([2 * np.pi * self.a if self.circle else arc[-1]])

    def local(self, x: Tensor) -> Tensor:
        """Coordinates of ``x`` in the ellipse's frame (centre at 0, axes along the columns)."""
        return (x - _t(self.center, x)) @ _t(self.rot, x)

    def implicit(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``g = 1 − (ξ/a)² − (η/b)²`` and ``|∇g|`` at the rows of ``x``."""
        p = self.local(x)
        g = 1 - (p[:, 0] / self.a) ** 2 - (p[:, 1] / self.b) ** 2
        grad = 2 * torch.hypot(p[:, 0] / self.a**2, p[:, 1] / self.b**2)
        return g, grad

    def place(self, index: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        s = u[:, 0]
        if self.circle:
            theta = 2 * math.pi * s
        else:
            arc, table = _t(self.arc, u), _t(self.theta, u)
            k = torch.searchsorted(arc, s.contiguous()).clamp(1, self.TABLE)
            w = (s - arc[k - 1]) / (arc[k] - arc[k - 1])
            theta = table[k - 1] + w * (table[k] - table[k - 1])
        c, sn = torch.cos(theta), torch.sin(theta)
        rot = _t(self.rot, u)
        x = torch.stack([self.a * c, self.b * sn], -1) @ rot.T + _t(self.center, u)
        n = torch.stack([self.b * c, self.a * sn], -1)
        n = n / n.norm(dim=-1, keepdim=True)
        return x, n @ rot.T

    def distance(self, x: Tensor) -> Tensor:
        if self.circle:
            return ((x - _t(self.center, x)).norm(dim=-1) - self.a).abs()[:, None]
        g, grad = self.implicit(x)
        return (g.abs() / grad.clamp_min(1e-300))[:, None]

    def signed(self, cols: Columns, ar: Arithmetic) -> Any:
        """A signed function, positive inside, zero on the curve, unit normal slope on it.

        For a circle ``(R² − |x − c|²)/(2R)``; otherwise ``g / sqrt(g² + |∇g|²)``, smooth
        everywhere (also at the centre, where ∇g = 0).
        """
        dx, dy = cols[0] - float(self.center[0]), cols[1] - float(self.center[1])
        if self.circle:
            return (self.a * self.a - dx * dx - dy * dy) * (0.5 / self.a)
        c, s = math.cos(self.angle), math.sin(self.angle)
        xi, eta = dx * c + dy * s, dy * c - dx * s
        a2, b2 = self.a * self.a, self.b * self.b
        g = 1.0 - xi * xi * (1.0 / a2) - eta * eta * (1.0 / b2)
        grad2 = (xi * xi * (1.0 / (a2 * a2)) + eta * eta * (1.0 / (b2 * b2))) * 4.0
        return g / ar.sqrt(g * g + grad2)

    def adf(self, cols: Columns, ar: Arithmetic, index: Sequence[int]) -> Any:
        return ar.unsqueeze(unsigned(self.signed(cols, ar), ar))


def _sphere_directions(u: Tensor) -> Tensor:
    """Uniform unit vectors from two unit columns (Archimedes: z uniform in [−1, 1])."""
    z = 1 - 2 * u[:, 0]
    phi = 2 * math.pi * u[:, 1]
    r = (1 - z * z).clamp_min(0).sqrt()
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], -1)


class SphereSurface(Pieces):
    """The sphere ``|x − c| = R`` in 3-D."""

    dim, param_dim = 3, 2

    def __init__(self, center: Sequence[float], radius: float, labels: list[tuple[str, ...]]):
        self.center, self.radius = np.asarray(center, dtype=np.float64), float(radius)
        self.labels = list(labels)
        self.measures = np.array([4 * math.pi * self.radius**2])

    def place(self, index: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        n = _sphere_directions(u)
        return _t(self.center, u) + self.radius * n, n

    def distance(self, x: Tensor) -> Tensor:
        return ((x - _t(self.center, x)).norm(dim=-1) - self.radius).abs()[:, None]

    def signed(self, cols: Columns, ar: Arithmetic) -> Any:
        """``(R² − |x − c|²)/(2R)``."""
        r2 = sum((cols[i] - float(self.center[i])) ** 2 for i in range(3))
        return (self.radius**2 - r2) * (0.5 / self.radius)

    def adf(self, cols: Columns, ar: Arithmetic, index: Sequence[int]) -> Any:
        return ar.unsqueeze(unsigned(self.signed(cols, ar), ar))


def frame(axis: np.ndarray) -> np.ndarray:
    """Rows ``e1, e2, w``: an orthonormal frame whose last vector is the unit ``axis``."""
    w = axis / np.linalg.norm(axis)
    helper = np.eye(3)[int(np.argmin(np.abs(w)))]
    e1 = np.cross(w, helper)
    e1 /= np.linalg.norm(e1)
    return np.stack([e1, np.cross(w, e1), w])


class CylinderSurfaces(Pieces):
    """Side (0), bottom (1, at −axis) and top (2) of a closed cylinder around ``center``."""

    dim, param_dim = 3, 2

    def __init__(self, center: Sequence[float], axis: Sequence[float], radius: float, height: float,
                 labels: list[tuple[str, ...]]):
        self.center = np.asarray(center, dtype=np.float64)
        self.frame = frame(np.asarray(axis, dtype=np.float64))
        self.radius, self.height = float(radius), float(height)
        self.labels = list(labels)
        disc = math.pi * self.radius**2
        self.measures = np.array([2 * math.pi * self.radius * self.height, disc, disc])

    def local(self, x: Tensor) -> Tensor:
        return (x - _t(self.center, x)) @ _t(self.frame, x).T

    def place(self, index: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        R, H = self.radius, self.height
        side = index == 0
        theta = 2 * math.pi * u[:, 0]
        r = torch.where(side, torch.full_like(theta, R), R * u[:, 1].clamp_min(0).sqrt())
        h = torch.where(side, H * (u[:, 1] - 0.5), torch.where(index == 1, -0.5 * H, 0.5 * H))
        c, s = torch.cos(theta), torch.sin(theta)
        local = torch.stack([r * c, r * s, h], -1)
        sign = torch.where(index == 1, -1.0, 1.0).to(u)
        zero = torch.zeros_like(c)
        normal = torch.where(side[:, None], torch.stack([c, s, zero], -1), torch.stack([zero, zero, sign], -1))
        rows = _t(self.frame, u)
        return local @ rows + _t(self.center, u), normal @ rows

    def distance(self, x: Tensor) -> Tensor:
        p = self.local(x)
        rho, h = torch.hypot(p[:, 0], p[:, 1]), p[:, 2]
        over = (h.abs() - 0.5 * self.height).clamp_min(0)
        side = torch.hypot(rho - self.radius, over)
        outside = (rho - self.radius).clamp_min(0)
        caps = [torch.hypot(h + 0.5 * self.height, outside), torch.hypot(h - 0.5 * self.height, outside)]
        return torch.stack([side, *caps], -1)

    def local_columns(self, cols: Columns) -> list[Any]:
        """The columns in the cylinder's frame (radial ξ, η and axial h)."""
        d = [cols[i] - float(self.center[i]) for i in range(3)]
        return [sum(d[i] * float(row[i]) for i in range(3)) for row in self.frame]

    def disc(self, xi: Any, eta: Any) -> Any:
        """``(R² − ρ²)/(2R)``, the normalised radial function."""
        return (self.radius**2 - xi * xi - eta * eta) * (0.5 / self.radius)

    def adf(self, cols: Columns, ar: Arithmetic, index: Sequence[int]) -> Any:
        xi, eta, h = self.local_columns(cols)
        out = []
        for k in index:
            if k == 0:
                out.append(trimmed(self.disc(xi, eta), slab(h, 0.0, self.height), ar))
            else:
                wall = -0.5 * self.height if k == 1 else 0.5 * self.height
                out.append(trimmed(h - wall, self.disc(xi, eta), ar))
        return ar.cat([ar.unsqueeze(v) for v in out])


class Triangles(Pieces):
    """Triangular facets ``(a, b, c)`` in 3-D, normals ``(b − a) × (c − a)`` normalised."""

    dim, param_dim = 3, 2

    def __init__(self, a: np.ndarray, b: np.ndarray, c: np.ndarray, labels: list[tuple[str, ...]]):
        self.a, self.b, self.c = (np.asarray(v, dtype=np.float64).reshape(-1, 3) for v in (a, b, c))
        cross = np.cross(self.b - self.a, self.c - self.a)
        area2 = np.linalg.norm(cross, axis=1)
        self.normals = cross / area2[:, None]
        self.measures = 0.5 * area2
        self.labels = list(labels)

    def place(self, index: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        a, b, c, n = (_t(v, u)[index] for v in (self.a, self.b, self.c, self.normals))
        s, t = u[:, :1], u[:, 1:2]
        fold = (s + t) > 1
        s, t = torch.where(fold, 1 - s, s), torch.where(fold, 1 - t, t)
        return a + s * (b - a) + t * (c - a), n

    def distance(self, x: Tensor) -> Tensor:
        return triangle_distances(x, _t(self.a, x), _t(self.b, x), _t(self.c, x))

    def adf(self, cols: Columns, ar: Arithmetic, index: Sequence[int]) -> Any:
        idx = list(index)
        return triangle_adf(cols, self.a[idx], self.b[idx], self.c[idx], ar)


def triangle_distances(x: Tensor, a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """Exact distances ``(N, K)`` from points ``(N, 3)`` to K triangles (vertex tensors ``(K, 3)``)."""
    n = torch.linalg.cross(b - a, c - a)
    n = n / n.norm(dim=-1, keepdim=True)
    p = x[:, None, :]
    height = ((p - a) * n).sum(-1)
    foot = p - height[..., None] * n
    inside = torch.ones_like(height, dtype=torch.bool)
    for q, r in ((a, b), (b, c), (c, a)):
        edge = (r - q).expand(foot.shape)
        inside &= (torch.linalg.cross(edge, foot - q) * n).sum(-1) >= 0
    edges = torch.stack([_segment_distance(p, q, r) for q, r in ((a, b), (b, c), (c, a))], -1).amin(-1)
    return torch.where(inside, height.abs(), edges)


def _segment_distance(p: Tensor, a: Tensor, b: Tensor) -> Tensor:
    d = b - a
    s = (((p - a) * d).sum(-1) / (d * d).sum(-1)).clamp(0.0, 1.0)
    return (p - a - s[..., None] * d).norm(dim=-1)

