"""1-D Allen–Cahn ETDRK4 reference: initial data, convergence in N and dt, interpolation error."""

import itertools

import numpy as np
import pytest
from scipy.integrate import quad

from pinnlab.references import AllenCahn1DReference, allen_cahn_1d
from pinnlab.references.allen_cahn import _initial_spectrum, initial_condition

TIMES = np.array([0.05, 0.25, 0.5, 1.0])


def rel_l2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=-1) / np.linalg.norm(b, axis=-1)


def on_grid(u: np.ndarray, m: int) -> np.ndarray:
    """Restrict solutions on a finer uniform periodic grid to the m-point grid (m divides n)."""
    return u[..., :: u.shape[-1] // m]


@pytest.mark.parametrize("k", [0, 1, 2, 7, 100])
def test_initial_spectrum_is_the_exact_fourier_projection(k):
    n = 256
    exact = quad(lambda x: initial_condition(x) * np.cos(np.pi * k * x), -1, 1, limit=200)[0] / 2
    assert _initial_spectrum(n)[k].real / n * (-1.0) ** k == pytest.approx(exact, abs=1e-14)
    assert _initial_spectrum(n)[k].imag == 0.0


def test_time_zero_returns_initial_condition_exactly():
    x, u = allen_cahn_1d([0.0, 0.5])
    np.testing.assert_array_equal(u[0], initial_condition(x))
    ref = AllenCahn1DReference()
    xs = np.linspace(-1, 1, 17)
    np.testing.assert_array_equal(ref(0.0, xs), initial_condition(xs))


def test_spatial_convergence():
    _, u1024 = allen_cahn_1d(TIMES, n=1024)
    _, u2048 = allen_cahn_1d(TIMES, n=2048)
    assert rel_l2(u1024, on_grid(u2048, 1024)).max() < 1e-9  # measured 6e-11


def test_fourth_order_in_time():
    _, coarse = allen_cahn_1d(TIMES, dt=4e-3)
    _, mid = allen_cahn_1d(TIMES, dt=2e-3)
    _, fine = allen_cahn_1d(TIMES, dt=1e-3)
    d1, d2 = rel_l2(coarse, mid).max(), rel_l2(mid, fine).max()
    assert d2 < 1e-8  # measured 2e-9
    assert d1 / d2 > 12.0  # ratio 16 for a fourth-order method


def test_solution_is_even_bounded_and_steps_onto_any_times():
    _, u = allen_cahn_1d([1.0, 0.3, 0.3])
    np.testing.assert_array_equal(u[1], u[2])
    _, direct = allen_cahn_1d([0.3])
    np.testing.assert_allclose(u[1], direct[0], atol=1e-12)
    np.testing.assert_allclose(u[:, 1:], u[:, :0:-1], atol=1e-12)  # u(t, -x) = u(t, x)
    assert np.abs(u).max() < 1.0 + 1e-6


def test_reference_interpolation_error_against_direct_solve():
    ref = AllenCahn1DReference()
    t = np.array([0.0007, 0.0123, 0.1111, 0.5432, 0.9876])  # between saved times
    x, direct = allen_cahn_1d(t)
    assert rel_l2(ref(t[:, None], x[None, :]), direct).max() < 1e-8  # measured 3e-10


def test_reference_against_finer_solve_at_off_grid_points():
    ref = AllenCahn1DReference()
    t = np.array([0.05, 0.2, 0.75, 1.0])
    x, fine = allen_cahn_1d(t, n=4096, dt=5e-4)  # odd points lie between the N = 2048 nodes
    assert rel_l2(ref(t[:, None], x[None, :]), fine).max() < 1e-6  # measured 1e-10


def test_reference_scattered_points_match_grid_evaluation():
    ref = AllenCahn1DReference()
    rng = np.random.default_rng(0)
    t, x = rng.uniform(0, 1, 300), rng.uniform(-1, 1, 300)
    tensor = np.array([ref(ti, np.array([xi, -xi])) for ti, xi in zip(t[:20], x[:20])])
    np.testing.assert_allclose(ref(t[:20], x[:20]), tensor[:, 0], atol=1e-13)
    np.testing.assert_allclose(ref(t, x + 2.0), ref(t, x), atol=1e-12)  # periodic in x
    assert ref(t.reshape(20, 15), x.reshape(20, 15)).shape == (20, 15)
    with pytest.raises(ValueError):
        ref(1.5, 0.0)


@pytest.mark.slow
def test_convergence_study():
    """N = 512 .. 4096 and dt halving, as reported in the module docstring."""
    sols = {n: allen_cahn_1d(TIMES, n=n)[1] for n in (512, 1024, 2048, 4096)}
    diffs = [rel_l2(on_grid(sols[2 * n], n), sols[n]).max() for n in (512, 1024, 2048)]
    assert diffs[0] > diffs[1] > diffs[2]
    assert diffs[1] < 1e-9 and diffs[2] < 1e-11
    steps = [allen_cahn_1d(TIMES, dt=dt)[1] for dt in (5e-3, 2.5e-3, 1.25e-3, 6.25e-4)]
    dts = [rel_l2(a, b).max() for a, b in itertools.pairwise(steps)]
    assert all(d1 / d2 > 12.0 for d1, d2 in itertools.pairwise(dts))
    assert dts[-1] < 1e-10
    ref = AllenCahn1DReference()
    t = np.linspace(0, 1, 201)
    x, fine = allen_cahn_1d(t, n=4096, dt=5e-4)
    v = ref(t[:, None], x[None, :])
    assert np.linalg.norm(v - fine) / np.linalg.norm(fine) < 1e-8  # measured 9e-10
