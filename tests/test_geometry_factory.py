"""geometry_from_dict: both configuration forms, column order, and its SpecErrors."""

import pytest
import torch

from pinnlab.errors import SpecError
from pinnlab.geometry import Ball, Box, Hypercube, TimeSpace, geometry_from_dict


def test_ranges_with_time_keep_coordinate_order():
    geo = geometry_from_dict({"x": [-1, 1], "t": [0, 1]}, ["x", "t"], "t")
    assert isinstance(geo, TimeSpace) and geo.names == ["x", "t"] and geo.time_column == 1
    assert geo.bounding_box() == ([-1.0, 0.0], [1.0, 1.0])
    geo = geometry_from_dict({"y": [0, 2], "t": [0, 5], "x": [-1, 1]}, ["t", "x", "y"], "t")
    assert geo.names == ["t", "x", "y"] and geo.bounding_box() == ([0, -1, 0], [5, 1, 2])
    assert geo.sample_interior(4, torch.Generator().manual_seed(0)).shape == (4, 3)


def test_ranges_without_time_give_a_box():
    geo = geometry_from_dict({"x": [0, 1], "y": (2, 3)}, ["y", "x"], None)
    assert isinstance(geo, Box) and geo.names == ["y", "x"]
    assert geo.bounding_box() == ([2, 0], [3, 1])
    only_time = geometry_from_dict({"t": [0, 3]}, ["t"], "t")
    assert isinstance(only_time, Box) and only_time.faces == ["t_min", "t_max"]


@pytest.mark.parametrize(("order", "column"), [(["t", "x"], 0), (["x", "t"], 4)])
def test_typed_ball_with_time(order, column):
    spec = {"type": "ball", "coordinate": "x", "radius": 2.0, "center": 1.0, "time": [0, 1]}
    geo = geometry_from_dict(spec, order, "t", dims={"x": 4})
    assert isinstance(geo, TimeSpace) and isinstance(geo.space, Ball)
    assert geo.time_column == column and geo.dim == 5
    assert geo.space.radius == 2.0 and geo.space.center == [1.0] * 4
    assert geo.names[column] == "t"


def test_typed_hypercube_and_defaults():
    geo = geometry_from_dict(
        {"type": "hypercube", "coordinate": "x", "low": -1, "high": 1}, ["x"], None, dims={"x": 10}
    )
    assert isinstance(geo, Hypercube) and geo.dim == 10 and geo.bounding_box()[0] == [-1.0] * 10
    ball = geometry_from_dict({"type": "ball", "coordinate": "x"}, ["x"], None, dims={"x": 3})
    assert isinstance(ball, Ball) and ball.radius == 1.0 and ball.center == [0.0] * 3


@pytest.mark.parametrize(
    ("spec", "names", "time", "dims", "match"),
    [
        ([("x", [0, 1])], ["x"], None, None, "mapping"),
        ({"x": [0, 1]}, ["x", "y"], None, None, "no range for"),
        ({"x": [0, 1], "z": [0, 1]}, ["x"], None, None, "unknown keys"),
        ({"x": [0]}, ["x"], None, None, r"\[low, high\]"),
        ({"x": ["0", "1"]}, ["x"], None, None, r"\[low, high\]"),
        ({"x": "0 1"}, ["x"], None, None, r"\[low, high\]"),
        ({"x": [1, 0]}, ["x"], None, None, "low < high"),
        ({"x": [0, 1]}, ["x"], "t", None, "not one of the coordinates"),
        ({"x": [0, 1]}, ["x"], None, {"x": 3}, "vectors"),
        ({"x": [0, 1]}, "x", None, None, "list of names"),
        ({"x": [0, 1]}, ["x", "x"], None, None, "distinct"),
        ({"x": [0, 1]}, ["x"], None, {"x": 0}, "positive integer"),
        ({"type": "torus", "coordinate": "x"}, ["x"], None, {"x": 3}, "unknown domain type"),
        ({"type": "ball", "coordinate": "x", "low": 0}, ["x"], None, {"x": 3}, "unknown key"),
        ({"type": "ball"}, ["x"], None, {"x": 3}, "needs 'coordinate'"),
        ({"type": "ball", "coordinate": "y"}, ["x"], None, {"x": 3}, "needs 'coordinate'"),
        ({"type": "ball", "coordinate": "x"}, ["x"], None, None, "dimension of 'x' is unknown"),
        ({"type": "ball", "coordinate": "x", "time": [0, 1]}, ["x"], None, {"x": 3}, "no time coordinate"),
        ({"type": "ball", "coordinate": "x"}, ["x", "t"], "t", {"x": 3}, "needs a 'time' range"),
        ({"type": "ball", "coordinate": "x"}, ["x", "y"], None, {"x": 3}, "no domain for"),
        ({"type": "ball", "coordinate": "x", "radius": -1}, ["x"], None, {"x": 3}, "radius must be positive"),
        ({"type": "ball", "coordinate": "x", "center": [0, 0]}, ["x"], None, {"x": 3}, "center"),
        ({"type": "hypercube", "coordinate": "x", "low": 2}, ["x"], None, {"x": 3}, "low < high"),
        ({"type": "hypercube", "coordinate": "x", "time": [1, 1]}, ["x", "t"], "t", {"x": 3}, "low < high"),
    ],
)
def test_bad_specs_raise_spec_error(spec, names, time, dims, match):
    with pytest.raises(SpecError, match=match):
        geometry_from_dict(spec, names, time, dims=dims)
