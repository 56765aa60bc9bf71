"""The cube [low, high]^dim of a vector coordinate, usable in very high dimension."""

from __future__ import annotations

import math
from numbers import Integral

import torch
from torch import Tensor

from ._checks import check_faces, check_interval, check_name
from .base import GridLayout
from .box import Box, place_on_faces

PER_FACE_MAX_DIM = 3
"""Up to this dimension the single faces are named and selectable."""


class Hypercube(Box):
    """``[low, high]^dim`` with columns ``name1 .. name{dim}``.

    The boundary is the face group ``"boundary"``; for ``dim <= 3`` the single faces
    ``f"{name}{i}_min"`` / ``f"{name}{i}_max"`` may be selected as well (no list of 2·dim
    names is ever built in high dimension).  Boundary points pick a face uniformly among
    the selected ones, then a point on it, which is uniform over their surface since all
    faces have the same measure.  For ``dim > 3`` :meth:`grid` covers the 2-D slice
    through the centre spanned by the first two columns, the others held at the centre.
    """

    def __init__(self, name: str, dim: int, low: float = 0.0, high: float = 1.0):
        check_name(name, "the coordinate name")
        if isinstance(dim, bool) or not isinstance(dim, Integral) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        lo, hi = check_interval(low, high, f"hypercube {name!r}")
        dim = int(dim)
        self._set_columns([f"{name}{i}" for i in range(1, dim + 1)], [lo] * dim, [hi] * dim)
        self.name = name
        self._side = (lo, hi)

    def __repr__(self) -> str:
        lo, hi = self._side
        return f"Hypercube({self.name!r}, dim={self.dim}, low={lo:g}, high={hi:g})"

    @property
    def faces(self) -> list[str]:
        return ["boundary"] + (self._single_faces() if self.dim <= PER_FACE_MAX_DIM else [])

    def log_volume(self) -> float:
        lo, hi = self._side
        return self.dim * math.log(hi - lo)

    # ----------------------------------------------------------------- hooks
    def _bounds(self, like: Tensor) -> tuple[Tensor, Tensor]:
        lo, hi = self._side
        kw = {"dtype": like.dtype, "device": like.device}
        return torch.tensor(lo, **kw).expand(self.dim), torch.tensor(hi, **kw).expand(self.dim)

    def _resolve_faces(self, faces: list[str] | None) -> Tensor | None:
        """``None`` for the whole boundary, else the selected face ids."""
        if faces is None or "boundary" in check_faces(faces, self.faces):
            return None
        return super()._resolve_faces(faces)[0]

    def _boundary_from_unit(self, u: Tensor, selection: Tensor | None) -> tuple[Tensor, Tensor]:
        count = 2 * self.dim if selection is None else len(selection)
        pick = (u[:, 0] * count).long().clamp_(0, count - 1)
        face = pick if selection is None else selection.to(u.device)[pick]
        low, high = self._bounds(u)
        return place_on_faces(u[:, 1:], face // 2, face % 2, low, high)

    def _grid_layout(self) -> GridLayout:
        if self.dim <= PER_FACE_MAX_DIM:
            return super()._grid_layout()
        lo, hi = self._side
        return [0, 1], [(lo, hi), (lo, hi)], [(lo + hi) / 2] * self.dim
