"""ConFIG and M-ConFIG: conflict-free directions, length rules, momentum equations, solvers."""

from __future__ import annotations

import dataclasses
import io
import math

import pytest
import torch

import pinnlab as pl
from pinnlab.config import parse_config
from pinnlab.config.build import geometry_of, model_from_config, problem_from_config, program_from_config
from pinnlab.io import run_dir as rd
from pinnlab.nn import parameters_of
from pinnlab.sampling import PointDrawer, make_sampler
from pinnlab.solvers import Objective, make_solver
from pinnlab.solvers.conflict_free import (
    TermGrads,
    config_direction,
    config_length,
    config_update,
    corrected_moments,
    momentum_conflict_free,
    term_gradients,
)
from pinnlab.solvers.first_order import chain, scale_by_adam, tree_clone

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


def mconfig_chain(beta1=0.9, beta2=0.999, eps=1e-8, **kw):
    """M-ConFIG without the learning rate: the momentum direction, then Adam (+ g_c/(√ŝ + ε))."""
    return chain(momentum_conflict_free(beta1, **kw), scale_by_adam(beta1, beta2, eps))


def feed(transform, state, params, index, grad, n_terms=2):
    return transform.update(TermGrads(grad[None], (index,), n_terms), state, params)


def test_mconfig_hand_checked_steps():
    """β1 = β2 = 1/2, ε = 0; term 0 sees (2,0) then (4,0), term 1 sees (0,4).

    step 1: m0 = (1,0); term 1 has no moment yet -> no update.
    step 2: m1 = (0,2); m̂ = (2,0), (0,4); g_c = 3·(1,1); m_c = 1.5; pseudo-gradient 3;
            s = 4.5, ŝ = 9 -> update (1, 1).
    step 3: m0 = (2.5,0), m̂0 = (10/3, 0); g_c = 11/3·(1,1); m_c = 0.75·11/3 = 2.75;
            pseudo-gradient (2.75 − 0.75)/0.5 = 4; s = 10.25, ŝ = 41/3 -> update 11/3/√(41/3).
    """
    params = {"x": torch.zeros(2, dtype=F64)}
    tx = mconfig_chain(0.5, 0.5, 0.0)
    state = tx.init(params)
    update, state = feed(tx, state, params, 0, torch.tensor([2.0, 0.0], dtype=F64))
    assert update is None and state[0]["t"] == 0 and state[1]["count"] == 0
    update, state = feed(tx, state, params, 1, torch.tensor([0.0, 4.0], dtype=F64))
    assert torch.allclose(corrected_moments(state[0], 0.5), torch.tensor([[2.0, 0.0], [0.0, 4.0]], dtype=F64))
    assert torch.allclose(update["x"], torch.tensor([1.0, 1.0], dtype=F64))
    assert torch.allclose(state[1]["nu"]["x"], torch.full((2,), 4.5, dtype=F64))
    update, state = feed(tx, state, params, 0, torch.tensor([4.0, 0.0], dtype=F64))
    assert torch.allclose(corrected_moments(state[0], 0.5)[0], torch.tensor([10 / 3, 0.0], dtype=F64))
    assert torch.allclose(state[0]["fake_m"], torch.full((2,), 2.75, dtype=F64))
    assert torch.allclose(state[1]["mu"]["x"], state[0]["fake_m"], rtol=1e-14)  # Adam's m is m_c
    assert torch.allclose(state[1]["nu"]["x"], torch.full((2,), 10.25, dtype=F64))
    assert torch.allclose(update["x"], torch.full((2,), (11 / 3) / math.sqrt(41 / 3), dtype=F64))
    assert state[0]["counts"] == [2, 1] and state[0]["t"] == state[1]["count"] == 2


def test_mconfig_constant_gradients_give_unit_sign_steps():
    """With constant term gradients the bias-corrected moments are exact, the pseudo-gradient
    equals g_c and ŝ = g_c², so every update after the first is g_c/|g_c| componentwise."""
    params = {"x": torch.zeros(2, dtype=F64)}
    tx = mconfig_chain(eps=0.0)
    state = tx.init(params)
    grads = [torch.tensor([3.0, 0.0], dtype=F64), torch.tensor([0.0, 0.5], dtype=F64)]
    for k in range(12):
        update, state = feed(tx, state, params, k % 2, grads[k % 2])
        if k > 0:
            assert torch.allclose(update["x"], torch.ones(2, dtype=F64), rtol=1e-12)


def test_transforms_are_pure():
    """An update leaves the state it was given untouched (so a saved state can be replayed)."""
    params = {"x": torch.zeros(3, dtype=F64)}
    tx = mconfig_chain()
    state = tx.init(params)
    for k, g in enumerate(torch.randn(4, 3, dtype=F64, generator=torch.Generator().manual_seed(3))):
        before = tree_clone(state)
        _, new = feed(tx, state, params, k % 2, g)
        assert _equal_trees(state, before)
        state = new


def _equal_trees(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal_trees(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal_trees(x, y) for x, y in zip(a, b))
    return a == b


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


def gated_objective():
    """The heat objective with per-point weights on the interior: zero on the first half of the points
    (a causal gate that has not opened yet), one on the rest."""
    objective, params = heat_objective()
    interior = {t for t in objective.terms if objective.program.terms[t].point_set == "interior"}
    batches = dict(objective.batches)
    n = batches["interior"].x.shape[0]
    batches["interior"] = dataclasses.replace(batches["interior"], weights=torch.cat(
        [torch.zeros(n // 2, dtype=F64), torch.ones(n - n // 2, dtype=F64)]))
    return Objective(objective.program, objective.model, batches, objective.weights), params, interior


def flat_grad(loss, params):
    grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params.values(), grads)])


def test_term_gradients_use_per_point_weights():
    """Each row is the gradient of w_t times the weighted term loss; without the point weights the
    interior row would be far off (the check has teeth)."""
    objective, params, interior = gated_objective()
    assert interior
    grads, losses = term_gradients(objective, params, objective.terms)
    for row, name in zip(grads, objective.terms):
        weighted = objective.term_losses(objective.residuals(params, [name]))[name]
        expected = flat_grad(objective.weights[name] * weighted, params)
        assert torch.allclose(row, expected, rtol=1e-12, atol=1e-15)
        assert losses[name] == pytest.approx(weighted.item(), rel=1e-14)
        if name in interior:
            plain = flat_grad(objective.weights[name] * objective.residuals(params, [name])[name].pow(2).mean(), params)
            assert float((plain - expected).norm() / expected.norm()) > 0.5


@pytest.mark.parametrize("name", ["config", "mconfig"])
def test_solvers_step_on_the_weighted_term_gradients(name):
    """One step of each solver from the same start moves the parameters by the update built from the
    weighted term gradients, and reports the weighted term losses."""
    objective, params, _ = gated_objective()
    start = {k: v.detach().clone() for k, v in params.items()}
    grads, losses = term_gradients(objective, params, objective.terms)
    solver = make_solver(name, lr=1e-3, steps=10, **({"base": "sgd"} if name == "config" else {}))
    params, _, info = solver.step(params, solver.init(params), objective)
    moved = torch.cat([(params[k].detach() - start[k]).reshape(-1) for k in start])
    if name == "config":  # plain SGD: the step is −lr·g_c
        assert torch.allclose(moved, -1e-3 * config_update(grads), rtol=1e-10, atol=1e-16)
    else:  # the first term alone: no step yet
        assert float(moved.abs().max()) == 0.0
    term = objective.terms[0]
    assert info[f"loss_{term}"] == pytest.approx(losses[term], rel=1e-14)


def test_config_records_the_step_residuals():
    objective, params = heat_objective(32)
    solver = make_solver("config", lr=1e-3, steps=2)
    expected = objective.residuals(params)
    solver.step(params, solver.init(params), objective)
    assert objective.step_residuals.keys() == expected.keys()
    assert all(torch.equal(objective.step_residuals[k], expected[k].detach()) for k in expected)


ROUND_TRIP = [("config", {}), ("config", {"base": "sgd", "momentum": 0.9, "weight_decay": 1e-3}),
              ("config", {"length": "harmonic", "closed_form": False, "schedule": "cosine", "warmup": 2}),
              ("mconfig", {}), ("mconfig", {"schedule": "cosine", "length": "min"})]


@pytest.mark.parametrize("name, options", ROUND_TRIP)
def test_state_dict_round_trip(name, options):
    """Saved after 4 steps (through torch.save / weights_only load) and restored into a new solver,
    the next steps are bit-identical."""
    objective, params = heat_objective(32)
    solver = make_solver(name, lr=1e-3, steps=10, **options)
    state = solver.init(params)
    for _ in range(4):
        params, state, _ = solver.step(params, state, objective)
    buffer = io.BytesIO()
    torch.save(solver.state_dict(state), buffer)
    buffer.seek(0)
    twin = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    fresh = make_solver(name, lr=1e-3, steps=10, **options)
    restored = fresh.load_state_dict(fresh.init(twin), torch.load(buffer, weights_only=True))
    for _ in range(3):
        params, state, info_a = solver.step(params, state, objective)
        twin, restored, info_b = fresh.step(twin, restored, objective)
        assert info_a == info_b
    for k in params:
        assert torch.equal(params[k], twin[k])


@pytest.mark.parametrize("solver", [{"name": "config", "lr": 1e-2}, {"name": "mconfig", "lr": 1e-2},
                                    {"name": "config", "lr": 1e-2, "base": "sgd", "momentum": 0.5}])
def test_resumed_run_equals_uninterrupted_run(tmp_path, tiny, solver):
    """Through the trainer and its checkpoint: 4 steps, then 4 more with resume, equal 8 steps in one go."""
    pl.solve(tiny(solver=solver, train={"steps": 8}), out=tmp_path / "long")
    pl.solve(tiny(solver=solver, train={"steps": 4}), out=tmp_path / "short")
    pl.solve(tiny(solver=solver, train={"steps": 8}), out=tmp_path / "short", resume=True)
    a, b = (rd.load_checkpoint(tmp_path / run / rd.MODEL)["model"] for run in ("long", "short"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoints_of_the_torch_optimizer_layout_still_load():
    """A ConFIG state saved as a torch.optim.Adam state dict (the layout before the transforms)
    continues exactly as the Adam moments say."""
    objective, params = heat_objective(32)
    opt = torch.optim.Adam(list(params.values()), lr=1e-3)
    solver = make_solver("config", lr=1e-3, steps=10)
    for _ in range(2):
        grads, _ = term_gradients(objective, params, objective.terms)
        g_c = config_update(grads)
        sizes = [p.numel() for p in params.values()]
        for p, g in zip(params.values(), torch.split(g_c, sizes)):
            p.grad = g.view_as(p).clone()
        opt.step()
    legacy = {"opt": opt.state_dict(), "k": 2}
    state = solver.load_state_dict(solver.init(params), legacy)
    adam_state = state["base"][1]
    assert adam_state["count"] == 2 and state["base"][2]["count"] == 2
    for i, name in enumerate(params):
        assert torch.equal(adam_state["mu"][name], opt.state_dict()["state"][i]["exp_avg"])
    twin = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    grads, _ = term_gradients(objective, params, objective.terms)
    g_c = config_update(grads)
    for p, g in zip(params.values(), torch.split(g_c, sizes)):
        p.grad = g.view_as(p).clone()
    opt.step()
    twin, _, _ = solver.step(twin, state, objective)
    for k in params:
        assert torch.allclose(params[k], twin[k], rtol=1e-12, atol=1e-15)


def test_mconfig_loads_its_earlier_checkpoint_layout():
    """The layout before the transforms (moments m, s, fake_m as flat tensors) resumes the same run."""
    objective, params = heat_objective(32)
    solver = make_solver("mconfig", lr=1e-3, steps=10)
    state = solver.init(params)
    for _ in range(4):
        params, state, _ = solver.step(params, state, objective)
    mom, adam_state = state["direction"], state["base"][0]
    legacy = {"k": state["k"], "latest": state["latest"],
              "moments": {"m": torch.stack(mom["m"]), "s": torch.cat([v.reshape(-1) for v in adam_state["nu"].values()]),
                          "fake_m": mom["fake_m"], "counts": mom["counts"], "t": mom["t"]}}
    twin = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    restored = solver.load_state_dict(solver.init(twin), legacy)
    for _ in range(3):
        params, state, _ = solver.step(params, state, objective)
        twin, restored, _ = solver.step(twin, restored, objective)
    assert restored["k"] == state["k"] and restored["base"][1] == state["base"][1]
    for k in params:
        assert torch.allclose(params[k], twin[k], rtol=1e-12, atol=1e-15)
