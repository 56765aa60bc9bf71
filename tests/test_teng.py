"""TENG: integrators, inner least-squares solve, Jacobian columns, order of convergence, driver and CLI."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from pinnlab.cli import main
from pinnlab.compile import EvolutionOperator
from pinnlab.equations import get_equation
from pinnlab.errors import ConfigError
from pinnlab.io.vtk import read_pvd
from pinnlab.nn import MLP, InputScaling, PeriodicEmbedding, PINNModel, parameters_of
from pinnlab.run import default_dtype
from pinnlab.run.teng import solve_teng
from pinnlab.solvers.least_squares import ParamLayout
from pinnlab.solvers.teng import TENG, FitStage, PeriodicGrid, SubsetJacobian, TengOptions, fit_subset
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


def _heat_error(tableau, dt: float, t_end: float = 0.4, nu: float = 1.0) -> float:
    """TENG with a linear-in-parameters model (projection exact): error against exp(-nu k^2 t) modes."""
    problem = get_equation("heat2d_periodic", nu=nu)
    model = _fourier_model(harmonics=2)
    grid = PeriodicGrid([0.0, 0.0], [TWO_PI, TWO_PI], [8, 8])
    teng = TENG(model, EvolutionOperator(problem.pde), grid, tableau,
                TengOptions(FitStage(iterations=1, subset=None, rcond=None), seed=1))

    def u0(x):
        return (torch.sin(x[:, 0]) + 0.5 * torch.cos(2 * x[:, 1]))[:, None]

    params = teng.fit_initial(parameters_of(model), u0, [FitStage(iterations=1, subset=None, rcond=None)]).params
    t = 0.0
    for _ in range(round(t_end / dt)):
        params, _ = teng.step(params, t, dt)
        t += dt
    x = grid.points()
    exact = torch.sin(x[:, 0]) * math.exp(-nu * t) + 0.5 * torch.cos(2 * x[:, 1]) * math.exp(-4 * nu * t)
    return float((teng.values(params, x)[:, 0] - exact).norm() / exact.norm())


@pytest.mark.parametrize("tableau, order", [(EULER, 1), (HEUN, 2)])
def test_teng_order_of_convergence_on_heat(tableau, order):
    ratio = _heat_error(tableau, 0.02) / _heat_error(tableau, 0.01)
    assert ratio == pytest.approx(2.0**order, rel=0.1)


def test_teng_heun_with_an_mlp_tracks_the_heat_equation():
    problem = get_equation("heat2d_periodic", nu=0.1)
    model = _periodic_mlp(width=16, depth=2)  # 385 parameters, 576 points
    grid = PeriodicGrid([0.0, 0.0], [TWO_PI, TWO_PI], [24, 24])
    teng = TENG(model, EvolutionOperator(problem.pde), grid, HEUN,
                TengOptions(FitStage(iterations=3, subset=None, rcond=1e-6), seed=0))

    def u0(x):
        return (torch.sin(x[:, 0]) * torch.sin(x[:, 1]))[:, None]

    fit = teng.fit_initial(parameters_of(model), u0, [FitStage(150, 150, damping=1e-3), FitStage(150, 150, rcond=1e-6)])
    assert fit.relative < 1e-3
    params, t = fit.params, 0.0
    for _ in range(5):
        params, info = teng.step(params, t, 0.05)
        t += 0.05
    x = grid.points(torch.Generator().manual_seed(9))
    exact = torch.sin(x[:, 0]) * torch.sin(x[:, 1]) * math.exp(-0.2 * t)
    error = float((teng.values(params, x)[:, 0] - exact).norm() / exact.norm())
    assert error < 2 * fit.relative  # the projections add far less than the initial fit error
    assert info["fit_relative"] < 1e-5 and info["loss_stage1"] < 1e-8 and info["iterations"] <= 6


# ---------------------------------------------------------------------------------------------
# Driver and CLI
# ---------------------------------------------------------------------------------------------


def _tiny_config(**teng):
    return {
        "name": "tiny",
        "problem": {"equation": "heat2d_periodic", "options": {"t_end": 0.04, "u0": "sin(x)*cos(y)"}},
        "model": {"width": 6, "depth": 2},
        "teng": {"dt": 0.02, "points": 10, "projection": {"iterations": 2, "subset": 40},
                 "initial_fit": {"stages": [{"iterations": 30, "subset": 40, "damping": 1e-3, "rcond": None}]},
                 "progress": False, **teng},
        "output": {"resolution": 8, "frames": 3, "eval_every": 1},
    }


def test_driver_writes_run_directory(tmp_path):
    result = solve_teng(_tiny_config(), out=tmp_path / "run")
    run = result.run_dir
    for name in ("config.yaml", "history.csv", "metrics.json", "model.pt", "states.pt", "plots/history.png",
                 "plots/u_final.png"):
        assert (run / name).exists(), name
    frames = read_pvd(run / "vtk" / "solution.pvd")
    assert [t for t, _ in frames] == pytest.approx([0.0, 0.02, 0.04])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == 2 and metrics["method"] == "teng-heun" and 0 < metrics["rel_l2"]["u"] < 1
    assert result.history["step"] == [0.0, 1.0, 2.0] and np.isfinite(result.history["rel_l2_u"]).all()
    assert np.isfinite(result.history["loss_stage2"][1:]).all()
    saved = torch.load(run / "model.pt", weights_only=True)["model"]
    states = torch.load(run / "states.pt", weights_only=True)
    assert states["times"] == pytest.approx([0.0, 0.02, 0.04])
    for name, value in result.params.items():
        torch.testing.assert_close(saved[name], value)
        torch.testing.assert_close(states["states"][-1][name], value)


def test_cli_dispatches_teng_configs(tmp_path):
    import yaml

    path = tmp_path / "teng.yaml"
    path.write_text(yaml.safe_dump(_tiny_config()))
    assert main(["solve", str(path), "--out", str(tmp_path / "run"), "--quiet",
                 "--set", "teng.integrator=euler", "--set", "teng.t_end=0.02"]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["method"] == "teng-euler" and metrics["steps"] == 1


def test_cli_validates_teng_configs(tmp_path, capsys):
    import yaml

    path = tmp_path / "teng.yaml"
    path.write_text(yaml.safe_dump(_tiny_config()))
    assert main(["validate", str(path)]) == 0
    assert "OK (TENG" in capsys.readouterr().out
    assert main(["validate", str(path), "--set", "teng.dtt=0.1"]) == 2
    assert "unknown key 'teng.dtt' (did you mean 'dt'?)" in capsys.readouterr().err


@pytest.mark.parametrize("change, message", [
    ({"teng": {"dt": 0.02, "integratr": "heun"}}, "unknown key 'teng.integratr' (did you mean 'integrator'?)"),
    ({"teng": {"dt": 0.02, "integrator": "hune"}}, "did you mean 'heun'"),
    ({"teng": {"dt": 0.03}}, "does not divide"),
    ({"problem": {"equation": "heat2d"}}, "neither initial nor periodic"),
    ({"problem": {"equation": "poisson2d"}}, "needs a time coordinate"),
    ({"problem": {"equation": "allen_cahn1d"}, "teng": {"dt": 0.5}}, None),
])
def test_config_errors_name_the_key(tmp_path, change, message):
    config = {**_tiny_config(), **change}
    if message is None:  # a valid 1-D periodic problem: only check that it is accepted up to the run
        config["problem"] = {"equation": "allen_cahn1d", "options": {"t_end": 0.5}}
        config["teng"] = {**_tiny_config()["teng"], "dt": 0.5, "points": 8}
        result = solve_teng(config, out=tmp_path / "ok")
        assert result.metrics["steps"] == 1
        return
    with pytest.raises(ConfigError) as info:
        solve_teng(config, out=tmp_path / "run")
    assert message in str(info.value) and "<config>" in str(info.value)
