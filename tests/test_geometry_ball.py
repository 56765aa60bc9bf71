"""Ball: uniform radius and direction laws, the sphere, volumes, grids, dimension 100000."""

import math
import resource
import time

import numpy as np
import pytest
import torch
from scipy import stats

from pinnlab.geometry import Ball
from pinnlab.geometry.ball import SOBOL_MAX_DIM


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("dim", [1, 2, 5, 50])
@pytest.mark.parametrize("method", ["uniform", "sobol", "lhs"])
def test_radius_law_of_uniform_ball(dim, method):
    # For a uniform ball (|x - c| / R)^dim is U(0, 1): KS test, and its mean is 1/2.
    ball = Ball("x", dim, radius=2.0, center=1.5)
    x = ball.sample_interior(4000, _gen(dim), method, dtype=torch.float64)
    s = ((x - 1.5).norm(dim=1) / 2.0) ** dim
    assert stats.kstest(s.numpy(), "uniform").pvalue > 1e-3
    assert abs(s.mean().item() - 0.5) < 5 * math.sqrt(1 / 12 / 4000)


@pytest.mark.parametrize("method", ["uniform", "sobol", "lhs"])
def test_direction_moments_of_uniform_ball(method):
    # E[x] = 0, E[x x^T] = R^2 / (d + 2) I for the uniform ball of radius R in R^d.
    dim, n = 4, 8000
    x = Ball("x", dim, radius=3.0).sample_interior(n, _gen(), method, dtype=torch.float64)
    second = x.T @ x / n
    assert x.mean(0).abs().max() < 5 * math.sqrt(9 / 6 / n)
    np.testing.assert_allclose(torch.diagonal(second).numpy(), 9 / 6, rtol=0.06)
    off = second - torch.diag(torch.diagonal(second))
    assert off.abs().max() < 0.08


@pytest.mark.parametrize("method", ["uniform", "sobol", "lhs"])
def test_sphere_points_and_normals(method):
    centre = [1.0, -1.0, 2.0]
    ball = Ball("x", 3, radius=0.5, center=centre)
    x, n = ball.sample_boundary(2000, _gen(), method, dtype=torch.float64)
    c = torch.tensor(centre, dtype=torch.float64)
    torch.testing.assert_close((x - c).norm(dim=1), torch.full((2000,), 0.5, dtype=torch.float64))
    torch.testing.assert_close(n, (x - c) / 0.5)
    # Archimedes: the height of a uniform point on the 2-sphere is uniform.
    assert stats.kstest(n[:, 2].numpy(), "uniform", args=(-1, 2)).pvalue > 1e-3
    assert ball.faces == ["sphere"]
    assert ball.sample_boundary(10, _gen(), faces=["sphere"])[0].shape == (10, 3)


def test_one_dimensional_ball_is_an_interval():
    ball = Ball("r", 1, radius=2.0, center=[1.0])
    x, n = ball.sample_boundary(200, _gen(), "lhs", dtype=torch.float64)
    assert set(x[:, 0].tolist()) == {-1.0, 3.0}
    assert torch.equal(n[:, 0], torch.sign(x[:, 0] - 1.0))
    assert ball.volume() == pytest.approx(4.0)


def test_volumes_against_closed_forms():
    assert Ball("x", 2).volume() == pytest.approx(math.pi)
    assert Ball("x", 3, radius=2.0).volume() == pytest.approx(4 / 3 * math.pi * 8)
    assert Ball("x", 4).volume() == pytest.approx(math.pi**2 / 2)
    huge = Ball("x", 100_000)
    assert huge.volume() == 0.0
    # log V = (d/2) log(pi) - log Gamma(d/2 + 1); Stirling check at d = 1e5.
    d = 100_000
    stirling = 0.5 * d * math.log(2 * math.pi * math.e / d) - 0.5 * math.log(math.pi * d)
    assert huge.log_volume() == pytest.approx(stirling, rel=1e-9)


def test_contains_masks_the_grid_and_tolerates_float32_roundoff():
    ball = Ball("x", 2, radius=1.0)
    axes, points = ball.grid(41)
    inside = ball.contains(torch.from_numpy(points))
    assert points.shape == (41 * 41, 2) and 0 < inside.sum() < len(points)
    # Gauss circle problem: lattice points of spacing h in the disk, times h^2, approach pi.
    h = axes[0][1] - axes[0][0]
    assert inside.sum().item() * h**2 == pytest.approx(math.pi, abs=0.02)
    assert ball.contains(torch.tensor([[1.0 + 1e-10, 0.0], [1.0 + 1e-6, 0.0]], dtype=torch.float64)).tolist() == [
        True,
        False,
    ]
    for ball in (Ball("x", 50), Ball("x", 1000, radius=0.5, center=100.0), Ball("x", 20000)):
        x, _ = ball.sample_boundary(200, _gen(), dtype=torch.float32)
        assert ball.contains(x).all()
        assert not ball.contains(ball.center[0] + 1.001 * (x.double() - ball.center[0])).any()


def test_grid_is_a_centre_slice_above_three_dimensions():
    ball = Ball("x", 6, radius=2.0, center=[1, 2, 3, 4, 5, 6])
    axes, points = ball.grid([5, 3])
    assert ball.grid_columns() == [0, 1] and points.shape == (15, 6)
    np.testing.assert_allclose(axes[0], [-1, 0, 1, 2, 3])
    np.testing.assert_allclose(axes[1], [0, 2, 4])
    np.testing.assert_allclose(points[:, 2:], np.tile([3, 4, 5, 6], (15, 1)))
    assert Ball("x", 3).grid(3)[1].shape == (27, 3)
    assert ball.bounding_box() == ([-1, 0, 1, 2, 3, 4], [3, 4, 5, 6, 7, 8])


def test_sobol_falls_back_to_uniform_in_high_dimension():
    dim = SOBOL_MAX_DIM + 1
    ball = Ball("x", dim)
    a = ball.sample_interior(16, _gen(), "sobol")
    b = ball.sample_interior(16, _gen(), "uniform")
    assert torch.equal(a, b)
    low = Ball("x", 3)
    assert not torch.equal(low.sample_interior(16, _gen(), "sobol"), low.sample_interior(16, _gen(), "uniform"))


def test_dimension_100000_is_fast_and_memory_light():
    d, n = 100_000, 64
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    ball = Ball("x", d)
    x = ball.sample_interior(n, _gen())
    p, normals = ball.sample_boundary(n, _gen(1))
    y = ball.sample_interior(n, _gen(2), "lhs")
    elapsed = time.perf_counter() - start
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_rss) / 1024
    assert x.shape == p.shape == normals.shape == y.shape == (n, d)
    radii = x.double().norm(dim=1)
    # r = U^(1/d): 1 - r ~ Exp(1)/d, so every radius lies in [1 - 20/d, 1] here.
    assert radii.max() <= 1 + 1e-6 and radii.min() > 1 - 20 / d
    assert ((1 - radii) * d).mean().item() == pytest.approx(1.0, abs=0.6)
    torch.testing.assert_close(p.double().norm(dim=1), torch.ones(n, dtype=torch.float64), atol=1e-6, rtol=0)
    assert ball.contains(x).all() and ball.contains(p).all() and ball.contains(y).all()
    # Gaussian directions: coordinates of sqrt(d) * x are close to N(0, 1).
    z = (p[:, :2000] * math.sqrt(d)).flatten().double()
    assert abs(z.mean().item()) < 0.05 and z.var().item() == pytest.approx(1.0, abs=0.05)
    assert elapsed < 10.0 and grown_mb < 600


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dim": 0}, "positive integer"),
        ({"dim": 2.0}, "positive integer"),
        ({"radius": 0.0}, "positive"),
        ({"radius": float("nan")}, "finite"),
        ({"center": [0.0]}, "list of 3"),
        ({"center": "0"}, "list of 3"),
        ({"name": ""}, "non-empty"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    args = {"name": "x", "dim": 3}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Ball(**args)
