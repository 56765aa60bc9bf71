"""The Cramér–Rao bound of the Burgers identification (benchmarks/inverse_bounds.py): the scaling law it rests
on, and the bound's dependence on the noise and the number of points."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from pinnlab.references import burgers_cole_hopf

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bounds():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import inverse_bounds
    finally:
        sys.path.pop(0)
    return inverse_bounds


def test_the_scaled_cole_hopf_solution_solves_burgers_with_both_coefficients():
    """u(t, x) = U(λ1 t, x; λ2/λ1) satisfies u_t + λ1 u u_x = λ2 u_xx and u(0, x) = −sin(πx): the residual by
    central differences (h = 1e-4) is below 1e-5 of the size of its terms."""
    l1, l2 = 1.3, 0.05
    t = np.array([0.2, 0.5, 0.8, 0.35])
    x = np.array([-0.6, 0.3, 0.1, 0.75])
    h = 1e-4

    def u(tt, xx):
        return burgers_cole_hopf(l1 * tt, xx, l2 / l1)

    u0 = u(t, x)
    ut = (u(t + h, x) - u(t - h, x)) / (2 * h)
    ux = (u(t, x + h) - u(t, x - h)) / (2 * h)
    uxx = (u(t, x + h) - 2 * u0 + u(t, x - h)) / h**2
    scale = np.abs(ut) + np.abs(l1 * u0 * ux) + np.abs(l2 * uxx)
    assert np.all(np.abs(ut + l1 * u0 * ux - l2 * uxx) < 1e-5 * scale)
    assert np.allclose(u(np.zeros(3), np.array([-0.5, 0.2, 0.9])), -np.sin(np.pi * np.array([-0.5, 0.2, 0.9])),
                       atol=1e-12)


def test_the_bound_scales_with_the_noise_and_the_number_of_points(bounds):
    rng = np.random.default_rng(0)
    points = np.stack([rng.uniform(0, 1, 400), rng.uniform(-1, 1, 400)], axis=1)
    one = bounds.burgers_bound(points, 0.01)
    two = bounds.burgers_bound(points, 0.02)
    assert two["lambda1"] == pytest.approx(2 * one["lambda1"], rel=1e-9)
    assert two["lambda2"] == pytest.approx(2 * one["lambda2"], rel=1e-9)
    # every point observed twice: the same σ, twice the information, sd / sqrt(2)
    doubled = bounds.burgers_bound(np.concatenate([points, points]), 0.01)
    assert doubled["lambda2"] == pytest.approx(one["lambda2"] / np.sqrt(2), rel=1e-9)
    # the sensitivities are converged in the difference step
    assert bounds.burgers_bound(points, 0.01, step=1e-4)["lambda2"] == pytest.approx(one["lambda2"], rel=1e-4)
    assert 0 < one["shock_share"] <= 1
