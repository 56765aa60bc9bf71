"""Time × space: a time interval times a spatial geometry."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral

import torch
from torch import Tensor

from ._checks import (
    check_device,
    check_dtype,
    check_generator,
    check_interval,
    check_method,
    check_n,
    check_name,
    working_dtype,
)
from ._unitcube import unit_cube
from .base import Geometry, GridLayout, points_matrix
from .distance import DistanceFunction


class TimeSpace(Geometry):
    """``[t0, t1] × space`` with the time column inserted at ``time_column``.

    The boundary is the spatial boundary × time (the faces are the space's, and normals
    have 0 in the time column); :meth:`sample_initial` samples space at ``t = t0``.  With
    ``"sobol"`` or ``"lhs"`` the time and space columns come from one joint design,
    unless the space falls back to uniform sampling, in which case time is stratified
    on its own.
    """

    def __init__(self, time_name: str, t0: float, t1: float, space: Geometry, time_column: int = 0):
        check_name(time_name, "the time name")
        if not isinstance(space, Geometry):
            raise TypeError(f"space must be a Geometry, got {type(space).__name__}")
        if isinstance(space, TimeSpace):
            raise TypeError("space must be a spatial geometry, not another TimeSpace")
        if time_name in space.names:
            raise ValueError(f"time name {time_name!r} is already a column of the space")
        if isinstance(time_column, bool) or not isinstance(time_column, Integral) or not 0 <= time_column <= space.dim:
            raise ValueError(f"time_column must be an integer in [0, {space.dim}], got {time_column!r}")
        self.time_name = time_name
        self.t0, self.t1 = check_interval(t0, t1, "time interval")
        self.space = space
        self.time_column = int(time_column)

    def __repr__(self) -> str:
        return (
            f"TimeSpace({self.time_name!r}, {self.t0:g}, {self.t1:g}, {self.space!r}, time_column={self.time_column})"
        )

    @property
    def names(self) -> list[str]:
        names = self.space.names
        names.insert(self.time_column, self.time_name)
        return names

    @property
    def dim(self) -> int:
        return self.space.dim + 1

    @property
    def faces(self) -> list[str]:
        return self.space.faces

    def contains(self, x: Tensor, atol: float = 1e-9) -> Tensor:
        x = points_matrix(x, self.dim)
        t = x[:, self.time_column]
        t0, t1 = (torch.tensor(v, dtype=x.dtype, device=x.device) for v in (self.t0, self.t1))
        inside_t = (t >= t0 - atol) & (t <= t1 + atol)
        return inside_t & self.space.contains(self._space_columns(x), atol)

    def bounding_box(self) -> tuple[list[float], list[float]]:
        low, high = self.space.bounding_box()
        low.insert(self.time_column, self.t0)
        high.insert(self.time_column, self.t1)
        return low, high

    def log_volume(self) -> float:
        return math.log(self.t1 - self.t0) + self.space.log_volume()

    def volume(self) -> float:
        return (self.t1 - self.t0) * self.space.volume()

    def sample_initial(
        self,
        n: int,
        generator: torch.Generator | None,
        method: str = "uniform",
        *,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> Tensor:
        """``(n, dim)`` points of the space at ``t = t0``."""
        n, generator, method = check_n(n), check_generator(generator), check_method(method)
        dtype, device = check_dtype(dtype), check_device(device)
        space_method = self.space._resolve_method(method)
        x = self.space._draw_interior(n, generator, space_method, working_dtype(dtype))
        return self._with_time(torch.full_like(x[:, 0], self.t0), x).to(device=device, dtype=dtype)

    # ----------------------------------------------------------------- hooks
    def _time(self, u: Tensor) -> Tensor:
        t0, t1 = self.t0, self.t1
        return torch.clamp(t0 + (t1 - t0) * u, t0, t1)

    def _with_time(self, t: Tensor, x: Tensor) -> Tensor:
        c = self.time_column
        return torch.cat([x[:, :c], t[:, None], x[:, c:]], dim=1)

    def _joint(self, method: str) -> bool:
        """Whether time and space are drawn from one unit-cube design."""
        return method != "uniform" and self.space._resolve_method(method) == method

    @property
    def _interior_unit_dim(self) -> int:
        return 1 + self.space._interior_unit_dim

    def _interior_from_unit(self, u: Tensor) -> Tensor:
        return self._with_time(self._time(u[:, 0]), self.space._interior_from_unit(u[:, 1:]))

    @property
    def _boundary_unit_dim(self) -> int:
        return 1 + self.space._boundary_unit_dim

    def _resolve_faces(self, faces: list[str] | None) -> object:
        return self.space._resolve_faces(faces)

    def _boundary_from_unit(self, u: Tensor, selection: object) -> tuple[Tensor, Tensor]:
        x, normals = self.space._boundary_from_unit(u[:, 1:], selection)
        return self._with_time(self._time(u[:, 0]), x), self._with_time(torch.zeros_like(x[:, 0]), normals)

    @property
    def _interior_acceptance(self) -> float | None:  # type: ignore[override]
        return self.space._interior_acceptance

    @property
    def _boundary_acceptance(self) -> float | None:  # type: ignore[override]
        return self.space._boundary_acceptance

    def _space_columns(self, x: Tensor) -> Tensor:
        c = self.time_column
        return torch.cat([x[:, :c], x[:, c + 1 :]], 1)

    def _interior_accept(self, x: Tensor) -> Tensor | None:
        return self.space._interior_accept(self._space_columns(x))

    def _boundary_accept(self, u: Tensor, x: Tensor, normals: Tensor, selection: object) -> Tensor | None:
        return self.space._boundary_accept(u[:, 1:], self._space_columns(x), self._space_columns(normals), selection)

    def distance_function(self, boundary: str | Sequence[str] | None = None) -> DistanceFunction:
        """The space's distance function, reading the spatial columns of space-time points."""
        return self.space.distance_function(boundary).inserted(self.time_column)

    def _draw_interior(self, n: int, generator: torch.Generator | None, method: str, work: torch.dtype) -> Tensor:
        if self._joint(method):
            return super()._draw_interior(n, generator, method, work)
        t = self._time(unit_cube(n, 1, generator, method, work)[:, 0])
        space_method = self.space._resolve_method(method)
        return self._with_time(t, self.space._draw_interior(n, generator, space_method, work))

    def _draw_boundary(
        self,
        n: int,
        generator: torch.Generator | None,
        method: str,
        work: torch.dtype,
        selection: object,
    ) -> tuple[Tensor, Tensor]:
        if self._joint(method):
            return super()._draw_boundary(n, generator, method, work, selection)
        t = self._time(unit_cube(n, 1, generator, method, work)[:, 0])
        space_method = self.space._resolve_method(method)
        x, normals = self.space._draw_boundary(n, generator, space_method, work, selection)
        return self._with_time(t, x), self._with_time(torch.zeros_like(t), normals)

    def _grid_layout(self) -> GridLayout:
        columns, ranges, base = self.space._grid_layout()
        c = self.time_column
        shifted = [col + (col >= c) for col in columns]
        at = sum(col < c for col in shifted)
        shifted.insert(at, c)
        ranges = list(ranges)
        ranges.insert(at, (self.t0, self.t1))
        base = list(base)
        base.insert(c, self.t0)
        return shifted, ranges, base
