"""Reference solutions given as values at scattered points (``problem.reference: {file: ...}``).

The file is read by the data-condition reader (:mod:`pinnlab.compile.data`: CSV with a header
row, whitespace columns named by a ``%`` comment line as COMSOL exports them, NPZ, VTU point
data); it must name its coordinate columns and fields. A run then measures its errors at
exactly these points. Points outside the domain (beyond a tolerance), NaNs and fields the
problem does not have are errors naming the file and the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pinnlab.errors import SpecError, did_you_mean
from pinnlab.spec.problem import Problem

from .data import _read_file


class ReferenceData:
    """Reference values ``(N, F)`` (the problem's fields in order; NaN columns for fields the file lacks) at
    ``points`` ``(N, D)``. Called on points, it returns the values at those that are its own (to roundoff)
    and NaN at the others: the reference is known only at its points."""

    def __init__(self, points: np.ndarray, values: np.ndarray, fields: Sequence[str], source: str):
        self.points = np.ascontiguousarray(points, dtype=np.float64)
        self.values = np.ascontiguousarray(values, dtype=np.float64)
        self.fields = tuple(fields)
        self.source = source
        scale = float(np.abs(self.points).max(initial=1.0))
        self._match = 1e-12 * max(scale, 1.0)
        self._tree: Any = None

    def __repr__(self) -> str:
        return f"ReferenceData({len(self.points)} points of {', '.join(self.fields)} from '{self.source}')"

    def __len__(self) -> int:
        return len(self.points)

    def __call__(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.points.shape[1])
        if x.shape == self.points.shape and np.array_equal(x, self.points):
            return self.values.copy()
        if self._tree is None:
            from scipy.spatial import cKDTree

            self._tree = cKDTree(self.points)
        distance, index = self._tree.query(x)
        out = self.values[np.minimum(index, len(self.points) - 1)]
        out[distance > self._match] = np.nan
        return out


def load_reference_data(path: str, problem: Problem, geometry: Any, fields: Sequence[str] | None = None,
                        tolerance: float = 1e-6, key: str = "problem.reference") -> ReferenceData:
    """The reference values of ``path`` on the problem's columns; ``tolerance`` (relative to the size of the
    domain's bounding box) is how far outside the closed domain a point may lie. Raises :class:`SpecError`
    whose message names the configuration ``key``."""
    pde = problem.pde
    where = f"key '{key}'"
    if fields is not None:
        unknown = [f for f in fields if f not in pde.fields]
        if unknown:
            raise SpecError(f"key '{key}.fields': '{unknown[0]}' (for '{path}') is not a field of the problem "
                            f"({', '.join(pde.fields)}){did_you_mean(unknown[0], pde.fields)}")
        if not fields:
            raise SpecError(f"key '{key}.fields': name at least one field of '{path}' ({', '.join(pde.fields)})")
    raw = _read_file("reference", path, pde.columns, pde.fields, None if fields is None else list(fields), None,
                     pde.time, where=where)
    coords = np.asarray(raw.coords, dtype=np.float64).reshape(-1, len(pde.columns))
    values = np.asarray(raw.values, dtype=np.float64).reshape(len(coords), -1)
    if len(coords) == 0:
        raise SpecError(f"{where}: '{path}' holds no points")
    for what, array, names in (("coordinates", coords, pde.columns), ("values", values, raw.fields)):
        bad = ~np.isfinite(array)
        if bad.any():
            row, col = (int(v[0]) for v in np.nonzero(bad))
            raise SpecError(f"{where}: '{path}': {int(bad.any(axis=1).sum())} row(s) have NaN or infinite "
                            f"{what}; the first is row {row} (column '{names[col]}')")
    low, high = geometry.bounding_box()
    size = max(hi - lo for lo, hi in zip(low, high))
    inside = geometry.contains(torch.as_tensor(coords), atol=tolerance * size)
    if not bool(inside.all()):
        first = int(torch.nonzero(~inside)[0])
        point = ", ".join(f"{c} = {v:.6g}" for c, v in zip(pde.columns, coords[first]))
        raise SpecError(f"{where}: '{path}': {int((~inside).sum())} point(s) lie outside the domain by more than "
                        f"the tolerance {tolerance:g} (relative to its size {size:g}); the first is row {first} "
                        f"({point}); raise 'tolerance' if the file rounds its coordinates")
    full = np.full((len(coords), len(pde.fields)), np.nan)
    for k, f in enumerate(raw.fields):
        full[:, pde.fields.index(f)] = values[:, k]
    return ReferenceData(coords, full, raw.fields, path)


__all__ = ["ReferenceData", "load_reference_data"]
