"""Axis-aligned boxes: intervals, rectangles and boxes in any dimension."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ._checks import check_faces, check_interval, check_name, check_unique
from .base import Geometry, GridLayout, points_matrix


class Box(Geometry):
    """The product of intervals ``[low[i], high[i]]``, one column per name.

    Faces are ``f"{name}_min"`` and ``f"{name}_max"`` with outward normals ``-e_i`` and
    ``+e_i``; a face's measure is the product of the other side lengths (for a 1-D box
    the two end points weigh the same).
    """

    def __init__(self, names: Sequence[str], low: Sequence[float], high: Sequence[float]):
        if isinstance(names, str) or not isinstance(names, Sequence) or not names:
            raise ValueError(f"names must be a non-empty list of strings, got {names!r}")
        for seq, what in ((low, "low"), (high, "high")):
            if isinstance(seq, str) or not isinstance(seq, Sequence) or len(seq) != len(names):
                raise ValueError(f"{what} must be a list of {len(names)} numbers, got {seq!r}")
        for name in names:
            check_name(name, "a coordinate name")
        check_unique(names, "box coordinate names")
        bounds = [check_interval(lo, hi, f"coordinate {nm!r}") for nm, lo, hi in zip(names, low, high)]
        self._set_columns(names, [b[0] for b in bounds], [b[1] for b in bounds])

    def _set_columns(self, names: Sequence[str], low: Sequence[float], high: Sequence[float]) -> None:
        """Store already validated columns."""
        self._names = tuple(names)
        self._low = tuple(low)
        self._high = tuple(high)

    def __repr__(self) -> str:
        sides = ", ".join(f"{n}=[{lo:g}, {hi:g}]" for n, lo, hi in zip(self._names, self._low, self._high))
        return f"Box({sides})"

    @property
    def names(self) -> list[str]:
        return list(self._names)

    @property
    def dim(self) -> int:
        return len(self._names)

    @property
    def faces(self) -> list[str]:
        return self._single_faces()

    def _single_faces(self) -> list[str]:
        """Face names in id order: face ``2 * i + s`` is column i's min (s = 0) or max."""
        return [f"{name}_{side}" for name in self._names for side in ("min", "max")]

    def contains(self, x: Tensor, atol: float = 1e-9) -> Tensor:
        """Rows with every column in ``[low - atol, high + atol]``, compared in x's dtype."""
        x = points_matrix(x, self.dim)
        low, high = self._bounds(x)
        return ((x >= low - atol) & (x <= high + atol)).all(dim=1)

    def bounding_box(self) -> tuple[list[float], list[float]]:
        return list(self._low), list(self._high)

    def log_volume(self) -> float:
        return sum(math.log(hi - lo) for lo, hi in zip(self._low, self._high))

    def volume(self) -> float:
        return math.prod(hi - lo for lo, hi in zip(self._low, self._high))

    # ----------------------------------------------------------------- hooks
    def _bounds(self, like: Tensor) -> tuple[Tensor, Tensor]:
        """Lower and upper corners as tensors with the dtype and device of ``like``."""
        kw = {"dtype": like.dtype, "device": like.device}
        return torch.tensor(self._low, **kw), torch.tensor(self._high, **kw)

    @property
    def _interior_unit_dim(self) -> int:
        return self.dim

    def _interior_from_unit(self, u: Tensor) -> Tensor:
        low, high = self._bounds(u)
        return u.mul(high - low).add_(low).clamp_(low, high)

    @property
    def _boundary_unit_dim(self) -> int:
        return self.dim

    def _resolve_faces(self, faces: list[str] | None) -> tuple[Tensor, Tensor]:
        """Selected face ids (``2 * column + [0 for min, 1 for max]``) and log measures."""
        if faces is None:
            ids = torch.arange(2 * self.dim)
        else:
            index = {name: i for i, name in enumerate(self._single_faces())}
            ids = torch.tensor([index[f] for f in check_faces(faces, self.faces)])
        log_sides = torch.tensor([math.log(hi - lo) for lo, hi in zip(self._low, self._high)], dtype=torch.float64)
        axis = ids // 2
        log_measure = log_sides.sum() - log_sides[axis] if self.dim > 1 else torch.zeros(len(ids), dtype=torch.float64)
        return ids, log_measure

    def _boundary_from_unit(self, u: Tensor, selection: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        ids, log_measure = selection
        cdf = torch.cumsum(torch.softmax(log_measure, dim=0), dim=0).to(u)
        pick = torch.searchsorted(cdf, u[:, 0].contiguous(), right=True).clamp_(max=len(ids) - 1)
        face = ids.to(u.device)[pick]
        low, high = self._bounds(u)
        return place_on_faces(u[:, 1:], face // 2, face % 2, low, high)

    def _grid_layout(self) -> GridLayout:
        return list(range(self.dim)), list(zip(self._low, self._high)), list(self._low)


def place_on_faces(rest: Tensor, axis: Tensor, side: Tensor, low: Tensor, high: Tensor) -> tuple[Tensor, Tensor]:
    """Points on the faces ``x[axis] = low|high`` of a box, and their outward normals.

    ``rest`` holds ``dim - 1`` unit-cube columns per point, spread in order over the
    columns other than ``axis``; ``side`` is 0 for the low face and 1 for the high face.
    """
    n, d = rest.shape[0], low.shape[0]
    column = torch.arange(d, device=rest.device)
    pad = rest.new_zeros(n, 1)
    unit = torch.where(column < axis[:, None], torch.cat([rest, pad], 1), torch.cat([pad, rest], 1))
    x = torch.clamp(low + (high - low) * unit, low, high)
    wall = torch.where(side.bool(), high[axis], low[axis])
    x.scatter_(1, axis[:, None], wall[:, None])
    normals = torch.zeros_like(x)
    normals.scatter_(1, axis[:, None], (2 * side - 1).to(x.dtype)[:, None])
    return x, normals
