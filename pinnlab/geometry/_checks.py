"""Validation of the arguments every sampler shares."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real

import torch

METHODS = ("uniform", "sobol", "lhs")


def check_n(n: object) -> int:
    """A non-negative integer number of points."""
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    return int(n)


def check_method(method: object) -> str:
    """One of :data:`METHODS`."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    return str(method)


def check_generator(generator: object) -> torch.Generator | None:
    """A ``torch.Generator`` (``None`` means torch's global generator)."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return generator


def check_dtype(dtype: object) -> torch.dtype:
    """A floating-point torch dtype."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    return dtype


def check_device(device: object) -> torch.device:
    """A torch device (object or string such as ``"cpu"``)."""
    try:
        return torch.device(device)  # type: ignore[arg-type]
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must name a torch device, got {device!r}") from err


def working_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype points are computed in: float64 when asked for, float32 otherwise."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def check_real(value: object, what: str) -> float:
    """A finite real number (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def check_interval(low: object, high: object, what: str) -> tuple[float, float]:
    """Finite bounds with ``low < high``."""
    lo, hi = check_real(low, f"{what} low"), check_real(high, f"{what} high")
    if not lo < hi:
        raise ValueError(f"{what} needs low < high, got [{lo}, {hi}]")
    return lo, hi


def check_name(name: object, what: str) -> str:
    """A non-empty string."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty string, got {name!r}")
    return name


def check_unique(names: Sequence[str], what: str) -> None:
    """Raise if a name repeats."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} repeat the name {name!r}")
        seen.add(name)


def check_faces(faces: object, valid: Sequence[str]) -> list[str]:
    """A face name or a non-empty list of them, all in ``valid``; duplicates dropped."""
    if isinstance(faces, str):
        faces = [faces]
    if not isinstance(faces, (list, tuple)) or not faces:
        raise ValueError(f"faces must be a non-empty list of face names, got {faces!r}")
    known = set(valid)
    unknown = [f for f in faces if not isinstance(f, str) or f not in known]
    if unknown:
        shown = ", ".join(valid) if len(valid) <= 20 else ", ".join(valid[:20]) + ", ..."
        raise ValueError(f"unknown face(s) {unknown!r}; this geometry has: {shown}")
    return list(dict.fromkeys(faces))
