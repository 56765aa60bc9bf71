"""The gradient transforms of pinnlab.solvers.first_order: Adam and SGD against torch.optim, chaining, state."""

from __future__ import annotations

import io

import pytest
import torch

from pinnlab.solvers import make_solver
from pinnlab.solvers.first_order import (
    Transform,
    adam,
    apply_updates,
    chain,
    gradients,
    scale_by_schedule,
    sgd,
    tree_clone,
)
from pinnlab.solvers.schedules import make_schedule

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.one_thread
D = torch.float64


def quadratic(params):
    """A badly scaled quadratic in two parameter tensors."""
    a, b = params["a"], params["b"]
    return (torch.arange(1.0, 7.0, dtype=D).reshape(2, 3) * (a - 1) ** 2).sum() + 30 * (b + 2).pow(2).sum()


def start():
    g = torch.Generator().manual_seed(0)
    return {"a": torch.randn(2, 3, generator=g, dtype=D, requires_grad=True),
            "b": torch.randn(4, generator=g, dtype=D, requires_grad=True)}


def run_torch(make_opt, schedule, steps):
    params = start()
    opt = make_opt(list(params.values()))
    for k in range(steps):
        for group in opt.param_groups:
            group["lr"] = schedule(k)
        opt.zero_grad()
        quadratic(params).backward()
        opt.step()
    return params


def run_transform(tx: Transform, steps):
    params = start()
    state = tx.init(params)
    for _ in range(steps):
        updates, state = tx.update(gradients(quadratic(params), params), state, params)
        apply_updates(params, updates)
    return params, state


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_transform_equals_torch_adam(weight_decay):
    schedule = make_schedule(0.05, 30, "cosine", warmup=5)
    expected = run_torch(lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.8, 0.99), eps=1e-6,
                                                    weight_decay=weight_decay), schedule, 30)
    params, state = run_transform(adam(schedule, (0.8, 0.99), 1e-6, weight_decay), 30)
    assert state[1]["count"] == state[2]["count"] == 30
    for k in params:
        torch.testing.assert_close(params[k], expected[k], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.5, 0.05)])
def test_sgd_transform_equals_torch_sgd(momentum, weight_decay):
    schedule = make_schedule(0.004, 40, "step", gamma=0.5, every=10)
    expected = run_torch(lambda p: torch.optim.SGD(p, lr=0.004, momentum=momentum, weight_decay=weight_decay),
                         schedule, 40)
    params, _ = run_transform(sgd(schedule, momentum, weight_decay), 40)
    for k in params:
        torch.testing.assert_close(params[k], expected[k], rtol=1e-14, atol=1e-15)


def test_chain_skips_a_none_update():
    """A transform that gives None (no step) leaves the later states unchanged and the parameters alone."""
    skip_first = Transform(lambda p: {"seen": 0},
                           lambda u, s, p: (None if s["seen"] == 0 else u, {"seen": s["seen"] + 1}))
    tx = chain(skip_first, scale_by_schedule(lambda k: 0.5))
    params = {"x": torch.ones(2, dtype=D)}
    state = tx.init(params)
    updates, state = tx.update({"x": torch.ones(2, dtype=D)}, state, params)
    assert updates is None and state == [{"seen": 1}, {"count": 0}]
    apply_updates(params, updates)
    assert torch.equal(params["x"], torch.ones(2, dtype=D))
    updates, state = tx.update({"x": torch.ones(2, dtype=D)}, state, params)
    assert torch.equal(updates["x"], torch.full((2,), -0.5, dtype=D)) and state[1] == {"count": 1}


def test_tree_clone_copies_tensors():
    tree = {"a": [torch.zeros(2), {"b": torch.ones(1)}], "n": 3, "none": None}
    copy = tree_clone(tree)
    copy["a"][0].add_(1.0)
    assert float(tree["a"][0].sum()) == 0.0 and copy["n"] == 3 and copy["none"] is None


class Bowl:
    def loss(self, params):
        value = quadratic(params)
        return value, {"q": value}


def test_adam_solver_loads_a_torch_adam_checkpoint():
    """State saved as a torch.optim.Adam state dict (the solver's earlier layout) continues as torch would."""
    params = start()
    opt = torch.optim.Adam(list(params.values()), lr=0.01)
    for _ in range(3):
        opt.zero_grad()
        quadratic(params).backward()
        opt.step()
    buffer = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "k": 3}, buffer)
    buffer.seek(0)
    solver = make_solver("adam", lr=0.01)
    twin = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    state = solver.load_state_dict(solver.init(twin), torch.load(buffer, weights_only=True))
    for _ in range(3):
        opt.zero_grad()
        quadratic(params).backward()
        opt.step()
        twin, state, _ = solver.step(twin, state, Bowl())
    assert state["opt"][1]["count"] == 6
    for k in params:
        torch.testing.assert_close(twin[k], params[k], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name, options, message", [
    ("adam", {"lr": "fast"}, "lr must be a number >= 0, got 'fast'"),
    ("adam", {"betas": [0.9, 1.0]}, r"beta2 must be a number in \[0, 1\)"),
    ("adam", {"betas": 0.9}, "betas must be two numbers"),
    ("adam", {"schedule": "cosine", "final_lr": "low"}, "final_lr must be a number"),
    ("config", {"lr": -1.0}, "lr must be a number >= 0"),
    ("config", {"base": "sgd", "momentum": -0.5}, "momentum must be a number >= 0"),
    ("config", {"weight_decay": "x"}, "weight_decay must be a number"),
    ("mconfig", {"beta1": 1.0}, r"beta1 must be a number in \[0, 1\)"),
    ("mconfig", {"eps": None}, "eps must be a number"),
])
def test_bad_option_values_fail_when_the_solver_is_built(name, options, message):
    with pytest.raises(ValueError, match=message):
        make_solver(name, **options)
