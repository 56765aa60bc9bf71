"""The abstract domain every pinnlab geometry implements.

Points are ``(N, dim)`` tensors whose columns follow :attr:`Geometry.names`.  Concrete
geometries describe themselves through a few hooks: a map from unit-cube points to
interior points, one to boundary points with normals, and the layout of a plotting grid.
The public samplers here validate arguments, draw unit-cube points and apply the maps,
so a Sobol or Latin-hypercube design stays one design across the time and space columns.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from numbers import Integral

import numpy as np
import torch
from torch import Tensor

from ._checks import (
    check_device,
    check_dtype,
    check_generator,
    check_method,
    check_n,
    working_dtype,
)
from ._rejection import collect
from ._unitcube import unit_cube
from .distance import DistanceFunction

GridLayout = tuple[list[int], list[tuple[float, float]], list[float]]
"""Varying columns, their (low, high) ranges, and a base point holding the fixed columns."""


class Geometry(ABC):
    """A domain in R^dim with interior and boundary samplers."""

    # ----------------------------------------------------------------- description
    @property
    @abstractmethod
    def names(self) -> list[str]:
        """Column names, in column order."""

    @property
    def dim(self) -> int:
        """Number of columns."""
        return len(self.names)

    @property
    @abstractmethod
    def faces(self) -> list[str]:
        """Names of the boundary parts ``sample_boundary`` can select."""

    @abstractmethod
    def contains(self, x: Tensor, atol: float = 1e-9) -> Tensor:
        """Boolean ``(N,)`` mask of the rows of ``x`` inside the closed domain."""

    @abstractmethod
    def bounding_box(self) -> tuple[list[float], list[float]]:
        """Lower and upper corners of the smallest axis-aligned box holding the domain."""

    @abstractmethod
    def log_volume(self) -> float:
        """Natural logarithm of the domain's dim-dimensional volume."""

    def volume(self) -> float:
        """The domain's volume; ``inf`` or ``0.0`` when it over- or underflows a float."""
        return safe_exp(self.log_volume())

    # ----------------------------------------------------------------- sampling
    def sample_interior(
        self,
        n: int,
        generator: torch.Generator | None,
        method: str = "uniform",
        *,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> Tensor:
        """``(n, dim)`` points in the domain, drawn with ``method`` from ``generator``."""
        n, generator, method = check_n(n), check_generator(generator), check_method(method)
        dtype, device = check_dtype(dtype), check_device(device)
        x = self._draw_interior(n, generator, self._resolve_method(method), working_dtype(dtype))
        return x.to(device=device, dtype=dtype)

    def sample_boundary(
        self,
        n: int,
        generator: torch.Generator | None,
        method: str = "uniform",
        faces: list[str] | None = None,
        *,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> tuple[Tensor, Tensor]:
        """``(points, outward unit normals)``, each ``(n, dim)``, on the selected faces.

        ``faces=None`` selects the whole boundary.  Points fall on each selected face with
        probability proportional to its measure (for ``"lhs"`` the counts are within one
        of the proportional share; for ``"sobol"`` close to it).
        """
        n, generator, method = check_n(n), check_generator(generator), check_method(method)
        dtype, device = check_dtype(dtype), check_device(device)
        selection = self._resolve_faces(faces)
        x, normals = self._draw_boundary(n, generator, self._resolve_method(method), working_dtype(dtype), selection)
        return x.to(device=device, dtype=dtype), normals.to(device=device, dtype=dtype)

    # ----------------------------------------------------------------- plotting grid
    def grid_columns(self) -> list[int]:
        """The columns :meth:`grid` varies, one per returned axis (the rest are fixed)."""
        return list(self._grid_layout()[0])

    def grid(self, resolution: int | Sequence[int]) -> tuple[list[np.ndarray], np.ndarray]:
        """Axes and ``(M, dim)`` points of a tensor-product grid over the bounding box.

        ``axes[k]`` is the axis of column ``grid_columns()[k]``; the points enumerate the
        axes with ``indexing="ij"`` (first axis slowest).  Geometries that grid only a
        slice fix the remaining columns (see the subclass).  ``resolution`` is one count
        for every axis or one count per axis, each at least 2.
        """
        columns, ranges, base = self._grid_layout()
        counts = _check_resolution(resolution, len(columns))
        axes = [np.linspace(lo, hi, r) for (lo, hi), r in zip(ranges, counts)]
        mesh = np.meshgrid(*axes, indexing="ij")
        points = np.tile(np.asarray(base, dtype=np.float64), (mesh[0].size, 1))
        for column, values in zip(columns, mesh):
            points[:, column] = values.ravel()
        return axes, points

    # ----------------------------------------------------------------- hooks
    def _resolve_method(self, method: str) -> str:
        """The method actually used for ``method`` (a geometry may fall back to uniform)."""
        return method

    @property
    @abstractmethod
    def _interior_unit_dim(self) -> int:
        """Columns of unit-cube input :meth:`_interior_from_unit` consumes."""

    @abstractmethod
    def _interior_from_unit(self, u: Tensor) -> Tensor:
        """Map ``(n, _interior_unit_dim)`` points of [0, 1]^k to interior points."""

    @property
    @abstractmethod
    def _boundary_unit_dim(self) -> int:
        """Columns of unit-cube input :meth:`_boundary_from_unit` consumes."""

    @abstractmethod
    def _resolve_faces(self, faces: list[str] | None) -> object:
        """Validate a face selection and turn it into what ``_boundary_from_unit`` uses."""

    @abstractmethod
    def _boundary_from_unit(self, u: Tensor, selection: object) -> tuple[Tensor, Tensor]:
        """Map unit-cube points to boundary points and outward unit normals."""

    @abstractmethod
    def _grid_layout(self) -> GridLayout:
        """Varying columns with their ranges, and the base point of :meth:`grid`."""

    #: expected fraction of mapped unit-cube points the accept hooks keep; ``None``: all of them
    _interior_acceptance: float | None = None
    _boundary_acceptance: float | None = None

    def _interior_accept(self, x: Tensor) -> Tensor | None:
        """Mask of the mapped points that lie in the domain (rejection geometries); ``None``: all do."""
        return None

    def _boundary_accept(self, u: Tensor, x: Tensor, normals: Tensor, selection: object) -> Tensor | None:
        """Mask of the mapped boundary points that lie on the selected boundary; ``None``: all do."""
        return None

    def _draw_interior(self, n: int, generator: torch.Generator | None, method: str, work: torch.dtype) -> Tensor:
        def draw(m: int) -> tuple[Tensor, ...]:
            return (self._interior_from_unit(unit_cube(m, self._interior_unit_dim, generator, method, work)),)

        return collect(n, draw, lambda batch: self._interior_accept(batch[0]), self._interior_acceptance)[0]

    def _draw_boundary(
        self,
        n: int,
        generator: torch.Generator | None,
        method: str,
        work: torch.dtype,
        selection: object,
    ) -> tuple[Tensor, Tensor]:
        def draw(m: int) -> tuple[Tensor, ...]:
            u = unit_cube(m, self._boundary_unit_dim, generator, method, work)
            return (*self._boundary_from_unit(u, selection), u)

        def accept(batch: tuple[Tensor, ...]) -> Tensor | None:
            x, normals, u = batch
            return self._boundary_accept(u, x, normals, selection)

        x, normals, _ = collect(n, draw, accept, self._boundary_acceptance)
        return x, normals

    # ----------------------------------------------------------------- distance functions and CSG
    def distance_function(self, boundary: str | Sequence[str] | None = None) -> DistanceFunction:
        """An approximate distance function: zero on the named boundary parts (all: ``None``), positive inside.

        See :mod:`pinnlab.geometry.distance`; shapes build theirs from R-functions.
        """
        from .csg import as_shape

        try:
            shape = as_shape(self)
        except TypeError:
            raise ValueError(f"{type(self).__name__} has no distance functions") from None
        return shape.distance_function(boundary)

    def __or__(self, other: Geometry) -> Geometry:
        from .csg import Union

        return Union([self, other])

    def __and__(self, other: Geometry) -> Geometry:
        from .csg import Intersection

        return Intersection([self, other])

    def __sub__(self, other: Geometry) -> Geometry:
        from .csg import Difference

        return Difference(self, other)


def safe_exp(x: float) -> float:
    """``math.exp`` that returns ``inf`` instead of raising on overflow."""
    return math.inf if x > 709.0 else math.exp(x)


def points_matrix(x: Tensor, dim: int) -> Tensor:
    """``x`` as a floating ``(N, dim)`` tensor, or a ``ValueError``."""
    if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != dim:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"expected a tensor of shape (N, {dim}), got {shape}")
    return x if x.is_floating_point() else x.to(torch.float64)


def _check_resolution(resolution: int | Sequence[int], n_axes: int) -> list[int]:
    counts = [resolution] * n_axes if isinstance(resolution, Integral) else resolution
    if (
        not isinstance(counts, (list, tuple))
        or len(counts) != n_axes
        or any(isinstance(r, bool) or not isinstance(r, Integral) or r < 2 for r in counts)
    ):
        raise ValueError(f"resolution must be an integer >= 2 or a list of {n_axes} such integers, got {resolution!r}")
    return [int(r) for r in counts]
