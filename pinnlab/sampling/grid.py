"""Quadrature grids on periodic boxes: equispaced points, shifted by a random offset at every draw."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from pinnlab import distributed
from pinnlab.compile import Batch, PointSet


class PeriodicGrid:
    """``n_i`` equispaced points per axis on the box ``[low_i, high_i)``, optionally shifted by a random offset.

    Every point carries the same (trapezoid) quadrature weight ``weight = volume / N``, exact for
    trigonometric polynomials of degree below ``n_i`` per axis.
    """

    def __init__(self, low: Sequence[float], high: Sequence[float], n: Sequence[int], dtype=torch.float64,
                 device: torch.device | str = "cpu"):
        if not (len(low) == len(high) == len(n)) or any(k < 1 for k in n):
            raise ValueError("low, high and n must have one entry per axis, with n >= 1")
        self.low = torch.as_tensor(low, dtype=dtype, device=device)
        self.span = torch.as_tensor(high, dtype=dtype, device=device) - self.low
        self.n = list(n)
        axes = [torch.arange(k, dtype=dtype, device=device) / k for k in self.n]
        self.unit = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(self.n))
        self.weight = float(self.span.prod()) / self.unit.shape[0]

    def __len__(self) -> int:
        return self.unit.shape[0]

    def points(self, generator: torch.Generator | None = None) -> Tensor:
        """The grid (N, d); with a generator, shifted by a uniform offset within one cell."""
        unit = self.unit
        if generator is not None:
            shift = torch.rand(len(self.n), generator=generator, dtype=unit.dtype) / torch.tensor(self.n)
            unit = unit + shift.to(unit.device)
        return self.low + unit * self.span


class GridDrawer:
    """Draws the quadrature grid as the batch of a ``grid`` point set (the drawer of a fixed sampler).

    In a data-parallel run every rank draws the same offset and keeps its
    :func:`~pinnlab.distributed.shard` of the grid points (``shard = (rank, world)``, by default this
    process's place in the process group).
    """

    def __init__(self, grid: PeriodicGrid, generator: torch.Generator, random_offset: bool = True,
                 shard: tuple[int, int] | None = None):
        self.grid = grid
        self.generator = generator
        self.random_offset = random_offset
        self.device = grid.low.device
        self.rank, self.world = shard if shard is not None else (distributed.rank(), distributed.world_size())

    def draw(self, ps: PointSet, n: int | None = None) -> Batch:
        if ps.kind != "grid":
            raise ValueError(f"a quadrature grid draws only 'grid' point sets, not {ps.kind!r}")
        points = self.grid.points(self.generator if self.random_offset else None)
        if self.world > 1:
            points = points[distributed.shard(len(self.grid), self.rank, self.world)]
        return Batch(points)


__all__ = ["GridDrawer", "PeriodicGrid"]
