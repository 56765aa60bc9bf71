"""Exact Dirichlet values by transfinite interpolation (``model.exact_boundary``), graded collocation
(``sampling.method: graded``) and short runs of the configs that use them: lshape, pinnacle_poisson2d_c,
pinnacle_poisson2d_cg."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import pinnlab as pl
from pinnlab.autodiff import Derivative, make_backend
from pinnlab.compile import OutputTransform, PointSet
from pinnlab.compile.lift import exact_boundary, lifted_conditions
from pinnlab.config.build import model_from_config, program_from_config
from pinnlab.config.schema import RunConfig
from pinnlab.errors import ConfigError
from pinnlab.geometry import Disk, Polygon, Rectangle
from pinnlab.geometry.lift import transfinite
from pinnlab.nn import MLP, InputScaling, PINNModel
from pinnlab.nn.model import BoundModel, parameters_of
from pinnlab.sampling import GradedDesign, GradedSampler, PointDrawer
from pinnlab.spec import PDE, Dirichlet, Neumann, Problem
from pinnlab.spec.expr import Const, Distance, Lift, Namespace, parse

ROOT = Path(__file__).resolve().parents[1]
F64 = torch.float64
L_SHAPE = [(-1, -1), (0, -1), (0, 0), (1, 0), (1, 1), (-1, 1)]
SHORT = ["train.progress=false", "train.eval_every=2", "train.checkpoint_every=1000", "output.vtk=false",
         "output.plots=false"]

pytestmark = pytest.mark.usefixtures("one_thread")


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# -- the lift itself ---------------------------------------------------------------------------
def test_lift_is_a_partition_of_unity_and_interpolates_each_part():
    """Σ w_i = 1 everywhere; on part i the lift equals g_i (vertices included: there the mean of the meeting parts)."""
    shape = Polygon(L_SHAPE)
    phis = [shape.distance_function(f"edge{k}") for k in range(6)]
    x = torch.cat([shape.sample_interior(300, gen(1), dtype=F64), shape.sample_boundary(300, gen(2), dtype=F64)[0],
                   torch.tensor(L_SHAPE, dtype=F64)])
    ones = transfinite([1.0] * 6, [p.evaluate(x) for p in phis])
    assert (ones - 1).abs().max() < 1e-14
    for mu in (1, 2, 3):
        for k in range(6):
            xb, _ = shape.sample_boundary(200, gen(10 + k), faces=[f"edge{k}"], dtype=F64)
            values = [xb[:, 0] * j + xb[:, 1] ** 2 for j in range(6)]  # g_j = j·x + y², different on each edge
            got = transfinite(values, [p.evaluate(xb) for p in phis], mu=mu)
            assert (got - values[k]).abs().max() < 1e-12
    # at a vertex the parts that meet share the value of continuous data
    corner = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=F64)
    same = transfinite([corner[:, 0] + 2.0, corner[:, 0] * 0 + 3.0, corner[:, 1] + 2.0, 3.0 + 0 * corner[:, 0],
                        corner[:, 0] + corner[:, 1] + 2.0, corner[:, 0] + 2.0],
                       [p.evaluate(corner) for p in phis])
    assert same[0] == pytest.approx(2.5)  # edges 1 and 2 meet at (0, 0): mean of 3 and 2
    assert same[1] == pytest.approx(3.5)  # edges 3 and 4 meet at (1, 1): mean of 3 and 4


def test_lift_weights_follow_the_inverse_distance_formula():
    """w_i = φ_i^-μ / Σ_j φ_j^-μ away from the boundary, for μ = 1, 2."""
    phis = torch.rand(3, 50, generator=gen(3), dtype=F64) + 0.05
    g = torch.randn(3, 50, generator=gen(4), dtype=F64)
    for mu in (1, 2):
        w = phis ** (-mu) / (phis ** (-mu)).sum(0)
        torch.testing.assert_close(transfinite(list(g), list(phis), mu=mu), (w * g).sum(0), rtol=1e-13, atol=1e-14)
    with pytest.raises(ValueError, match="exponent"):
        transfinite(list(g), list(phis), mu=0)
    with pytest.raises(ValueError, match="one value per part"):
        transfinite(list(g[:2]), list(phis))


def _lift_model(shape, pieces, seed=0):
    """u = Lift(pieces) + dist()*N on ``shape`` as a bound model."""
    ns = Namespace(fields=("u",), scalar_coords=("x", "y"), boundaries=tuple(shape.faces))
    nodes = tuple((Distance(tuple(on)), parse(text, ns)) for on, text in pieces)
    node = parse("dist()*u", ns)
    from pinnlab.spec.expr import Binary

    node = Binary("+", Lift(nodes, 2), node)
    distances = {tuple(on): shape.distance_function(list(on)) for on, _ in pieces}
    distances[()] = shape.distance_function()
    transform = OutputTransform({0: node}, {"x": 0, "y": 1}, ["u"], {}, distances)
    low, high = shape.bounding_box()
    model = PINNModel(InputScaling(low, high), MLP(2, 1, 10, 2, "tanh", generator=gen(seed)),
                      transform=transform).double()
    return BoundModel(model, parameters_of(model))


@pytest.mark.parametrize("case", ["hole", "l_shape"])
def test_taylor_mode_through_the_lift_matches_nested_autograd(case):
    if case == "hole":
        shape = Rectangle((-0.5, -0.5), (0.5, 0.5), name="square") - Disk((0.1, 0.0), 0.2, name="hole")
        pieces = [(["square"], "1 + x*y"), (["hole"], "sin(3*x)")]
    else:
        shape = Polygon(L_SHAPE)
        pieces = [(["edge0"], "x**2"), (["edge1", "edge2"], "0"), (["edge3", "edge4", "edge5"], "cos(x + y)")]
    f = _lift_model(shape, pieces)
    x = shape.sample_interior(40, gen(5), dtype=F64)
    requests = [Derivative(0, "partial", ()), Derivative(0, "partial", (0,)), Derivative(0, "partial", (0, 1)),
                Derivative(0, "laplacian", (0, 1)), Derivative(0, "bilaplacian", (0, 1))]
    ref = make_backend("autograd").plan(requests, 2)(f, x)
    got = make_backend("taylor").plan(requests, 2)(f, x)
    for r in requests:
        scale = float(ref[r].detach().abs().max())
        # fourth derivatives reach 1e5 near the boundary: roundoff relative to each value
        torch.testing.assert_close(got[r], ref[r], rtol=1e-9, atol=1e-11 * max(scale, 1.0))
    for on, text in pieces:
        xb, _ = shape.sample_boundary(100, gen(6), faces=on, dtype=F64)
        exact = {"1 + x*y": 1 + xb[:, 0] * xb[:, 1], "sin(3*x)": torch.sin(3 * xb[:, 0]), "x**2": xb[:, 0] ** 2,
                 "0": 0 * xb[:, 0], "cos(x + y)": torch.cos(xb[:, 0] + xb[:, 1])}[text]
        assert (f(xb)[:, 0] - exact).abs().max() < 1e-12


def test_derivatives_through_a_distance_function_are_finite_on_its_zero_set():
    """Trimmed ADFs are square roots that vanish on their pieces: on the walls and at the outlet corners
    of the step channel (where a do-nothing term needs u_x) both engines give finite derivatives of
    dist(walls)*N, not NaN. (Where two parts with different values meet, the lift itself is not
    differentiable.)"""
    from pinnlab.equations.pinnacle_flows import step_domain

    shape = step_domain()
    walls = ("y_min", "y_max", "step")
    ns = Namespace(fields=("u",), scalar_coords=("x", "y"), boundaries=tuple(shape.faces))
    transform = OutputTransform({0: parse("dist(y_min, y_max, step)*u", ns)}, {"x": 0, "y": 1}, ["u"], {},
                                {walls: shape.distance_function(list(walls))})
    low, high = shape.bounding_box()
    model = PINNModel(InputScaling(low, high), MLP(2, 1, 10, 2, "tanh", generator=gen(0)), transform=transform)
    f = BoundModel(model.double(), parameters_of(model))
    xb, _ = shape.sample_boundary(20, gen(7), faces=list(walls), dtype=F64)
    x = torch.cat([torch.tensor([[4.0, 0.0], [4.0, 2.0]], dtype=F64), xb])
    requests = [Derivative(0, "partial", (0,)), Derivative(0, "partial", (1,)), Derivative(0, "laplacian", (0, 1))]
    for engine in ("autograd", "taylor"):
        values = make_backend(engine).plan(requests, 2)(f, x)
        assert all(torch.isfinite(values[r]).all() for r in requests), engine


# -- building it from Dirichlet conditions -------------------------------------------------------
def _problem(**conditions):
    pde = PDE(coordinates=["x", "y"], fields=["u"], equations={"laplace": "lap(u)"}, parameters={"a": 2.0})
    domain = Rectangle((-0.5, -0.5), (0.5, 0.5), name="square") - Disk((0.0, 0.0), 0.2, name="hole")
    return Problem(pde, domain, conditions)


def test_exact_boundary_from_conditions_and_its_errors():
    problem = _problem(outer=Dirichlet(field="u", value="a*x", on=["square"]), inner=Dirichlet(field="u", value=1, on=["hole"]),
                       flux=Neumann(field="u", value=0, on=["x_min"]))
    faces = problem.domain.faces
    assert lifted_conditions(problem, True) == ["outer", "inner"]
    node = exact_boundary(problem, ["outer", "inner"], faces)["u"]
    lift = node.left
    assert isinstance(lift, Lift) and [d.boundary for d, _ in lift.pieces] == [("square",), ("hole",)]
    assert node.right.left == Distance(("square", "hole"))
    single = exact_boundary(problem, ["inner"], faces)["u"]
    assert single.left == Const(1.0)
    with pytest.raises(pl.errors.SpecError, match="Neumann|neumann"):
        lifted_conditions(problem, ["flux"])
    with pytest.raises(pl.errors.SpecError, match="did you mean 'outer'"):
        lifted_conditions(problem, ["outr"])
    whole = _problem(all=Dirichlet(field="u", value=0), inner=Dirichlet(field="u", value=1, on=["hole"]))
    with pytest.raises(pl.errors.SpecError, match="covers the whole boundary"):
        exact_boundary(whole, ["all", "inner"], faces)


def _config(tmp_path, **model):
    data = {
        "problem": {
            "pde": {"coordinates": ["x", "y"], "fields": ["u"], "equations": {"laplace": "lap(u) = 0"}},
            "domain": {"type": "difference", "of": [
                {"type": "rectangle", "low": [-0.5, -0.5], "high": [0.5, 0.5], "name": "square"},
                {"type": "disk", "center": [0, 0], "radius": 0.2, "name": "hole"}]},
            "conditions": {"outer": {"type": "dirichlet", "field": "u", "on": ["square"], "value": 1},
                           "inner": {"type": "dirichlet", "field": "u", "on": ["hole"], "value": 0}},
        },
        "model": {"width": 6, "depth": 1, **model},
        "sampling": {"interior": 50, "boundary": 20},
        "solver": {"name": "gauss_newton", "steps": 1},
        "train": {"dtype": "float64", "progress": False},
        "output": {"vtk": False, "plots": False, "resolution": 11},
    }
    return RunConfig.model_validate(data)


def test_exact_boundary_drops_the_condition_terms_and_bad_keys_are_config_errors(tmp_path):
    cfg = _config(tmp_path, exact_boundary=True)
    problem = pl.config.build.problem_from_config(cfg.problem)
    geometry = pl.config.build.geometry_of(problem)
    model = model_from_config(cfg.model, problem, geometry, gen(0)).double()
    on_square = geometry.sample_boundary(100, gen(2), faces=["square"], dtype=F64)[0]
    with torch.no_grad():
        assert (model(on_square)[:, 0] - 1).abs().max() < 1e-12
        assert model(geometry.sample_boundary(100, gen(3), faces=["hole"], dtype=F64)[0]).abs().max() < 1e-12
    program = program_from_config(cfg, problem)
    assert list(program.terms) == ["laplace"]
    partial = _config(tmp_path, exact_boundary=["inner"])
    assert list(program_from_config(partial, problem).terms) == ["laplace", "outer"]
    for bad, match in [({"exact_boundary": ["inne"]}, "'model.exact_boundary'.*did you mean 'inner'"),
                       ({"exact_boundary": True, "output": {"u": "dist()*u"}}, "'model.output.u'.*one or the other")]:
        with pytest.raises(ConfigError, match=match):
            model_from_config(_config(tmp_path, **bad).model, problem, geometry, gen(0))


# -- graded collocation ------------------------------------------------------------------------
def test_graded_points_have_the_power_law_density():
    """Inside a ball that lies in the domain, (r/R)^(d − α) is uniform on (0, 1] (Kolmogorov–Smirnov)."""
    square = Rectangle((-1, -1), (1, 1))
    for alpha in (0.0, 1.0, 1.5):
        design = GradedDesign(square, [0.1, -0.2], 0.5, alpha)
        assert design.acceptance == pytest.approx(1.0, abs=1e-4)  # only points within 1e-9 R of the centre go
        x = design.draw(4000, gen(7))
        s = np.sort(((design.distance(x) / 0.5) ** (2 - alpha)).numpy())
        ks = np.max(np.abs(s - np.arange(1, len(s) + 1) / len(s)))
        assert ks < 1.63 / math.sqrt(len(s))  # 1 % level
    with pytest.raises(ValueError, match="alpha"):
        GradedDesign(square, [0, 0], 0.5, 2.0)
    with pytest.raises(ValueError, match="misses the domain"):
        GradedDesign(square, [5, 5], 0.5, 1.0)


def test_graded_quadrature_weights_estimate_the_uniform_mean():
    """Mean of w·f over base + graded points ≈ mean of f over the domain (L-shape, corner at the origin)."""
    shape = Polygon(L_SHAPE)
    sets = {"interior": PointSet("interior", "interior", 4000)}
    drawer = PointDrawer(shape, gen(8), "sobol", F64)
    sampler = GradedSampler(sets, drawer, center=[0.0, 0.0], points=4000, radius=0.5, alpha=1.5)
    batch = sampler.sample(0)["interior"]
    assert batch.x.shape == (8000, 2) and bool(shape.contains(batch.x).all())
    r2 = (batch.x ** 2).sum(1)
    assert float(batch.weights.mean()) == pytest.approx(1.0, rel=2e-2)
    # mean of r² over the L-shape: (∫ over the square − ∫ over the removed quadrant) / 3 = (8/3 − 2/3) / 3
    assert float((batch.weights * r2).mean()) == pytest.approx(2 / 3, rel=2e-2)
    near = (r2 < 0.25 ** 2).double().mean()
    assert float(near) > 0.3  # most graded points lie near the corner
    weighted = GradedSampler(sets, drawer, center=[0.0, 0.0], points=10, radius=0.5, alpha=1.0, beta=1.0,
                             quadrature=False).sample(0)["interior"]
    torch.testing.assert_close(weighted.weights, ((weighted.x ** 2).sum(1).sqrt() / 0.5).clamp(max=1) ** 2)
    with pytest.raises(ValueError, match="missing: radius"):
        GradedSampler(sets, drawer, center=[0.0, 0.0], points=10)


def test_graded_points_around_several_centres():
    """Two lid corners of the unit square: ``points`` points near each, the weights still a quadrature."""
    square = Rectangle((0, 0), (1, 1))
    sets = {"interior": PointSet("interior", "interior", 3000)}
    drawer = PointDrawer(square, gen(9), "sobol", F64)
    corners = [[0.0, 1.0], [1.0, 1.0]]
    sampler = GradedSampler(sets, drawer, center=corners, points=2000, radius=0.3, alpha=1.0)
    batch = sampler.sample(0)["interior"]
    assert batch.x.shape == (7000, 2) and bool(square.contains(batch.x).all())
    graded = batch.x[3000:]
    for k, c in enumerate(corners):
        part = graded[2000 * k:2000 * (k + 1)]
        assert float((part - torch.tensor(c, dtype=F64)).norm(dim=1).max()) < 0.3
    assert float(batch.weights.mean()) == pytest.approx(1.0, rel=2e-2)
    # mean of x² y over the square is 1/3 · 1/2
    assert float((batch.weights * batch.x[:, 0] ** 2 * batch.x[:, 1]).mean()) == pytest.approx(1 / 6, rel=2e-2)
    weighted = GradedSampler(sets, drawer, center=corners, points=10, radius=0.3, beta=1.0,
                             quadrature=False).sample(0)["interior"]
    nearest = torch.stack([(weighted.x - torch.tensor(c, dtype=F64)).norm(dim=1) for c in corners]).amin(0)
    torch.testing.assert_close(weighted.weights, (nearest / 0.3).clamp(max=1) ** 2)
    with pytest.raises(ValueError, match="'center' must be a list of 2 numbers"):
        GradedSampler(sets, drawer, center=[[0.0, 1.0], [1.0]], points=10, radius=0.3)


# -- the shipped configs, shrunk ---------------------------------------------------------------
def _max_boundary_error(solution, faces=None):
    g = solution.geometry
    xb, _ = g.sample_boundary(400, gen(11), faces=faces, dtype=F64)
    return np.abs(solution.predict(xb.numpy())[:, 0] - solution.reference(xb.numpy())[:, 0]).max()


def test_lshape_short_run_lift_exact_on_the_boundary(tmp_path):
    solution = pl.solve(ROOT / "configs" / "lshape.yaml", out=tmp_path / "run",
                        overrides=[*SHORT, "solver.steps=2", "sampling.interior=100",
                                   "sampling.options.points=100", "model.width=8", "output.resolution=[21,21]"])
    assert solution.geometry.faces[:6] == [f"edge{k}" for k in range(6)]
    assert _max_boundary_error(solution) < 1e-12
    vertices = np.array(L_SHAPE, dtype=np.float64)
    assert np.abs(solution.predict(vertices)[:, 0] - solution.reference(vertices)[:, 0]).max() < 1e-12
    assert solution.errors(21)["u"] < 0.5  # two steps of a tiny network: finite, of the right size


@pytest.mark.parametrize("config, inner, outer",
                         [("pinnacle_poisson2d_c", 0.0, 1.0), ("pinnacle_poisson2d_cg", 1.0, 0.2)])
def test_pinnacle_geometry_configs_short_run_values_exact(tmp_path, config, inner, outer):
    """A few LM steps of a small network; the lift makes u = 1/0 (C) or 0.2/1 (CG) exact on the parts."""
    pytest.importorskip("skfem")
    solution = pl.solve(ROOT / "configs" / f"{config}.yaml", out=tmp_path / "run",
                        overrides=[*SHORT, "solver.steps=2", "sampling.interior=100", "model.width=6",
                                   "output.resolution=[11,11]", "problem.options={reference_h: 0.05}"])
    g = solution.geometry
    for part, value in (("holes", inner), ("outer", outer)):
        xb, _ = g.sample_boundary(300, gen(12), faces=[part], dtype=F64)
        assert np.abs(solution.predict(xb.numpy())[:, 0] - value).max() < 1e-12
    assert 0 < solution.errors(11)["u"] < 1.0


@pytest.mark.parametrize("config", ["dfg_cylinder", "pinnacle_ns2d_cg"])
def test_flow_configs_short_run_no_slip_exact(tmp_path, config):
    """Two LM steps of a small network on the shipped flow set-ups: no slip holds exactly on every wall
    (and the DFG cylinder), the errors and the DFG quantities are finite."""
    overrides = [*SHORT, "solver.steps=2", "sampling.interior=120", "sampling.options.points=60", "model.width=6",
                 "output.resolution=[23, 11]"]
    solution = pl.solve(ROOT / "configs" / f"{config}.yaml", out=tmp_path / "run", overrides=overrides)
    walls = ["y_min", "y_max", "cylinder"] if config == "dfg_cylinder" else ["y_min", "y_max", "step"]
    xb, _ = solution.geometry.sample_boundary(300, gen(3), faces=walls, dtype=F64)
    assert np.abs(solution.predict(xb.numpy())[:, :2]).max() < 1e-12
    assert all(math.isfinite(v) and v > 0 for v in solution.metrics["rel_l2"].values())
    if config == "dfg_cylinder":
        assert set(solution.metrics["quantities"]) == {"c_d", "c_l", "delta_p"}
        assert all(math.isfinite(v) for v in solution.metrics["quantities"].values())
