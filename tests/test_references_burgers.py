"""Cole–Hopf reference for 1-D viscous Burgers: known values, symmetries, quadrature convergence."""

import numpy as np
import pytest
from scipy.special import ive

from pinnlab.references import burgers_cole_hopf, burgers_reference_grid

NU = 0.01 / np.pi


def bessel_series(t: float, x: np.ndarray, nu: float, modes: int = 200) -> np.ndarray:
    """Independent solution: theta = I0(c) + 2 sum (-1)^k I_k(c) exp(-nu pi^2 k^2 t) cos(k pi x), u = -2 nu theta_x / theta."""
    c = 1.0 / (2.0 * np.pi * nu)
    k = np.arange(1, modes)
    a = 2.0 * (-1.0) ** k * ive(k, c) * np.exp(-nu * np.pi**2 * k**2 * t)
    theta = ive(0, c) + np.cos(np.pi * np.outer(x, k)) @ a
    theta_x = -(np.pi * k * np.sin(np.pi * np.outer(x, k))) @ a
    return -2.0 * nu * theta_x / theta


def test_basdevant_shock_slope():
    # Basdevant et al. (1986): max |u_x| at x = 0, t = 1.6037/pi is 152.00516
    u, ux = burgers_cole_hopf(1.6037 / np.pi, 0.0, NU, derivative=True)
    assert abs(u) < 1e-12
    assert ux == pytest.approx(-152.00516, rel=1e-6)


def test_initial_condition_is_exact():
    x = np.linspace(-1, 1, 33)
    u, ux = burgers_cole_hopf(0.0, x, NU, derivative=True)
    np.testing.assert_array_equal(u, -np.sin(np.pi * x))
    np.testing.assert_array_equal(ux, -np.pi * np.cos(np.pi * x))


def test_odd_symmetry_and_boundary_values():
    _, _, u = burgers_reference_grid(NU)
    np.testing.assert_allclose(u[:, ::-1], -u, atol=1e-13)
    assert np.abs(u[:, [0, -1]]).max() < 1e-13
    assert np.abs(u).max() <= 1.0 + 1e-12


def test_quadrature_convergence_on_benchmark_grid():
    t, x, _ = burgers_reference_grid(NU)
    tt, xx = t[:, None], x[None, :]
    u1, ux1 = burgers_cole_hopf(tt, xx, NU, derivative=True)
    u2, ux2 = burgers_cole_hopf(tt, xx, NU, derivative=True, refine=2.0)
    assert np.abs(u1 - u2).max() < 1e-10
    assert np.abs(ux1 - ux2).max() < 1e-8  # |u_x| reaches ~150 at the shock


@pytest.mark.parametrize("nu", [0.1, 1.0])
@pytest.mark.parametrize("t", [0.01, 0.3, 2.0])
def test_matches_bessel_series(nu, t):
    x = np.linspace(-1, 1, 41)
    np.testing.assert_allclose(burgers_cole_hopf(t, x, nu), bessel_series(t, x, nu), atol=1e-13)


def test_derivative_matches_finite_difference_and_pde_holds():
    t, h = 0.4, 1e-4
    x = np.array([-0.8, -0.5, -0.2, 0.3, 0.6, 0.9])
    u, ux = burgers_cole_hopf(t, x, NU, derivative=True)
    ux_fd = (burgers_cole_hopf(t, x + h, NU) - burgers_cole_hopf(t, x - h, NU)) / (2 * h)
    np.testing.assert_allclose(ux, ux_fd, rtol=1e-6, atol=1e-6)
    uxx = (
        burgers_cole_hopf(t, x + h, NU, derivative=True)[1] - burgers_cole_hopf(t, x - h, NU, derivative=True)[1]
    ) / (2 * h)
    ut = (burgers_cole_hopf(t + h, x, NU) - burgers_cole_hopf(t - h, x, NU)) / (2 * h)
    assert np.abs(ut + u * ux - NU * uxx).max() < 1e-6


def test_broadcasting_and_grid_cache():
    t, x, u = burgers_reference_grid(NU, nx=64, nt=11)
    assert t.shape == (11,) and x.shape == (64,) and u.shape == (11, 64)
    assert burgers_reference_grid(NU, nx=64, nt=11)[2] is u
    assert not u.flags.writeable
    np.testing.assert_array_equal(burgers_cole_hopf(t[:, None], x[None, :], NU), u)
    assert burgers_cole_hopf(0.5, np.zeros((2, 3)), NU).shape == (2, 3)


def test_invalid_arguments():
    with pytest.raises(ValueError):
        burgers_cole_hopf(-0.1, 0.0, NU)
    with pytest.raises(ValueError):
        burgers_cole_hopf(0.1, 0.0, 0.0)
