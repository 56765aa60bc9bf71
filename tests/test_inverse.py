"""Trainable PDE parameters and coefficient fields: spec, constraint maps, gradients and Jacobian columns
against finite differences, and a clean-data identification to 1e-6."""

from __future__ import annotations

import math

import pytest
import torch

import pinnlab as pl
from pinnlab.autodiff import make_backend
from pinnlab.compile import Batch, Objective, ParameterMap, ResidualProgram
from pinnlab.config.build import model_from_config
from pinnlab.config.schema import ModelConfig
from pinnlab.errors import ConfigError, SpecError
from pinnlab.geometry import geometry_from_dict
from pinnlab.nn import MLP, parameters_of
from pinnlab.nn.fields import FieldNetworks
from pinnlab.solvers.gauss_newton import objective_jacobian

pytestmark = pytest.mark.usefixtures("one_thread")


def decay_problem(k=None, **data):
    """u_x + k u = 0 on [0, 1], u = exp(-k x) with k = 2 unknown (initial guess 1)."""
    k = k or pl.Parameter(1.0, trainable=True, positive=True, true_value=2.0)
    pde = pl.PDE(coordinates=["x"], fields=["u"], parameters={"k": k}, equations={"decay": "u_x + k*u"})
    problem = pl.Problem(pde, {"x": [0, 1]}, {}, exact={"u": "exp(-k*x)"})
    return problem.replace(conditions={"data": pl.synthesize(problem, 40, seed=0, **data)})


# -- the spec --------------------------------------------------------------------------------------------------


def test_parameters_are_numbers_or_declarations():
    pde = pl.PDE(coordinates=["x"], fields=["u"], equations={"e": "u_xx - k*u - c"},
                 parameters={"k": {"value": 0.5, "trainable": True, "positive": True, "true_value": 0.25}, "c": 2})
    assert pde.parameters["c"] == 2.0 and float(pde.parameters["k"]) == 0.5
    assert pde.parameter_values == {"k": 0.5, "c": 2.0}
    assert pde.reference_values == {"k": 0.25, "c": 2.0}  # an exact solution uses the true value
    assert list(pde.trainable_parameters) == ["k"]
    merged = pde.with_parameters(k={"value": 0.75})  # a mapping updates the declaration
    assert merged.parameters["k"] == pl.Parameter(0.75, trainable=True, positive=True, true_value=0.25)
    assert pde.with_parameters(k=0.3).parameters["k"] == 0.3 and not pde.with_parameters(k=0.3).trainable_parameters
    assert pl.Parameter(2.0, true_value=4.0).relative_error(3.0) == 0.25
    assert pl.Parameter(2.0, true_value=0.0).relative_error(0.5) == 0.5  # absolute when the truth is 0


@pytest.mark.parametrize("spec, message", [
    ({"value": -1.0, "positive": True}, "value -1.0 must be positive"),
    ({"value": 2.0, "bounds": [0, 1]}, "must lie strictly inside the bounds [0.0, 1.0]"),
    ({"value": 0.5, "bounds": [1, 0]}, "the low bound must be below the high bound"),
    ({"value": 0.5, "bounds": [-1, 1], "positive": True}, "admit negative values"),
    ({"value": 0.5, "bounds": [0]}, "bounds must be two numbers"),
    ({"value": float("nan"), "trainable": True}, "value must be finite"),
    ({"value": 1.0, "trainable": "yes"}, "'trainable' must be true or false"),
    ({"valeu": 1.0}, "unknown key 'valeu' (did you mean 'value'?)"),
    ({"trainable": True}, "needs a 'value'"),
])
def test_bad_parameter_declarations_are_clear(spec, message):
    with pytest.raises(SpecError, match=f"parameter 'k': .*{__import__('re').escape(message)}"):
        pl.PDE(coordinates=["x"], fields=["u"], parameters={"k": spec}, equations={"e": "u - k"})


def test_constraint_maps_hold_and_invert():
    plain, positive = pl.Parameter(-0.5, trainable=True), pl.Parameter(0.02, trainable=True, positive=True)
    bounded = pl.Parameter(0.3, trainable=True, bounds=(0.1, 0.6))
    unknowns = ParameterMap({"a": plain, "b": positive, "c": bounded})
    raw = unknowns.initial(torch.float64)
    assert set(raw) == {"pde.a", "pde.b", "pde.c"} and all(v.requires_grad and v.dim() == 0 for v in raw.values())
    assert unknowns.values(raw) == pytest.approx({"a": -0.5, "b": 0.02, "c": 0.3}, rel=1e-14)
    extreme = torch.tensor([-300.0, -30.0, 0.0, 30.0, 300.0], dtype=torch.float64)
    assert bool((unknowns.constrain("b", extreme) > 0).all())
    c = unknowns.constrain("c", extreme)
    assert bool(((c >= 0.1) & (c <= 0.6)).all()) and float(c[2]) == pytest.approx(0.35)
    network, values = unknowns.split({"w": torch.ones(2), **raw})
    assert list(network) == ["w"] and set(values) == {"a", "b", "c"}


# -- gradients and Jacobian columns ------------------------------------------------------------------------------


def _objective(problem, params_dtype=torch.float64):
    torch.manual_seed(0)
    program = ResidualProgram(problem, make_backend("autograd"))
    geometry = geometry_from_dict(problem.domain, ["x"])
    model = model_from_config(ModelConfig(width=6, depth=1), problem, geometry, torch.Generator().manual_seed(0))
    model = model.to(params_dtype)
    x = torch.linspace(0, 1, 9, dtype=params_dtype)[:, None]
    ps = program.point_sets["data"]
    batches = {"interior": Batch(x), "data": Batch(ps.coords, values=ps.values, weights=ps.weights)}
    params = {**parameters_of(model), **program.unknowns.initial(params_dtype)}
    return Objective(program, model, batches, {"data": 3.0}), params


@pytest.mark.parametrize("declaration", [
    pl.Parameter(1.3, trainable=True), pl.Parameter(1.3, trainable=True, positive=True),
    pl.Parameter(1.3, trainable=True, bounds=(0.5, 4.0)),
])
def test_gradient_and_jacobian_column_match_finite_differences(declaration):
    objective, params = _objective(decay_problem(declaration, noise=0.05))
    key = "pde.k"
    loss, _ = objective.loss(params)
    (grad,) = torch.autograd.grad(loss, [params[key]])
    r, J = objective_jacobian(objective, params, "rows")
    r_full, J_full = objective_jacobian(objective, params, "full")
    column = sum(v.numel() for v in params.values()) - 1  # pde.k comes last in the flat layout
    assert list(params)[-1] == key
    h = 1e-6

    def shifted(delta):
        moved = {k: (v + delta if k == key else v).detach() for k, v in params.items()}
        with torch.no_grad():
            return objective.residual_vector(moved), objective.loss(moved)[0]

    (r_plus, l_plus), (r_minus, l_minus) = shifted(h), shifted(-h)
    fd_column = (r_plus - r_minus) / (2 * h)
    assert float(J[:, column].abs().max()) > 1e-2  # the PDE residual depends on k
    torch.testing.assert_close(J[:, column], fd_column, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(J, J_full, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(r, r_full, rtol=1e-12, atol=1e-14)
    assert float(grad) == pytest.approx(float((l_plus - l_minus) / (2 * h)), rel=1e-6)
    assert float(grad) == pytest.approx(float(2 * J[:, column] @ r), rel=1e-10)  # ∇loss = 2 Jᵀr


def test_residuals_use_the_values_given():
    problem = decay_problem()
    program = ResidualProgram(problem, make_backend("autograd"))
    x = torch.linspace(0, 1, 5, dtype=torch.float64)[:, None]

    def exact(z):
        return torch.exp(-2.0 * z)

    batches = {"interior": Batch(x)}
    fixed = program.residuals(exact, batches, terms=["decay"])["decay"]  # the initial guess k = 1
    torch.testing.assert_close(fixed, -torch.exp(-2.0 * x[:, 0]))
    given = program.residuals(exact, batches, terms=["decay"], parameters={"k": torch.tensor(2.0, dtype=x.dtype)})
    assert float(given["decay"].abs().max()) < 1e-15


# -- a clean-data identification ----------------------------------------------------------------------------------


def test_clean_data_identification_recovers_the_parameter(tmp_path):
    problem = decay_problem()
    solution = pl.solve({"model": {"width": 10, "depth": 2}, "sampling": {"interior": 40, "method": "sobol"},
                         "derivatives": {"method": "taylor"}, "solver": {"name": "gauss_newton", "steps": 60},
                         "train": {"dtype": "float64", "progress": False, "eval_every": 20, "log_every": 5},
                         "output": {"vtk": False, "plots": False}}, problem=problem, out=tmp_path / "run")
    assert abs(solution.parameters["k"] - 2.0) < 1e-6 * 2.0
    assert solution.parameter_errors()["k"] < 1e-6
    entry = solution.metrics["parameters"]["k"]
    assert entry["initial"] == 1.0 and entry["true_value"] == 2.0 and entry["rel_error"] < 1e-6
    assert solution.metrics["network_parameters"] == 10 * 1 + 10 + 10 * 10 + 10 + 10 + 1
    again = pl.load(solution.run_dir, problem=problem)
    assert again.parameters == solution.parameters


# -- coefficient fields -----------------------------------------------------------------------------------------


def test_field_networks_push_jets_like_autograd():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    body = FieldNetworks(["u", "a", "b"], MLP(2, 1, 8, 2, generator=gen), ["u"],
                         {"a": MLP(2, 1, 5, 1, generator=gen), "b": MLP(2, 1, 5, 1, generator=gen)},
                         {"a": "softplus", "b": "exp"}).double()
    x = torch.rand(7, 2, dtype=torch.float64)
    out = body(x)
    assert out.shape == (7, 3) and bool((out[:, 1:] > 0).all())
    pde = pl.PDE(coordinates=["x", "y"], fields=["u", "a", "b"],
                 equations={"e": "a*lap(u) + a_x*u_x + a_y*u_y + b_xy*u"})
    problem = pl.Problem(pde, {"x": [0, 1], "y": [0, 1]})
    taylor = ResidualProgram(problem, make_backend("taylor")).residuals(body, {"interior": Batch(x)})
    reference = ResidualProgram(problem, make_backend("autograd")).residuals(body, {"interior": Batch(x)})
    torch.testing.assert_close(taylor["e"], reference["e"], rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="every field needs exactly one network"):
        FieldNetworks(["u", "a"], MLP(2, 1), ["u"], {})


def test_model_fields_configure_own_positive_networks():
    problem = pl.Problem(pl.PDE(coordinates=["x"], fields=["u", "a"], equations={"e": "a*u_xx - 1"}), {"x": [0, 1]})
    geometry = geometry_from_dict(problem.domain, ["x"])
    cfg = ModelConfig(width=8, depth=2, fields={"a": {"width": 4, "depth": 1, "positive": True}})
    model = model_from_config(cfg, problem, geometry, torch.Generator().manual_seed(0))
    names = dict(model.named_parameters())
    assert names["body.own.a.linears.0.weight"].shape == (4, 1) and names["body.shared.linears.0.weight"].shape == (8, 1)
    with torch.no_grad():
        assert bool((model(torch.linspace(0, 1, 11)[:, None])[:, 1] > 0).all())
    for fields, message in [({"b": {}}, "'b' is not a field"), ({"a": {"network": "shared", "width": 3}}, "belong to"),
                            ({"a": {"activation": "relu"}}, "unknown activation 'relu'")]:
        with pytest.raises(ConfigError, match=message):
            model_from_config(ModelConfig(fields=fields), problem, geometry)


def test_trainable_parameters_stay_out_of_hard_constraints_and_teng():
    problem = decay_problem()
    geometry = geometry_from_dict(problem.domain, ["x"])
    with pytest.raises(ConfigError, match="'k' is a trainable parameter; hard constraints may use fixed parameters"):
        model_from_config(ModelConfig(output={"u": "1 + x*k*u"}), problem, geometry)
    teng = {"mode": "teng", "teng": {"dt": 0.1}, "problem": {
        "equation": "heat2d_periodic", "parameters": {"nu": {"value": 0.1, "trainable": True}}}}
    with pytest.raises(ConfigError, match="parameter 'nu' is trainable, but TENG steps a forward problem"):
        pl.solve(teng)


def test_relative_errors_up_to_a_constant():
    from pinnlab.run.solution import relative_errors

    ref = torch.linspace(0, 1, 11, dtype=torch.float64).numpy()[:, None]
    shifted = ref + 3.0
    assert relative_errors(shifted, ref, ["p"])["p"] > 1.0
    assert relative_errors(shifted, ref, ["p"], up_to_constant=["p"])["p"] < 1e-14
    noisy = ref.copy()
    noisy[0] += 0.1
    mean = 0.1 / 11
    expected = math.sqrt((0.1 - mean) ** 2 + 10 * mean**2) / float(((ref - ref.mean()) ** 2).sum() ** 0.5)
    assert relative_errors(noisy + 5, ref, ["p"], up_to_constant=["p"])["p"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("solver", [
    {"name": "adam", "lr": 0.05}, {"name": "lbfgs", "max_evals": 5}, {"name": "config", "lr": 0.05},
    {"name": "gauss_newton"}, {"name": "engd"}, {"name": "gauss_newton", "solve": "cg", "cg_max_iter": 20},
])
def test_every_solver_trains_the_parameter(tmp_path, solver):
    """Adam, L-BFGS, ConFIG, Levenberg–Marquardt (dense and matrix-free) and ENGD all train k with the
    network: the loss falls and k moves; the Gauss–Newton methods move it towards 2 within 6 steps."""
    solution = pl.solve({"model": {"width": 6, "depth": 1}, "sampling": {"interior": 20, "method": "sobol"},
                         "derivatives": {"method": "taylor"}, "solver": {**solver, "steps": 6},
                         "train": {"dtype": "float64", "progress": False, "eval_every": 6, "log_every": 1},
                         "output": {"vtk": False, "plots": False}}, problem=decay_problem(), out=tmp_path / "run")
    import csv

    with (tmp_path / "run" / "history.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"]) and abs(solution.parameters["k"] - 1.0) > 1e-3
    if solver["name"] in ("gauss_newton", "engd"):
        assert solution.parameter_errors()["k"] < 0.45  # from 0.5 (k = 1)


def test_steady_velocity_data_fix_only_the_reynolds_number():
    """Why kovasznay_inverse measures the pressure at a few points: (λ1, ν, p) → (cλ1, cν, cp) leaves the
    steady equations satisfied, so velocity data alone identify λ1/ν, not λ1 and ν."""
    from pinnlab.compile import exact_function
    from pinnlab.equations import get_equation

    problem = get_equation("kovasznay_inverse")
    program = ResidualProgram(problem, make_backend("autograd"))
    exact = exact_function(problem)
    x = torch.rand(20, 2, dtype=torch.float64) * torch.tensor([1.5, 2.0], dtype=torch.float64) - 0.5
    for c in (1.0, 0.6, 3.0):
        def scaled(z, c=c):
            out = exact(z)
            return torch.cat([out[:, :2], c * out[:, 2:]], dim=-1)

        values = {"lambda1": torch.tensor(c, dtype=torch.float64), "nu": torch.tensor(c / 40, dtype=torch.float64)}
        residuals = program.residuals(scaled, {"interior": Batch(x)}, parameters=values)
        assert max(float(r.abs().max()) for r in residuals.values()) < 1e-12


def test_pinv_gives_a_on_the_boundary_and_says_nothing_of_a_at_the_corners():
    """The built-in PInv (as in PINNacle) knows a on the boundary; its equation holds for the exact (u, a), and at
    the corners, where u, ∇u and f vanish, it holds for every a: a is not determined there by u."""
    from pinnlab.compile import exact_function
    from pinnlab.equations import get_equation

    problem = get_equation("pinnacle_pinv")
    assert {n: (c.field, type(c).__name__) for n, c in problem.conditions.items()} == {
        "boundary": ("u", "Dirichlet"), "boundary_a": ("a", "Dirichlet")}
    program = ResidualProgram(problem, make_backend("autograd"))
    exact = exact_function(problem)
    x = torch.rand(30, 2, dtype=torch.float64)
    r = program.residuals(exact, {"interior": Batch(x)}, terms=["poisson"])["poisson"]
    assert float(r.abs().max()) < 1e-12
    corners = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)

    def other_a(z):  # the exact u with a different coefficient field
        out = exact(z)
        return torch.cat([out[:, :1], 2.0 + z[:, :1] * z[:, 1:]], dim=-1)

    r = program.residuals(other_a, {"interior": Batch(corners)}, terms=["poisson"])["poisson"]
    assert float(r.abs().max()) < 1e-12
    r = program.residuals(other_a, {"interior": Batch(x)}, terms=["poisson"])["poisson"]
    assert float(r.abs().max()) > 0.1  # inside, the equation tells the fields apart
