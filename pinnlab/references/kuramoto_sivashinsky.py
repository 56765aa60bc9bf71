"""Kuramoto–Sivashinsky benchmark of PINNacle: u_t + alpha u u_x + beta u_xx + gamma u_xxxx = 0.

x in [0, 2 pi) periodic, t in [0, t_max], u(0, x) = cos x (1 + sin x) = cos x + sin(2x) / 2, with
alpha = 100/16, beta = 100/16^2, gamma = 100/16^4: the classic chaotic problem of Kassam & Trefethen
(2005) on [0, 32 pi] rescaled by x -> 16 x and t -> 100 t, so t = 1 here is t = 100 there.

Fourier pseudo-spectral in x (2/3-rule dealiasing of u^2), ETDRK4 in t: the linear part
beta k^2 - gamma k^4 (unstable for k^2 < beta / gamma) is integrated exactly, the advection
-alpha (u^2)_x / 2 explicitly. Evaluation anywhere by trigonometric interpolation in x and quintic
Hermite interpolation in t with u_t and u_tt from the semi-discrete equations.

Measured (relative L2 over x at t = 0.25, 0.5, 0.75, 1; tests/test_references_pinnacle.py checks the
same properties on shorter horizons): the mean of u is conserved to rounding; with alpha = 0 every mode
matches its exact exponential to 1e-12. Modes, dt = 5e-5: n 128 -> 256 differs by up to 5e-2 (t = 1),
n 256 -> 512 by up to 4e-7, n 384 -> 768 by up to 2.6e-11. Time step, n = 512: dt 5e-5 -> 2.5e-5 changes
u by up to 1.8e-8, 2.5e-5 -> 1.25e-5 by 1.2e-9 (fourth order; the chaos amplifies differences by about
e^5 over t in [0, 1]). The defaults n = 384, dt = 2.5e-5 are therefore accurate to about 1e-9 relative
L2 at t = 1 (less before), and quintic Hermite interpolation between states saved every 2.5e-3 adds
below 1e-7 (measured at n = 128 over t <= 0.2).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.fft import irfft, rfft

from ._etdrk4 import etdrk4_integrate
from ._history import Modes, SpectralHistory

ALPHA, BETA, GAMMA = 100 / 16, 100 / 16**2, 100 / 16**4


def ks_initial_condition(x: ArrayLike) -> NDArray[np.float64]:
    """u(0, x) = cos x (1 + sin x)."""
    x = np.asarray(x, dtype=np.float64)
    return np.cos(x) * (1.0 + np.sin(x))


def _operators(n: int, alpha: float, beta: float, gamma: float):
    """Wavenumbers, diagonal linear operator, dealiased nonlinear term and its derivative."""
    k = np.arange(n // 2 + 1, dtype=np.float64)
    lin = beta * k * k - gamma * k**4
    mask = k <= (n - 1) // 3
    half_dx = -0.5j * alpha * k * mask

    def nonlinear(v: NDArray) -> NDArray:
        u = irfft(v * mask, n)
        return half_dx * rfft(u * u)

    def derivative(v: NDArray, w: NDArray) -> NDArray:
        return half_dx * rfft(2.0 * irfft(v * mask, n) * irfft(w * mask, n))

    return k, lin, nonlinear, derivative


def _initial_spectrum(n: int) -> NDArray[np.complex128]:
    x = 2.0 * np.pi * np.arange(n) / n
    v = rfft(ks_initial_condition(x))
    v[-1] = 0.0
    return v


@lru_cache(maxsize=8)
def _spectra(times: tuple[float, ...], n: int, dt: float, alpha: float, beta: float, gamma: float) -> NDArray:
    _, lin, nonlinear, _ = _operators(n, alpha, beta, gamma)
    return np.array(etdrk4_integrate(_initial_spectrum(n), lin, nonlinear, times, dt))


def kuramoto_sivashinsky_1d(
    times: ArrayLike, n: int = 384, dt: float = 2.5e-5, alpha: float = ALPHA, beta: float = BETA,
    gamma: float = GAMMA,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(x, U): the solution on x_j = 2 pi j / n at each requested time (>= 0); U has shape (len(times), n)."""
    if n % 2 or n < 16:
        raise ValueError("n must be an even number >= 16")
    if dt <= 0:
        raise ValueError("dt must be positive")
    t = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if t.ndim != 1 or np.any(t < 0):
        raise ValueError("times must be a 1-D array of values >= 0")
    unique, inverse = np.unique(t, return_inverse=True)
    spectra = _spectra(tuple(unique.tolist()), int(n), float(dt), float(alpha), float(beta), float(gamma))
    x = 2.0 * np.pi * np.arange(n) / n
    return x, irfft(spectra, n, axis=1)[inverse]


@lru_cache(maxsize=4)
def _history(alpha: float, beta: float, gamma: float, n: int, dt: float, save_dt: float,
             t_max: float) -> SpectralHistory:
    m = max(1, int(np.ceil(t_max / save_dt - 1e-9)))
    save_t = np.linspace(0.0, t_max, m + 1)
    k, lin, nonlinear, derivative = _operators(n, alpha, beta, gamma)
    spectra = _spectra(tuple(save_t.tolist()), n, dt, alpha, beta, gamma)
    rates = lin * spectra + np.array([nonlinear(v) for v in spectra])
    accel = lin * rates + np.array([derivative(v, r) for v, r in zip(spectra, rates)])
    weight = np.full(k.size, 2.0 / n)
    weight[0] = 1.0 / n
    weight[-1] = 0.0
    derivatives = (spectra * weight, rates * weight, accel * weight)
    return SpectralHistory(save_t, derivatives, (Modes(1.0, 0, k.size),), (0.0,))


class KuramotoSivashinskyReference:
    """u(t, x) of the PINNacle Kuramoto–Sivashinsky case at arbitrary points, t in [0, t_max], any real x.

    Solved once (shared between instances with equal settings) on ``n`` modes with step ``dt``, stored
    every ``save_dt``; see the module docstring for the measured accuracy.
    """

    def __init__(self, alpha: float = ALPHA, beta: float = BETA, gamma: float = GAMMA, *, n: int = 384,
                 dt: float = 2.5e-5, save_dt: float = 2.5e-3, t_max: float = 1.0) -> None:
        if n % 2 or n < 16:
            raise ValueError("n must be an even number >= 16")
        if dt <= 0 or save_dt <= 0 or t_max <= 0:
            raise ValueError("dt, save_dt and t_max must be positive")
        self.t_max = float(t_max)
        self._history = _history(float(alpha), float(beta), float(gamma), int(n), float(dt), float(save_dt),
                                 self.t_max)

    def __call__(self, t: ArrayLike, x: ArrayLike) -> NDArray[np.float64]:
        """u at broadcast arrays t, x."""
        return self._history(t, x)
