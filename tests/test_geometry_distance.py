"""Approximate distance functions: zero on their boundary, positive inside, unit slope, Taylor-mode derivatives."""

import math

import pytest
import torch

from pinnlab.autodiff import Derivative, make_backend
from pinnlab.compile import OutputTransform
from pinnlab.compile.transform import JET_ARITHMETIC
from pinnlab.geometry import (
    Ball,
    Box,
    Cuboid,
    Cylinder,
    Disk,
    Ellipse,
    Polygon,
    Rectangle,
    Sphere,
    TimeSpace,
)
from pinnlab.nn import MLP, InputScaling, PINNModel
from pinnlab.nn.model import BoundModel, parameters_of
from pinnlab.spec.expr import Namespace, parse

F64 = torch.float64
L_SHAPE = [(-1, -1), (0, -1), (0, 0), (1, 0), (1, 1), (-1, 1)]


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


CASES = {
    "rectangle": (lambda: Rectangle((0, 0), (2, 1)), [None, "x_min", ["y_min", "y_max"]]),
    "disk": (lambda: Disk((0.2, 0.1), 0.5), [None, "circle"]),
    "ellipse": (lambda: Ellipse((0, 0), (1.0, 0.4), angle=20), [None]),
    "l_shape": (lambda: Polygon(L_SHAPE), [None, "edge2", ["edge1", "edge2"]]),
    "star": (lambda: Polygon([(math.cos(a) * r, math.sin(a) * r) for k in range(10)
                              for a, r in [(math.pi / 2 + k * math.pi / 5, 1.0 if k % 2 == 0 else 0.45)]]),
             [None, "edge3"]),
    "hole": (lambda: Rectangle((0, 0), (1, 1)) - Disk((0.5, 0.5), 0.2, name="hole"), [None, "hole", "x_max"]),
    "union": (lambda: Disk((0, 0), 1) | Disk((1.2, 0), 0.6, name="bump"), [None, "bump"]),
    "lens": (lambda: Disk((0, 0), 1) & Disk((1, 0), 1, name="right"), [None, "right"]),
    "cuboid_hole": (lambda: Cuboid((0, 0, 0), (1, 1, 1)) - Sphere((0.5, 0.5, 0.5), 0.25, name="hole"),
                    [None, "hole", "z_max"]),
    "cylinder": (lambda: Cylinder((0, 0, 0), 0.5, 1.5, axis=(0, 1, 1)), [None, "top", "side"]),
}
PAIRS = [(name, i) for name, (_, labels) in CASES.items() for i in range(len(labels))]


@pytest.mark.parametrize("name, which", PAIRS)
def test_zero_on_its_boundary_positive_inside_unit_slope(name, which):
    make, labels = CASES[name]
    shape, label = make(), labels[which]
    dist = shape.distance_function(label)
    faces = None if label is None else ([label] if isinstance(label, str) else label)
    xb, nb = shape.sample_boundary(600, gen(1), faces=faces, dtype=F64)
    assert dist.evaluate(xb).abs().max() < 1e-12
    x = shape.sample_interior(3000, gen(2), dtype=F64)
    phi = dist.evaluate(x)
    assert (phi > 0).all() and torch.isfinite(phi).all()
    # the rest of the boundary, away from the selected part, is positive too
    if faces is not None:
        xo, _ = shape.sample_boundary(2000, gen(3), dtype=F64)
        gap = _gap(shape, faces, xo)
        assert (dist.evaluate(xo)[gap > 1e-3] > 0).all()  # (no such points when the label is all of it)
    # first-order normalisation: |grad φ| = 1 a small step inside the selected boundary, away from corners
    keep = _away_from_corners(shape, xb)
    probe = (xb - 1e-6 * shape.diameter() * nb)[keep].requires_grad_(True)
    (grad,) = torch.autograd.grad(dist.evaluate(probe).sum(), probe)
    assert keep.double().mean() > 0.5
    torch.testing.assert_close(grad.norm(dim=1), torch.ones(len(grad), dtype=F64), rtol=0, atol=1e-3)


def _gap(shape, faces, x):
    """Distance of points to the selected pieces."""
    refs = shape.piece_refs()
    wanted = set(faces)
    d = torch.full((len(x),), math.inf, dtype=F64)
    for ref in refs:
        dist = ref.pieces.distance(x)
        for k, labels in enumerate(ref.labels):
            if wanted.intersection(labels):
                d = torch.minimum(d, dist[:, k])
    return d


def _away_from_corners(shape, x, margin=0.05):
    """Points whose nearest piece is the only piece within ``margin`` (no corner or junction nearby)."""
    d = torch.cat([ref.pieces.distance(x) for ref in shape.piece_refs()], 1)
    return (d < margin * shape.diameter()).sum(1) == 1


def test_r_functions_of_balls_and_boxes():
    ball = Ball("x", 5, radius=2.0, center=0.5)
    x = ball.sample_interior(100, gen(4), dtype=F64)
    torch.testing.assert_close(ball.distance_function().evaluate(x), (4 - ((x - 0.5) ** 2).sum(1)) / 4)
    box = Box(["x", "y"], [0, 0], [2, 1])
    y = box.sample_interior(100, gen(5), dtype=F64)
    torch.testing.assert_close(box.distance_function("x_min").evaluate(y),
                               Rectangle((0, 0), (2, 1)).distance_function("x_min").evaluate(y))
    with pytest.raises(ValueError, match="unknown face"):
        box.distance_function("hole")


def test_time_column_is_skipped():
    space = Rectangle((0, 0), (1, 1)) - Disk((0.5, 0.5), 0.2, name="hole")
    g = TimeSpace("t", 0.0, 1.0, space, time_column=1)
    x = g.sample_interior(50, gen(6), dtype=F64)
    torch.testing.assert_close(g.distance_function("hole").evaluate(x),
                               space.distance_function("hole").evaluate(x[:, [0, 2]]))
    ball = TimeSpace("t", 0.0, 1.0, Ball("x", 3), time_column=0)
    xb = ball.sample_interior(20, gen(7), dtype=F64)
    torch.testing.assert_close(ball.distance_function().evaluate(xb), (1 - (xb[:, 1:] ** 2).sum(1)) / 2)


REQUESTS = [Derivative(0, "partial", ()), Derivative(0, "partial", (1,)), Derivative(0, "partial", (1, 2)),
            Derivative(0, "laplacian", None), Derivative(0, "bilaplacian", None)]


@pytest.mark.parametrize("shape, label", [
    (Rectangle((0, 0), (1, 1)) - Disk((0.5, 0.5), 0.2, name="hole"), "hole"),
    (Polygon(L_SHAPE), None),
    (Disk((0, 0), 1) | Disk((1.2, 0), 0.6, name="bump"), "bump"),
    (Ellipse((0, 0), (1.0, 0.5), angle=10) - Polygon([(0, 0), (0.3, 0), (0, 0.2)], name="cut"), "cut"),
    (Cuboid((0, 0, 0), (1, 1, 1)) - Sphere((0.5, 0.5, 0.5), 0.25, name="hole"), "hole"),
    (Cylinder((0, 0, 0), 0.5, 1.0), None),
])
def test_taylor_mode_through_distance_matches_nested_autograd(shape, label):
    """u = g + dist·N on time × shape: Taylor jets and nested reverse mode agree to roundoff."""
    space = [*shape.names]
    g = TimeSpace("t", 0.0, 1.0, shape, time_column=0)
    ns = Namespace(fields=("u",), scalar_coords=("t", *space), boundaries=tuple(shape.faces))
    node = parse(f"sin({space[0]})*{space[1]} + t + dist({label or ''})*u", ns)
    transform = OutputTransform({0: node}, {c: i for i, c in enumerate(["t", *space])}, ["u"], {},
                                {() if label is None else (label,): g.distance_function(label)})
    low, high = g.bounding_box()
    body = MLP(g.dim, 1, 12, 2, "tanh", generator=gen(8))
    model = PINNModel(InputScaling(low, high), body, transform=transform).double()
    f = BoundModel(model, parameters_of(model))
    x = g.sample_interior(40, gen(9), dtype=F64)
    cols = tuple(range(1, g.dim))
    requests = [r if r.cols is not None else Derivative(0, r.kind, cols) for r in REQUESTS]
    ref = make_backend("autograd").plan(requests, g.dim)(f, x)
    got = make_backend("taylor").plan(requests, g.dim)(f, x)
    for r in requests:
        scale = float(ref[r].detach().abs().max())
        torch.testing.assert_close(got[r], ref[r], rtol=0, atol=1e-11 * max(scale, 1.0))
    xb, _ = g.sample_boundary(60, gen(10), faces=None if label is None else [label], dtype=F64)
    exact = torch.sin(xb[:, 1]) * xb[:, 2] + xb[:, 0]
    assert (f(xb)[:, 0] - exact).abs().max() < 1e-12


def test_jet_arithmetic_joins_tensors_and_jets():
    from pinnlab.autodiff.jet import Jet, Layout

    layout = Layout((2,))
    x = torch.linspace(0.1, 1.0, 5, dtype=F64)
    jet = Jet(x, [torch.stack([torch.ones_like(x), torch.zeros_like(x)])], [], layout)
    both = JET_ARITHMETIC.cat([JET_ARITHMETIC.unsqueeze(jet), JET_ARITHMETIC.unsqueeze(2 * x)])
    assert both.primal.shape == (5, 2)
    torch.testing.assert_close(JET_ARITHMETIC.sum_last(both).primal, 3 * x)
    torch.testing.assert_close(JET_ARITHMETIC.value(JET_ARITHMETIC.sqrt(jet)), x.sqrt())
