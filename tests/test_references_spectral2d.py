"""2-D periodic pseudo-spectral references: exact heat modes, ETDRK4 accuracy, self-convergence."""

import itertools

import numpy as np
import pytest
from scipy.fft import irfft2, rfft2

from pinnlab.references import PeriodicSpectral2DReference, solve_periodic_2d
from pinnlab.references._etdrk4 import etdrk4_coefficients, etdrk4_integrate

TWO_PI = 2.0 * np.pi


def grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    g = TWO_PI * np.arange(n) / n
    return np.meshgrid(g, g, indexing="ij")


def teng_u0(x, y):
    return np.cosh(3.0 * np.sin(x)) * np.sinh(np.sin(y)) / 25.0


def restrict(u: np.ndarray, m: int) -> np.ndarray:
    """Values of the trigonometric interpolant of u (..., n, n) on the m x m grid (m <= n)."""
    n = u.shape[-1]
    v = rfft2(u, axes=(-2, -1))
    w = np.zeros((*u.shape[:-2], m, m // 2 + 1), dtype=complex)
    h = m // 2
    w[..., :h, :h] = v[..., :h, :h]
    w[..., m - h + 1 :, :h] = v[..., n - h + 1 :, :h]
    return irfft2(w, s=(m, m), axes=(-2, -1)) * (m / n) ** 2


def heat_mode(t, x, y, nu):
    return np.exp(-5.0 * nu * t) * np.sin(x) * np.cos(2.0 * y)


def test_etdrk4_coefficients_match_closed_forms():
    lin = np.array([-50.0, -3.0, -0.7, 0.4, 2.0])
    h = 0.1
    z = h * lin
    e = np.exp(z)
    np.testing.assert_allclose(etdrk4_coefficients(lin, h)[0], e, rtol=1e-14)
    np.testing.assert_allclose(etdrk4_coefficients(lin, h)[2], h * (np.exp(z / 2) - 1) / z, rtol=1e-12)
    f1 = h * (-4 - z + e * (4 - 3 * z + z * z)) / z**3
    np.testing.assert_allclose(etdrk4_coefficients(lin, h)[3], f1, rtol=1e-10)
    tiny = etdrk4_coefficients(np.array([0.0, 1e-9]), h)  # limits: Q = h/2, f1 = f2 = f3 ... = h/6, h/6, h/6
    np.testing.assert_allclose(tiny[2], h / 2, rtol=1e-8)
    np.testing.assert_allclose(tiny[3], h / 6, rtol=1e-8)
    np.testing.assert_allclose(tiny[4], h / 6, rtol=1e-8)
    np.testing.assert_allclose(tiny[5], h / 6, rtol=1e-8)


def test_etdrk4_fourth_order_on_a_scalar_riccati_equation():
    # v' = lam v + v^2 has v(t) = lam v0 e^{lam t} / (lam + v0 (1 - e^{lam t}))
    lam, v0, t = -3.0, 0.5, 1.0
    exact = lam * v0 * np.exp(lam * t) / (lam + v0 * (1 - np.exp(lam * t)))
    errors = [
        abs(etdrk4_integrate(np.array([v0]), np.array([lam]), lambda v: v * v, [t], dt)[0][0] - exact)
        for dt in (0.1, 0.05, 0.025)
    ]
    assert errors[0] / errors[1] > 13 and errors[1] / errors[2] > 13
    assert errors[-1] < 1e-8


def test_heat_is_exact_on_grid_and_off_grid():
    nu = 0.1
    x, y = grid(32)
    times = np.array([0.0, 0.3, 1.0, 4.0])
    u = solve_periodic_2d(np.sin(x) * np.cos(2 * y), nu, "none", times, dt=0.1)
    assert u.shape == (4, 32, 32)
    assert np.abs(u - heat_mode(times[:, None, None], x, y, nu)).max() < 1e-12
    ref = PeriodicSpectral2DReference(lambda a, b: np.sin(a) * np.cos(2 * b), nu, "none", t_max=4.0)
    rng = np.random.default_rng(0)
    t, xs, ys = rng.uniform(0, 4, 500), rng.uniform(-7, 7, 500), rng.uniform(0, TWO_PI, 500)
    assert np.abs(ref(t, xs, ys) - heat_mode(t, xs, ys, nu)).max() < 1e-12


def test_heat_general_data_decays_mode_by_mode():
    nu, n = 0.1, 64
    x, y = grid(n)
    u = solve_periodic_2d(teng_u0(x, y), nu, "none", [2.0], dt=1.0)[0]
    kx = np.fft.fftfreq(n, 1.0 / n)[:, None]
    ky = np.fft.rfftfreq(n, 1.0 / n)[None, :]
    expected = irfft2(rfft2(teng_u0(x, y)) * np.exp(-nu * (kx**2 + ky**2) * 2.0), s=(n, n))
    assert np.abs(u - expected).max() < 1e-13


@pytest.mark.parametrize(
    ("case", "nu", "t_end", "tol"),
    [("allen_cahn", 1 / 200, 2.0, 1e-7), ("burgers", 1 / 100, 1.0, 1e-6)],
)
def test_self_convergence_in_space_and_time(case, nu, t_end, tol):
    times = np.array([0.5 * t_end, t_end])
    sols = {n: solve_periodic_2d(teng_u0(*grid(n)), nu, case, times, dt=0.02) for n in (96, 128, 160)}
    d1 = np.abs(restrict(sols[128], 96) - sols[96]).max()
    d2 = np.abs(restrict(sols[160], 128) - sols[128]).max()
    assert d2 < tol and d2 < d1 / 20  # measured 1.3e-8 (Allen–Cahn), 6.2e-8 (Burgers)
    half = solve_periodic_2d(teng_u0(*grid(128)), nu, case, times, dt=0.01)
    assert np.abs(half - sols[128]).max() < 1e-7


def test_allen_cahn_relaxes_towards_pure_phases():
    u = solve_periodic_2d(teng_u0(*grid(128)), 1 / 200, "allen_cahn", [0.0, 4.0], dt=0.05)
    assert np.abs(u[0]).max() < 0.5 < np.abs(u[1]).max() < 1.0 + 1e-3


def test_reference_interpolation_matches_direct_solve():
    n, nu = 64, 1 / 100
    ref = PeriodicSpectral2DReference(teng_u0, nu, "burgers", t_max=1.0, n=n, dt=0.01, save_dt=0.1)
    t = np.array([0.0, 0.137, 0.55, 1.0])
    x, y = grid(n)
    direct = solve_periodic_2d(teng_u0(x, y), nu, "burgers", t, dt=0.0025)
    values = ref(t[:, None, None], x[None], y[None])
    assert np.abs(values - direct).max() < 1e-8
    # scattered points: same answer as the tensor-grid path, and 2 pi periodic
    rng = np.random.default_rng(1)
    ts, xs, ys = rng.uniform(0, 1, 200), rng.uniform(0, TWO_PI, 200), rng.uniform(0, TWO_PI, 200)
    one_by_one = np.array([ref(a, np.array([b]), np.array([c]))[0] for a, b, c in zip(ts[:10], xs[:10], ys[:10])])
    np.testing.assert_allclose(ref(ts[:10], xs[:10], ys[:10]), one_by_one, atol=1e-13)
    np.testing.assert_allclose(ref(ts, xs + TWO_PI, ys - TWO_PI), ref(ts, xs, ys), atol=1e-12)
    with pytest.raises(ValueError):
        ref(1.5, 0.0, 0.0)


def test_reference_off_grid_points_match_finer_solve():
    nu = 1 / 200
    ref = PeriodicSpectral2DReference(teng_u0, nu, "allen_cahn", t_max=1.0, n=96, dt=0.02, save_dt=0.1)
    x, y = grid(192)  # every other point lies between the n = 96 nodes
    fine = solve_periodic_2d(teng_u0(x, y), nu, "allen_cahn", [0.6], dt=0.02)[0]
    assert np.abs(ref(0.6, x, y) - fine).max() < 1e-10  # measured 6e-13


def test_invalid_arguments():
    with pytest.raises(ValueError):
        solve_periodic_2d(np.zeros((8, 8)), 0.1, "kdv", [1.0], 0.1)
    with pytest.raises(ValueError):
        solve_periodic_2d(np.zeros((8, 6)), 0.1, "none", [1.0], 0.1)
    with pytest.raises(ValueError):
        solve_periodic_2d(np.zeros((8, 8)), 0.1, "burgers", [1.0, 0.5], 0.1)
    with pytest.raises(ValueError):
        PeriodicSpectral2DReference(teng_u0, 0.1, "kdv", 1.0)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "nu", "sizes", "dt", "dts"),
    [
        ("allen_cahn", 1 / 200, (128, 256, 512), 0.01, (0.01, 0.005)),
        ("burgers", 1 / 100, (128, 256, 384), 0.005, (0.002, 0.001)),
    ],
)
def test_teng_self_convergence_to_t4(case, nu, sizes, dt, dts):
    """The study reported in the module docstring (TENG problems, t up to 4)."""
    times = np.array([1.0, 2.0, 3.0, 4.0])
    sols = {n: solve_periodic_2d(teng_u0(*grid(n)), nu, case, times, dt) for n in sizes}
    diffs = [np.abs(restrict(sols[b], a) - sols[a]).max() for a, b in itertools.pairwise(sizes)]
    assert diffs[1] < diffs[0] / 20 and diffs[1] < 3e-6  # measured 3.3e-7 and 2.6e-6
    steps = [solve_periodic_2d(teng_u0(*grid(sizes[0])), nu, case, times, h) for h in dts]
    assert np.abs(steps[1] - steps[0]).max() < 1e-9  # measured 2.9e-10 and 1.1e-10
