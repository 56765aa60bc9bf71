"""ETDRK4 time stepping for diagonal stiff linear part plus nonlinear term (Cox–Matthews 2002).

    v' = L v + N(v),   L diagonal (Fourier space).

The phi-function coefficients are evaluated by contour integrals around each h L (Kassam &
Trefethen 2005), which avoids the cancellation of the closed forms near h L = 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

Coefficients = tuple[NDArray, NDArray, NDArray, NDArray, NDArray, NDArray]


def etdrk4_coefficients(lin: NDArray, h: float, n_contour: int = 64) -> Coefficients:
    """(E, E2, Q, f1, f2, f3) for the real diagonal linear operator ``lin`` and step ``h``."""
    lin = np.asarray(lin, dtype=np.float64)
    values, inverse = np.unique(lin, return_inverse=True)
    hl = h * values[:, None]
    z = hl + np.exp(1j * np.pi * (np.arange(n_contour) + 0.5) / n_contour)[None, :]
    ez = np.exp(z)
    z3 = z**3
    q = h * np.mean((np.exp(z / 2) - 1.0) / z, axis=1).real
    f1 = h * np.mean((-4.0 - z + ez * (4.0 - 3.0 * z + z * z)) / z3, axis=1).real
    f2 = h * np.mean((2.0 + z + ez * (z - 2.0)) / z3, axis=1).real
    f3 = h * np.mean((-4.0 - 3.0 * z - z * z + ez * (4.0 - z)) / z3, axis=1).real
    e = np.exp(hl[:, 0])
    e2 = np.exp(hl[:, 0] / 2)
    shape = lin.shape
    return tuple(c[inverse].reshape(shape) for c in (e, e2, q, f1, f2, f3))  # type: ignore[return-value]


def etdrk4_step(v: NDArray, coeffs: Coefficients, nonlinear: Callable[[NDArray], NDArray]) -> NDArray:
    """One ETDRK4 step of v' = L v + N(v)."""
    e, e2, q, f1, f2, f3 = coeffs
    nv = nonlinear(v)
    a = e2 * v + q * nv
    na = nonlinear(a)
    b = e2 * v + q * na
    nb = nonlinear(b)
    c = e2 * a + q * (2.0 * nb - nv)
    nc = nonlinear(c)
    return e * v + f1 * nv + 2.0 * f2 * (na + nb) + f3 * nc


def etdrk4_integrate(
    v0: NDArray,
    lin: NDArray,
    nonlinear: Callable[[NDArray], NDArray],
    times: Sequence[float] | NDArray,
    dt: float,
    t0: float = 0.0,
) -> list[NDArray]:
    """States at each of the increasing ``times`` (>= t0), stepping exactly onto every one.

    Each interval between consecutive output times is split into equal steps no longer than dt.
    """
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or np.any(np.diff(times) < 0) or (times.size and times[0] < t0):
        raise ValueError("times must be a non-decreasing 1-D array starting at or after t0")
    if dt <= 0:
        raise ValueError("dt must be positive")
    cache: dict[float, Coefficients] = {}
    out: list[NDArray] = []
    v, t = v0, t0
    for target in times:
        span = target - t
        if span > 0:
            m = max(1, int(np.ceil(span / dt - 1e-9)))
            key = float(f"{span / m:.13e}")  # equal output spacings share coefficients
            if key not in cache:
                cache[key] = etdrk4_coefficients(lin, key)
            for _ in range(m):
                v = etdrk4_step(v, cache[key], nonlinear)
        t = target
        out.append(v.copy())
    return out
