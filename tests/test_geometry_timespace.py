"""TimeSpace: column order, time × boundary, initial slice, joint designs, grids."""

import math

import numpy as np
import pytest
import torch

from pinnlab.geometry import Ball, Box, Hypercube, TimeSpace


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _space():
    return Box(["x", "y"], [0.0, 10.0], [1.0, 12.0])


@pytest.mark.parametrize("column", [0, 1, 2])
def test_time_column_is_inserted_where_asked(column):
    ts = TimeSpace("t", 5.0, 6.0, _space(), time_column=column)
    names = ["x", "y"]
    names.insert(column, "t")
    assert ts.names == names and ts.dim == 3
    x = ts.sample_interior(500, _gen(), "sobol", dtype=torch.float64)
    t = x[:, column]
    space = torch.cat([x[:, :column], x[:, column + 1 :]], 1)
    assert t.min() >= 5.0 and t.max() <= 6.0 and t.std() > 0.2
    assert space[:, 0].min() >= 0 and space[:, 0].max() <= 1
    assert space[:, 1].min() >= 10 and space[:, 1].max() <= 12
    low, high = ts.bounding_box()
    assert low[column] == 5.0 and high[column] == 6.0 and sorted(low) == [0.0, 5.0, 10.0]


def test_boundary_is_spatial_boundary_times_time():
    ts = TimeSpace("t", 0.0, 2.0, _space(), time_column=1)
    assert ts.faces == ["x_min", "x_max", "y_min", "y_max"]
    x, n = ts.sample_boundary(400, _gen(), "lhs", dtype=torch.float64)
    assert torch.all(n[:, 1] == 0)
    assert torch.all(n.norm(dim=1) == 1)
    assert _space().contains(x[:, [0, 2]]).all()
    on_face = (x[:, 0] == 0) | (x[:, 0] == 1) | (x[:, 2] == 10) | (x[:, 2] == 12)
    assert on_face.all()
    # LHS stratifies the time column too.
    assert sorted((x[:, 1] / 2 * 400).floor().long().tolist()) == list(range(400))
    x, n = ts.sample_boundary(50, _gen(), faces=["y_max"])
    assert torch.all(x[:, 2] == 12) and torch.all(n[:, 2] == 1)


def test_initial_points_sit_at_t0():
    ts = TimeSpace("t", 0.5, 2.0, Ball("x", 3), time_column=0)
    x = ts.sample_initial(300, _gen(), "sobol", dtype=torch.float64)
    assert x.shape == (300, 4) and torch.all(x[:, 0] == 0.5)
    assert Ball("x", 3).contains(x[:, 1:]).all() and ts.contains(x).all()
    assert torch.equal(x, ts.sample_initial(300, _gen(), "sobol", dtype=torch.float64))


def test_joint_sobol_design_integrates_over_time_and_space():
    # int_0^1 int_0^1 exp(t + x) dx dt = (e - 1)^2; a joint Sobol design is far better
    # than the ~0.04 error of random points at n = 1024.
    ts = TimeSpace("t", 0.0, 1.0, Box(["x"], [0.0], [1.0]))
    x = ts.sample_interior(1024, _gen(), "sobol", dtype=torch.float64)
    assert abs(torch.exp(x.sum(1)).mean().item() - (math.e - 1) ** 2) < 2e-3


def test_uniform_time_is_independent_of_space():
    ts = TimeSpace("t", 0.0, 1.0, Ball("x", 2), time_column=2)
    x = ts.sample_interior(20000, _gen(), dtype=torch.float64)
    r2 = (x[:, :2] ** 2).sum(1)
    corr = torch.corrcoef(torch.stack([x[:, 2], r2]))[0, 1].item()
    assert abs(corr) < 5 / math.sqrt(20000)
    assert x[:, 2].mean().item() == pytest.approx(0.5, abs=5 * math.sqrt(1 / 12 / 20000))


def test_high_dimensional_space_falls_back_to_separate_designs():
    ts = TimeSpace("t", 0.0, 1.0, Ball("x", 2000))
    x = ts.sample_interior(32, _gen(), "sobol")
    p, n = ts.sample_boundary(32, _gen(), "sobol")
    assert x.shape == p.shape == (32, 2001) and torch.all(n[:, 0] == 0)
    assert ts.contains(x).all() and ts.contains(p).all()


def test_contains_checks_time_and_space():
    ts = TimeSpace("t", 0.0, 1.0, Box(["x"], [0.0], [1.0]), time_column=1)
    pts = torch.tensor([[0.5, 0.5], [0.5, 1.5], [1.5, 0.5], [1.0, 0.0]])
    assert ts.contains(pts).tolist() == [True, False, False, True]


def test_grid_inserts_the_time_axis_in_column_order():
    ts = TimeSpace("t", 0.0, 1.0, _space(), time_column=1)
    axes, points = ts.grid([2, 3, 4])
    assert ts.grid_columns() == [0, 1, 2] and points.shape == (24, 3)
    np.testing.assert_allclose(axes[1], [0, 0.5, 1])
    np.testing.assert_allclose(points[:12, 0], 0.0)  # x varies slowest
    np.testing.assert_allclose(points[:4, 1], 0.0) and np.testing.assert_allclose(points[:4, 2], axes[2])
    # A sliced high-dimensional space: time plus the two sliced columns.
    ts = TimeSpace("t", 0.0, 1.0, Hypercube("x", 5), time_column=3)
    axes, points = ts.grid(3)
    assert ts.grid_columns() == [0, 1, 3] and points.shape == (27, 6)
    np.testing.assert_allclose(points[:, [2, 4, 5]], 0.5)
    np.testing.assert_allclose(np.unique(points[:, 3]), [0, 0.5, 1])


def test_volume():
    ts = TimeSpace("t", 1.0, 3.0, Ball("x", 2))
    assert ts.volume() == pytest.approx(2 * math.pi)
    assert ts.log_volume() == pytest.approx(math.log(2 * math.pi))


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="low < high"):
        TimeSpace("t", 1.0, 1.0, _space())
    with pytest.raises(ValueError, match="already a column"):
        TimeSpace("x", 0.0, 1.0, _space())
    with pytest.raises(ValueError, match="time_column"):
        TimeSpace("t", 0.0, 1.0, _space(), time_column=3)
    with pytest.raises(TypeError, match="Geometry"):
        TimeSpace("t", 0.0, 1.0, [0, 1])
    with pytest.raises(TypeError, match="TimeSpace"):
        TimeSpace("s", 0.0, 1.0, TimeSpace("t", 0.0, 1.0, _space()))
    with pytest.raises(ValueError, match="method"):
        TimeSpace("t", 0.0, 1.0, _space()).sample_initial(3, _gen(), "grid")
