"""ConFIG and M-ConFIG (Liu, Chu & Thuerey, ICLR 2025): conflict-free updates for multi-term losses.

With per-term gradients g_1..g_m (g_i = ∇ w_i L_i, L_i the term's loss with its per-point
weights) and unit vectors U(g) = g/‖g‖, the update direction ĝ is the normalised
minimum-norm solution x of [U(g_1), …, U(g_m)]ᵀ x = 1_m, so every term gradient makes the
same positive angle with it whenever such a direction exists. Its length is Σ_i g_iᵀ ĝ
(``projection``, the paper's default) or ℓ·Σ_i U(g_i)ᵀ ĝ with ℓ the ``min`` / ``max`` /
``mean`` / ``harmonic`` / ``geometric`` mean of the norms ‖g_i‖. For two terms the direction
has the closed form ĝ ∝ U(g_1⊥) + U(g_2⊥), g_1⊥ the part of g_1 orthogonal to g_2.

Both methods are a direction transform composed with a base optimiser (see
:mod:`pinnlab.solvers.first_order`), fed the per-term gradients as :class:`TermGrads`:

* ``config``: every term back-propagated every step; :func:`conflict_free` (stateless) gives
  the ConFIG vector, which the base optimiser (:func:`~first_order.adam` or
  :func:`~first_order.sgd`, with the usual schedules) takes as its gradient.
* ``mconfig`` (M-ConFIG): one term per step, in turn; :func:`momentum_conflict_free` keeps
  per-term first moments and turns the ConFIG vector g_c of their bias-corrected values into
  the pseudo-gradient whose Adam first moment is (1 − β1^t)·g_c; Adam (:func:`scale_by_adam`
  with the same β1) then steps lr·g_c/(√ŝ + ε), ŝ the second moment of the pseudo-gradients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from pinnlab import distributed
from pinnlab.compile import Objective
from pinnlab.solvers.base import Params, Solver, is_sharded, register_solver
from pinnlab.solvers.first_order import (
    Transform,
    adam,
    apply_updates,
    chain,
    from_torch_optimizer,
    gradients,
    scale_by_adam,
    scale_by_schedule,
    sgd,
    tree_clone,
)
from pinnlab.solvers.least_squares import ParamLayout
from pinnlab.solvers.schedules import check_number, make_schedule

LENGTHS = ("projection", "min", "max", "mean", "harmonic", "geometric")


def _check_length(length: str) -> str:
    if length not in LENGTHS:
        raise ValueError(f"unknown length rule {length!r}; available: {', '.join(LENGTHS)}")
    return length


def unit_rows(grads: Tensor, eps: float = 0.0) -> tuple[Tensor, Tensor]:
    """Row norms and unit rows; rows with norm ≤ ``eps`` become zero."""
    norms = grads.norm(dim=1)
    safe = torch.where(norms > eps, norms, torch.ones_like(norms))
    units = torch.where((norms > eps)[:, None], grads / safe[:, None], torch.zeros_like(grads))
    return norms, units


def config_direction(grads: Tensor, closed_form: bool = True) -> Tensor:
    """The unit conflict-free direction ĝ for gradients ``grads`` (m, P); zero if none exists.

    x = pinv(U)·1 is applied through the thin SVD of the unit rows U in float64, whose error
    grows with cond(U) (a solve through the Gramian UUᵀ squares it: nearly collinear
    gradients then lose the equal angles). Singular values below max(m, P)·ε·σ_max are
    dropped. With exactly two non-zero gradients and ``closed_form``, the two-term formula is used.
    """
    g = grads.to(torch.float64)
    tiny = torch.finfo(g.dtype).tiny
    norms, units = unit_rows(g, eps=tiny)
    units = units[norms > tiny]
    if units.shape[0] == 0:
        return torch.zeros_like(grads[0])
    if units.shape[0] == 2 and closed_form:
        x = two_term_direction(units[0], units[1])
    else:
        left, sigma, right = torch.linalg.svd(units, full_matrices=False)
        keep = sigma > sigma[0] * max(units.shape) * torch.finfo(g.dtype).eps
        x = right[keep].T @ (left[:, keep].sum(dim=0) / sigma[keep])
    norm = x.norm()
    if not bool(norm > 1e-12):  # opposite gradients: no conflict-free direction
        return torch.zeros_like(grads[0])
    return (x / norm).to(grads.dtype)


def two_term_direction(g1: Tensor, g2: Tensor) -> Tensor:
    """Closed form for two terms: U(g1⊥) + U(g2⊥), unnormalised (U(g1) + U(g2) when parallel)."""
    def orthogonal(a: Tensor, b: Tensor) -> Tensor:
        return a - (a @ b) / (b @ b) * b

    o1, o2 = orthogonal(g1, g2), orthogonal(g2, g1)
    n1, n2 = o1.norm(), o2.norm()
    scale = min(float(g1.norm()), float(g2.norm()))
    if float(n1) <= 1e-12 * scale or float(n2) <= 1e-12 * scale:  # (anti)parallel
        return g1 / g1.norm() + g2 / g2.norm()
    return o1 / n1 + o2 / n2


def config_length(grads: Tensor, direction: Tensor, rule: str = "projection") -> Tensor:
    """The update length for unit ``direction``: Σ g_iᵀ ĝ, or ℓ·Σ U(g_i)ᵀ ĝ with ℓ a mean of ‖g_i‖."""
    if rule == "projection":
        return (grads @ direction).sum()
    norms, units = unit_rows(grads, eps=torch.finfo(grads.dtype).tiny)
    active = norms[norms > 0]
    if active.numel() == 0:
        return grads.new_zeros(())
    if rule == "min":
        scale = active.min()
    elif rule == "max":
        scale = active.max()
    elif rule == "mean":
        scale = active.mean()
    elif rule == "harmonic":
        scale = active.numel() / (1.0 / active).sum()
    elif rule == "geometric":
        scale = active.log().mean().exp()
    else:
        raise ValueError(f"unknown length rule {rule!r}; available: {', '.join(LENGTHS)}")
    return scale * (units @ direction).sum()


def config_update(grads: Tensor, length: str = "projection", closed_form: bool = True) -> Tensor:
    """The ConFIG vector g_c = length · ĝ for gradients ``grads`` (m, P) (descend along −g_c)."""
    direction = config_direction(grads, closed_form)
    return config_length(grads, direction, length) * direction


def conflict_info(grads: Tensor, update: Tensor, names: Sequence[str]) -> dict[str, float]:
    """Conflict level: the smallest pairwise cosine of the term gradients (``cos_min``) and the
    cosine of the update with every term gradient (``cos_update_<term>``)."""
    _, units = unit_rows(grads.to(torch.float64), eps=torch.finfo(torch.float64).tiny)
    info: dict[str, float] = {}
    if len(names) > 1:
        cos = units @ units.T
        upper = torch.triu_indices(len(names), len(names), offset=1)
        info["cos_min"] = float(cos[upper[0], upper[1]].min())
    u_norm = float(update.norm())
    direction = update.to(torch.float64) / u_norm if u_norm > 0 else torch.zeros_like(update, dtype=torch.float64)
    for name, c in zip(names, (units @ direction).tolist()):
        info[f"cos_update_{name}"] = float(c)
    return info


def term_gradients(objective: Objective, params: Params, terms: Sequence[str],
                   record: bool = False) -> tuple[Tensor, dict[str, float]]:
    """Gradients of w_t·L_t for each term (rows of an (m, P) matrix), L_t the objective's term
    loss (mean squared residual with its per-point weights), from one forward pass and one
    backward pass per term; also the losses L_t. ``record`` keeps the residuals as the
    objective's ``step_residuals``. With a sharded objective both are summed over the ranks (one
    all-reduce), so every rank sees the global per-term gradients."""
    layout = ParamLayout(params)
    residuals = objective.residuals(params, list(terms))
    if record:
        objective.step_residuals = {name: r.detach() for name, r in residuals.items()}
    losses = objective.term_losses(residuals)
    rows = [layout.flatten(gradients(objective.weights[name] * losses[name], params, retain_graph=i < len(terms) - 1))
            for i, name in enumerate(terms)]
    grads, values = torch.stack(rows), {name: losses[name].detach() for name in terms}
    if is_sharded(objective):
        grads, values = distributed.all_reduce_sum_tree((grads, values))
    return grads, {name: float(v) for name, v in values.items()}


class TermGrads(NamedTuple):
    """Flattened gradients of some of ``n_terms`` loss terms: ``rows[j]`` belongs to term ``index[j]``."""

    rows: Tensor
    index: tuple[int, ...]
    n_terms: int


def conflict_free(length: str = "projection", closed_form: bool = True) -> Transform:
    """:class:`TermGrads` → the ConFIG vector of its rows, shaped like the parameters. Stateless."""
    _check_length(length)

    def update(grads: TermGrads, state: dict, params: Params) -> tuple[Params, dict]:
        return ParamLayout(params).unflatten(config_update(grads.rows, length, closed_form)), state

    return Transform(lambda params: {}, update)


def corrected_moments(state: Mapping[str, Any], beta1: float) -> Tensor:
    """The bias-corrected per-term first moments m̂_i = m_i/(1 − β1^{n_i}) (terms, P) of an M-ConFIG state."""
    return torch.stack([m / (1 - beta1**n) for m, n in zip(state["m"], state["counts"])])


def momentum_conflict_free(beta1: float = 0.9, length: str = "projection", closed_form: bool = True) -> Transform:
    """M-ConFIG's first moments: :class:`TermGrads` of some terms → a pseudo-gradient.

    m_i ← β1 m_i + (1−β1) g_i for the given terms; once every term has a moment (``None``
    before), with t the number of such updates: g_c = ConFIG(m̂_1..m̂_m), m_c = (1 − β1^t) g_c
    and the pseudo-gradient (m_c − β1 m_c,prev)/(1 − β1), whose moving average with β1 is
    m_c. State ``{"m", "counts", "t", "fake_m"}``: per-term moments (flat) and their update
    counts, t, and m_c; the moments are created at the first update.
    """
    _check_length(length)
    beta1 = check_number("beta1", beta1, below=1.0)

    def init(params: Params) -> dict[str, Any]:
        return {"m": [], "counts": [], "t": 0, "fake_m": None}

    def update(grads: TermGrads, state: dict[str, Any], params: Params) -> tuple[Params | None, dict[str, Any]]:
        m = list(state["m"]) or [grads.rows.new_zeros(grads.rows.shape[1]) for _ in range(grads.n_terms)]
        counts = list(state["counts"]) or [0] * grads.n_terms
        for row, i in zip(grads.rows, grads.index):
            counts[i] += 1
            m[i] = beta1 * m[i] + (1 - beta1) * row
        new = {"m": m, "counts": counts, "t": state["t"], "fake_m": state["fake_m"]}
        if min(counts) == 0:
            return None, new
        new["t"] += 1
        fake_m = (1 - beta1 ** new["t"]) * config_update(corrected_moments(new, beta1), length, closed_form)
        previous = torch.zeros_like(fake_m) if state["fake_m"] is None else state["fake_m"]
        new["fake_m"] = fake_m
        return ParamLayout(params).unflatten((fake_m - beta1 * previous) / (1 - beta1)), new

    return Transform(init, update)


def _flat(updates: Params | None, params: Params) -> Tensor:
    if updates is None:
        return ParamLayout(params).flatten({k: torch.zeros_like(p) for k, p in params.items()}).detach()
    return ParamLayout(params).flatten(updates)


@register_solver("config")
class ConFIG(Solver):
    """The :func:`conflict_free` direction fed to a base optimiser (``adam`` or ``sgd``) with an optional schedule."""

    name = "config"

    def __init__(self, lr: float = 1e-3, base: str = "adam", length: str = "projection", closed_form: bool = True,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, momentum: float = 0.0,
                 weight_decay: float = 0.0, schedule: str | None = None, final_lr: float | None = None,
                 gamma: float = 0.9, every: int = 1000, warmup: int = 0, steps: int = 1):
        if base not in ("adam", "sgd"):
            raise ValueError(f"unknown base optimiser {base!r}; available: adam, sgd")
        self.schedule = make_schedule(lr, steps, schedule, final_lr, gamma, every, warmup)
        self.direction = conflict_free(length, closed_form)
        self.base = (adam(self.schedule, betas, eps, weight_decay) if base == "adam" else
                     sgd(self.schedule, momentum, weight_decay))

    def init(self, params: Params) -> dict[str, Any]:
        return {"direction": self.direction.init(params), "base": self.base.init(params)}

    def step(self, params: Params, state: dict[str, Any], objective: Objective):
        terms = objective.terms
        lr = self.schedule(state["base"][-1]["count"])
        grads, losses = term_gradients(objective, params, terms, record=True)
        g_c, direction = self.direction.update(TermGrads(grads, tuple(range(len(terms))), len(terms)),
                                               state["direction"], params)
        updates, base = self.base.update(g_c, state["base"], params)
        apply_updates(params, updates)
        update = _flat(g_c, params)
        loss = sum(objective.weights[t] * v for t, v in losses.items())
        info = {"loss": loss, "lr": lr, **{f"loss_{k}": v for k, v in losses.items()},
                "update_norm": float(update.norm()), **conflict_info(grads, update, terms)}
        return params, {"direction": direction, "base": base}, info

    def state_dict(self, state: dict[str, Any]) -> dict[str, Any]:
        return tree_clone(state)

    def load_state_dict(self, state: dict[str, Any], saved: Mapping[str, Any]) -> dict[str, Any]:
        if "opt" in saved:  # a checkpoint holding a torch.optim state dict
            return {"direction": state["direction"],
                    "base": from_torch_optimizer(saved["opt"], state["base"], saved["k"])}
        return tree_clone(saved)


@register_solver("mconfig")
class MConFIG(Solver):
    """M-ConFIG: one term back-propagated per step (in turn), :func:`momentum_conflict_free`, then Adam.

    The reported ``loss`` is Σ w_t·(latest loss of term t): each term's loss is refreshed
    when its turn comes (all are evaluated once at the first step). No step is taken until
    every term has been back-propagated once; the schedule counts the steps taken.
    """

    name = "mconfig"

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 length: str = "projection", closed_form: bool = True, schedule: str | None = None,
                 final_lr: float | None = None, gamma: float = 0.9, every: int = 1000, warmup: int = 0,
                 steps: int = 1):
        self.beta1 = beta1
        self.schedule = make_schedule(lr, steps, schedule, final_lr, gamma, every, warmup)
        self.direction = momentum_conflict_free(beta1, length, closed_form)
        self.base = chain(scale_by_adam(beta1, beta2, eps), scale_by_schedule(self.schedule))

    def init(self, params: Params) -> dict[str, Any]:
        return {"k": 0, "latest": {}, "direction": self.direction.init(params), "base": self.base.init(params)}

    def step(self, params: Params, state: dict[str, Any], objective: Objective):
        terms = objective.terms
        index = state["k"] % len(terms)
        grads, losses = term_gradients(objective, params, [terms[index]], record=True)
        latest = {**state["latest"], **losses}
        missing = [t for t in terms if t not in latest]
        if missing:
            with torch.no_grad():
                _, extra = objective.loss({k: v.detach() for k, v in params.items()})
            if is_sharded(objective):
                extra = distributed.all_reduce_sum_tree(extra)
            latest.update({t: float(extra[t]) for t in missing})
        lr = self.schedule(state["base"][-1]["count"])
        pseudo, direction = self.direction.update(TermGrads(grads, (index,), len(terms)), state["direction"], params)
        updates, base = self.base.update(pseudo, state["base"], params)
        apply_updates(params, updates)
        step = _flat(updates, params)
        loss = sum(objective.weights[t] * latest[t] for t in terms)
        info = {"loss": loss, "lr": lr, "term": float(index),
                **{f"loss_{t}": latest[t] for t in terms}, "update_norm": float(step.norm())}
        if updates is not None:
            info.update(conflict_info(corrected_moments(direction, self.beta1), -step, terms))
        return params, {"k": state["k"] + 1, "latest": latest, "direction": direction, "base": base}, info

    def state_dict(self, state: dict[str, Any]) -> dict[str, Any]:
        return tree_clone(state)

    def load_state_dict(self, state: dict[str, Any], saved: Mapping[str, Any]) -> dict[str, Any]:
        if "moments" in saved or "direction" not in saved:  # the layout before the transforms
            return self._legacy(state, saved)
        return tree_clone(saved)

    @staticmethod
    def _legacy(state: dict[str, Any], saved: Mapping[str, Any]) -> dict[str, Any]:
        out = {**state, "k": int(saved["k"]), "latest": dict(saved.get("latest", {}))}
        mom = saved.get("moments")
        if mom is not None:
            layout = ParamLayout(state["base"][0]["mu"])
            t = int(mom["t"])
            out["direction"] = {"m": [row.clone() for row in mom["m"]], "counts": [int(c) for c in mom["counts"]],
                                "t": t, "fake_m": mom["fake_m"].clone() if t else None}
            out["base"] = [{"count": t, "mu": tree_clone(layout.unflatten(mom["fake_m"])),
                            "nu": tree_clone(layout.unflatten(mom["s"]))}, {"count": t}]
        return out


__all__ = [
    "LENGTHS", "ConFIG", "MConFIG", "TermGrads", "config_direction", "config_length", "config_update",
    "conflict_free", "conflict_info", "corrected_moments", "momentum_conflict_free", "term_gradients",
    "two_term_direction",
]
