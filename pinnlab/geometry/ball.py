"""The ball {|x - center| <= radius} in any dimension, light enough for dim = 100000."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import torch
from torch import Tensor

from ._checks import check_faces, check_name, check_real
from ._unitcube import generator_device
from .base import Geometry, GridLayout, points_matrix
from .distance import Arithmetic, DistanceFunction, const

SOBOL_MAX_DIM = 1000
"""Above this dimension ``method="sobol"`` falls back to uniform sampling."""

_NORM_BLOCK = 4096

CONTAINS_ROUNDOFF = 4
"""Units of roundoff of x's dtype, times ``radius + |center|``, added to ``atol`` in ``contains``."""


class Ball(Geometry):
    """A ball of ``dim`` dimensions with columns ``name1 .. name{dim}``.

    Interior points are ``center + radius * U**(1/dim) * g/|g|`` with ``g`` standard
    Gaussian and ``U`` uniform, which is uniform in the ball; memory and time are
    O(n·dim).  For ``"sobol"`` and ``"lhs"`` the Gaussian comes from the inverse normal
    CDF of unit-cube columns and ``U`` from one more column.  A Sobol design of more than
    :data:`SOBOL_MAX_DIM` columns says little about how the points fill the ball, so in
    higher dimension ``"sobol"`` samples uniformly.  The boundary is the face
    ``"sphere"`` with outward normals ``(x - center)/radius``.  For ``dim > 3``
    :meth:`grid` covers the 2-D slice through the centre spanned by the first two
    columns; grid points outside the ball are kept (mask them with :meth:`contains`).
    """

    def __init__(self, name: str, dim: int, radius: float = 1.0, center: float | Sequence[float] = 0.0):
        check_name(name, "the coordinate name")
        if isinstance(dim, bool) or not isinstance(dim, Integral) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        radius = check_real(radius, "radius")
        if radius <= 0:
            raise ValueError(f"radius must be positive, got {radius}")
        if isinstance(center, Real):
            centre = torch.full((int(dim),), check_real(center, "center"), dtype=torch.float64)
        elif isinstance(center, Sequence) and not isinstance(center, str) and len(center) == dim:
            centre = torch.tensor([check_real(c, "center") for c in center], dtype=torch.float64)
        else:
            raise ValueError(f"center must be a number or a list of {dim} numbers, got {center!r}")
        self.name = name
        self.radius = radius
        self._dim = int(dim)
        self._center = centre
        self._center_norm = float(_row_norms(centre[None])[0, 0])

    def __repr__(self) -> str:
        return f"Ball({self.name!r}, dim={self._dim}, radius={self.radius:g})"

    @property
    def names(self) -> list[str]:
        return [f"{self.name}{i}" for i in range(1, self._dim + 1)]

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def center(self) -> list[float]:
        """The centre, one value per column."""
        return self._center.tolist()

    @property
    def faces(self) -> list[str]:
        return ["sphere"]

    def contains(self, x: Tensor, atol: float = 1e-9) -> Tensor:
        """Rows with ``|x - center| <= radius + atol`` plus a few units of roundoff of x.

        The slack, ``CONTAINS_ROUNDOFF * eps * (radius + |center|)`` with eps of x's dtype,
        admits sphere points rounded to float32; it is ~1e-14 for float64 inputs.
        """
        x = points_matrix(x, self._dim)
        distance = _row_norms(x - self._center.to(x))[:, 0]
        slack = CONTAINS_ROUNDOFF * torch.finfo(x.dtype).eps * (self.radius + self._center_norm)
        return distance <= self.radius + atol + slack

    def bounding_box(self) -> tuple[list[float], list[float]]:
        return (self._center - self.radius).tolist(), (self._center + self.radius).tolist()

    def log_volume(self) -> float:
        d = self._dim
        return 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1) + d * math.log(self.radius)

    def distance_function(self, boundary: str | Sequence[str] | None = None) -> DistanceFunction:
        """``(R² − |x − c|²)/(2R)``: zero on the sphere, positive inside, unit normal slope (any dimension)."""
        if boundary is not None and not (not isinstance(boundary, str) and len(boundary) == 0):
            check_faces(boundary, self.faces)
        radius, centre = self.radius, self._center

        def fn(block: Any, ar: Arithmetic) -> Any:
            d = block - const(centre.numpy(), block, ar)
            return (radius * radius - ar.sum_last(d * d)) * (0.5 / radius)

        return DistanceFunction(slice(0, self._dim), fn, None if boundary is None else ("sphere",))

    # ----------------------------------------------------------------- hooks
    def _resolve_method(self, method: str) -> str:
        return "uniform" if method == "sobol" and self._dim > SOBOL_MAX_DIM else method

    @property
    def _interior_unit_dim(self) -> int:
        return self._dim + 1

    def _interior_from_unit(self, u: Tensor) -> Tensor:
        return self._place(_gaussian(u[:, : self._dim]), u[:, self._dim])

    @property
    def _boundary_unit_dim(self) -> int:
        return self._dim

    def _resolve_faces(self, faces: list[str] | None) -> None:
        if faces is not None:
            check_faces(faces, self.faces)

    def _boundary_from_unit(self, u: Tensor, selection: None) -> tuple[Tensor, Tensor]:
        return self._on_sphere(_gaussian(u))

    def _draw_interior(self, n: int, generator: torch.Generator | None, method: str, work: torch.dtype) -> Tensor:
        if method != "uniform":
            return super()._draw_interior(n, generator, method, work)
        g = torch.randn(n, self._dim, generator=generator, dtype=work, device=generator_device(generator))
        u = torch.rand(n, generator=generator, dtype=torch.float64, device=generator_device(generator))
        return self._place(g, u)

    def _draw_boundary(
        self,
        n: int,
        generator: torch.Generator | None,
        method: str,
        work: torch.dtype,
        selection: None,
    ) -> tuple[Tensor, Tensor]:
        if method != "uniform":
            return super()._draw_boundary(n, generator, method, work, selection)
        g = torch.randn(n, self._dim, generator=generator, dtype=work, device=generator_device(generator))
        return self._on_sphere(g)

    def _place(self, g: Tensor, u: Tensor) -> Tensor:
        """Interior points from Gaussian rows ``g`` (overwritten) and uniforms ``u``."""
        r = u.to(torch.float64).pow(1.0 / self._dim) * self.radius
        scale = (r[:, None] / _gaussian_norms(g)).to(g.dtype)
        return g.mul_(scale).add_(self._center.to(g))

    def _on_sphere(self, g: Tensor) -> tuple[Tensor, Tensor]:
        """Sphere points and normals from Gaussian rows ``g`` (overwritten)."""
        normals = g.div_(_gaussian_norms(g).to(g.dtype))
        return self.radius * normals + self._center.to(g), normals

    def _grid_layout(self) -> GridLayout:
        centre, r = self._center.tolist(), self.radius
        columns = list(range(self._dim)) if self._dim <= 3 else [0, 1]
        return columns, [(centre[c] - r, centre[c] + r) for c in columns], centre


def _gaussian(u: Tensor) -> Tensor:
    """Standard normal values from unit-cube values, kept finite at 0 and 1."""
    tiny = torch.finfo(u.dtype).eps / 2
    return torch.special.ndtri(u.clamp(tiny, 1 - tiny))


def _gaussian_norms(g: Tensor) -> Tensor:
    """Row norms ``(n, 1)`` of Gaussian rows; an all-zero row (probability ~0) becomes e_1."""
    norms = _row_norms(g)
    zero = norms[:, 0] == 0
    if zero.any():
        g[zero, 0] = 1.0
        norms[zero] = 1.0
    return norms


def _row_norms(g: Tensor) -> Tensor:
    """Euclidean row norms ``(n, 1)`` in float64.

    Float32 accumulation loses ~1e-6 relative accuracy at dim = 1e5, so squares are
    summed in float64, a block of columns at a time to avoid a float64 copy of ``g``.
    """
    squares = g.new_zeros(g.shape[0], 1, dtype=torch.float64)
    for start in range(0, g.shape[1], _NORM_BLOCK):
        block = g[:, start : start + _NORM_BLOCK].to(torch.float64)
        squares += block.square().sum(dim=1, keepdim=True)
    return squares.sqrt_()
