"""Shapes: spatial domains built from primitives and combined by CSG.

A :class:`Shape` knows its boundary as labelled pieces (:mod:`pinnlab.geometry.pieces`),
an approximate signed distance ``margin`` (positive inside; exact or first-order
accurate near the boundary) for inside tests, and a signed R-function ``signed`` for
distance functions. Boundary points are drawn on the selected pieces in proportion to
their measure; composite shapes keep those that lie on their boundary (see
:mod:`pinnlab.geometry.csg`). Interior points come from a map of the unit cube
(primitives) or by rejection from the bounding box (composites, polygons).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.quasirandom import SobolEngine

from ._checks import check_faces, check_name, check_unique
from .base import Geometry, GridLayout, points_matrix
from .distance import Arithmetic, Columns, DistanceFunction, equivalence, join
from .pieces import Pieces

F64 = torch.float64
CONTAINS_ROUNDOFF = 8
"""Units of roundoff of x's dtype, times the shape's size, added to ``atol`` in ``contains``."""
VOLUME_POINTS = 2**16
"""Sobol points of the quasi-Monte Carlo volume estimate of composite shapes."""
ADF_CHUNK = 256
"""Pieces whose distance functions are evaluated at once (meshes have many)."""


def joined_adf(pieces: Pieces, index: Sequence[int], cols: Columns, ar: Arithmetic) -> Any:
    """R-equivalence of the ADFs of ``pieces[index]``, :data:`ADF_CHUNK` pieces at a time."""
    index = list(index)
    phi = None
    for start in range(0, len(index), ADF_CHUNK):
        part = index[start:start + ADF_CHUNK]
        value = join(pieces.adf(cols, ar, part), len(part), ar)
        phi = value if phi is None else equivalence(phi, value, ar)
    return phi


@dataclass(frozen=True)
class PieceRef:
    """Pieces of one primitive as seen from a shape: ``sign`` flips normals (subtracted shapes),
    ``labels`` per piece include the names of the enclosing composites, ``under_union`` says
    whether a union lies above (its pieces may then cross the shape's interior)."""

    pieces: Pieces
    sign: float
    labels: tuple[tuple[str, ...], ...]
    under_union: bool = False


@dataclass(frozen=True)
class Selection:
    """Selected pieces (``(ref, local index)``, in order) and the cumulative share of their measure."""

    items: tuple[tuple[int, int], ...]
    cdf: np.ndarray


def check_names(names: Sequence[str], dim: int) -> tuple[str, ...]:
    """``dim`` distinct column names."""
    if isinstance(names, str) or not isinstance(names, Sequence) or len(names) != dim:
        raise ValueError(f"names must be a list of {dim} column names, got {names!r}")
    for n in names:
        check_name(n, "a column name")
    check_unique(names, "the column names")
    return tuple(names)


def part_labels(parts: Sequence[str], name: str | None) -> list[tuple[str, ...]]:
    """Labels of a primitive's parts: the part's own name, plus ``name`` and ``name_part`` when named."""
    if name is None:
        return [(p,) for p in parts]
    if len(parts) == 1:
        return [(parts[0], name)]
    return [(p, name, f"{name}_{p}") for p in parts]


class Shape(Geometry):
    """A spatial domain in R^dim (dim 2 or 3, or any for boxes) made of labelled boundary pieces."""

    def __init__(self, names: Sequence[str], name: str | None = None):
        self._names = tuple(names)
        if name is not None and not (isinstance(name, str) and name.isidentifier()):
            raise ValueError(f"a boundary name must be an identifier (letters, digits, _), got {name!r}")
        self.name = name
        self._volume_cache: float | None = None

    # ----------------------------------------------------------------- description
    @property
    def names(self) -> list[str]:
        return list(self._names)

    @property
    def dim(self) -> int:
        return len(self._names)

    @abstractmethod
    def piece_refs(self) -> list[PieceRef]:
        """Every boundary piece of every primitive of the shape, in order."""

    @abstractmethod
    def margin(self, x: Tensor) -> Tensor:
        """Approximate signed distance ``(N,)`` of float64 rows, positive inside (sign exact)."""

    @abstractmethod
    def signed(self, cols: Columns, ar: Arithmetic) -> Any:
        """Signed R-function of the columns: positive inside, zero on the boundary, unit slope there."""

    def exact_volume(self) -> float | None:
        """The volume in closed form, when known."""
        return None

    def inside(self, x: Tensor) -> Tensor:
        """Boolean ``(N,)``: float64 rows in the shape (``margin >= 0``; shapes with a cheaper test override).

        Points on the boundary may fall either way; sampling and volumes need nothing more.
        """
        return self.margin(x) >= 0

    @property
    def faces(self) -> list[str]:
        labels = [label for ref in self.piece_refs() for piece in ref.labels for label in piece]
        return list(dict.fromkeys(labels))

    def contains(self, x: Tensor, atol: float = 1e-9) -> Tensor:
        """Rows within ``atol`` (plus a few units of roundoff of x's dtype) of the closed shape."""
        x = points_matrix(x, self.dim)
        low, high = self.bounding_box()
        size = max(max(abs(v) for v in low + high), max(h - lo for lo, h in zip(low, high)))
        slack = CONTAINS_ROUNDOFF * torch.finfo(x.dtype).eps * size
        return self.margin(x.to(F64)) >= -(atol + slack)

    def volume(self) -> float:
        exact = self.exact_volume()
        if exact is not None:
            return exact
        if self._volume_cache is None:
            low, high = (torch.tensor(v, dtype=F64) for v in self.bounding_box())
            u = SobolEngine(self.dim, scramble=True, seed=12345).draw(VOLUME_POINTS, dtype=F64)
            inside = self.inside(low + u * (high - low))
            self._volume_cache = float(inside.double().mean()) * float(torch.prod(high - low))
        return self._volume_cache

    def log_volume(self) -> float:
        v = self.volume()
        return math.log(v) if v > 0 else -math.inf

    def diameter(self) -> float:
        low, high = self.bounding_box()
        return math.dist(low, high)

    # ----------------------------------------------------------------- distance functions
    def distance_function(self, boundary: str | Sequence[str] | None = None) -> DistanceFunction:
        """Zero on the pieces labelled ``boundary`` (a label or a list; ``None``: the whole boundary).

        The whole boundary uses the shape's R-function; named parts join the trimmed ADFs of
        their pieces by R-equivalence. When a union lies above a selected piece (so the
        piece may run through the interior) the join ``φ`` is combined with the shape's
        R-function ``ω`` as ``sqrt((ω² + φ²)/2)``, zero only where both vanish.
        """
        columns = list(range(self.dim))
        if boundary is None or (not isinstance(boundary, str) and len(boundary) == 0):
            return DistanceFunction(columns, self.signed, None)
        labels = [boundary] if isinstance(boundary, str) else list(boundary)
        selection = self._select(labels)
        refs = self.piece_refs()
        groups: dict[int, list[int]] = {}
        for r, k in selection.items:
            groups.setdefault(r, []).append(k)
        crossing = any(refs[r].under_union for r in groups)

        def fn(cols: Columns, ar: Arithmetic) -> Any:
            phi = None
            for r, ks in groups.items():
                value = joined_adf(refs[r].pieces, ks, cols, ar)
                phi = value if phi is None else equivalence(phi, value, ar)
            if crossing:
                w = self.signed(cols, ar)
                phi = ar.sqrt((w * w + phi * phi) * 0.5)
            return phi

        return DistanceFunction(columns, fn, tuple(labels))

    # ----------------------------------------------------------------- boundary sampling
    def _select(self, faces: list[str] | None) -> Selection:
        refs = self.piece_refs()
        wanted = None if faces is None else set(check_faces(faces, self.faces))
        items, measures = [], []
        for r, ref in enumerate(refs):
            for k, labels in enumerate(ref.labels):
                if wanted is None or wanted.intersection(labels):
                    items.append((r, k))
                    measures.append(ref.pieces.measures[k])
        total = float(np.sum(measures))
        if not total > 0:
            raise ValueError("the selected boundary has zero measure")
        cdf = np.cumsum(np.asarray(measures) / total)
        cdf[-1] = 1.0
        return Selection(tuple(items), cdf)

    def _resolve_faces(self, faces: list[str] | None) -> Selection:
        return self._select(faces)

    @property
    def _boundary_unit_dim(self) -> int:
        return 1 + max(ref.pieces.param_dim for ref in self.piece_refs())

    def _source(self, u: Tensor, selection: Selection) -> Tensor:
        """Index into ``selection.items`` of the piece each unit row is placed on."""
        cdf = torch.as_tensor(selection.cdf, dtype=u.dtype, device=u.device)
        return torch.searchsorted(cdf, u[:, 0].contiguous(), right=True).clamp_(max=len(selection.items) - 1)

    def _boundary_from_unit(self, u: Tensor, selection: Selection) -> tuple[Tensor, Tensor]:
        work = u.dtype
        u = u.to(F64)
        refs = self.piece_refs()
        source = self._source(u, selection)
        x = u.new_zeros(u.shape[0], self.dim)
        normals = torch.zeros_like(x)
        item_ref = torch.tensor([r for r, _ in selection.items], device=u.device)
        item_local = torch.tensor([k for _, k in selection.items], device=u.device)
        ref_of = item_ref[source]
        for r in torch.unique(ref_of).tolist():
            rows = ref_of == r
            ref = refs[r]
            px, pn = ref.pieces.place(item_local[source[rows]], u[rows, 1 : 1 + ref.pieces.param_dim])
            x[rows], normals[rows] = px, pn * ref.sign
        return x.to(work), normals.to(work)

    # ----------------------------------------------------------------- interior and grid
    def _interior_from_unit(self, u: Tensor) -> Tensor:
        """Unit points to the bounding box (rejection shapes); primitives with a direct map override."""
        low, high = (torch.tensor(v, dtype=u.dtype, device=u.device) for v in self.bounding_box())
        return low + u * (high - low)

    @property
    def _interior_unit_dim(self) -> int:
        return self.dim

    def _grid_layout(self) -> GridLayout:
        low, high = self.bounding_box()
        return list(range(self.dim)), list(zip(low, high)), list(low)


class RejectionInterior:
    """Mixin: interior points by rejection from the bounding box with the shape's ``margin``."""

    @property
    def _interior_acceptance(self) -> float:
        low, high = self.bounding_box()  # type: ignore[attr-defined]
        box = math.prod(h - lo for lo, h in zip(low, high))
        return max(self.volume() / box, 1e-4)  # type: ignore[attr-defined]

    def _interior_accept(self, x: Tensor) -> Tensor:
        return self.inside(x.to(F64))  # type: ignore[attr-defined]


class Primitive(Shape):
    """A shape with its own pieces (no children)."""

    @abstractmethod
    def pieces(self) -> list[Pieces]:
        """The primitive's boundary pieces, labelled."""

    def piece_refs(self) -> list[PieceRef]:
        if not hasattr(self, "_refs"):
            self._refs = [PieceRef(p, 1.0, tuple(p.labels)) for p in self.pieces()]
        return self._refs


def as_points(values: Any, dim: int, what: str) -> np.ndarray:
    """A point of ``dim`` finite coordinates as a float64 array."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a list of {dim} numbers, got {values!r}") from None
    if arr.shape != (dim,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be a list of {dim} finite numbers, got {values!r}")
    return arr


def positive(value: Any, what: str) -> float:
    """A finite positive number."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number, got {value!r}")
    return float(value)
