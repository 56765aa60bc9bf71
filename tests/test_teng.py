"""TENG: integrators, inner least-squares solve, Jacobian columns, order of convergence, runs and CLI."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import pinnlab as pl
from pinnlab.cli import main
from pinnlab.compile import EvolutionObjective, EvolutionOperator
from pinnlab.equations import get_equation
from pinnlab.errors import ConfigError
from pinnlab.io.vtk import read_pvd
from pinnlab.nn import MLP, InputScaling, PeriodicEmbedding, PINNModel, parameters_of
from pinnlab.run import default_dtype
from pinnlab.sampling import PeriodicGrid
from pinnlab.solvers import make_solver
from pinnlab.solvers.least_squares import ParamLayout
from pinnlab.solvers.teng import FitStage, SubsetJacobian, fit_subset
from pinnlab.solvers.teng.integrators import EULER, HEUN, RK4, ButcherTableau, get_tableau, rk_step

TWO_PI = 2 * math.pi

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: a thread pool only adds overhead

# ---------------------------------------------------------------------------------------------
# Integrators (no PDE): y' = lam * y with exact "projection"
# ---------------------------------------------------------------------------------------------


def _ode_error(tableau: ButcherTableau, dt: float, t_end: float = 1.0, lam: float = -1.3) -> float:
    y = torch.tensor([1.0], dtype=torch.float64)
    t = 0.0
    for _ in range(round(t_end / dt)):
        y, _ = rk_step(tableau, y, t, dt, lambda s: s, lambda s, _t: lam * s, lambda target, start, i: (target, {}))
        t += dt
    return abs(float(y) - math.exp(lam * t_end))


@pytest.mark.parametrize("tableau", [EULER, HEUN, get_tableau("midpoint"), get_tableau("rk3"), RK4])
def test_tableau_orders_on_linear_ode(tableau):
    ratio = _ode_error(tableau, 0.05) / _ode_error(tableau, 0.025)
    assert ratio == pytest.approx(2.0**tableau.order, rel=0.08)


def test_projection_count_and_tableau_checks():
    calls = []

    def project(target, start, i):
        calls.append(i)
        return target, {"loss": 0.0}

    rk_step(HEUN, torch.ones(1), 0.0, 0.1, lambda s: s, lambda s, t: s, project)
    assert calls == [0, 1] and HEUN.projections() == 2 and EULER.projections() == 1 and RK4.projections() == 4
    with pytest.raises(ValueError, match="sum to 1"):
        ButcherTableau("bad", 1, ((0.0,),), (0.5,), (0.0,))
    with pytest.raises(ValueError, match="zero from column"):
        ButcherTableau("implicit", 1, ((1.0,),), (1.0,), (1.0,))
    with pytest.raises(ValueError, match="did you mean 'heun'"):
        get_tableau("hune")


# ---------------------------------------------------------------------------------------------
# Linear algebra, Jacobians, quadrature
# ---------------------------------------------------------------------------------------------


def _periodic_mlp(width=8, depth=2, out=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    with default_dtype(torch.float64):  # buffers such as the embedding frequencies in full precision
        return PINNModel(InputScaling([0.0, 0.0], [TWO_PI, TWO_PI]), MLP(4, out, width, depth, "tanh", generator=g),
                         periodic=PeriodicEmbedding(2, {0: 2.0, 1: 2.0}))


@pytest.mark.parametrize("fields", [1, 2])
def test_subset_jacobian_outer_products_match_autodiff(fields):
    model = _periodic_mlp(out=fields)
    params = parameters_of(model)
    flat = ParamLayout(params)
    x = torch.rand(13, 2, dtype=torch.float64) * TWO_PI
    columns = torch.randperm(flat.size)[:40]
    jac = SubsetJacobian(model, flat)
    assert jac.fast
    torch.testing.assert_close(jac(params, x, columns), jac._per_point(params, x, columns))


def test_periodic_grid_quadrature_is_exact_for_trigonometric_polynomials():
    grid = PeriodicGrid([0.0, 0.0], [TWO_PI, TWO_PI], [8, 6])
    assert len(grid) == 48 and grid.weight * len(grid) == pytest.approx(TWO_PI**2)
    x = grid.points(torch.Generator().manual_seed(3))
    assert torch.all((x >= 0) & (x < TWO_PI))
    f = (torch.cos(x[:, 0]) * torch.sin(2 * x[:, 1]) + 1.0) ** 2  # degree <= 4 per axis: exact on 8 x 6
    assert grid.weight * float(f.sum()) == pytest.approx(TWO_PI**2 * (1 + 0.25), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Inner solve
# ---------------------------------------------------------------------------------------------


def _fourier_model(harmonics=2):
    """Linear in its parameters: u = sum of cos/sin(k x), cos/sin(k y), k <= harmonics, plus a constant."""
    with default_dtype(torch.float64):
        return nn.Sequential(InputScaling([0.0, 0.0], [TWO_PI, TWO_PI]),
                             PeriodicEmbedding(2, {0: 2.0, 1: 2.0}, harmonics=harmonics), nn.Linear(4 * harmonics, 1))


def test_fit_reaches_tolerance_on_random_subsets():
    model = _fourier_model(harmonics=3)
    params = parameters_of(model)
    grid = PeriodicGrid([0.0, 0.0], [TWO_PI, TWO_PI], [10, 10])
    x = grid.points()
    target = (0.5 + torch.sin(2 * x[:, 0]) - 0.3 * torch.cos(3 * x[:, 1]))[:, None]
    fit = fit_subset(model, params, x, target, grid.weight, 200, 5, torch.Generator().manual_seed(0), tol=1e-10)
    assert fit.relative <= 1e-10 and fit.iterations < 200


def test_fit_copes_with_rank_deficient_jacobians():
    """u = w2 (W1 phi(x)): a rescaling symmetry makes every Jacobian rank deficient."""
    with default_dtype(torch.float64):
        model = nn.Sequential(InputScaling([0.0, 0.0], [TWO_PI, TWO_PI]), PeriodicEmbedding(2, {0: 2.0, 1: 2.0}),
                              nn.Linear(4, 3), nn.Linear(3, 1))
    grid = PeriodicGrid([0.0, 0.0], [TWO_PI, TWO_PI], [8, 8])
    x = grid.points()
    target = (0.2 + torch.sin(x[:, 0]) - 0.5 * torch.cos(x[:, 1]))[:, None]
    fit = fit_subset(model, parameters_of(model), x, target, grid.weight, 50, None, torch.Generator().manual_seed(0),
                     tol=1e-9, rcond=1e-8)
    assert fit.relative <= 1e-9 and fit.iterations < 50


def test_levenberg_marquardt_fit_of_mlp_reaches_tolerance():
    model = _periodic_mlp(width=12, depth=2)
    grid = PeriodicGrid([0.0, 0.0], [TWO_PI, TWO_PI], [12, 12])
    x = grid.points()
    target = (torch.sin(x[:, 0]) * torch.cos(x[:, 1]))[:, None]
    fit = fit_subset(model, parameters_of(model), x, target, grid.weight, 300, 100, torch.Generator().manual_seed(0),
                     tol=1e-3, damping=1e-3)
    assert fit.relative <= 1e-3 and fit.iterations < 300
    with torch.no_grad():
        pred = torch.func.functional_call(model, fit.params, (x,))
    loss = grid.weight * float((pred - target).pow(2).sum())
    assert fit.loss == pytest.approx(loss, rel=1e-10)


# ---------------------------------------------------------------------------------------------
# TENG on the heat equation
# ---------------------------------------------------------------------------------------------


class _Stepper:
    """The ``teng_fit`` and ``teng`` solvers driven by hand on a fixed or shifted quadrature grid."""

    def __init__(self, model, pde, grid, integrator, projection, seed=0, shift=None):
        self.model, self.grid, self.shift = model, grid, shift
        self.operator = EvolutionOperator(pde)
        self.integrator, self.projection, self.seed = integrator, projection, seed

    def objective(self, u0=None):
        x = self.grid.points(self.shift)
        return EvolutionObjective(self.operator, self.model, x, self.grid.weight, u0)

    def fit(self, params, u0, stages):
        solver = make_solver("teng_fit", steps=len(stages), stages=stages, seed=self.seed)
        state = solver.init(params)
        for _ in stages:
            params, state, info = solver.step(params, state, self.objective(u0))
        return params, info

    def advance(self, params, dt, steps):
        solver = make_solver("teng", steps=steps, dt=dt, integrator=self.integrator, projection=self.projection,
                             seed=self.seed)
        state = solver.init(params)
        for _ in range(steps):
            params, state, info = solver.step(params, state, self.objective())
        return params, info, solver.time(state)


def _heat_error(tableau, dt: float, t_end: float = 0.4, nu: float = 1.0) -> float:
    """TENG with a linear-in-parameters model (projection exact): error against exp(-nu k^2 t) modes."""
    problem = get_equation("heat2d_periodic", nu=nu)
    model = _fourier_model(harmonics=2)
    grid = PeriodicGrid([0.0, 0.0], [TWO_PI, TWO_PI], [8, 8])
    exact_stage = FitStage(iterations=1, subset=None, rcond=None)
    stepper = _Stepper(model, problem.pde, grid, tableau, exact_stage, seed=1)

    def u0(x):
        return (torch.sin(x[:, 0]) + 0.5 * torch.cos(2 * x[:, 1]))[:, None]

    params, _ = stepper.fit(parameters_of(model), u0, [exact_stage])
    params, _, t = stepper.advance(params, dt, round(t_end / dt))
    x = grid.points()
    exact = torch.sin(x[:, 0]) * math.exp(-nu * t) + 0.5 * torch.cos(2 * x[:, 1]) * math.exp(-4 * nu * t)
    values = torch.func.functional_call(model, params, (x,))
    return float((values[:, 0] - exact).norm() / exact.norm())


@pytest.mark.parametrize("tableau, order", [(EULER, 1), (HEUN, 2)])
def test_teng_order_of_convergence_on_heat(tableau, order):
    ratio = _heat_error(tableau, 0.02) / _heat_error(tableau, 0.01)
    assert ratio == pytest.approx(2.0**order, rel=0.1)


def test_teng_heun_with_an_mlp_tracks_the_heat_equation():
    problem = get_equation("heat2d_periodic", nu=0.1)
    model = _periodic_mlp(width=16, depth=2)  # 385 parameters, 576 points
    grid = PeriodicGrid([0.0, 0.0], [TWO_PI, TWO_PI], [24, 24])
    stepper = _Stepper(model, problem.pde, grid, "heun", FitStage(iterations=3, subset=None, rcond=1e-6), seed=0,
                       shift=torch.Generator().manual_seed(0))

    def u0(x):
        return (torch.sin(x[:, 0]) * torch.sin(x[:, 1]))[:, None]

    params, fit = stepper.fit(parameters_of(model), u0, [FitStage(150, 150, damping=1e-3), FitStage(150, 150, rcond=1e-6)])
    assert fit["fit_relative"] < 1e-3
    params, info, t = stepper.advance(params, 0.05, 5)
    assert t == pytest.approx(0.25)
    x = grid.points(torch.Generator().manual_seed(9))
    exact = torch.sin(x[:, 0]) * torch.sin(x[:, 1]) * math.exp(-0.2 * t)
    error = float((torch.func.functional_call(model, params, (x,))[:, 0] - exact).norm() / exact.norm())
    assert error < 2 * fit["fit_relative"]  # the projections add far less than the initial fit error
    assert info["fit_relative"] < 1e-5 and info["loss_stage1"] < 1e-8 and info["iterations"] <= 6


# ---------------------------------------------------------------------------------------------
# Runs through the one trainer, resume, load, export and the CLI
# ---------------------------------------------------------------------------------------------


def _tiny_config(**teng):
    return {
        "name": "tiny",
        "mode": "teng",
        "problem": {"equation": "heat2d_periodic", "options": {"t_end": 0.04, "u0": "sin(x)*cos(y)"}},
        "model": {"width": 6, "depth": 2},
        "teng": {"dt": 0.02, "points": 10, "projection": {"iterations": 2, "subset": 40},
                 "initial_fit": {"stages": [{"iterations": 30, "subset": 40, "damping": 1e-3, "rcond": None}]},
                 **teng},
        "train": {"progress": False, "eval_every": 1},
        "output": {"resolution": 8, "frames": 3},
    }


def test_teng_run_writes_run_directory(tmp_path):
    solution = pl.solve(_tiny_config(), out=tmp_path / "run")
    run = solution.run_dir
    for name in ("config.yaml", "history.csv", "metrics.json", "model.pt", "checkpoint.pt", "plots/history.png",
                 "plots/u_slice.png", "vtk/solution.pvd"):
        assert (run / name).exists(), name
    frames = read_pvd(run / "vtk" / "solution.pvd")
    assert [t for t, _ in frames] == pytest.approx([0.0, 0.02, 0.04])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["mode"] == "teng" and metrics["method"] == "teng-heun"
    assert metrics["steps"] == 3 and metrics["time_steps"] == 2 and metrics["t_end"] == pytest.approx(0.04)
    assert 0 < metrics["rel_l2"]["u"] <= metrics["rel_l2_max"]["u"] < 1
    assert 0 < metrics["initial_fit"]["relative"] < 1 and metrics["initial_fit"]["iterations"] >= 1
    history = solution_history(run)
    assert history["step"] == [1.0, 2.0, 3.0] and np.isfinite(history["rel_l2_u"]).all()
    assert history["t"][1:] == pytest.approx([0.02, 0.04]) and np.isfinite(history["loss_stage2"][1:]).all()
    # the solution is u(t, x, y): at the step times it is the network with that step's parameters
    trajectory = solution.model
    assert torch.equal(trajectory.times, torch.tensor([0.0, 0.02, 0.04], dtype=torch.float64))
    x = torch.rand(5, 2, dtype=torch.float64) * TWO_PI
    last = trajectory.layout.unflatten(trajectory.states[-1])
    direct = torch.func.functional_call(trajectory.module, last, (x,)).numpy()
    points = np.column_stack([np.full(5, 0.04), x.numpy()])
    np.testing.assert_allclose(solution.predict(points), direct, rtol=0, atol=1e-14)
    midway = np.column_stack([np.full(5, 0.03), x.numpy()])
    middle = trajectory.layout.unflatten(trajectory.states[1])
    between = 0.5 * (torch.func.functional_call(trajectory.module, middle, (x,)).numpy() + direct)
    np.testing.assert_allclose(solution.predict(midway), between, rtol=1e-12, atol=1e-14)


def solution_history(run):
    from pinnlab.io.run_dir import HistoryWriter

    return HistoryWriter(run / "history.csv", resume=True).as_columns()


def test_teng_resume_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    whole = pl.solve(_tiny_config(), out=tmp_path / "whole")
    pl.solve(_tiny_config(), out=tmp_path / "parts", overrides=["train.steps=2"])  # initial fit + one time step
    resumed = pl.solve(_tiny_config(), out=tmp_path / "parts", resume=True)
    a = torch.load(whole.run_dir / "model.pt", weights_only=True)["model"]
    b = torch.load(resumed.run_dir / "model.pt", weights_only=True)["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed.metrics["rel_l2"] == whole.metrics["rel_l2"]
    assert solution_history(resumed.run_dir)["step"] == [1.0, 2.0, 3.0]


def test_teng_runs_load_and_export(tmp_path):
    solution = pl.solve(_tiny_config(), out=tmp_path / "run")
    again = pl.load(tmp_path / "run")
    assert again.coords == ["t", "x", "y"] and again.time_dependent
    points = np.column_stack([np.linspace(0, 0.04, 7), np.linspace(0, 6, 7), np.linspace(1, 5, 7)])
    np.testing.assert_array_equal(again.predict(points), solution.predict(points))
    errors = again.errors(6)
    assert 0 < errors["u"] < 1
    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "vtk"), "--frames", "2"]) == 0
    assert [t for t, _ in read_pvd(tmp_path / "vtk" / "solution.pvd")] == pytest.approx([0.0, 0.04])


def test_cli_solves_teng_configs(tmp_path, capsys):
    import yaml

    path = tmp_path / "teng.yaml"
    path.write_text(yaml.safe_dump(_tiny_config()))
    assert main(["solve", str(path), "--out", str(tmp_path / "run"), "--quiet",
                 "--set", "teng.integrator=euler", "--set", "teng.t_end=0.02"]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["method"] == "teng-euler" and metrics["time_steps"] == 1
    assert "teng-euler: 1 steps of dt 0.02" in capsys.readouterr().out


def test_cli_validates_teng_configs(tmp_path, capsys):
    import yaml

    path = tmp_path / "teng.yaml"
    path.write_text(yaml.safe_dump(_tiny_config()))
    assert main(["validate", str(path)]) == 0
    assert "OK (TENG" in capsys.readouterr().out
    assert main(["validate", str(path), "--set", "teng.dtt=0.1"]) == 2
    assert "unknown key 'teng.dtt' (did you mean 'dt'?)" in capsys.readouterr().err


def test_teng_solvers_refuse_pinn_objectives():
    with pytest.raises(ConfigError, match="mode: teng"):
        pl.solve({"problem": {"equation": "heat1d"}, "solver": {"name": "teng", "steps": 1, "dt": 0.1},
                  "train": {"progress": False}, "output": {"vtk": False, "plots": False}})


@pytest.mark.parametrize("change, message", [
    ({"teng": {"dt": 0.02, "integratr": "heun"}}, "unknown key 'teng.integratr' (did you mean 'integrator'?)"),
    ({"teng": {"dt": 0.02, "integrator": "hune"}}, "did you mean 'heun'"),
    ({"teng": {"dt": 0.03}}, "does not divide"),
    ({"problem": {"equation": "heat2d"}}, "neither initial nor periodic"),
    ({"problem": {"equation": "poisson2d"}}, "needs a time coordinate"),
    ({"train": {"dtype": "float32"}}, "train.dtype"),
    ({"problem": {"equation": "allen_cahn1d"}, "teng": {"dt": 0.5}}, None),
])
def test_config_errors_name_the_key(tmp_path, change, message):
    config = {**_tiny_config(), **change}
    if message is None:  # a valid 1-D periodic problem: only check that it is accepted up to the run
        config["problem"] = {"equation": "allen_cahn1d", "options": {"t_end": 0.5}}
        config["teng"] = {**_tiny_config()["teng"], "dt": 0.5, "points": 8}
        solution = pl.solve(config, out=tmp_path / "ok")
        assert solution.metrics["time_steps"] == 1
        return
    with pytest.raises(ConfigError) as info:
        pl.solve(config, out=tmp_path / "run")
    assert message in str(info.value) and "<config>" in str(info.value)
    assert not (tmp_path / "run").exists()  # nothing is written for a bad configuration
