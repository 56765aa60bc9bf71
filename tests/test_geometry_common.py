"""Behaviour every geometry shares: shapes, dtypes, containment, normals, reproducibility."""

import numpy as np
import pytest
import torch

from pinnlab.geometry import Ball, Box, Hypercube, TimeSpace

METHODS = ["uniform", "sobol", "lhs"]

GEOMETRIES = {
    "interval": lambda: Box(["x"], [-1.0], [2.0]),
    "rectangle": lambda: Box(["x", "y"], [0.0, -1.0], [2.0, 0.5]),
    "box3": lambda: Box(["x", "y", "z"], [0.0, 0.0, 0.0], [1.0, 2.0, 3.0]),
    "hypercube5": lambda: Hypercube("x", 5, -1.0, 1.0),
    "disk": lambda: Ball("x", 2),
    "ball3": lambda: Ball("y", 3, radius=2.0, center=[1.0, -2.0, 0.5]),
    "ball7": lambda: Ball("z", 7, radius=0.5),
    "time_box": lambda: TimeSpace("t", 0.0, 2.0, Box(["x", "y"], [0, 0], [1, 1]), time_column=1),
    "time_ball": lambda: TimeSpace("t", 1.0, 3.0, Ball("x", 3), time_column=3),
}


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(params=sorted(GEOMETRIES))
def geometry(request):
    return GEOMETRIES[request.param]()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_interior_shape_dtype_and_containment(geometry, method, dtype):
    x = geometry.sample_interior(257, _gen(), method, dtype=dtype, device=torch.device("cpu"))
    assert x.shape == (257, geometry.dim) and x.dtype == dtype and x.device.type == "cpu"
    assert torch.isfinite(x).all()
    assert geometry.contains(x).all()
    low, high = geometry.bounding_box()
    assert len(low) == len(high) == geometry.dim == len(geometry.names)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_boundary_points_on_boundary_with_outward_unit_normals(geometry, method, dtype):
    x, n = geometry.sample_boundary(300, _gen(1), method, dtype=dtype)
    assert x.shape == n.shape == (300, geometry.dim) and x.dtype == n.dtype == dtype
    assert geometry.contains(x).all()
    assert torch.allclose(n.double().norm(dim=1), torch.ones(300, dtype=torch.float64), atol=1e-6)
    # All domains here are convex: a step inward stays inside, a step outward leaves.
    step = 1e-3 * n.double()
    assert geometry.contains(x.double() - step).all()
    assert not geometry.contains(x.double() + step).any()


def test_bfloat16_and_half_outputs_stay_inside(geometry):
    for dtype in (torch.float16, torch.bfloat16):
        x = geometry.sample_interior(64, _gen(), dtype=dtype)
        assert x.dtype == dtype and geometry.contains(x).all()


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_points_other_seed_other_points(geometry, method):
    a = geometry.sample_interior(64, _gen(5), method)
    b = geometry.sample_interior(64, _gen(5), method)
    c = geometry.sample_interior(64, _gen(6), method)
    assert torch.equal(a, b) and not torch.equal(a, c)
    (pa, na), (pb, nb) = (geometry.sample_boundary(64, _gen(5), method) for _ in range(2))
    assert torch.equal(pa, pb) and torch.equal(na, nb)
    g = _gen(5)
    assert not torch.equal(geometry.sample_interior(64, g, method), geometry.sample_interior(64, g, method))


def test_zero_points(geometry):
    assert geometry.sample_interior(0, _gen()).shape == (0, geometry.dim)
    x, n = geometry.sample_boundary(0, _gen(), "lhs")
    assert x.shape == n.shape == (0, geometry.dim)


def test_grid_columns_match_axes_and_points(geometry):
    axes, points = geometry.grid(4)
    columns = geometry.grid_columns()
    assert len(axes) == len(columns) and all(a.shape == (4,) for a in axes)
    assert points.shape == (4 ** len(axes), geometry.dim)
    mesh = np.meshgrid(*axes, indexing="ij")
    for column, values in zip(columns, mesh):
        np.testing.assert_array_equal(points[:, column], values.ravel())


def test_global_generator_is_accepted(geometry):
    assert geometry.sample_interior(8, None).shape == (8, geometry.dim)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": -1}, "non-negative integer"),
        ({"n": 2.0}, "non-negative integer"),
        ({"n": True}, "non-negative integer"),
        ({"method": "halton"}, "method must be one of"),
        ({"dtype": torch.int64}, "floating-point"),
        ({"dtype": "float32"}, "floating-point"),
        ({"device": "nowhere"}, "device"),
        ({"generator": 3}, "torch.Generator"),
    ],
)
def test_bad_sampler_arguments(geometry, kwargs, match):
    args = {"n": 4, "generator": _gen(), "method": "uniform", "dtype": torch.float32, "device": "cpu"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        geometry.sample_interior(**args)
    with pytest.raises(ValueError, match=match):
        geometry.sample_boundary(**args)


def test_bad_faces_and_contains_shape(geometry):
    with pytest.raises(ValueError, match="unknown face"):
        geometry.sample_boundary(4, _gen(), faces=["nope"])
    with pytest.raises(ValueError, match="non-empty list"):
        geometry.sample_boundary(4, _gen(), faces=[])
    with pytest.raises(ValueError, match="shape"):
        geometry.contains(torch.zeros(3, geometry.dim + 1))
    with pytest.raises(ValueError, match="resolution"):
        geometry.grid(1)
    with pytest.raises(ValueError, match="resolution"):
        geometry.grid([3] * (len(geometry.grid_columns()) + 1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("method", METHODS)
def test_cuda_device_with_cpu_and_cuda_generators(geometry, method):
    for gen in (_gen(), torch.Generator(device="cuda").manual_seed(0)):
        x = geometry.sample_interior(32, gen, method, device="cuda")
        p, n = geometry.sample_boundary(32, gen, method, device="cuda", dtype=torch.float64)
        assert x.device.type == p.device.type == n.device.type == "cuda"
        assert geometry.contains(x).all() and geometry.contains(p).all()
