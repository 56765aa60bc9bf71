"""Adam and L-BFGS, the baselines, and the gradient transforms first-order methods are built from.

A :class:`Transform` is a pair of pure functions in the optax manner: ``init(params) -> state``
and ``update(updates, state, params) -> (updates, state)``, neither of which mutates its
inputs; :func:`chain` composes them and :func:`apply_updates` adds the result to the
parameters. States are nested dicts and lists of tensors and numbers, so they save with
``torch.save`` and load with ``weights_only=True``. An update of ``None`` means "no step
this time": :func:`chain` passes it on and leaves the later states as they were.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor

from pinnlab import distributed
from pinnlab.compile import Objective
from pinnlab.solvers.base import Params, Solver, is_sharded, register_solver
from pinnlab.solvers.schedules import check_number, make_schedule


class Transform(NamedTuple):
    """A gradient transformation: ``init(params) -> state``, ``update(updates, state, params) -> (updates, state)``."""

    init: Callable[[Params], Any]
    update: Callable[[Any, Any, Params], tuple[Any, Any]]


def chain(*transforms: Transform) -> Transform:
    """The transforms applied in turn; the state is the list of their states."""

    def init(params: Params) -> list[Any]:
        return [t.init(params) for t in transforms]

    def update(updates: Any, state: list[Any], params: Params) -> tuple[Any, list[Any]]:
        new = []
        for t, s in zip(transforms, state, strict=True):
            if updates is not None:
                updates, s = t.update(updates, s, params)
            new.append(s)
        return updates, new

    return Transform(init, update)


def _zeros(params: Params) -> Params:
    return {k: torch.zeros_like(p).detach() for k, p in params.items()}


def add_decayed_weights(weight_decay: float = 0.0) -> Transform:
    """u + λ·θ: L2 regularisation added to the gradient (as ``torch.optim.Adam`` / ``SGD`` do)."""
    weight_decay = check_number("weight_decay", weight_decay)

    def update(updates: Params, state: dict, params: Params) -> tuple[Params, dict]:
        if weight_decay == 0.0:
            return updates, state
        return {k: u.add(params[k].detach(), alpha=weight_decay) for k, u in updates.items()}, state

    return Transform(lambda params: {}, update)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Transform:
    """Adam's direction m̂/(√v̂ + ε): m, v the moving averages of u and u², bias-corrected.

    State ``{"count", "mu", "nu"}``: the number of updates and the moments per parameter.
    """
    b1, b2 = check_number("beta1", b1, below=1.0), check_number("beta2", b2, below=1.0)
    eps = check_number("eps", eps)

    def init(params: Params) -> dict[str, Any]:
        return {"count": 0, "mu": _zeros(params), "nu": _zeros(params)}

    def update(updates: Params, state: dict[str, Any], params: Params) -> tuple[Params, dict[str, Any]]:
        count = state["count"] + 1
        mu = {k: state["mu"][k].lerp(u, 1 - b1) for k, u in updates.items()}
        nu = {k: state["nu"][k].mul(b2).addcmul_(u, u, value=1 - b2) for k, u in updates.items()}
        c1, c2 = 1 - b1**count, math.sqrt(1 - b2**count)
        out = {k: mu[k].div(nu[k].sqrt().div_(c2).add_(eps)).div_(c1) for k in updates}
        return out, {"count": count, "mu": mu, "nu": nu}

    return Transform(init, update)


def trace(momentum: float = 0.0) -> Transform:
    """Heavy-ball momentum b ← μ·b + u (``torch.optim.SGD`` without dampening); the identity for μ = 0.

    State ``{"trace"}`` (the buffers b), empty for μ = 0.
    """
    momentum = check_number("momentum", momentum)

    def init(params: Params) -> dict[str, Any]:
        return {"trace": _zeros(params)} if momentum else {}

    def update(updates: Params, state: dict[str, Any], params: Params) -> tuple[Params, dict[str, Any]]:
        if not momentum:
            return updates, state
        buffers = {k: state["trace"][k].mul(momentum).add_(u) for k, u in updates.items()}
        return buffers, {"trace": buffers}

    return Transform(init, update)


def scale_by_schedule(schedule: Callable[[int], float]) -> Transform:
    """u·(−lr(k)), k the number of updates so far: a descent step. State ``{"count": k}``."""

    def update(updates: Params, state: dict[str, int], params: Params) -> tuple[Params, dict[str, int]]:
        lr = schedule(state["count"])
        return {k: u.mul(-lr) for k, u in updates.items()}, {"count": state["count"] + 1}

    return Transform(lambda params: {"count": 0}, update)


def adam(schedule: Callable[[int], float], betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
         weight_decay: float = 0.0) -> Transform:
    """Adam with L2 weight decay and a learning-rate schedule: the update to add to the parameters."""
    if not isinstance(betas, (list, tuple)) or len(betas) != 2:
        raise ValueError(f"betas must be two numbers [beta1, beta2], got {betas!r}")
    return chain(add_decayed_weights(weight_decay), scale_by_adam(betas[0], betas[1], eps), scale_by_schedule(schedule))


def sgd(schedule: Callable[[int], float], momentum: float = 0.0, weight_decay: float = 0.0) -> Transform:
    """SGD with heavy-ball momentum, L2 weight decay and a learning-rate schedule."""
    return chain(add_decayed_weights(weight_decay), trace(momentum), scale_by_schedule(schedule))


def apply_updates(params: Params, updates: Params | None) -> Params:
    """θ ← θ + u in place (the leaf tensors stay the same objects); ``None`` changes nothing."""
    if updates is not None:
        with torch.no_grad():
            for k, u in updates.items():
                params[k].add_(u)
    return params


def gradients(loss: Tensor, params: Params, retain_graph: bool = False) -> Params:
    """∇loss per parameter (zeros for parameters it does not depend on)."""
    grads = torch.autograd.grad(loss, list(params.values()), retain_graph=retain_graph, allow_unused=True)
    return {k: torch.zeros_like(p) if g is None else g for (k, p), g in zip(params.items(), grads)}


def tree_clone(tree: Any) -> Any:
    """A copy of a state (nested dicts, lists and tuples) with every tensor detached and cloned."""
    if isinstance(tree, Tensor):
        return tree.detach().clone()
    if isinstance(tree, Mapping):
        return {k: tree_clone(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [tree_clone(v) for v in tree]
    return tree


def from_torch_optimizer(saved: Mapping[str, Any], template: list[Any], count: int) -> list[Any]:
    """The state of :func:`adam` / :func:`sgd` from a ``torch.optim.Adam`` / ``SGD`` state dict (as in
    checkpoints from before the solvers used transforms); ``template`` is a fresh state, ``count`` the step."""
    decay, inner, schedule = template
    names = next((list(v) for v in inner.values() if isinstance(v, Mapping)), [])
    per = {names[int(i)]: s for i, s in saved.get("state", {}).items()} if names else {}
    if per and "exp_avg" in next(iter(per.values())):
        inner = {"count": int(next(iter(per.values()))["step"]), "mu": {**inner["mu"]}, "nu": {**inner["nu"]}}
        for name, s in per.items():
            inner["mu"][name], inner["nu"][name] = s["exp_avg"].clone(), s["exp_avg_sq"].clone()
    elif per:
        inner = {"trace": {**inner["trace"], **{n: s["momentum_buffer"].clone() for n, s in per.items()}}}
    return [decay, inner, {**schedule, "count": int(count)}]


@register_solver("adam")
class Adam(Solver):
    """Adam (Kingma & Ba) with an optional learning-rate schedule: the :func:`adam` transform."""

    name = "adam"

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, schedule: str | None = None, final_lr: float | None = None,
                 gamma: float = 0.9, every: int = 1000, warmup: int = 0, steps: int = 1):
        self.lr = lr
        self.schedule = make_schedule(lr, steps, schedule, final_lr, gamma, every, warmup)
        self.transform = adam(self.schedule, betas, eps, weight_decay)

    def init(self, params: Params) -> dict[str, Any]:
        return {"opt": self.transform.init(params)}

    def step(self, params: Params, state: dict[str, Any], objective: Objective):
        lr = self.schedule(state["opt"][-1]["count"])
        # an Objective keeps the residuals of this evaluation for adaptive samplers
        loss, losses = objective.loss(params, record=True) if isinstance(objective, Objective) else objective.loss(params)
        grads = gradients(loss, params)
        loss, losses = loss.detach(), {k: v.detach() for k, v in losses.items()}
        if is_sharded(objective):  # the ranks' shares of the global loss and gradient, in one all-reduce
            loss, losses, grads = distributed.all_reduce_sum_tree((loss, losses, grads))
        updates, opt = self.transform.update(grads, state["opt"], params)
        apply_updates(params, updates)
        # tensors: the trainer reads them when it logs, so a GPU step does not wait for the device
        info = {"loss": loss, "lr": lr, **{f"loss_{k}": v for k, v in losses.items()}}
        return params, {"opt": opt}, info

    def state_dict(self, state: dict[str, Any]) -> dict[str, Any]:
        return tree_clone(state)

    def load_state_dict(self, state: dict[str, Any], saved: Mapping[str, Any]) -> dict[str, Any]:
        if "param_groups" in saved["opt"]:  # a torch.optim.Adam state dict
            return {"opt": from_torch_optimizer(saved["opt"], state["opt"], saved["k"])}
        return tree_clone(saved)


def points_key(batches: Mapping[str, Any], sharded: bool = False) -> tuple[float, ...]:
    """A cheap fingerprint of the collocation points (size, first and second moments per batch); of every
    rank's points together when ``sharded``."""
    key: list[float] = []
    for name in sorted(batches):
        x = batches[name].x.detach().double()
        key += [float(x.shape[0]), float(x.sum()), float(x.pow(2).sum())]
    return tuple(distributed.all_reduce_sum_tree(key)) if sharded else tuple(key)


@register_solver("lbfgs")
class LBFGS(Solver):
    """L-BFGS with a strong-Wolfe line search of at most ``max_evals`` evaluations; one ``step`` is one
    quasi-Newton iteration.

    Curvature pairs are only meaningful on one set of points: when the sampler has drawn new
    points since the last step, the memory is cleared and the iteration starts afresh from
    the new gradient (``restarts`` counts this in the history)."""

    name = "lbfgs"
    needs_fixed_points = True

    def __init__(self, lr: float = 1.0, history: int = 50, line_search: str | None = "strong_wolfe",
                 max_evals: int = 25, steps: int = 1):
        # torch caps the line search at max_eval minus the evaluations already made in the step, so
        # max_eval must exceed max_iter = 1 or the line search can never shrink a rejected step
        self.options = {"lr": lr, "history_size": history, "line_search_fn": line_search,
                        "tolerance_grad": 0.0, "tolerance_change": 0.0, "max_iter": 1,
                        "max_eval": 1 + max(int(max_evals), 1)}

    def init(self, params: Params) -> dict[str, Any]:
        return {"opt": torch.optim.LBFGS(list(params.values()), **self.options), "points": None, "restarts": 0}

    def step(self, params: Params, state: dict[str, Any], objective: Objective):
        opt = state["opt"]
        batches = getattr(objective, "batches", None)
        sharded = is_sharded(objective)
        key = None if batches is None else points_key(batches, sharded)
        if state["points"] is not None and key != state["points"]:
            opt.state.clear()
            state["restarts"] += 1
        state["points"] = key
        record: dict[str, Any] = {}

        def closure():
            opt.zero_grad(set_to_none=True)
            loss, losses = objective.loss(params)
            loss.backward()
            if sharded:  # global loss and gradient: every rank takes the same line-search decisions
                grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params.values()]
                loss, losses, grads = distributed.all_reduce_sum_tree(
                    (loss.detach(), {k: v.detach() for k, v in losses.items()}, grads))
                for p, g in zip(params.values(), grads):
                    p.grad = g
            if "loss" not in record:
                record["loss"], record["losses"] = loss.item(), {k: v.item() for k, v in losses.items()}
            return loss

        opt.step(closure)
        n_evals = opt.state[opt._params[0]].get("func_evals", 0)
        info = {"loss": record["loss"], "evals": float(n_evals), "restarts": float(state["restarts"]),
                **{f"loss_{k}": v for k, v in record["losses"].items()}}
        return params, state, info

    def state_dict(self, state: dict[str, Any]) -> dict[str, Any]:
        points = None if state["points"] is None else list(state["points"])
        return {"opt": state["opt"].state_dict(), "points": points, "restarts": state["restarts"]}

    def load_state_dict(self, state: dict[str, Any], saved: Mapping[str, Any]) -> dict[str, Any]:
        state["opt"].load_state_dict(saved["opt"])
        points = saved.get("points")
        state["points"] = None if points is None else tuple(points)
        state["restarts"] = int(saved.get("restarts", 0))
        return state
