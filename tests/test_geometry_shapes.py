"""Primitives and CSG: measures against closed forms, inside tests, boundary points, normals, labels."""

import math

import numpy as np
import pytest
import torch
from scipy.special import ellipe

import pinnlab as pl
from pinnlab.geometry import (
    Box,
    Cuboid,
    Cylinder,
    Disk,
    Ellipse,
    Polygon,
    Rectangle,
    Sphere,
    TimeSpace,
    difference,
    intersection,
    union,
)

F64 = torch.float64
L_SHAPE = [(-1, -1), (0, -1), (0, 0), (1, 0), (1, 1), (-1, 1)]


def star(n=5, outer=1.0, inner=0.4):
    angles = np.pi / 2 + np.arange(2 * n) * np.pi / n
    radii = np.where(np.arange(2 * n) % 2 == 0, outer, inner)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], -1)


def lens(r, d):
    """Area of the intersection of two disks of radius r whose centres are d apart."""
    return 2 * r * r * math.acos(d / (2 * r)) - 0.5 * d * math.sqrt(4 * r * r - d * d)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# shape, exact volume, exact boundary measure
CASES = {
    "rectangle": (lambda: Rectangle((0, -1), (2, 0.5)), 3.0, 7.0),
    "disk": (lambda: Disk((0.3, -0.2), 0.7), math.pi * 0.49, 2 * math.pi * 0.7),
    "ellipse": (lambda: Ellipse((0.1, 0.2), (1.5, 0.5), angle=30), math.pi * 0.75,
                4 * 1.5 * ellipe(1 - (0.5 / 1.5) ** 2)),
    "triangle": (lambda: Polygon([(0, 0), (2, 0), (0, 1)]), 1.0, 3 + math.sqrt(5)),
    "l_shape": (lambda: Polygon(L_SHAPE), 3.0, 8.0),
    "star": (lambda: Polygon(star()), 5 * 0.4 * math.sin(math.pi / 5),
             10 * math.sqrt(1 + 0.16 - 0.8 * math.cos(math.pi / 5))),
    "cuboid": (lambda: Cuboid((0, 0, 0), (1, 2, 0.5)), 1.0, 2 * (2 + 0.5 + 1)),
    "sphere": (lambda: Sphere((0.5, 0, -1), 0.8), 4 / 3 * math.pi * 0.512, 4 * math.pi * 0.64),
    "cylinder": (lambda: Cylinder((0, 0, 0), 0.5, 2.0, axis=(1, 1, 0)), math.pi * 0.5, 2 * math.pi * 0.5 * 2.5),
    "square_minus_disk": (lambda: Rectangle((0, 0), (1, 1)) - Disk((0.5, 0.5), 0.2, name="hole"),
                          1 - math.pi * 0.04, 4 + 2 * math.pi * 0.2),
    "two_disks": (lambda: Disk((0, 0), 1) | Disk((1, 0), 1), 2 * math.pi - lens(1, 1), 2 * (2 * math.pi - 2 * math.pi / 3)),
    "lens": (lambda: Disk((0, 0), 1) & Disk((1, 0), 1), lens(1, 1), 2 * 2 * math.pi / 3),
    "l_difference": (lambda: Rectangle((-1, -1), (1, 1)) - Rectangle((0, -1), (1, 0)), 3.0, 8.0),
    "box_minus_sphere": (lambda: Cuboid((0, 0, 0), (1, 1, 1)) - Sphere((0.5, 0.5, 0.5), 0.3),
                         1 - 4 / 3 * math.pi * 0.027, 6 + 4 * math.pi * 0.09),
    "nested": (lambda: difference(union(Rectangle((0, 0), (2, 1)), Disk((2, 0.5), 0.5)),
                                  intersection(Disk((0.5, 0.5), 0.3), Rectangle((0.5, 0), (1, 1)))),
               2 + math.pi * 0.125 - math.pi * 0.045, None),
}


@pytest.fixture(params=sorted(CASES))
def case(request):
    make, volume, measure = CASES[request.param]
    return make(), volume, measure


def test_volume_by_monte_carlo_and_closed_form(case):
    shape, exact, _ = case
    low, high = (torch.tensor(v, dtype=F64) for v in shape.bounding_box())
    n = 200_000
    x = low + torch.rand(n, shape.dim, generator=gen(3), dtype=F64) * (high - low)
    box = float(torch.prod(high - low))
    p = float(shape.contains(x).double().mean())
    sigma = box * math.sqrt(max(p * (1 - p), 1e-6) / n)
    assert abs(p * box - exact) < 4.5 * sigma
    assert shape.volume() == pytest.approx(exact, rel=2e-3)  # closed form, or quasi-Monte Carlo for composites


@pytest.mark.parametrize("method", ["uniform", "sobol", "lhs"])
def test_interior_points_exact_count_inside_and_uniform(case, method):
    shape = case[0]
    x = shape.sample_interior(2000, gen(1), method, dtype=F64)
    assert x.shape == (2000, shape.dim) and shape.contains(x).all()
    x32 = shape.sample_interior(300, gen(2), method)
    assert x32.dtype == torch.float32 and x32.shape == (300, shape.dim) and shape.contains(x32).all()
    # uniformity: the share of points in the lower half of the bounding box matches its share of the volume
    low, high = shape.bounding_box()
    mid = 0.5 * (low[0] + high[0])
    probe = shape.sample_interior(4000, gen(4), dtype=F64)
    share = float((probe[:, 0] < mid).double().mean())
    lo = torch.tensor(low, dtype=F64)
    hi = torch.tensor(high, dtype=F64)
    ref = lo + torch.rand(400_000, shape.dim, generator=gen(5), dtype=F64) * (hi - lo)
    inside = shape.contains(ref)
    expected = float((ref[inside][:, 0] < mid).double().mean())
    assert abs(share - expected) < 4.5 * math.sqrt(expected * (1 - expected) / 4000) + 2e-3


@pytest.mark.parametrize("method", ["uniform", "sobol", "lhs"])
def test_boundary_points_on_boundary_with_unit_outward_normals(case, method):
    shape, _, _ = case
    x, n = shape.sample_boundary(1500, gen(6), method, dtype=F64)
    assert x.shape == n.shape == (1500, shape.dim)
    assert shape.margin(x).abs().max() < 1e-12
    torch.testing.assert_close(n.norm(dim=1), torch.ones(1500, dtype=F64), rtol=0, atol=1e-12)
    step = 1e-6 * shape.diameter() * n
    ahead, behind = shape.contains(x + step, atol=0), shape.contains(x - step, atol=0)
    assert float((behind & ~ahead).double().mean()) > 0.995  # all but points within 1e-6 of a corner
    x32, n32 = shape.sample_boundary(200, gen(7), method)
    assert x32.dtype == n32.dtype == torch.float32 and shape.contains(x32).all()


#: share of the boundary measure with x0 below the middle of the bounding box
HALF_SHARE = {name: 0.5 for name in CASES if name != "nested"} | {"triangle": (2 + math.sqrt(5) / 2) / (3 + math.sqrt(5))}


@pytest.mark.parametrize("name", sorted(HALF_SHARE))
def test_boundary_points_uniform_in_measure(name):
    shape = CASES[name][0]()
    x, _ = shape.sample_boundary(8000, gen(8), dtype=F64)
    low, high = shape.bounding_box()
    half = float((x[:, 0] < 0.5 * (low[0] + high[0])).double().mean())
    p = HALF_SHARE[name]
    assert abs(half - p) < 4.5 * math.sqrt(p * (1 - p) / 8000)


def test_ellipse_points_uniform_in_arc_length():
    a, b = 2.0, 0.5
    shape = Ellipse((0, 0), (a, b))
    x, n = shape.sample_boundary(20000, gen(10), dtype=F64)
    theta = torch.atan2(x[:, 1] / b, x[:, 0] / a)
    near_tips = float((theta.abs() < math.pi / 4).double().mean() + ((math.pi - theta.abs()) < math.pi / 4).double().mean())
    t = np.linspace(-np.pi / 4, np.pi / 4, 20001)
    arc = np.trapezoid(np.hypot(a * np.sin(t), b * np.cos(t)), t)
    expected = 2 * arc / (4 * a * ellipe(1 - (b / a) ** 2))
    assert abs(near_tips - expected) < 4.5 * math.sqrt(expected * (1 - expected) / 20000)
    # normals: the gradient of (x/a)² + (y/b)², normalised
    grad = torch.stack([x[:, 0] / a**2, x[:, 1] / b**2], -1)
    torch.testing.assert_close(n, grad / grad.norm(dim=1, keepdim=True), rtol=0, atol=1e-12)


def test_face_shares_follow_their_measure():
    shape = Rectangle((0, 0), (1, 1)) - Disk((0.5, 0.5), 0.2, name="hole")
    x, n = shape.sample_boundary(20000, gen(11), dtype=F64)
    on_hole = ((x - 0.5).norm(dim=1) - 0.2).abs() < 1e-12
    p = 2 * math.pi * 0.2 / (4 + 2 * math.pi * 0.2)
    assert abs(float(on_hole.double().mean()) - p) < 4.5 * math.sqrt(p * (1 - p) / 20000)
    # the hole's normals point into the hole (out of the domain)
    torch.testing.assert_close(n[on_hole], -(x[on_hole] - 0.5) / 0.2, rtol=0, atol=1e-12)
    xh, _ = shape.sample_boundary(500, gen(12), faces=["hole"], dtype=F64)
    assert ((xh - 0.5).norm(dim=1) - 0.2).abs().max() < 1e-12
    xl, nl = shape.sample_boundary(500, gen(12), faces=["x_min"], dtype=F64)
    assert (xl[:, 0] == 0).all() and (nl == torch.tensor([-1.0, 0.0], dtype=F64)).all()


def test_coincident_edges_are_sampled_once_and_inner_edges_never():
    # two overlapping rectangles share the bottom and top lines on [1, 2]
    shape = Rectangle((0, 0), (2, 1)) | Rectangle((1, 0), (3, 1))
    x, n = shape.sample_boundary(20000, gen(13), dtype=F64)
    bottom = x[:, 1] == 0
    assert abs(float(bottom.double().mean()) - 3 / 8) < 4.5 * math.sqrt(3 / 8 * 5 / 8 / 20000)
    assert not ((x[:, 0] > 1e-9) & (x[:, 0] < 3 - 1e-9) & (x[:, 1] > 1e-9) & (x[:, 1] < 1 - 1e-9)).any()
    # the L-shape as a difference: the removed square's outer edges are not boundary
    l_shape = Rectangle((-1, -1), (1, 1)) - Rectangle((0, -1), (1, 0))
    x, n = l_shape.sample_boundary(8000, gen(14), dtype=F64)
    assert not ((x[:, 0] == 1) & (x[:, 1] < -1e-9)).any() and not ((x[:, 1] == -1) & (x[:, 0] > 1e-9)).any()
    re_entrant = (x[:, 0].abs() < 1e-12) & (x[:, 1] < 0)
    assert (n[re_entrant] == torch.tensor([1.0, 0.0], dtype=F64)).all()


def test_csg_inside_tests_on_hand_checked_points():
    shape = (Rectangle((0, 0), (2, 1)) | Disk((2, 0.5), 0.5)) - (Disk((0.5, 0.5), 0.3) & Rectangle((0.5, 0), (1, 1)))
    points = torch.tensor([
        [0.1, 0.1], [2.4, 0.5], [2.6, 0.5], [0.7, 0.5], [0.4, 0.5], [0.5, 0.5], [0.85, 0.5], [-0.1, 0.5],
        [2.0, 1.0], [2.0, 1.01],
    ], dtype=F64)
    expected = [True, True, False, False, True, True, True, False, True, False]
    assert shape.contains(points).tolist() == expected
    triangle = Polygon([(0, 0), (2, 0), (0, 1)])
    assert triangle.contains(torch.tensor([[0.5, 0.5], [1.0, 0.6], [1.0, 0.4], [2.0, 0.0]], dtype=F64)).tolist() \
        == [True, False, True, True]
    solid = Cuboid((0, 0, 0), (1, 1, 1)) - Sphere((0.5, 0.5, 0.5), 0.3) | Cylinder((0.5, 0.5, 1.2), 0.1, 0.6)
    probe = torch.tensor([[0.5, 0.5, 0.5], [0.1, 0.1, 0.1], [0.5, 0.5, 1.45], [0.7, 0.5, 1.45], [0.5, 0.5, 0.85]],
                         dtype=F64)
    assert solid.contains(probe).tolist() == [False, True, True, False, True]


def test_labels_faces_and_selection_errors():
    shape = Rectangle((0, 0), (1, 1), name="box") - Polygon([(0.2, 0.2), (0.4, 0.2), (0.3, 0.4)], name="tri")
    assert shape.faces == ["x_min", "box", "box_x_min", "x_max", "box_x_max", "y_min", "box_y_min", "y_max",
                           "box_y_max", "edge0", "tri", "tri_edge0", "edge1", "tri_edge1", "edge2", "tri_edge2"]
    x, _ = shape.sample_boundary(300, gen(15), faces=["tri"], dtype=F64)
    assert Polygon([(0.2, 0.2), (0.4, 0.2), (0.3, 0.4)]).margin(x).abs().max() < 1e-12
    with pytest.raises(ValueError, match="unknown face"):
        shape.sample_boundary(3, gen(), faces=["hole"])
    labelled = union(Disk((0, 0), 1), Disk((3, 0), 1), name="disks")
    assert labelled.faces == ["circle", "disks"]


def test_invalid_shapes_are_rejected():
    with pytest.raises(ValueError, match="not simple"):
        Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    with pytest.raises(ValueError, match="at least 3"):
        Polygon([(0, 0), (1, 1)])
    with pytest.raises(ValueError, match="zero area"):
        Polygon([(0, 0), (1, 1), (2, 2)])
    with pytest.raises(ValueError, match="positive"):
        Disk((0, 0), -1)
    with pytest.raises(ValueError, match="same columns"):
        Rectangle((0, 0), (1, 1)) | Disk((0, 0), 1, names=("r", "z"))
    with pytest.raises(ValueError, match="empty"):
        Disk((0, 0), 1) & Disk((5, 0), 1)
    with pytest.raises(TypeError, match="spatial shapes first"):
        TimeSpace("t", 0, 1, Disk()) | Disk()


def test_boxes_and_balls_join_csg():
    shape = Box(["x1", "x2"], [0, 0], [1, 1]) - pl.geometry.Ball("x", 2, radius=0.25, center=[0.5, 0.5])
    assert shape.names == ["x1", "x2"] and shape.volume() == pytest.approx(1 - math.pi / 16, rel=2e-3)
    assert shape.faces == ["x1_min", "x1_max", "x2_min", "x2_max", "circle"]


@pytest.mark.parametrize("method", ["uniform", "sobol", "lhs"])
def test_time_times_a_composite(method):
    space = Rectangle((0, 0), (1, 1)) - Disk((0.5, 0.5), 0.2, name="hole")
    g = TimeSpace("t", 0.0, 2.0, space, time_column=0)
    x = g.sample_interior(500, gen(16), method, dtype=F64)
    assert x.shape == (500, 3) and g.contains(x).all() and (x[:, 0] >= 0).all() and (x[:, 0] <= 2).all()
    xb, nb = g.sample_boundary(400, gen(17), method, faces=["hole"], dtype=F64)
    assert ((xb[:, 1:] - 0.5).norm(dim=1) - 0.2).abs().max() < 1e-12 and (nb[:, 0] == 0).all()
    x0 = g.sample_initial(100, gen(18), method, dtype=F64)
    assert (x0[:, 0] == 0).all() and space.contains(x0[:, 1:]).all()
    assert g.volume() == pytest.approx(2 * (1 - math.pi * 0.04), rel=2e-3)
