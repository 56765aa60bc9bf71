"""Adam, L-BFGS, schedules and the Objective: known minima, exact loss bookkeeping, resumable state."""

from __future__ import annotations

import math

import pytest
import torch

import pinnlab as pl
from pinnlab.autodiff import make_backend
from pinnlab.compile import Batch, ResidualProgram
from pinnlab.nn import MLP, parameters_of
from pinnlab.solvers import Objective, make_solver, solver_names
from pinnlab.solvers.schedules import make_schedule

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.one_thread
D = torch.float64


class Rosenbrock:
    """The objective protocol the first-order solvers use: ``loss(params) -> (total, per-term)``."""

    def loss(self, params):
        x, y = params["x"][0], params["x"][1]
        a, b = (1 - x) ** 2, 100 * (y - x**2) ** 2
        return a + b, {"a": a, "b": b}


def start():
    return {"x": torch.tensor([-1.2, 1.0], dtype=D, requires_grad=True)}


def run(solver, params, objective, steps, state=None):
    state = solver.init(params) if state is None else state
    info = {}
    for _ in range(steps):
        params, state, info = solver.step(params, state, objective)
    return params, state, info


def test_registry():
    assert {"adam", "lbfgs"} <= set(solver_names())
    with pytest.raises(ValueError, match="unknown solver 'adamw'; available: .*adam.*lbfgs"):
        make_solver("adamw")
    with pytest.raises(TypeError):
        make_solver("adam", momentum=0.9)


def test_lbfgs_minimises_rosenbrock():
    """Needs a working line search: the first unit step overshoots and must be shortened."""
    params, _, info = run(make_solver("lbfgs", history=20), start(), Rosenbrock(), 45)
    torch.testing.assert_close(params["x"].detach(), torch.tensor([1.0, 1.0], dtype=D), rtol=0, atol=1e-6)
    assert set(info) >= {"loss", "evals", "loss_a", "loss_b"}
    assert info["loss"] < 1e-10


def test_adam_minimises_a_quadratic():
    class Bowl:
        def loss(self, params):
            x, y = params["x"][0], params["x"][1]
            a, b = (x - 1) ** 2, 10 * (y + 2) ** 2
            return a + b, {"a": a, "b": b}

    params, _, info = run(make_solver("adam", lr=0.1, schedule="cosine", final_lr=1e-4, steps=400), start(),
                          Bowl(), 400)
    assert info["lr"] == pytest.approx(make_schedule(0.1, 400, "cosine", final_lr=1e-4)(399))
    torch.testing.assert_close(params["x"].detach(), torch.tensor([1.0, -2.0], dtype=D), rtol=0, atol=1e-4)


@pytest.mark.parametrize("name, options", [("adam", {"lr": 1e-2}), ("lbfgs", {"history": 5})])
def test_state_round_trip_continues_identically(name, options):
    """Saving the state after 4 steps and loading it into a new solver gives the same next 4 steps."""
    solver = make_solver(name, **options)
    p_ref, _, _ = run(solver, start(), Rosenbrock(), 8)
    p_mid, state, _ = run(solver, start(), Rosenbrock(), 4)
    saved = solver.state_dict(state)
    buffer = __import__("io").BytesIO()
    torch.save(saved, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    fresh = make_solver(name, **options)
    p_new = {"x": p_mid["x"].detach().clone().requires_grad_(True)}
    state = fresh.load_state_dict(fresh.init(p_new), saved)
    p_out, _, _ = run(fresh, p_new, Rosenbrock(), 4, state)
    assert torch.equal(p_out["x"], p_ref["x"])


# -- schedules --------------------------------------------------------------------------------------------------


def test_schedules():
    cos = make_schedule(1.0, 100, "cosine", final_lr=0.1)
    assert cos(0) == pytest.approx(1.0) and cos(50) == pytest.approx(0.55) and cos(100) == pytest.approx(0.1)
    assert cos(500) == pytest.approx(0.1)
    assert make_schedule(1.0, 10, "cosine")(10) == pytest.approx(0.01)
    assert make_schedule(2.0, 10, "exponential", gamma=0.5, every=10)(5) == pytest.approx(2.0 * 0.5**0.5)
    assert make_schedule(2.0, 10, "step", gamma=0.5, every=10)(19) == pytest.approx(1.0)
    assert make_schedule(3.0, 10)(7) == make_schedule(3.0, 10, "constant")(7) == 3.0
    warm = make_schedule(1.0, 100, "cosine", warmup=10)
    assert [warm(k) for k in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert warm(10) == pytest.approx(1.0) and warm(100) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        make_schedule(1.0, 10, "linear")


# -- the Objective over a residual program ---------------------------------------------------------------------------


@pytest.fixture
def poisson():
    """-u'' = π² sin(πx) on [0, 1], u(0) = u(1) = 0; exact u = sin(πx)."""
    torch.manual_seed(0)
    pde = pl.PDE(coordinates=["x"], fields=["u"], equations={"poisson": "-u_xx = pi**2*sin(pi*x)"})
    problem = pl.Problem(pde, {"x": [0.0, 1.0]}, {"ends": pl.Dirichlet(field="u", value=0)})
    program = ResidualProgram(problem, make_backend("autograd"))
    x = torch.linspace(0, 1, 33, dtype=D)[1:-1, None]
    ends = torch.tensor([[0.0], [1.0]], dtype=D)
    batches = {"interior": Batch(x), "ends": Batch(ends, normals=torch.tensor([[-1.0], [1.0]], dtype=D))}
    model = MLP(1, 1, 10, 2).double()
    return program, model, batches, x


def test_objective_bookkeeping(poisson):
    program, model, batches, _ = poisson
    params = parameters_of(model)
    obj = Objective(program, model, batches, weights={"ends": 4.0})
    total, losses = obj.loss(params)
    res = obj.residuals(params)
    assert set(res) == {"poisson", "ends"} and res["poisson"].shape == (31,) and res["ends"].shape == (2,)
    assert losses["ends"].item() == pytest.approx(res["ends"].pow(2).mean().item())
    assert total.item() == pytest.approx(losses["poisson"].item() + 4.0 * losses["ends"].item())
    assert obj.residual_vector(params).pow(2).sum().item() == pytest.approx(total.item())
    off = Objective(program, model, batches, weights={"ends": 0.0})
    assert off.terms == ["poisson"] and set(off.loss(params)[1]) == {"poisson"}


def test_lbfgs_solves_poisson(poisson):
    program, model, batches, x = poisson
    obj = Objective(program, model, batches, weights={"ends": 10.0})
    params, _, info = run(make_solver("lbfgs"), parameters_of(model), obj, 150)
    assert math.isfinite(info["loss"]) and info["loss"] < 1e-5
    with torch.no_grad():
        pred = torch.func.functional_call(model, params, (x,))[:, 0]
    exact = torch.sin(math.pi * x[:, 0])
    assert (pred - exact).norm() / exact.norm() < 5e-3


def test_adam_reduces_loss(poisson):
    program, model, batches, _ = poisson
    obj = Objective(program, model, batches)
    params = parameters_of(model)
    first = obj.loss(params)[0].item()
    params, _, info = run(make_solver("adam", lr=1e-2), params, obj, 100)
    assert info["loss"] < 0.2 * first


def test_lbfgs_restarts_its_memory_when_the_points_change(poisson):
    """Curvature pairs from old points must not steer steps on new ones: a new point set clears
    the memory, so the first step on it equals a fresh solver's first step there."""
    program, model, batches, _ = poisson
    moved = {name: Batch(b.x * 0.9 + 0.05) for name, b in batches.items()}
    solver = make_solver("lbfgs", history=5)
    params, state, info = run(solver, parameters_of(model), Objective(program, model, batches), 5)
    assert info["restarts"] == 0.0
    twin = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    params, state, info = run(solver, params, Objective(program, model, moved), 1, state)
    fresh, _, _ = run(make_solver("lbfgs", history=5), twin, Objective(program, model, moved), 1)
    assert info["restarts"] == 1.0
    for name in params:
        assert torch.equal(params[name], fresh[name]), name
    _, state, info = run(solver, params, Objective(program, model, moved), 2, state)
    assert info["restarts"] == 1.0  # same points again: the memory is kept
