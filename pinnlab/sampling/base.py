"""The sampler interface: collocation points per point set, and feedback for adaptive samplers."""

from __future__ import annotations

from abc import ABC
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from pinnlab import distributed
from pinnlab.compile import Batch, PointSet
from pinnlab.registry import Registry


def take_rows(batch: Batch, rows: slice | Tensor) -> Batch:
    """The rows ``rows`` of every per-point tensor of ``batch``."""
    return Batch(**{k: None if v is None else v[rows] for k, v in vars(batch).items()})


class PointDrawer:
    """Draws fresh points for each kind of point set from a geometry.

    In a data-parallel run every rank draws the same global set from the same generator and keeps
    its :func:`~pinnlab.distributed.shard` of the rows: ``shard = (rank, world)``, by default this
    process's place in the process group (``(0, 1)`` without one keeps every row).
    """

    def __init__(self, geometry: Any, generator: torch.Generator, method: str = "uniform",
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                 shard: tuple[int, int] | None = None):
        self.geometry = geometry
        self.generator = generator
        self.method = method
        self.dtype = dtype
        self.device = device
        self.rank, self.world = shard if shard is not None else (distributed.rank(), distributed.world_size())

    def _kw(self) -> dict[str, Any]:
        # points are drawn on the CPU (where the generator lives) and then moved
        return {"generator": self.generator, "method": self.method, "dtype": self.dtype}

    def draw(self, ps: PointSet, n: int | None = None) -> Batch:
        """A new batch for point set ``ps`` on the drawer's device: this rank's shard of ``n`` points
        (default ``ps.n``; all of them with one process)."""
        n = ps.n if n is None else n
        batch = self._draw(ps, n)
        if self.world > 1:
            batch = take_rows(batch, distributed.shard(n, self.rank, self.world))
        return batch.to(device=self.device)

    def draw_all(self, ps: PointSet, n: int | None = None) -> Batch:
        """All ``n`` points of a draw (every rank's shard) on the drawer's device."""
        return self._draw(ps, ps.n if n is None else n).to(device=self.device)

    def _draw(self, ps: PointSet, n: int) -> Batch:
        if ps.kind == "interior":
            return Batch(self.geometry.sample_interior(n, **self._kw()))
        if ps.kind == "initial":
            return Batch(self.geometry.sample_initial(n, **self._kw()))
        if ps.kind == "boundary":
            x, normals = self.geometry.sample_boundary(n, faces=ps.faces, **self._kw())
            return Batch(x, normals=normals)
        if ps.kind == "periodic":
            coord = ps.coordinate
            x, _ = self.geometry.sample_boundary(n, faces=[f"{coord}_min"], **self._kw())
            col = self.geometry.names.index(coord)
            high = self.geometry.bounding_box()[1][col]
            pair = x.clone()
            pair[:, col] = high
            return Batch(x, pair=pair)
        if ps.kind == "data":
            weights = None if ps.weights is None else ps.weights.to(dtype=self.dtype)
            return Batch(ps.coords.to(dtype=self.dtype), values=ps.values.to(dtype=self.dtype), weights=weights)
        raise ValueError(f"unknown point-set kind {ps.kind!r}")


class Sampler(ABC):
    """Holds the current batches; ``sample(step)`` returns them (resampling when due)."""

    adaptive = False

    def __init__(self, point_sets: Mapping[str, PointSet], drawer: PointDrawer, resample_every: int = 0):
        self.point_sets = dict(point_sets)
        self.drawer = drawer
        self.resample_every = int(resample_every)
        self.batches: dict[str, Batch] = {}
        self._last_draw: int | None = None

    def due(self, step: int) -> bool:
        if not self.batches:
            return True
        return self.resample_every > 0 and step - (self._last_draw or 0) >= self.resample_every

    def sample(self, step: int = 0) -> dict[str, Batch]:
        """The batches to use at ``step``."""
        if self.due(step):
            self.refresh(step)
            self._last_draw = step
        return self.batches

    def refresh(self, step: int) -> None:
        """Draw new points for every point set (adaptive samplers override for the interior)."""
        self.batches = {name: self.drawer.draw(ps) for name, ps in self.point_sets.items()}

    def observe(self, batches: Mapping[str, Batch], residuals: Mapping[str, Tensor], step: int) -> None:
        """Feedback after a step (adaptive samplers use the residuals)."""

    def wants_residuals(self, step: int) -> bool:
        """Whether the next ``sample`` call would use fresh residuals (adaptive samplers)."""
        return False

    def diagnostics(self) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.drawer.generator.get_state(),
            "last_draw": -1 if self._last_draw is None else self._last_draw,
            "batches": {name: {k: v for k, v in vars(b).items() if v is not None} for name, b in self.batches.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.drawer.generator.set_state(state["generator"])
        self._last_draw = None if state["last_draw"] < 0 else int(state["last_draw"])
        self.batches = {
            name: Batch(**{k: v.to(self.drawer.device) for k, v in b.items()}) for name, b in state["batches"].items()
        }


class FixedSampler(Sampler):
    """Uniform / Sobol / Latin-hypercube points, drawn once or every ``resample_every`` steps."""


_SAMPLERS: Registry[Callable[..., Sampler]] = Registry("sampler")


def register_sampler(name: str):
    """Decorator adding a sampler class to the registry."""
    return _SAMPLERS.register(name)


def sampler_names() -> list[str]:
    return _SAMPLERS.names()


def make_sampler(name: str, point_sets: Mapping[str, PointSet], drawer: PointDrawer, **options: Any) -> Sampler:
    """Build the sampler registered as ``name``."""
    return _SAMPLERS.create(name, point_sets, drawer, **options)


register_sampler("fixed")(FixedSampler)
