"""Closed-form references of PINNacle cases that are not plain expressions.

Wave2d-MS ("Wave2D_LongTime"): u_tt = u_xx + a^2 u_yy on [0, 1]^2 x [0, 100], a = sqrt(2), with the
initial and boundary values of PINNacle's function

    g(t, x, y) = sin(pi x) sinh(pi y) cos(pi t) + sinh(3 pi x) sin(2 pi y) cos(pi t)

and u_t(0) = 0 (g_t(0) = 0). g itself is not a solution of this equation: g_tt - g_xx - a^2 g_yy =
-2 pi^2 g for both terms, so the solution is u = g + w with w = 0 on the boundary, w(0) = w_t(0) = 0 and
w_tt - (w_xx + a^2 w_yy) = 2 pi^2 g. In the sine basis every mode is a forced oscillator with
frequency omega_kl = pi sqrt(k^2 + a^2 l^2) and forcing 2 pi^2 c_kl cos(pi t), so

    w = sum_kl 2 pi^2 c_kl (cos(pi t) - cos(omega_kl t)) / (omega_kl^2 - pi^2) sin(k pi x) sin(l pi y),

with the sine coefficients c_kl of g's spatial parts in closed form: sin(pi x) sinh(pi y) has only
k = 1 and c_1l = 2 (-1)^(l+1) l sinh(pi) / (pi (1 + l^2)); sinh(3 pi x) sin(2 pi y) only l = 2 and
c_k2 = 2 (-1)^(k+1) k sinh(3 pi) / (pi (9 + k^2)). The two series are one-dimensional sums whose
terms fall like 1/m^3; ``modes`` terms leave a tail below (6 sinh(3 pi)/pi) / modes^2 in absolute value.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

_CHUNK = 1 << 20  # points x modes per vectorised block


def wave2d_longtime_data(t: ArrayLike, x: ArrayLike, y: ArrayLike) -> NDArray[np.float64]:
    """PINNacle's function g(t, x, y) (initial and boundary data of Wave2d-MS)."""
    t, x, y = (np.asarray(a, dtype=np.float64) for a in (t, x, y))
    return (np.sin(np.pi * x) * np.sinh(np.pi * y) + np.sinh(3 * np.pi * x) * np.sin(2 * np.pi * y)) * np.cos(np.pi * t)


def _series(t: NDArray, z: NDArray, coef: NDArray, omega2: NDArray, m: NDArray) -> NDArray:
    """sum_m coef_m (cos(pi t) - cos(omega_m t)) / (omega_m^2 - pi^2) sin(m pi z) over flat arrays t, z."""
    out = np.empty(t.size)
    omega = np.sqrt(omega2)
    denom = omega2 - np.pi**2
    step = max(1, _CHUNK // m.size)
    for s in range(0, t.size, step):
        tt, zz = t[s : s + step, None], z[s : s + step, None]
        terms = coef * (np.cos(np.pi * tt) - np.cos(omega * tt)) / denom * np.sin(m * np.pi * zz)
        out[s : s + step] = terms.sum(axis=1)
    return out


def wave2d_longtime(t: ArrayLike, x: ArrayLike, y: ArrayLike, a: float = np.sqrt(2.0),
                    modes: int = 4000) -> NDArray[np.float64]:
    """The solution u = g + w of Wave2d-MS at broadcast arrays t, x, y in [0, 1]^2 (see the module docstring)."""
    if modes < 1:
        raise ValueError("modes must be positive")
    t_arr, x_arr, y_arr = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (t, x, y)))
    shape = t_arr.shape
    tf, xf, yf = t_arr.ravel(), x_arr.ravel(), y_arr.ravel()
    m = np.arange(1, modes + 1, dtype=np.float64)
    sign = np.where(m % 2 == 1, 1.0, -1.0)
    two_pi2 = 2.0 * np.pi**2
    # sin(pi x) sinh(pi y): k = 1, sum over l (the y modes)
    c1 = 2.0 * sign * m * np.sinh(np.pi) / (np.pi * (1.0 + m * m))
    w1 = np.sin(np.pi * xf) * _series(tf, yf, two_pi2 * c1, np.pi**2 * (1.0 + a * a * m * m), m)
    # sinh(3 pi x) sin(2 pi y): l = 2, sum over k (the x modes)
    c2 = 2.0 * sign * m * np.sinh(3 * np.pi) / (np.pi * (9.0 + m * m))
    w2 = np.sin(2 * np.pi * yf) * _series(tf, xf, two_pi2 * c2, np.pi**2 * (m * m + 4.0 * a * a), m)
    return (wave2d_longtime_data(tf, xf, yf) + w1 + w2).reshape(shape)
