"""Observed data of a data condition: inline arrays, CSV or NPZ files."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from pinnlab.errors import SpecError
from pinnlab.spec.conditions import Data


def load_data(name: str, cond: Data, columns: list[str]) -> tuple[Tensor, Tensor]:
    """Read a data condition's points and values (inline arrays, CSV or NPZ)."""
    fields = list(cond.fields or [])
    if cond.file is None:
        coords = np.asarray(cond.coords, dtype=float)
        values = np.asarray(cond.values, dtype=float)
    else:
        coords, values = _read_data_file(name, cond.file, columns, fields)
    if coords.ndim == 1:
        coords = coords[None, :] if len(columns) > 1 else coords[:, None]
    if values.ndim == 1:
        values = values[:, None] if len(fields) == 1 else values[None, :]
    if coords.ndim != 2 or coords.shape[1] != len(columns):
        raise SpecError(f"condition '{name}': data points must have {len(columns)} columns ({columns}), "
                        f"got shape {coords.shape}")
    if values.shape != (coords.shape[0], len(fields)):
        raise SpecError(f"condition '{name}': data values must have shape ({coords.shape[0]}, {len(fields)}), "
                        f"got {values.shape}")
    if not (np.isfinite(coords).all() and np.isfinite(values).all()):
        raise SpecError(f"condition '{name}': data contain NaN or infinite values")
    dtype = torch.get_default_dtype()
    return torch.as_tensor(coords, dtype=dtype), torch.as_tensor(values, dtype=dtype)


def _read_data_file(name: str, path: str, columns: list[str], fields: list[str]) -> tuple[np.ndarray, np.ndarray]:
    import os

    if not os.path.exists(path):
        raise SpecError(f"condition '{name}': data file '{path}' does not exist")
    try:
        if path.endswith(".npz"):
            with np.load(path) as data:
                if "points" in data and "values" in data:
                    return np.asarray(data["points"], float), np.asarray(data["values"], float)
                missing = [c for c in columns + fields if c not in data]
                if missing:
                    raise SpecError(f"condition '{name}': '{path}' has no array '{missing[0]}' "
                                    "(expected 'points' and 'values', or one array per column and field)")
                return (np.stack([data[c] for c in columns], -1).astype(float),
                        np.stack([data[f] for f in fields], -1).astype(float))
        table = np.genfromtxt(path, delimiter=",", names=True)
    except SpecError:
        raise
    except (OSError, ValueError, KeyError) as exc:  # malformed file
        raise SpecError(f"condition '{name}': cannot read data file '{path}': {exc}") from None
    header = list(table.dtype.names or ())
    missing = [c for c in columns + fields if c not in header]
    if missing:
        raise SpecError(f"condition '{name}': '{path}' has no column '{missing[0]}' (header: {header})")
    table = np.atleast_1d(table)
    return (np.stack([table[c] for c in columns], -1).astype(float),
            np.stack([table[f] for f in fields], -1).astype(float))
