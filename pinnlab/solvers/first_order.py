"""Adam and L-BFGS, the baselines, over the flat parameter dict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from pinnlab.compile import Objective
from pinnlab.solvers.base import Params, Solver, register_solver
from pinnlab.solvers.schedules import make_schedule


@register_solver("adam")
class Adam(Solver):
    """Adam (Kingma & Ba) with an optional learning-rate schedule."""

    name = "adam"

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, schedule: str | None = None, final_lr: float | None = None,
                 gamma: float = 0.9, every: int = 1000, warmup: int = 0, steps: int = 1):
        self.lr = lr
        self.options = {"betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        self.schedule = make_schedule(lr, steps, schedule, final_lr, gamma, every, warmup)

    def init(self, params: Params) -> dict[str, Any]:
        return {"opt": torch.optim.Adam(list(params.values()), lr=self.schedule(0), **self.options), "k": 0}

    def step(self, params: Params, state: dict[str, Any], objective: Objective):
        opt = state["opt"]
        lr = self.schedule(state["k"])
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        # an Objective keeps the residuals of this evaluation for adaptive samplers
        loss, losses = objective.loss(params, record=True) if isinstance(objective, Objective) else objective.loss(params)
        loss.backward()
        opt.step()
        state["k"] += 1
        info = {"loss": loss.item(), "lr": lr, **{f"loss_{k}": v.item() for k, v in losses.items()}}
        return params, state, info

    def state_dict(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"opt": state["opt"].state_dict(), "k": state["k"]}

    def load_state_dict(self, state: dict[str, Any], saved: Mapping[str, Any]) -> dict[str, Any]:
        state["opt"].load_state_dict(saved["opt"])
        state["k"] = int(saved["k"])
        return state


def points_key(batches: Mapping[str, Any]) -> tuple[float, ...]:
    """A cheap fingerprint of the collocation points (size, first and second moments per batch)."""
    key: list[float] = []
    for name in sorted(batches):
        x = batches[name].x.detach().double()
        key += [float(x.shape[0]), float(x.sum()), float(x.pow(2).sum())]
    return tuple(key)


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
        key = None if batches is None else points_key(batches)
        if state["points"] is not None and key != state["points"]:
            opt.state.clear()
            state["restarts"] += 1
        state["points"] = key
        record: dict[str, Any] = {}

        def closure():
            opt.zero_grad(set_to_none=True)
            loss, losses = objective.loss(params)
            loss.backward()
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
