"""Shape domains from YAML: the domain tree, boundary names in conditions, dist() in model.output, samplers."""

import copy
import math

import pytest
import torch

import pinnlab as pl
from pinnlab.compile import PointSet
from pinnlab.errors import ConfigError, SpecError
from pinnlab.geometry import Difference, TimeSpace, geometry_from_dict
from pinnlab.sampling import PointDrawer, make_sampler
from pinnlab.spec.expr import Distance, Namespace, parse

HOLE = {"type": "difference", "of": [{"type": "rectangle", "low": [0, 0], "high": [1, 1]},
                                     {"type": "disk", "center": [0.5, 0.5], "radius": 0.2, "name": "hole"}]}
CONFIG = {
    "problem": {
        "pde": {"coordinates": ["x", "y"], "fields": ["u"], "equations": {"laplace": "lap(u) = 0"}},
        "domain": HOLE,
        "conditions": {"outer": {"type": "dirichlet", "field": "u", "value": "x", "on": ["x", "y"]}},
        "exact": {"u": "x"},
    },
    "model": {"width": 8, "depth": 1, "output": {"u": "x + dist(hole)*u"}},
    "derivatives": {"method": "taylor"},
    "sampling": {"interior": 64, "boundary": 16},
    "solver": {"name": "adam", "lr": 1e-2},
    "train": {"steps": 3, "dtype": "float64", "progress": False, "eval_every": 3, "checkpoint_every": 1000},
    "output": {"vtk": False, "plots": False, "resolution": [6, 6]},
}

pytestmark = pytest.mark.usefixtures("one_thread")


def test_domain_tree_builds_nested_shapes_and_time():
    tree = {"type": "union", "name": "body", "of": [
        {"type": "polygon", "vertices": [[0, 0], [2, 0], [2, 1], [0, 1]]},
        {"type": "intersection", "of": [{"type": "ellipse", "center": [2, 0.5], "semi_axes": [0.6, 0.4], "angle": 15},
                                        {"type": "box", "low": [1.5, 0], "high": [3, 1]}]}],
        "time": [0, 2]}
    g = geometry_from_dict(tree, ["t", "x", "y"], "t")
    assert isinstance(g, TimeSpace) and g.time_column == 0 and g.names == ["t", "x", "y"]
    assert "body" in g.faces and "ellipse" in g.faces and "edge0" in g.faces
    x = g.sample_interior(200, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert g.contains(x).all()
    solid = geometry_from_dict({"type": "difference", "of": [
        {"type": "box", "low": [0, 0, 0], "high": [1, 1, 1]},
        {"type": "cylinder", "center": [0.5, 0.5, 0.5], "radius": 0.2, "height": 2.0, "name": "bore"},
        {"type": "sphere", "center": [0, 0, 0], "radius": 0.3}]}, ["x"], dims={"x": 3})
    assert solid.names == ["x1", "x2", "x3"] and "bore" in solid.faces and "x1_min" in solid.faces
    assert solid.volume() == pytest.approx(1 - math.pi * 0.04 - math.pi * 0.027 / 6, rel=3e-3)
    assert isinstance(geometry_from_dict(HOLE, ["x", "y"]), Difference)


@pytest.mark.parametrize("spec, coords, message", [
    ({"type": "disk", "center": [0, 0]}, ["x", "y"], "needs 'radius'"),
    ({"type": "disk", "center": [0, 0], "radius": 1, "rdius": 2}, ["x", "y"], "unknown key 'rdius'"),
    ({"type": "sphere", "center": [0, 0, 0], "radius": 1}, ["x", "y"], "3-dimensional"),
    ({"type": "union", "of": [{"type": "disk", "center": [0, 0], "radius": 1}]}, ["x", "y"], "at least two"),
    ({"type": "difference", "of": [{"type": "disk", "center": [0, 0], "radius": 1},
                                   {"type": "dsk", "center": [0, 0], "radius": 1}]}, ["x", "y"],
     r"domain.of\[1\].type: unknown shape type 'dsk' \(did you mean 'disk'"),
    ({"type": "polygon", "vertices": [[0, 0], [1, 1], [1, 0], [0, 1]]}, ["x", "y"], "not simple"),
    ({"type": "rectangle", "low": [0, 0], "high": [1, 1], "name": "a b"}, ["x", "y"], "identifier"),
    ({"type": "rectangle", "low": [0, 0], "high": [1, 1], "time": [0, 1]}, ["x", "y"], "no time coordinate"),
])
def test_domain_tree_errors(spec, coords, message):
    with pytest.raises(SpecError, match=message):
        geometry_from_dict(spec, coords)


def test_dist_in_expressions():
    ns = Namespace(fields=("u",), scalar_coords=("x", "y"), boundaries=("x_min", "x_max", "hole"))
    assert parse("dist()*u", ns).left == Distance(())
    assert parse("dist(hole, x)", ns) == Distance(("hole", "x_min", "x_max"))
    with pytest.raises(SpecError, match="unknown boundary 'hol'.*did you mean 'hole'"):
        parse("dist(hol)*u", ns)
    with pytest.raises(SpecError, match="only allowed in output transforms"):
        parse("dist()", Namespace(fields=("u",), scalar_coords=("x",)))


def test_run_with_exact_boundary_values_on_a_hole(tmp_path):
    solution = pl.solve(copy.deepcopy(CONFIG), out=tmp_path / "run")
    g = solution.geometry
    xb, _ = g.sample_boundary(50, torch.Generator().manual_seed(1), faces=["hole"], dtype=torch.float64)
    u = solution.predict(xb.numpy())[:, 0]
    assert abs(u - xb[:, 0].numpy()).max() < 1e-12


@pytest.mark.parametrize("changes, message", [
    ({"model": {"output": {"u": "x + dist(hol)*u"}}}, "model.output.u.*unknown boundary 'hol'"),
    ({"problem": {"conditions": {"outer": {"type": "dirichlet", "field": "u", "value": 0, "on": ["hoel"]}}}},
     "conditions.outer.on.*'hoel'.*did you mean 'hole'"),
])
def test_config_errors_name_key_and_boundary(changes, message):
    cfg = copy.deepcopy(CONFIG)
    for section, value in changes.items():
        cfg[section] = {**cfg[section], **value}
    with pytest.raises(ConfigError, match=message):
        pl.solve(cfg)


@pytest.mark.parametrize("method", ["r3", "causal_r3"])
def test_adaptive_samplers_on_time_times_a_shape(method):
    """R3 and causal R3 draw through the geometry: the population stays in the domain and moves to the residual."""
    g = geometry_from_dict({**HOLE, "time": [0, 1]}, ["t", "x", "y"], "t")
    drawer = PointDrawer(g, torch.Generator().manual_seed(0), dtype=torch.float64, shard=(0, 1))
    sets = {"interior": PointSet("interior", "interior", 400), "hole": PointSet("hole", "boundary", 40, faces=["hole"])}
    sampler = make_sampler(method, sets, drawer, **({"beta": 2.0} if method == "causal_r3" else {}))
    batches = sampler.sample(0)
    hole = g.distance_function("hole")
    start = float(hole.evaluate(batches["interior"].x).mean())
    for step in range(6):
        x = sampler.batches["interior"].x
        sampler.observe(sampler.batches, {"heat": torch.exp(-20 * hole.evaluate(x))}, step)
    x = sampler.batches["interior"].x
    assert x.shape == (400, 3) and g.contains(x).all()
    assert float(hole.evaluate(x).mean()) < 0.8 * start  # drawn towards the hole, where the residual is large
    xb = sampler.batches["hole"].x
    assert ((xb[:, 1:] - 0.5).norm(dim=1) - 0.2).abs().max() < 1e-12


def test_tiny_run_with_causal_r3_on_time_times_a_shape(tmp_path):
    cfg = copy.deepcopy(CONFIG)
    cfg["problem"] = {
        "pde": {"coordinates": ["t", "x", "y"], "time": "t", "fields": ["u"],
                "equations": {"heat": "u_t = 0.1*lap(u)"}},
        "domain": {**HOLE, "time": [0, 1]},
        "conditions": {"ic": {"type": "initial", "field": "u", "value": "0"},
                       "walls": {"type": "neumann", "field": "u", "value": 0, "on": ["x", "y"]}},
    }
    cfg["model"] = {"width": 8, "depth": 1, "output": {"u": "dist(hole) * u + 1 - exp(-10*t)"}}
    cfg["sampling"] = {"interior": 64, "boundary": 16, "initial": 16, "method": "causal_r3"}
    cfg["output"] = {**cfg["output"], "resolution": [3, 6, 6]}
    solution = pl.solve(cfg, out=tmp_path / "run")
    x = solution.geometry.sample_boundary(20, torch.Generator().manual_seed(2), faces=["hole"], dtype=torch.float64)[0]
    assert abs(solution.predict(x.numpy())[:, 0] - (1 - torch.exp(-10 * x[:, 0])).numpy()).max() < 1e-12
