"""Gauss–Newton family: least-squares machinery, Levenberg–Marquardt and ENGD."""

from __future__ import annotations

import io
import math

import pytest
import torch

import pinnlab
from pinnlab.autodiff import backend_names
from pinnlab.compile import Batch
from pinnlab.config import parse_config
from pinnlab.config.build import geometry_of, model_from_config, problem_from_config, program_from_config
from pinnlab.nn import parameters_of
from pinnlab.sampling import PointDrawer, make_sampler
from pinnlab.solvers import Objective, make_solver
from pinnlab.solvers.gauss_newton import EnergyNaturalGradient, LevenbergMarquardt, objective_jacobian
from pinnlab.solvers.least_squares import (
    DenseLeastSquares,
    MatrixFreeLeastSquares,
    ParamLayout,
    conjugate_gradient,
    jacobian,
    rowwise_jacobian,
)

F64 = torch.float64


@pytest.fixture(autouse=True)
def one_thread():
    """Run each test on one intra-op thread (restored afterwards): these problems are tiny, and on
    a busy two-core machine a second thread mostly waits."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class LeastSquaresObjective:
    """A duck-typed objective: residuals r(params) of a Python function, loss = ‖r‖²."""

    def __init__(self, fn):
        self.fn = fn

    def residual_vector(self, params):
        return self.fn(params)

    def loss(self, params):
        value = self.fn(params).pow(2).sum()
        return value, {"r": value}


def rosenbrock(params):
    x, y = params["xy"][0], params["xy"][1]
    return torch.stack([10 * (y - x**2), 1 - x])


def leaf(values):
    return torch.tensor(values, dtype=F64, requires_grad=True)


def small_objective(equation: str = "heat", method: str = "autograd", n: int = 60, seed: int = 0):
    """A real Objective on fixed points (small network, float64)."""
    options = {"dim": 1}
    cfg = parse_config({
        "problem": {"equation": equation, "options": options},
        "model": {"width": 6, "depth": 2},
        "derivatives": {"method": method},
        "sampling": {"interior": n, "boundary": 10, "initial": 10},
        "train": {"dtype": "float64", "steps": 1},
    })
    problem = problem_from_config(cfg.problem)
    geometry = geometry_of(problem)
    old = torch.get_default_dtype()
    torch.set_default_dtype(F64)
    try:
        model = model_from_config(cfg.model, problem, geometry, torch.Generator().manual_seed(seed))
        program = program_from_config(cfg, problem)
    finally:
        torch.set_default_dtype(old)
    drawer = PointDrawer(geometry, torch.Generator().manual_seed(seed + 1), "uniform", F64)
    batches = make_sampler("fixed", program.point_sets, drawer).sample(0)
    return Objective(program, model, batches, {"initial": 4.0}), parameters_of(model)


# -- dense and matrix-free solves ------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(40, 15), (15, 40)])
@pytest.mark.parametrize("method", ["cholesky", "pinv", "lstsq"])
def test_dense_solves_match_normal_equations(shape, method):
    g = torch.Generator().manual_seed(0)
    J = torch.randn(*shape, generator=g, dtype=F64)
    r = torch.randn(shape[0], generator=g, dtype=F64)
    eye = torch.eye(shape[1], dtype=F64)
    for damping in (1e-3, 1.0):
        expected = torch.linalg.solve(J.T @ J + damping * eye, J.T @ r)
        d = DenseLeastSquares(J, r, method).solve(damping).direction
        assert torch.allclose(d, expected, rtol=1e-9, atol=1e-11)
    # undamped: the minimum-norm least-squares solution J⁺ r
    d = DenseLeastSquares(J, r, method).solve(0.0).direction
    assert torch.allclose(d, torch.linalg.pinv(J) @ r, rtol=1e-9, atol=1e-11)


def test_scaled_damping_is_marquardt_diagonal():
    g = torch.Generator().manual_seed(1)
    J = torch.randn(30, 8, generator=g, dtype=F64) * torch.logspace(-2, 2, 8, dtype=F64)
    r = torch.randn(30, generator=g, dtype=F64)
    gram = J.T @ J
    expected = torch.linalg.solve(gram + 0.1 * torch.diag(gram.diagonal()), J.T @ r)
    d = DenseLeastSquares(J, r, "cholesky", scaled=True).solve(0.1).direction
    assert torch.allclose(d, expected, rtol=1e-10)


def test_predicted_decrease_is_exact_for_linear_residuals():
    g = torch.Generator().manual_seed(2)
    J = torch.randn(20, 6, generator=g, dtype=F64)
    r = torch.randn(20, generator=g, dtype=F64)
    system = DenseLeastSquares(J, r)
    d = torch.randn(6, generator=g, dtype=F64)
    assert system.predicted_decrease(d) == pytest.approx(float(r @ r - (r - J @ d).pow(2).sum()), rel=1e-12)


def test_conjugate_gradient_solves_spd_system_and_warm_starts():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(30, 30, generator=g, dtype=F64)
    spd = a @ a.T + 0.5 * torch.eye(30, dtype=F64)
    b = torch.randn(30, generator=g, dtype=F64)
    exact = torch.linalg.solve(spd, b)
    cold = conjugate_gradient(lambda v: spd @ v, b, tol=1e-12, max_iter=200)
    assert torch.allclose(cold.x, exact, rtol=1e-8, atol=1e-10)
    assert cold.residual <= 1e-12
    warm = conjugate_gradient(lambda v: spd @ v, b, x0=exact + 1e-6 * torch.randn(30, generator=g, dtype=F64),
                              tol=1e-9, max_iter=200)
    assert warm.iterations < cold.iterations
    assert conjugate_gradient(lambda v: spd @ v, b, x0=exact, tol=1e-9).iterations == 0


def test_matrix_free_cg_equals_dense_solve():
    g = torch.Generator().manual_seed(4)
    a = torch.randn(50, 12, generator=g, dtype=F64)
    b = torch.randn(50, generator=g, dtype=F64)
    theta = torch.randn(12, generator=g, dtype=F64)

    def fn(v):  # a nonlinear residual
        return torch.tanh(a @ v) - b

    J = torch.autograd.functional.jacobian(fn, theta)
    dense = DenseLeastSquares(J, fn(theta)).solve(1e-3).direction
    free = MatrixFreeLeastSquares(fn, theta, tol=1e-13, max_iter=200)
    sol = free.solve(1e-3)
    assert torch.allclose(sol.direction, dense, rtol=1e-8, atol=1e-12)
    assert free.predicted_decrease(sol.direction) == pytest.approx(
        DenseLeastSquares(J, fn(theta)).predicted_decrease(dense), rel=1e-8)
    assert free.loss == pytest.approx(float(fn(theta).pow(2).sum()))
    # warm start from the solution converges at once
    assert free.solve(1e-3, x0=sol.direction).iterations <= 1


@pytest.mark.parametrize("method", sorted({"autograd", "taylor"} & set(backend_names())))
def test_traced_tangent_map_gives_the_same_products(method):
    objective, params = small_objective("heat", method, n=8)
    layout = ParamLayout(params)
    theta = layout.flatten(params).detach()

    def fn(v):
        return objective.residual_vector(layout.unflatten(v))

    traced = MatrixFreeLeastSquares(fn, theta, linearize=True)
    plain = MatrixFreeLeastSquares(fn, theta)
    v = torch.randn(theta.numel(), generator=torch.Generator().manual_seed(7), dtype=F64)
    assert torch.allclose(traced.jvp(v), plain.jvp(v), rtol=1e-10, atol=1e-12)


# -- Jacobians -------------------------------------------------------------------------------------


def test_jacobian_modes_match_finite_differences():
    g = torch.Generator().manual_seed(5)
    x = torch.rand(7, 2, generator=g, dtype=F64)
    params = {"w": torch.randn(3, 2, generator=g, dtype=F64), "b": torch.randn(3, generator=g, dtype=F64)}

    def rows_fn(p, row):
        return torch.sin(p["w"] @ row["x"] + p["b"])

    def batch_fn(p):
        return torch.sin(x @ p["w"].T + p["b"]).reshape(-1)

    layout = ParamLayout(params)
    theta = layout.flatten(params)
    h = 1e-6
    fd = torch.stack([(batch_fn(layout.unflatten(theta + h * e)) - batch_fn(layout.unflatten(theta - h * e))) / (2 * h)
                      for e in torch.eye(theta.numel(), dtype=F64)], dim=1)
    for mode in ("rev", "fwd", "auto"):
        r, J = jacobian(batch_fn, params, mode)
        assert torch.allclose(r, batch_fn(params))
        assert torch.allclose(J, fd, atol=1e-8)
    r, J = rowwise_jacobian(rows_fn, params, {"x": x})
    assert torch.allclose(r, batch_fn(params)) and torch.allclose(J, fd, atol=1e-8)


@pytest.mark.parametrize("method", sorted({"autograd", "taylor"} & set(backend_names())))
def test_objective_jacobian_per_point_matches_whole_batch(method):
    objective, params = small_objective("heat", method, n=30)
    r_rows, j_rows = objective_jacobian(objective, params, "rows")
    r_full, j_full = objective_jacobian(objective, params, "rev")
    assert torch.allclose(r_rows, objective.residual_vector(params).detach(), atol=1e-13)
    assert r_rows.pow(2).sum().item() == pytest.approx(objective.loss(params)[0].item(), rel=1e-12)
    assert torch.allclose(r_rows, r_full, atol=1e-13)
    assert torch.allclose(j_rows, j_full, atol=1e-11)


def test_objective_jacobian_per_point_applies_point_weights():
    """Per-point loss weights (the causal gate's g²) scale rows by sqrt(w) in both Jacobian modes."""
    objective, params = small_objective("heat", "autograd", n=30)
    x = objective.batches["interior"].x
    weighted = {**objective.batches, "interior": Batch(x, weights=torch.linspace(0.1, 2.0, len(x), dtype=F64))}
    objective = Objective(objective.program, objective.model, weighted, objective.weights)
    r_rows, j_rows = objective_jacobian(objective, params, "rows")
    r_full, j_full = objective_jacobian(objective, params, "rev")
    assert r_rows.pow(2).sum().item() == pytest.approx(objective.loss(params)[0].item(), rel=1e-12)
    assert torch.allclose(r_rows, r_full, atol=1e-13) and torch.allclose(j_rows, j_full, atol=1e-11)


# -- Levenberg–Marquardt and ENGD ------------------------------------------------------------------


def test_levenberg_marquardt_solves_rosenbrock_and_adapts_damping():
    params = {"xy": leaf([-1.2, 1.0])}
    objective = LeastSquaresObjective(rosenbrock)
    solver = LevenbergMarquardt(damping=1e-8, jacobian="rev")
    state = solver.init(params)
    dampings, tries = [], []
    for _ in range(60):
        params, state, info = solver.step(params, state, objective)
        dampings.append(info["damping"])
        tries.append(info["tries"])
        if info["trial_loss"] < 1e-24:
            break
    assert torch.allclose(params["xy"].detach(), torch.tensor([1.0, 1.0], dtype=F64), atol=1e-10)
    assert max(tries) > 1  # a rejected trial raised the damping ...
    assert max(dampings) > 1e-8 and dampings[-1] < max(dampings)  # ... and good steps lowered it again


def test_jacobian_falls_back_to_whole_batch_once():
    params = {"xy": leaf([-1.2, 1.0])}
    solver = LevenbergMarquardt()  # jacobian="auto": this objective has no per-point structure
    state = solver.init(params)
    with pytest.warns(RuntimeWarning, match="per-point Jacobian unavailable"):
        params, state, _ = solver.step(params, state, LeastSquaresObjective(rosenbrock))
    assert state["jacobian"] == "full"
    params, state, info = solver.step(params, state, LeastSquaresObjective(rosenbrock))
    assert info["trial_loss"] < info["loss"]


def test_levenberg_marquardt_never_increases_the_loss():
    params = {"xy": leaf([-1.2, 1.0])}
    objective = LeastSquaresObjective(rosenbrock)
    solver = LevenbergMarquardt(damping=1e-12, update="marquardt", jacobian="rev", max_tries=3)
    state = solver.init(params)
    last = math.inf
    for _ in range(10):
        params, state, info = solver.step(params, state, objective)
        assert info["loss"] <= last
        last = info["trial_loss"]


def test_gauss_newton_steps_solve_linear_least_squares_at_once():
    g = torch.Generator().manual_seed(6)
    a = torch.randn(20, 5, generator=g, dtype=F64)
    b = torch.randn(20, generator=g, dtype=F64)
    best = torch.linalg.lstsq(a, b).solution
    objective = LeastSquaresObjective(lambda p: a @ p["x"] - b)
    for solver in (EnergyNaturalGradient(jacobian="rev"), LevenbergMarquardt(damping=1e-14, jacobian="rev"),
                   EnergyNaturalGradient(jacobian="rev", solve="cg", cg_tol=1e-14)):
        params = {"x": torch.zeros(5, dtype=F64, requires_grad=True)}
        params, _, info = solver.step(params, solver.init(params), objective)
        assert torch.allclose(params["x"].detach(), best, atol=1e-9)
        if "step_size" in info:
            assert info["step_size"] == 1.0


def test_engd_takes_no_step_when_nothing_decreases_the_loss():
    # at the minimiser of a problem with non-zero residual no step size helps
    objective = LeastSquaresObjective(lambda p: torch.stack([p["x"][0] - 1, p["x"][0] + 1, p["x"][0] ** 3]))
    params = {"x": torch.zeros(1, dtype=F64, requires_grad=True)}
    solver = EnergyNaturalGradient(jacobian="rev")
    params, _, info = solver.step(params, solver.init(params), objective)
    assert info["step_size"] == 0.0 and info["trial_loss"] == info["loss"]
    assert params["x"].item() == 0.0
    assert solver.search(lambda etas: [1.0 + e for e in etas], loss0=1.0) == (0.0, 1.0)
    assert solver.search(lambda etas: [(e - 0.25) ** 2 for e in etas], loss0=1.0) == (0.25, 0.0)
    backtracking = EnergyNaturalGradient(line_search="backtracking")
    assert backtracking.search(lambda etas: [e * 1.5 for e in etas], loss0=1.0) == (0.5, 0.75)


def test_solve_is_chosen_by_size():
    params = {"w": torch.zeros(30, 40), "b": torch.zeros(40)}
    assert LevenbergMarquardt(dense_max=2000).uses_cg(params) is False
    assert LevenbergMarquardt(dense_max=1000).uses_cg(params) is True
    assert LevenbergMarquardt(solve="cg").uses_cg(params) is True
    assert LevenbergMarquardt(solve="dense", dense_max=10).uses_cg(params) is False
    with pytest.raises(ValueError, match="unknown solve"):
        make_solver("gauss_newton", solve="qr")


def test_matrix_free_steps_descend_on_a_pinn():
    objective, params = small_objective("heat", "autograd", n=20)
    start = objective.loss(params)[0].item()
    for name in ("gauss_newton", "engd"):
        p = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        solver = make_solver(name, solve="cg", cg_max_iter=20)
        state = solver.init(p)
        for _ in range(2):
            p, state, info = solver.step(p, state, objective)
            assert info["cg_iters"] >= 1
        assert objective.loss(p)[0].item() < 0.5 * start


def test_state_dict_round_trip():
    objective, params = small_objective("heat", "autograd", n=30)
    solver = make_solver("gauss_newton")
    state = solver.init(params)
    for _ in range(2):
        params, state, _ = solver.step(params, state, objective)
    buffer = io.BytesIO()
    torch.save(solver.state_dict(state), buffer)
    buffer.seek(0)
    restored = make_solver("gauss_newton").load_state_dict(make_solver("gauss_newton").init(params),
                                                           torch.load(buffer))
    assert restored["mu"] == state["mu"] and restored["nu"] == state["nu"] and restored["k"] == 2
    assert torch.equal(restored["direction"], state["direction"])
    # the restored solver continues exactly like the original
    copy = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    _, _, info_a = solver.step(params, state, objective)
    _, _, info_b = make_solver("gauss_newton").step(copy, restored, objective)
    assert info_a["trial_loss"] == info_b["trial_loss"] and info_a["damping"] == info_b["damping"]


@pytest.mark.parametrize("solver,tolerance", [
    ({"name": "engd", "steps": 20}, 1e-7),
    ({"name": "gauss_newton", "steps": 60, "power": 2}, 2e-5),
])
def test_poisson1d_reaches_tight_tolerance(tmp_path, solver, tolerance):
    """1-D Poisson, 10x2 tanh network, 200 points, float64 (measured: ENGD 1.1e-9, LM 6.8e-6)."""
    cfg = {
        "problem": {"equation": "poisson", "options": {"dim": 1}},
        "model": {"width": 10, "depth": 2},
        "derivatives": {"method": "autograd"},
        "sampling": {"method": "uniform", "interior": 200, "boundary": 2},
        "solver": solver,
        "train": {"dtype": "float64", "eval_every": solver["steps"], "log_every": 5, "progress": False},
        "output": {"vtk": False, "plots": False},
    }
    solution = pinnlab.solve(cfg, out=tmp_path / "run", progress=False)
    assert solution.metrics["rel_l2"]["u"] <= tolerance
