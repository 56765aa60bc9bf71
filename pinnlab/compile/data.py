"""Observed data of a data condition: inline arrays, CSV, NPZ or VTU files, or drawn from the reference.

Every source names its fields, so a condition never guesses which columns it holds:

* CSV: a header row naming the coordinate columns, the fields and optionally ``sigma``;
* NPZ: one array per coordinate column and field (and ``sigma``), or ``points`` (N, D) and
  ``values`` (N, k) with ``fields``, an array of the k field names;
* VTU (read with meshio): point-data arrays named after the fields (and ``sigma``); coordinates
  from point-data arrays named after the columns, the spatial columns otherwise from the points'
  x, y, z in order (a time column needs its own array);
* DAT: whitespace-separated columns named by the last ``%`` comment line before the numbers
  (COMSOL's export, units in parentheses dropped: ``% x  y  u (1)``) or by a first line of names.

Each point may carry its noise standard deviation σ (points are weighted by 1/σ²), and a seeded
fraction of the points can be held out for validation.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pinnlab.errors import SpecError
from pinnlab.spec.conditions import Data
from pinnlab.spec.problem import Problem

FILE_KINDS = (".csv", ".npz", ".vtu")
TEXT_KIND = ".dat"
"""Whitespace-separated columns (COMSOL's text export)."""


@dataclass
class Observations:
    """Points (N, D), values (N, k) of ``fields``, per-point weights 1/σ² (N,) or None."""

    fields: list[str]
    coords: Tensor
    values: Tensor
    weights: Tensor | None = None

    def __len__(self) -> int:
        return int(self.coords.shape[0])


@dataclass
class _Raw:
    fields: list[str]
    coords: np.ndarray
    values: np.ndarray
    sigma: Any = None


def load_data(name: str, cond: Data, problem: Problem) -> tuple[Observations, Observations | None]:
    """The training observations of a data condition and its held-out validation points (or None)."""
    pde = problem.pde
    columns = pde.columns
    if cond.from_reference is not None:
        from pinnlab.compile.synthetic import draw_observations

        spec = cond.from_reference
        seed = cond.seed if spec.get("seed") is None else spec["seed"]
        fields, coords, values, sigma = draw_observations(problem, cond.fields, spec["points"], spec.get("noise", 0.0),
                                                          spec.get("relative", False), seed, where=f"condition '{name}'")
        raw = _Raw(fields, coords, values, sigma)
    elif cond.file is None:
        raw = _Raw(list(cond.fields or pde.fields), np.asarray(cond.coords, dtype=float),
                   np.asarray(cond.values, dtype=float), cond.sigma)
    else:
        raw = _read_file(name, cond.file, columns, pde.fields, cond.fields, cond.sigma, pde.time)
    coords, values, weights = _checked(name, raw, columns)
    return _split(name, raw.fields, coords, values, weights, cond.validation, cond.seed)


def _checked(name: str, raw: _Raw, columns: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    where = f"condition '{name}'"
    coords, values = raw.coords, raw.values
    if coords.ndim == 1:
        coords = coords[None, :] if len(columns) > 1 else coords[:, None]
    if values.ndim == 1:
        values = values[:, None] if len(raw.fields) == 1 else values[None, :]
    if coords.ndim != 2 or coords.shape[1] != len(columns):
        raise SpecError(f"{where}: data points must have {len(columns)} columns ({columns}), got shape {coords.shape}")
    if values.shape != (coords.shape[0], len(raw.fields)):
        raise SpecError(f"{where}: data values must have shape ({coords.shape[0]}, {len(raw.fields)}) for the "
                        f"fields {raw.fields}, got {values.shape}")
    if coords.shape[0] == 0:
        raise SpecError(f"{where}: the data hold no points")
    for what, array in (("points", coords), ("values", values)):
        bad = ~np.isfinite(array).all(axis=1)
        if bad.any():
            raise SpecError(f"{where}: data {what} contain NaN or infinite values ({int(bad.sum())} rows, "
                            f"the first is row {int(np.flatnonzero(bad)[0])})")
    weights = None
    if raw.sigma is not None:
        sigma = np.asarray(raw.sigma, dtype=float)
        if sigma.ndim == 0:
            sigma = np.full(coords.shape[0], float(sigma))
        sigma = sigma.reshape(-1) if sigma.ndim == 2 and 1 in sigma.shape else sigma
        if sigma.shape != (coords.shape[0],):
            raise SpecError(f"{where}: sigma must be one number or one per point ({coords.shape[0]}), "
                            f"got shape {sigma.shape}")
        bad = ~(np.isfinite(sigma) & (sigma > 0))
        if bad.any():
            raise SpecError(f"{where}: sigma must be positive and finite; row {int(np.flatnonzero(bad)[0])} "
                            f"has {sigma[bad][0]}")
        weights = 1.0 / sigma**2
    return coords, values, weights


def _split(name: str, fields: list[str], coords: np.ndarray, values: np.ndarray, weights: np.ndarray | None,
           fraction: float, seed: int) -> tuple[Observations, Observations | None]:
    def make(rows: np.ndarray | slice) -> Observations:
        dtype = torch.get_default_dtype()
        w = None if weights is None else torch.as_tensor(weights[rows], dtype=dtype)
        return Observations(fields, torch.as_tensor(coords[rows], dtype=dtype),
                            torch.as_tensor(values[rows], dtype=dtype), w)

    n = coords.shape[0]
    if fraction <= 0:
        return make(slice(None)), None
    held = round(fraction * n)
    if held < 1 or held >= n:
        raise SpecError(f"condition '{name}': validation {fraction} of {n} points leaves "
                        f"{'no' if held < 1 else 'only validation'} points; use a fraction that holds out "
                        "at least one point and keeps one for training")
    order = np.random.default_rng(seed).permutation(n)
    return make(np.sort(order[held:])), make(np.sort(order[:held]))


def outside_points(coords: Tensor, geometry: Any) -> Tensor:
    """Row indices of ``coords`` outside the closed domain (with a relative tolerance of 1e-9)."""
    low, high = geometry.bounding_box()
    scale = max(1.0, *(abs(v) for v in (*low, *high)))
    inside = geometry.contains(coords.to(torch.float64), atol=1e-9 * scale)
    return torch.nonzero(~inside).reshape(-1)


def check_inside(name: str, coords: Tensor, geometry: Any, columns: Sequence[str], what: str = "") -> None:
    """A SpecError naming the first of the points ``coords`` of condition ``name`` outside the domain, if any."""
    bad = outside_points(coords, geometry)
    if bad.numel():
        row = coords[int(bad[0])].tolist()
        point = ", ".join(f"{c} = {v:.6g}" for c, v in zip(columns, row))
        raise SpecError(f"condition '{name}': {bad.numel()} {what}data point(s) lie outside the domain; the first "
                        f"is ({point})")


# -- files -------------------------------------------------------------------------------------------------------

def _read_file(name: str, path: str, columns: list[str], pde_fields: list[str], wanted: list[str] | None,
               sigma: Any, time: str | None = None, where: str | None = None) -> _Raw:
    where = where or f"condition '{name}'"
    if not os.path.exists(path):
        raise SpecError(f"{where}: data file '{path}' does not exist")
    ext = os.path.splitext(path)[1].lower()
    if ext not in FILE_KINDS and ext != TEXT_KIND:
        raise SpecError(f"{where}: data file '{path}': unknown kind '{ext}' (supported: {', '.join(FILE_KINDS)}); "
                        f"whitespace-separated columns need the extension {TEXT_KIND}")
    try:
        if ext == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            if "points" in arrays and "values" in arrays:
                return _from_stacked(where, path, arrays, columns, pde_fields, wanted, sigma)
        elif ext == ".vtu":
            arrays = _vtu_arrays(where, path, columns, time)
        elif ext == TEXT_KIND:
            arrays = text_columns(where, path)
        else:
            table = np.genfromtxt(path, delimiter=",", names=True, deletechars="", autostrip=True)
            arrays = {k: np.atleast_1d(table[k]) for k in (table.dtype.names or ())}
    except SpecError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:  # a malformed file
        raise SpecError(f"{where}: cannot read data file '{path}': {exc}") from None
    return _from_columns(where, path, arrays, columns, pde_fields, wanted, sigma)


def _select_fields(where: str, path: str, named: list[str], pde_fields: list[str], wanted: list[str] | None,
                   listing: list[str]) -> list[str]:
    if wanted is None:
        found = [f for f in pde_fields if f in named]
        if not found:
            raise SpecError(f"{where}: '{path}' names no field of the problem (fields: {', '.join(pde_fields)}; "
                            f"the file has: {', '.join(listing) or 'nothing'}); a data file must name the fields "
                            "it holds")
        return found
    missing = [f for f in wanted if f not in named]
    if missing:
        raise SpecError(f"{where}: '{path}' has no field '{missing[0]}' (the file has: {', '.join(listing)})")
    return list(wanted)


def _sigma_of(where: str, path: str, arrays: dict[str, np.ndarray], sigma: Any) -> Any:
    if isinstance(sigma, str):
        if sigma not in arrays:
            raise SpecError(f"{where}: '{path}' has no column '{sigma}' (named by 'sigma'; the file has: "
                            f"{', '.join(arrays)})")
        return np.asarray(arrays[sigma], dtype=float)
    if sigma is None and "sigma" in arrays:
        return np.asarray(arrays["sigma"], dtype=float)
    return sigma


def _from_columns(where: str, path: str, arrays: dict[str, np.ndarray], columns: list[str], pde_fields: list[str],
                  wanted: list[str] | None, sigma: Any) -> _Raw:
    listing = list(arrays)
    missing = [c for c in columns if c not in arrays]
    if missing:
        raise SpecError(f"{where}: '{path}' has no coordinate column '{missing[0]}' (the file has: "
                        f"{', '.join(listing) or 'nothing'})")
    fields = _select_fields(where, path, listing, pde_fields, wanted, listing)

    def column(key: str) -> np.ndarray:
        a = np.asarray(arrays[key], dtype=float)
        if a.ndim != 1:
            raise SpecError(f"{where}: '{path}': column '{key}' must hold one number per point, got shape {a.shape}")
        return a

    lengths = {k: column(k).shape[0] for k in [*columns, *fields]}
    if len(set(lengths.values())) > 1:
        raise SpecError(f"{where}: '{path}': columns differ in length: "
                        + ", ".join(f"{k} {n}" for k, n in lengths.items()))
    return _Raw(fields, np.stack([column(c) for c in columns], -1), np.stack([column(f) for f in fields], -1),
                _sigma_of(where, path, arrays, sigma))


def _from_stacked(where: str, path: str, arrays: dict[str, np.ndarray], columns: list[str], pde_fields: list[str],
                  wanted: list[str] | None, sigma: Any) -> _Raw:
    if "fields" not in arrays:
        raise SpecError(f"{where}: '{path}' holds 'points' and 'values' but no 'fields' array naming the value "
                        "columns (e.g. np.savez(path, points=x, values=v, fields=['u', 'v']))")
    named = [str(f) for f in np.atleast_1d(arrays["fields"])]
    values = np.asarray(arrays["values"], dtype=float)
    values = values[:, None] if values.ndim == 1 else values
    if values.ndim != 2 or values.shape[1] != len(named):
        raise SpecError(f"{where}: '{path}': 'values' must have one column per name in 'fields' ({named}), "
                        f"got shape {values.shape}")
    unknown = [f for f in named if f not in pde_fields]
    if wanted is None and unknown:
        raise SpecError(f"{where}: '{path}': '{unknown[0]}' in 'fields' is not a field of the problem "
                        f"({', '.join(pde_fields)})")
    fields = _select_fields(where, path, named, pde_fields, wanted, named)
    picked = values[:, [named.index(f) for f in fields]]
    return _Raw(fields, np.asarray(arrays["points"], dtype=float), picked, _sigma_of(where, path, arrays, sigma))


def text_columns(where: str, path: str) -> dict[str, np.ndarray]:
    """Whitespace-separated columns named by a header: the last ``%`` comment line before the numbers (COMSOL's
    export; units in parentheses such as ``u (1)`` are dropped) or a first line of names."""
    header: list[str] | None = None
    rows: list[list[float]] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            text = line.strip()
            if not text:
                continue
            if text.startswith("%"):
                if not rows:
                    header = re.sub(r"\s*\([^)]*\)", "", text.lstrip("%")).split()
                continue
            try:
                rows.append([float(v) for v in text.split()])
            except ValueError:
                if rows or header is not None:
                    raise SpecError(f"{where}: '{path}' line {number}: not a row of numbers: {text[:60]!r}") from None
                header = text.split()
                continue
            if len(rows[-1]) != len(rows[0]):
                raise SpecError(f"{where}: '{path}' line {number}: {len(rows[-1])} numbers, the first row has "
                                f"{len(rows[0])}")
    if not header:
        raise SpecError(f"{where}: '{path}' names no columns: give a header line (or a '%' comment line) of names")
    if len(set(header)) != len(header):
        raise SpecError(f"{where}: '{path}': the header names a column twice ({' '.join(header)})")
    if "@" in header:
        raise SpecError(f"{where}: '{path}': columns at several times ('@ t=...') are not supported; export one "
                        "column per field and the time as a column")
    width = len(rows[0]) if rows else len(header)
    if len(header) != width:
        raise SpecError(f"{where}: '{path}': the header names {len(header)} columns ({' '.join(header)}) but the rows "
                        f"have {width} numbers")
    table = np.asarray(rows, dtype=float).reshape(-1, width)
    return {name: table[:, k] for k, name in enumerate(header)}


def _vtu_arrays(where: str, path: str, columns: list[str], time: str | None) -> dict[str, np.ndarray]:
    import meshio

    mesh = meshio.read(path)
    arrays: dict[str, np.ndarray] = {}
    for key, a in mesh.point_data.items():
        a = np.asarray(a)
        if a.ndim == 1 or (a.ndim == 2 and a.shape[1] == 1):
            arrays[key] = a.reshape(-1)
    remaining = [c for c in columns if c not in arrays]
    if time in remaining:
        raise SpecError(f"{where}: '{path}' has no point-data array '{time}' for the time coordinate")
    if len(remaining) > mesh.points.shape[1]:
        raise SpecError(f"{where}: '{path}': the columns {remaining} are not point-data arrays, and the points have "
                        f"only {mesh.points.shape[1]} components")
    for k, c in enumerate(remaining):
        arrays[c] = np.asarray(mesh.points[:, k], dtype=float)
    return arrays


__all__ = ["FILE_KINDS", "Observations", "check_inside", "load_data", "outside_points"]
