"""Fourier pseudo-spectral reference solutions for 2-D periodic problems on [0, 2 pi)^2.

    u_t = nu Δu + N(u),   N = 0 ("none"), u - u^3 ("allen_cahn"), -u (u_x + u_y) ("burgers").

Grid x_j = 2 pi j / n on both axes, arrays indexed [x, y] (indexing='ij'). Time stepping: exact
exponential for the heat equation, ETDRK4 otherwise (linear part nu Δ (+ 1 for Allen–Cahn)
integrated exactly, phi-functions by contour integrals). Nonlinear terms are evaluated
pseudo-spectrally with the 2/3 rule (modes |k_x| or |k_y| > (n - 1) // 3 removed before and after
the products); the Burgers term is formed as -(d_x + d_y)(u^2) / 2, which equals -u (u_x + u_y)
on the retained modes.

Measured self-convergence for the TENG problems, u0 = cosh(3 sin x) sinh(sin y) / 25, t <= 4
(max |difference| over the coarser grid at t = 0.5, 1, 2, 3, 4; |u| <= 1):

    Allen–Cahn, nu = 1/200 (dt = 0.01):
        n 128 -> 256:  3e-16  8e-16  1.3e-8  5.8e-5  6.4e-4
        n 256 -> 512:  4e-16  4e-16  1e-15   2.7e-9  3.3e-7
        dt 0.01 -> 0.005 -> 0.0025 (n = 256): 2.9e-10, 1.8e-11 (fourth order)
    Burgers, nu = 1/100 (dt = 0.005):
        n 128 -> 192:  2e-11  6.4e-8   6.8e-5  5.6e-4  8.0e-4
        n 192 -> 256:  1e-15  9.3e-11  2.0e-6  2.9e-5  4.5e-5
        n 256 -> 384:  5e-16  7e-14    4.0e-8  1.5e-6  2.6e-6
        n 384 -> 512:  7e-16  6e-16    2.3e-11 4.0e-9  8.7e-9
        dt 0.005 -> 0.0025: 6.7e-9, dt 0.002 -> 0.001: 1.6e-10 (n = 256)

Defaults of ``PeriodicSpectral2DReference`` (relative L2 error up to t = 4, against n = 512):
Allen–Cahn n = 256, dt = 0.01: <= 5e-8; Burgers n = 256, dt = 0.005: 2e-8 at t = 2, 1.3e-6 at
t = 4 (n = 384 gives 4e-9, at ~3x the cost). Quintic Hermite interpolation in time with
save_dt = 0.1 adds <= 2e-7 (Burgers) and <= 3e-10 (Allen–Cahn). The heat equation is evaluated
exactly (each mode decays as exp(-nu |k|^2 t)).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.fft import irfft2, rfft2

from ._etdrk4 import etdrk4_integrate
from ._history import DecayingModes, FourierField, Modes, SpectralHistory

NONLINEARITIES = ("none", "allen_cahn", "burgers")
#: default (n, dt, save_dt) of PeriodicSpectral2DReference per case (see the module docstring)
DEFAULTS = {"none": (128, 0.01, 0.1), "allen_cahn": (256, 0.01, 0.1), "burgers": (256, 5e-3, 0.1)}


def _wavenumbers(n: int) -> tuple[NDArray, NDArray]:
    kx = np.fft.fftfreq(n, 1.0 / n)[:, None]
    ky = np.fft.rfftfreq(n, 1.0 / n)[None, :]
    return kx, ky


Operators = tuple[NDArray, Callable[[NDArray], NDArray] | None, Callable[[NDArray, NDArray], NDArray] | None]


def _operators(n: int, nu: float, nonlinearity: str) -> Operators:
    """Diagonal linear operator, spectral nonlinear term N(v) and its derivative (v, w) -> N'(v) w."""
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
    kx, ky = _wavenumbers(n)
    lin = -nu * (kx * kx + ky * ky)
    if nonlinearity == "none":
        return lin, None, None
    cutoff = (n - 1) // 3
    mask = (np.abs(kx) <= cutoff) & (ky <= cutoff)
    shape = (n, n)

    def grid(v: NDArray) -> NDArray:
        return irfft2(v * mask, s=shape)

    if nonlinearity == "allen_cahn":

        def nonlinear(v: NDArray) -> NDArray:
            u = grid(v)
            return mask * rfft2(-u * u * u)

        def derivative(v: NDArray, w: NDArray) -> NDArray:
            u = grid(v)
            return mask * rfft2(-3.0 * u * u * grid(w))

        return lin + 1.0, nonlinear, derivative
    half_grad = -0.5j * (kx + ky) * mask

    def nonlinear(v: NDArray) -> NDArray:
        u = grid(v)
        return half_grad * rfft2(u * u)

    def derivative(v: NDArray, w: NDArray) -> NDArray:
        return half_grad * rfft2(2.0 * grid(v) * grid(w))

    return lin, nonlinear, derivative


def _spectral_solution(
    u0: NDArray, nu: float, nonlinearity: str, times: NDArray, dt: float
) -> tuple[NDArray, Operators]:
    n = u0.shape[0]
    if u0.shape != (n, n) or n % 2:
        raise ValueError("u0 must be a square array with an even number of points per axis")
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or np.any(times < 0) or np.any(np.diff(times) < 0):
        raise ValueError("times must be a non-decreasing 1-D array of values >= 0")
    ops = _operators(n, nu, nonlinearity)
    lin, nonlinear, _ = ops
    v0 = rfft2(np.asarray(u0, dtype=np.float64))
    v0[n // 2, :] = 0.0  # Nyquist modes carry no resolvable information
    v0[:, -1] = 0.0
    if nonlinear is None:
        spectra = np.exp(lin[None] * times[:, None, None]) * v0[None]
    else:
        spectra = np.array(etdrk4_integrate(v0, lin, nonlinear, times, dt))
    return spectra, ops


def solve_periodic_2d(u0: NDArray, nu: float, nonlinearity: str, times: ArrayLike, dt: float) -> NDArray[np.float64]:
    """Solution at each of the non-decreasing ``times`` (>= 0) from grid values ``u0`` of shape (n, n).

    Returns an array of shape (len(times), n, n) on x_j = y_j = 2 pi j / n (indexing='ij'). The
    integrator steps exactly onto every requested time with steps no longer than ``dt``.
    """
    u0 = np.asarray(u0, dtype=np.float64)
    spectra, _ = _spectral_solution(u0, float(nu), nonlinearity, np.atleast_1d(times), float(dt))
    return irfft2(spectra, s=u0.shape, axes=(1, 2))


def _significant_box(spectra: NDArray) -> tuple[int, int]:
    """Largest |k_x| and k_y carrying any coefficient above 1e-14 of the largest one (rounding noise)."""
    n = spectra.shape[1]
    peak = np.abs(spectra).max(axis=0)
    kx, ky = _wavenumbers(n)
    big = peak > 1e-14 * peak.max() if peak.max() > 0 else np.zeros_like(peak, dtype=bool)
    big[0, 0] = True
    kx_max = int(np.abs(np.broadcast_to(kx, big.shape)[big]).max())
    ky_max = int(np.broadcast_to(ky, big.shape)[big].max())
    return min(kx_max, n // 2 - 1), min(ky_max, n // 2 - 1)


def _compact(arrays: tuple[NDArray, ...], box: tuple[int, int]) -> tuple[tuple[NDArray, ...], tuple[Modes, Modes]]:
    """Keep |k_x| <= box[0], k_y <= box[1] (k_x increasing) and fold in the real-part weights."""
    n = arrays[0].shape[-2]
    kx_max, ky_max = box
    rows = np.r_[n - kx_max : n, 0 : kx_max + 1]
    weight = np.full(ky_max + 1, 2.0 / n**2)
    weight[0] = 1.0 / n**2
    out = tuple(a[..., rows, : ky_max + 1] * weight for a in arrays)
    return out, (Modes(1.0, -kx_max, 2 * kx_max + 1), Modes(1.0, 0, ky_max + 1))


@lru_cache(maxsize=4)
def _field(
    u0_fn: Callable, nu: float, nonlinearity: str, t_max: float, n: int, dt: float, save_dt: float
) -> FourierField:
    grid = 2.0 * np.pi * np.arange(n) / n
    gx, gy = np.meshgrid(grid, grid, indexing="ij")
    u0 = np.broadcast_to(np.asarray(u0_fn(gx, gy), dtype=np.float64), (n, n))
    if nonlinearity == "none":
        spectra, (lin, _, _) = _spectral_solution(u0, nu, nonlinearity, np.zeros(1), dt)
        box = _significant_box(spectra)
        (coef0,), modes = _compact((spectra[0],), box)
        rates = lin[np.r_[n - box[0] : n, 0 : box[0] + 1], : box[1] + 1]
        return DecayingModes(coef0, rates, modes, (0.0, 0.0), t_max)
    m = max(1, int(np.ceil(t_max / save_dt - 1e-9)))
    save_t = np.linspace(0.0, t_max, m + 1)
    spectra, (lin, nonlinear, derivative) = _spectral_solution(u0, nu, nonlinearity, save_t, dt)
    rates = lin[None] * spectra + np.array([nonlinear(v) for v in spectra])
    accel = lin[None] * rates + np.array([derivative(v, r) for v, r in zip(spectra, rates)])
    derivatives, modes = _compact((spectra, rates, accel), _significant_box(spectra))
    return SpectralHistory(save_t, derivatives, modes, (0.0, 0.0))


class PeriodicSpectral2DReference:
    """u(t, x, y) at arbitrary points for t in [0, t_max] (x, y any real numbers, 2 pi periodic).

    Solved once on an n x n grid with step ``dt`` (u0_fn(x, y) is evaluated on the grid), stored
    every ``save_dt``; evaluated by trigonometric interpolation in space and quintic Hermite
    interpolation in time with u_t and u_tt from the PDE (heat: exact in time). ``None`` picks
    the per-case ``DEFAULTS``. Instances with equal arguments (the same u0_fn object) share the
    solve. Tensor-grid queries are cheap; scattered points cost O(n^2) each.
    """

    def __init__(
        self,
        u0_fn: Callable[[NDArray, NDArray], ArrayLike],
        nu: float,
        nonlinearity: str,
        t_max: float,
        n: int | None = None,
        dt: float | None = None,
        save_dt: float | None = None,
    ) -> None:
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
        n_d, dt_d, save_d = DEFAULTS[nonlinearity]
        n, dt, save_dt = n or n_d, dt or dt_d, save_dt or save_d
        self.nu, self.nonlinearity, self.t_max = float(nu), nonlinearity, float(t_max)
        self._field = _field(u0_fn, self.nu, nonlinearity, self.t_max, int(n), float(dt), float(save_dt))

    def __call__(self, t: ArrayLike, x: ArrayLike, y: ArrayLike) -> NDArray[np.float64]:
        """u at broadcast arrays t, x, y."""
        return self._field(t, x, y)
