"""References of the PINNacle cases: closed forms solve their PDEs; spectral solvers converge and match known solutions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pinnlab.compile.exact import exact_function
from pinnlab.equations import get_equation
from pinnlab.references import _etdrk4
from pinnlab.references.gray_scott import GrayScottReference, gray_scott_2d
from pinnlab.references.gray_scott import _operators as gs_operators
from pinnlab.references.heat_longtime import HeatLongTimeReference, _Problem, heat_longtime_2d
from pinnlab.references.kuramoto_sivashinsky import KuramotoSivashinskyReference, kuramoto_sivashinsky_1d
from pinnlab.references.pinnacle_closed_forms import wave2d_longtime, wave2d_longtime_data


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _exact_with_derivatives(name: str, points: np.ndarray):
    """u and its first and second partials (by autograd) of a problem's closed form at the points."""
    fn = exact_function(get_equation(name))
    x = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    u = fn(x)[:, 0]
    (g,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    second = [torch.autograd.grad(g[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(x.shape[1])]
    return u.detach(), g.detach(), torch.stack(second, 1).detach()


def test_heat2d_ms_closed_form_solves_the_pde():
    pts = np.random.default_rng(0).uniform([0, 0, 0], [5, 1, 1], (200, 3))
    u, g, h = _exact_with_derivatives("pinnacle_heat2d_ms", pts)
    residual = g[:, 0] - h[:, 1] / (500 * np.pi) ** 2 - h[:, 2] / np.pi**2
    assert residual.abs().max() < 1e-13
    assert u.abs().max() > 0.05


def test_wave1d_closed_form_solves_the_pde_and_its_initial_rate_vanishes():
    pts = np.random.default_rng(1).uniform(0, 1, (200, 2))
    pts[:50, 0] = 0.0
    _u, g, h = _exact_with_derivatives("pinnacle_wave1d_c", pts)
    assert (h[:, 0] - 4 * h[:, 1]).abs().max() < 1e-11
    assert g[:50, 0].abs().max() < 1e-13


def test_poisson_nd_closed_form_solves_the_pde():
    pts = np.random.default_rng(2).uniform(0, 1, (100, 5))
    u, _, h = _exact_with_derivatives("pinnacle_poisson_nd", pts)
    expected = np.pi**2 / 4 * np.sin(np.pi * pts / 2).sum(1)
    assert np.abs(h.sum(1).numpy() + expected).max() < 1e-12
    assert np.allclose(u.numpy(), np.sin(np.pi * pts / 2).sum(1), atol=1e-14)


def test_heat_nd_closed_form_solves_the_pde_and_the_neumann_data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(100, 5))
    x *= (rng.uniform(size=(100, 1)) ** 0.2) / np.linalg.norm(x, axis=1, keepdims=True)
    pts = np.hstack([rng.uniform(0, 1, (100, 1)), x])
    _u, g, h = _exact_with_derivatives("pinnacle_heat_nd", pts)
    r2 = (x * x).sum(1)
    residual = g[:, 0].numpy() - h[:, 1:].sum(1).numpy() / 5 + r2 / 5 * np.exp(r2 / 2 + pts[:, 0])
    assert np.abs(residual).max() < 1e-12
    normal = (g[:, 1:].numpy() * x).sum(1) / np.sqrt(r2)  # radial derivative = dn(u) on the sphere
    assert np.allclose(normal, np.sqrt(r2) * np.exp(r2 / 2 + pts[:, 0]), rtol=1e-12)


def test_wave2d_series_solves_the_pde_with_pinnacles_data():
    rng = np.random.default_rng(4)
    t, x, y = rng.uniform(1, 99, 12), rng.uniform(0.2, 0.8, 12), rng.uniform(0.2, 0.8, 12)
    h = 2e-3
    u = lambda tt, xx, yy: wave2d_longtime(tt, xx, yy, modes=3000)
    d2 = [(u(t + h * e[0], x + h * e[1], y + h * e[2]) - 2 * u(t, x, y) + u(t - h * e[0], x - h * e[1], y - h * e[2]))
          / h**2 for e in np.eye(3)]
    residual = d2[0] - d2[1] - 2 * d2[2]
    scale = np.abs(d2[1]).max()
    assert np.abs(residual).max() < 2e-4 * scale  # second-order differences: O(h^2 omega^4)
    # the data: u = g at t = 0 and on the walls, u_t(0) = 0; and PINNacle's g is not the solution
    s = rng.uniform(0, 1, 50)
    assert np.abs(wave2d_longtime(0 * s, s, s[::-1]) - wave2d_longtime_data(0 * s, s, s[::-1])).max() < 1e-9
    for xb, yb in ((0 * s, s), (1 + 0 * s, s), (s, 0 * s), (s, 1 + 0 * s)):
        assert np.abs(wave2d_longtime(50 * s, xb, yb) - wave2d_longtime_data(50 * s, xb, yb)).max() < 1e-6
    rate = (wave2d_longtime(1e-4 + 0 * s, s, s) - wave2d_longtime(-1e-4 + 0 * s, s, s)) / 2e-4
    assert np.abs(rate).max() < 1e-6 * np.abs(wave2d_longtime_data(0 * s, s, s)).max()
    inner = (np.full(50, 10.0), 0.2 + 0.6 * s, 0.2 + 0.6 * s[::-1])
    assert _rel(wave2d_longtime_data(*inner), wave2d_longtime(*inner)) > 0.05


def test_wave2d_series_converges_in_the_number_of_modes():
    rng = np.random.default_rng(5)
    t, x, y = rng.uniform(0, 100, 300), rng.uniform(0, 1, 300), rng.uniform(0, 1, 300)
    coarse, fine, finest = (wave2d_longtime(t, x, y, modes=m) for m in (500, 1000, 4000))
    tail = 6 * np.sinh(3 * np.pi) / np.pi
    assert np.abs(coarse - finest).max() < tail / 500**2
    assert np.abs(fine - finest).max() < tail / 1000**2


def test_ks_mean_is_conserved_and_the_linear_problem_is_exact():
    _, u = kuramoto_sivashinsky_1d([0.1, 0.2], n=128, dt=1e-4)
    assert np.abs(u.mean(1)).max() < 1e-14
    # alpha = 0: every mode evolves as exp((beta k^2 - gamma k^4) t)
    _, lin = kuramoto_sivashinsky_1d([0.2], n=64, dt=1e-3, alpha=0.0)
    x = 2 * np.pi * np.arange(64) / 64
    beta, gamma = 100 / 256, 100 / 16**4
    exact = np.exp((beta - gamma) * 0.2) * np.cos(x) + 0.5 * np.exp((4 * beta - 16 * gamma) * 0.2) * np.sin(2 * x)
    assert _rel(lin[0], exact) < 1e-12


def test_ks_converges_in_modes_and_fourth_order_in_time():
    t = [0.3]
    _, a = kuramoto_sivashinsky_1d(t, n=128, dt=1e-4)
    _, b = kuramoto_sivashinsky_1d(t, n=256, dt=1e-4)
    _, c = kuramoto_sivashinsky_1d(t, n=384, dt=1e-4)
    coarse = _rel(a[0], b[0, ::2])  # x = 2 pi j / 128 on both grids
    fine = _rel(b[0, ::2], c[0, ::3])  # x = 2 pi j / 128 on both grids
    assert fine < 1e-2 * coarse and fine < 1e-6
    steps = [kuramoto_sivashinsky_1d(t, n=128, dt=dt)[1][0] for dt in (2e-4, 1e-4, 5e-5)]
    ratio = np.linalg.norm(steps[0] - steps[1]) / np.linalg.norm(steps[1] - steps[2])
    assert 11 < ratio < 22  # 2^4 = 16


def test_ks_reference_interpolates_the_solver():
    ref = KuramotoSivashinskyReference(n=128, dt=1e-4, save_dt=2.5e-3, t_max=0.2)
    times = np.array([0.0123, 0.1, 0.1987])
    x, direct = kuramoto_sivashinsky_1d(times, n=128, dt=1e-4)
    tt, xx = np.meshgrid(times, x, indexing="ij")
    assert _rel(ref(tt, xx), direct) < 1e-7
    assert np.allclose(ref(0.0, x + 2 * np.pi), np.cos(x) * (1 + np.sin(x)), atol=1e-12)


def test_gray_scott_without_v_relaxes_as_the_exact_linear_solution():
    n = 32
    lin, nonlinear, _ = gs_operators(n, 0.04, 0.1, 1e-5, 5e-6)
    g = -1 + 2 * np.arange(n) / n
    gx, gy = np.meshgrid(g, g, indexing="ij")
    u0 = 1 + 0.3 * np.cos(np.pi * gx) * np.sin(2 * np.pi * gy)
    w0 = np.stack([np.fft.rfft2(u0), np.zeros((n, n // 2 + 1), dtype=complex)])
    (w,) = _etdrk4.etdrk4_integrate(w0, lin, nonlinear, [5.0], 0.1)
    u = np.fft.irfft2(w[0], s=(n, n))
    decay = np.exp(-(1e-5 * 5 * np.pi**2 + 0.04) * 5.0)
    assert np.abs(u - (1 + 0.3 * decay * np.cos(np.pi * gx) * np.sin(2 * np.pi * gy))).max() < 1e-13
    assert np.abs(np.fft.irfft2(w[1], s=(n, n))).max() < 1e-15


def test_gray_scott_converges_in_modes_and_fourth_order_in_time():
    t = [3.0]
    _, a = gray_scott_2d(t, n=64, dt=0.25)
    _, b = gray_scott_2d(t, n=128, dt=0.25)
    _, c = gray_scott_2d(t, n=256, dt=0.25)
    coarse, fine = _rel(a[0], b[0][:, ::2, ::2]), _rel(b[0], c[0][:, ::2, ::2])
    assert fine < 0.1 * coarse and fine < 1e-3
    steps = [gray_scott_2d(t, n=64, dt=dt)[1][0] for dt in (1.0, 0.5, 0.25)]
    ratio = np.linalg.norm(steps[0] - steps[1]) / np.linalg.norm(steps[1] - steps[2])
    assert ratio > 11  # at least fourth order (2^4 = 16); faster before the asymptotic range


def test_gray_scott_reference_interpolates_the_solver():
    ref = GrayScottReference(n=32, dt=0.25, save_dt=1.0, t_max=10.0)
    times = np.array([0.0, 3.3, 7.7, 10.0])
    x, direct = gray_scott_2d(times, n=32, dt=0.25)
    tt, xx, yy = np.meshgrid(times, x, x, indexing="ij")
    values = ref(tt, xx, yy)
    for field in range(2):
        assert _rel(values[..., field], direct[:, field]) < 1e-5
    assert values.shape == (4, 32, 32, 2)


def test_heat_longtime_sine_transform_and_the_unforced_problem():
    p = _Problem(16, 1e-3, 1.0, 4, 2)
    g = np.arange(1, 16) / 16
    u = np.sin(4 * np.pi * g)[:, None] * np.sin(3 * np.pi * g)[None, :]
    a = p.coefficients(u)
    assert abs(a[3, 2] - 1) < 1e-14 and np.abs(np.delete(a.ravel(), 3 * 15 + 2)).max() < 1e-14
    assert np.abs(p.grid(a) - u).max() < 1e-14
    # k = 0 switches the source off: pure diffusion of the initial mode
    _x, un = heat_longtime_2d([2.0], n=16, dt=0.1, k=0.0)
    assert np.abs(un[0] - np.exp(-1e-3 * 25 * np.pi**2 * 2.0) * u).max() < 1e-13


def test_heat_longtime_converges_in_modes_and_fourth_order_in_time():
    t = [1.5]
    _, a = heat_longtime_2d(t, n=32, dt=0.01)
    _, b = heat_longtime_2d(t, n=64, dt=0.01)
    _, c = heat_longtime_2d(t, n=128, dt=0.01)
    coarse, fine = _rel(a[0], b[0][1::2, 1::2]), _rel(b[0], c[0][1::2, 1::2])
    assert fine < 0.2 * coarse and fine < 1e-2  # fronts between u -> 0 and u -> sqrt(pi) need many modes
    steps = [heat_longtime_2d(t, n=32, dt=dt)[1][0] for dt in (0.05, 0.025, 0.0125)]
    ratio = np.linalg.norm(steps[0] - steps[1]) / np.linalg.norm(steps[1] - steps[2])
    assert ratio > 11  # at least fourth order (2^4 = 16); faster before the asymptotic range


def test_heat_longtime_reference_on_grids_and_at_scattered_points():
    ref = HeatLongTimeReference(n=16, dt=0.01, save_dt=0.05, t_max=1.0)
    times = np.array([0.05, 0.537, 1.0])
    x, direct = heat_longtime_2d(times, n=16, dt=0.01)
    tt, xx, yy = np.meshgrid(times, x, x, indexing="ij")
    assert _rel(ref(tt, xx, yy), direct) < 1e-13  # few distinct times: solved onto them
    from pinnlab.references import heat_longtime
    field = heat_longtime._history(16, 0.01, 0.05, 1.0, (1e-3, 1.0, 4, 2))  # the path for scattered times
    assert _rel(field(tt, xx, yy), direct) < 2e-6
    assert np.abs(ref(np.full(4, 0.3), np.array([0.0, 1.0, 0.5, 0.5]), np.array([0.5, 0.5, 0.0, 1.0]))).max() < 1e-12


@pytest.mark.parametrize("name", ["pinnacle_ks", "pinnacle_gray_scott", "pinnacle_heat2d_lt", "pinnacle_wave2d_ms"])
def test_problem_references_have_the_field_shape(name):
    options = {"pinnacle_ks": {"t_end": 0.5, "reference_n": 64, "reference_dt": 1e-4},
               "pinnacle_gray_scott": {"t_end": 1.0, "reference_n": 32, "reference_dt": 0.25},
               "pinnacle_heat2d_lt": {"t_end": 0.5, "reference_n": 16, "reference_dt": 0.05},
               "pinnacle_wave2d_ms": {"t_end": 1.0, "reference_modes": 100}}[name]
    problem = get_equation(name, **options)
    d = len(problem.pde.coordinates)
    pts = np.random.default_rng(6).uniform(0, 0.5, (7, d))
    assert problem.reference(pts).shape == (7, len(problem.pde.fields))
