"""Box and Hypercube: faces, face measures, designs, grids, volumes, high dimension."""

import math
import resource
import time

import numpy as np
import pytest
import torch

from pinnlab.geometry import Box, Hypercube


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _face_counts(normals):
    """Points per face in the order [c0_min, c0_max, c1_min, ...]."""
    return [int((normals[:, i] == s).sum()) for i in range(normals.shape[1]) for s in (-1, 1)]


def test_box_faces_and_normals_point_at_their_face():
    box = Box(["x", "y"], [0.0, -1.0], [2.0, 1.0])
    assert box.faces == ["x_min", "x_max", "y_min", "y_max"]
    for k, face in enumerate(box.faces):
        x, n = box.sample_boundary(50, _gen(k), "sobol", faces=[face], dtype=torch.float64)
        axis, sign = k // 2, (-1.0 if k % 2 == 0 else 1.0)
        expected = torch.zeros(2, dtype=torch.float64)
        expected[axis] = sign
        assert torch.equal(n, expected.expand(50, 2))
        wall = (box.bounding_box()[0] if sign < 0 else box.bounding_box()[1])[axis]
        assert torch.all(x[:, axis] == wall)
        other = 1 - axis
        assert x[:, other].std() > 0.3  # spread along the face, not stuck at a corner


def test_boundary_counts_follow_face_measure_exactly_for_lhs():
    # Faces of [0,1]x[0,2]x[0,3] have measures 6, 6, 3, 3, 2, 2 (sum 22).
    box = Box(["x", "y", "z"], [0, 0, 0], [1, 2, 3])
    _, n = box.sample_boundary(2200, _gen(), "lhs")
    expected = [600, 600, 300, 300, 200, 200]
    assert all(abs(c - e) <= 1 for c, e in zip(_face_counts(n), expected))
    _, n = box.sample_boundary(1100, _gen(), "sobol", faces=["x_max", "z_min"])
    counts = _face_counts(n)
    assert abs(counts[1] - 825) <= 3 and abs(counts[4] - 275) <= 3 and sum(counts) == 1100


def test_boundary_counts_follow_face_measure_for_uniform():
    box = Box(["x", "y"], [0, 0], [3, 1])  # measures 1, 1, 3, 3
    n_points = 16000
    _, n = box.sample_boundary(n_points, _gen(3), "uniform")
    for count, p in zip(_face_counts(n), [1 / 8, 1 / 8, 3 / 8, 3 / 8]):
        sigma = math.sqrt(n_points * p * (1 - p))
        assert abs(count - n_points * p) < 5 * sigma


def test_interval_end_points_share_the_boundary_equally():
    line = Box(["t"], [0.0], [5.0])
    x, n = line.sample_boundary(101, _gen(), "lhs")
    assert set(x[:, 0].tolist()) == {0.0, 5.0}
    assert abs(int((n[:, 0] == 1).sum()) - 50.5) <= 1
    assert torch.equal(torch.sign(x[:, 0] - 2.5), n[:, 0])


def test_lhs_puts_one_point_in_each_stratum_of_every_column():
    box = Box(["x", "y", "z"], [0, 0, 0], [1, 1, 1])
    x = box.sample_interior(50, _gen(), "lhs", dtype=torch.float64)
    for column in x.T:
        assert sorted((column * 50).floor().long().tolist()) == list(range(50))


def test_sobol_integrates_far_better_than_random_sampling():
    # int_[0,1]^2 exp(x + y) = (e - 1)^2; random sampling with n = 1024 errs by ~0.04.
    box = Box(["x", "y"], [0, 0], [1, 1])
    x = box.sample_interior(1024, _gen(), "sobol", dtype=torch.float64)
    estimate = torch.exp(x.sum(dim=1)).mean().item()
    assert abs(estimate - (math.e - 1) ** 2) < 2e-3


def test_uniform_interior_moments():
    box = Box(["x", "y"], [-1, 2], [3, 3])
    x = box.sample_interior(20000, _gen(), dtype=torch.float64)
    # mean (1, 2.5), variance width^2/12 = (4/3, 1/12); 5-sigma tolerances
    assert torch.allclose(x.mean(0), torch.tensor([1.0, 2.5], dtype=torch.float64), atol=5 * 2 / 141)
    assert torch.allclose(x.var(0), torch.tensor([4 / 3, 1 / 12], dtype=torch.float64), rtol=0.05)


def test_box_contains_closed_with_tolerance_and_in_input_dtype():
    box = Box(["x", "y"], [0.1, 0.0], [0.3, 1.0])
    x = torch.tensor([[0.1, 0.0], [0.3, 1.0], [0.2, 0.5], [0.3 + 1e-6, 0.5], [0.2, -1e-6]])
    assert box.contains(x).tolist() == [True, True, True, False, False]
    assert box.contains(x, atol=1e-5).tolist() == [True] * 5
    assert box.contains(torch.tensor([[0, 1]])).tolist() == [False]  # integer input


def test_box_grid_order_and_volume():
    box = Box(["x", "y"], [0, -1], [2, 1])
    axes, points = box.grid([3, 5])
    np.testing.assert_allclose(axes[0], [0, 1, 2])
    np.testing.assert_allclose(axes[1], [-1, -0.5, 0, 0.5, 1])
    assert points.shape == (15, 2)
    np.testing.assert_allclose(points[:5, 0], 0.0)  # first column varies slowest
    np.testing.assert_allclose(points[:5, 1], axes[1])
    assert box.volume() == 4.0 and box.log_volume() == pytest.approx(math.log(4.0))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((["x"], [1.0], [1.0]), "low < high"),
        ((["x"], [0.0], [float("inf")]), "finite"),
        ((["x", "x"], [0, 0], [1, 1]), "repeat"),
        ((["x", "y"], [0], [1, 1]), "list of 2"),
        (([], [], []), "non-empty"),
        (("xy", [0, 0], [1, 1]), "non-empty list"),
        ((["x", ""], [0, 0], [1, 1]), "non-empty string"),
        ((["x"], [True], [2]), "finite number"),
    ],
)
def test_box_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        Box(*args)


def test_hypercube_columns_faces_and_volume():
    cube = Hypercube("x", 3, -1.0, 1.0)
    assert cube.names == ["x1", "x2", "x3"] and isinstance(cube, Box)
    assert cube.faces == ["boundary", "x1_min", "x1_max", "x2_min", "x2_max", "x3_min", "x3_max"]
    assert cube.volume() == pytest.approx(8.0)
    assert Hypercube("x", 4).faces == ["boundary"]
    assert Hypercube("x", 2000, 0, 2).volume() == math.inf
    assert Hypercube("x", 2000, 0, 0.5).volume() == 0.0
    assert Hypercube("x", 2000, 0, 2).log_volume() == pytest.approx(2000 * math.log(2))


def test_hypercube_boundary_picks_faces_uniformly():
    cube = Hypercube("x", 3)
    _, n = cube.sample_boundary(6000, _gen(), "lhs")
    assert all(abs(c - 1000) <= 1 for c in _face_counts(n))
    _, n = cube.sample_boundary(12000, _gen(), "uniform")
    sigma = math.sqrt(12000 * (1 / 6) * (5 / 6))
    assert all(abs(c - 2000) < 5 * sigma for c in _face_counts(n))
    x, n = cube.sample_boundary(100, _gen(), faces=["x2_max", "x1_min"])
    counts = _face_counts(n)
    assert counts[0] + counts[3] == 100 and 20 < counts[0] < 80
    assert torch.all(x[n[:, 0] == -1, 0] == 0) and torch.all(x[n[:, 1] == 1, 1] == 1)
    # "boundary" alongside a single face still means the whole boundary.
    _, n = cube.sample_boundary(600, _gen(), "lhs", faces=["boundary", "x1_min"])
    assert all(abs(c - 100) <= 1 for c in _face_counts(n))


def test_hypercube_grid_is_a_centre_slice_above_three_dimensions():
    axes, points = Hypercube("x", 6, 0, 2).grid([3, 4])
    assert len(axes) == 2 and points.shape == (12, 6)
    np.testing.assert_allclose(points[:, 2:], 1.0)
    assert Hypercube("x", 3).grid(2)[1].shape == (8, 3)


def test_hypercube_sobol_limit():
    with pytest.raises(ValueError, match="Sobol sampling supports at most"):
        Hypercube("x", 30000).sample_interior(4, _gen(), "sobol")


def test_hypercube_in_dimension_100000_is_fast_and_light():
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    cube = Hypercube("x", 100_000)
    x = cube.sample_interior(64, _gen())
    p, n = cube.sample_boundary(64, _gen())
    elapsed = time.perf_counter() - start
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_rss) / 1024
    assert x.shape == p.shape == (64, 100_000)
    assert cube.contains(x).all() and cube.contains(p).all()
    nonzero = n != 0
    assert torch.all(nonzero.sum(dim=1) == 1)
    axis = nonzero.float().argmax(dim=1)
    wall = p.gather(1, axis[:, None])[:, 0]
    assert torch.equal(wall, (n.gather(1, axis[:, None])[:, 0] > 0).float())
    assert elapsed < 5.0 and grown_mb < 500
