"""ConFIG and M-ConFIG: conflict-free directions, length rules, momentum equations, solvers."""

from __future__ import annotations

import io
import math

import pytest
import torch

from pinnlab.config import parse_config
from pinnlab.config.build import geometry_of, model_from_config, problem_from_config, program_from_config
from pinnlab.nn import parameters_of
from pinnlab.sampling import PointDrawer, make_sampler
from pinnlab.solvers import Objective, make_solver
from pinnlab.solvers.conflict_free import (
    MomentumState,
    config_direction,
    config_length,
    config_update,
    mconfig_update,
    term_gradients,
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


def cosines(grads: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
    return (grads @ update) / (grads.norm(dim=1) * update.norm())


def random_sets():
    g = torch.Generator().manual_seed(0)
    for m in (2, 3, 5, 8):
        yield torch.randn(m, 40, generator=g, dtype=F64)


def adversarial_sets():
    g = torch.Generator().manual_seed(1)
    base = torch.randn(30, generator=g, dtype=F64)
    noise = torch.randn(4, 30, generator=g, dtype=F64)
    # nearly opposite pair
    yield torch.stack([base, -base + 0.05 * noise[0]])
    # magnitudes spanning twelve decades
    yield torch.stack([1e-6 * base + 1e-7 * noise[0], 1e6 * noise[1], noise[2]])
    # one gradient against the sum of the others, plus a nearly collinear pair
    yield torch.stack([noise[0], noise[1], -(noise[0] + noise[1]) + 0.1 * noise[2]])
    yield torch.stack([base, base + 1e-4 * noise[0], noise[1]])
    # more terms than the dimension of their span would allow only for m > P: here m = P
    yield torch.randn(6, 6, generator=g, dtype=F64)


@pytest.mark.parametrize("grads", [*random_sets(), *adversarial_sets()])
def test_update_has_equal_positive_cosine_with_every_term(grads):
    update = config_update(grads)
    cos = cosines(grads, update)
    assert bool((cos > 0).all())
    assert float(cos.max() - cos.min()) <= 1e-8 * float(cos.max())
    # and it descends every term: g_iᵀ g_c > 0
    assert bool(((grads @ update) > 0).all())


def test_projection_length_and_unit_direction():
    grads = next(random_sets())
    direction = config_direction(grads)
    assert float(direction.norm()) == pytest.approx(1.0)
    assert torch.allclose(config_update(grads), (grads @ direction).sum() * direction)


def test_other_length_rules_rescale_by_a_mean_of_the_norms():
    grads = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=F64)
    direction = config_direction(grads)  # (1, 1)/√2: both unit projections are 1/√2
    s = 2 / math.sqrt(2)
    expected = {"min": 1.0 * s, "max": 3.0 * s, "mean": 2.0 * s, "harmonic": 1.5 * s, "geometric": math.sqrt(3) * s,
                "projection": 4 / math.sqrt(2)}
    for rule, value in expected.items():
        assert float(config_length(grads, direction, rule)) == pytest.approx(value, rel=1e-12)
    with pytest.raises(ValueError, match="unknown length rule"):
        config_length(grads, direction, "median")


@pytest.mark.parametrize("seed", range(5))
def test_two_term_closed_form_equals_general_solve(seed):
    g = torch.Generator().manual_seed(seed)
    grads = torch.randn(2, 25, generator=g, dtype=F64) * torch.tensor([[1.0], [10.0 ** (seed - 2)]], dtype=F64)
    closed = config_update(grads, closed_form=True)
    general = config_update(grads, closed_form=False)
    assert torch.allclose(closed, general, rtol=1e-10, atol=1e-14)


def test_degenerate_cases():
    g = torch.tensor([1.0, 2.0, -1.0], dtype=F64)
    # parallel gradients: the common direction, length Σ|g_i|
    assert torch.allclose(config_update(torch.stack([g, 3 * g])), 4 * g)
    # exactly opposite: no conflict-free direction
    assert float(config_update(torch.stack([g, -2 * g])).norm()) == 0.0
    # a zero gradient is ignored
    assert torch.allclose(config_update(torch.stack([g, torch.zeros(3, dtype=F64)])), g)
    assert float(config_update(torch.zeros(2, 3, dtype=F64)).norm()) == 0.0


def test_mconfig_hand_checked_steps():
    """β1 = β2 = 1/2, ε = 0; term 0 sees (2,0) then (4,0), term 1 sees (0,4).

    step 1: m0 = (1,0); term 1 has no moment yet -> no update.
    step 2: m1 = (0,2); m̂ = (2,0), (0,4); g_c = 3·(1,1); m_c = 1.5; pseudo-gradient 3;
            s = 4.5, ŝ = 9 -> update (1, 1).
    step 3: m0 = (2.5,0), m̂0 = (10/3, 0); g_c = 11/3·(1,1); m_c = 0.75·11/3 = 2.75;
            pseudo-gradient (2.75 − 0.75)/0.5 = 4; s = 10.25, ŝ = 41/3 -> update 11/3/√(41/3).
    """
    state = MomentumState.zeros(2, torch.zeros(2, dtype=F64))
    kw = {"beta1": 0.5, "beta2": 0.5, "eps": 0.0}
    update, _ = mconfig_update(state, 0, torch.tensor([2.0, 0.0], dtype=F64), **kw)
    assert torch.equal(update, torch.zeros(2, dtype=F64)) and state.t == 0
    update, m_hat = mconfig_update(state, 1, torch.tensor([0.0, 4.0], dtype=F64), **kw)
    assert torch.allclose(m_hat, torch.tensor([[2.0, 0.0], [0.0, 4.0]], dtype=F64))
    assert torch.allclose(update, torch.tensor([1.0, 1.0], dtype=F64))
    assert torch.allclose(state.s, torch.full((2,), 4.5, dtype=F64))
    update, m_hat = mconfig_update(state, 0, torch.tensor([4.0, 0.0], dtype=F64), **kw)
    assert torch.allclose(m_hat[0], torch.tensor([10 / 3, 0.0], dtype=F64))
    assert torch.allclose(state.fake_m, torch.full((2,), 2.75, dtype=F64))
    assert torch.allclose(state.s, torch.full((2,), 10.25, dtype=F64))
    assert torch.allclose(update, torch.full((2,), (11 / 3) / math.sqrt(41 / 3), dtype=F64))
    assert state.counts == [2, 1] and state.t == 2


def test_mconfig_constant_gradients_give_unit_sign_steps():
    """With constant term gradients the bias-corrected moments are exact, the pseudo-gradient
    equals g_c and ŝ = g_c², so every update after the first is g_c/|g_c| componentwise."""
    state = MomentumState.zeros(2, torch.zeros(2, dtype=F64))
    grads = [torch.tensor([3.0, 0.0], dtype=F64), torch.tensor([0.0, 0.5], dtype=F64)]
    for k in range(12):
        update, _ = mconfig_update(state, k % 2, grads[k % 2], eps=0.0)
        if k > 0:
            assert torch.allclose(update, torch.ones(2, dtype=F64), rtol=1e-12)


# -- solvers on a small PINN -----------------------------------------------------------------------


def heat_objective(n: int = 64):
    cfg = parse_config({
        "problem": {"equation": "heat", "options": {"dim": 1}},
        "model": {"width": 8, "depth": 2},
        "derivatives": {"method": "autograd"},
        "sampling": {"interior": n, "boundary": 16, "initial": 16},
        "train": {"dtype": "float64", "steps": 1},
    })
    problem = problem_from_config(cfg.problem)
    geometry = geometry_of(problem)
    old = torch.get_default_dtype()
    torch.set_default_dtype(F64)
    try:
        model = model_from_config(cfg.model, problem, geometry, torch.Generator().manual_seed(0))
        program = program_from_config(cfg, problem)
    finally:
        torch.set_default_dtype(old)
    drawer = PointDrawer(geometry, torch.Generator().manual_seed(1), "uniform", F64)
    batches = make_sampler("fixed", program.point_sets, drawer).sample(0)
    return Objective(program, model, batches, {"boundary": 2.0}), parameters_of(model)


def test_term_gradients_match_separate_backward_passes():
    objective, params = heat_objective()
    grads, losses = term_gradients(objective, params, objective.terms)
    for row, name in zip(grads, objective.terms):
        loss = objective.weights[name] * objective.residuals(params, [name])[name].pow(2).mean()
        expected = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
        flat = [torch.zeros_like(p) if e is None else e for p, e in zip(params.values(), expected)]
        assert torch.allclose(row, torch.cat([e.reshape(-1) for e in flat]))
        assert losses[name] == pytest.approx(objective.residuals(params, [name])[name].pow(2).mean().item())


@pytest.mark.parametrize("base", ["adam", "sgd"])
def test_config_solver_descends_and_logs_conflict(base):
    objective, params = heat_objective()
    solver = make_solver("config", lr=1e-2 if base == "adam" else 0.05, base=base, steps=40, schedule="cosine")
    state = solver.init(params)
    first = None
    for _ in range(40):
        params, state, info = solver.step(params, state, objective)
        first = first if first is not None else info["loss"]
        cos = [info[f"cos_update_{t}"] for t in objective.terms]
        assert min(cos) > 0 and max(cos) - min(cos) < 1e-8
        assert -1.0 <= info["cos_min"] <= 1.0
    assert objective.loss(params)[0].item() < 0.5 * first


def test_mconfig_solver_cycles_terms_and_descends():
    objective, params = heat_objective()
    solver = make_solver("mconfig", lr=5e-3, steps=90)
    state = solver.init(params)
    first = objective.loss(params)[0].item()
    seen = []
    for _ in range(90):
        params, state, info = solver.step(params, state, objective)
        seen.append(int(info["term"]))
    assert seen[:6] == [0, 1, 2, 0, 1, 2]
    assert objective.loss(params)[0].item() < 0.5 * first
    # the reported loss is built from each term's latest value
    assert info["loss"] == pytest.approx(sum(objective.weights[t] * info[f"loss_{t}"] for t in objective.terms))


@pytest.mark.parametrize("name", ["config", "mconfig"])
def test_state_dict_round_trip(name):
    objective, params = heat_objective(32)
    solver = make_solver(name, lr=1e-3, steps=10)
    state = solver.init(params)
    for _ in range(4):
        params, state, _ = solver.step(params, state, objective)
    buffer = io.BytesIO()
    torch.save(solver.state_dict(state), buffer)
    buffer.seek(0)
    twin = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    restored = solver.load_state_dict(solver.init(twin), torch.load(buffer))
    params, state, info_a = solver.step(params, state, objective)
    twin, restored, info_b = solver.step(twin, restored, objective)
    for k in params:
        assert torch.equal(params[k], twin[k])
    assert info_a["loss"] == info_b["loss"]
