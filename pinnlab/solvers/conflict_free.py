"""ConFIG and M-ConFIG (Liu, Chu & Thuerey, ICLR 2025): conflict-free updates for multi-term losses.

With per-term gradients g_1..g_m (g_i = ∇ w_i L_i) and unit vectors U(g) = g/‖g‖, the
update direction ĝ is the normalised least-squares (minimum-norm) solution x of
[U(g_1), …, U(g_m)]ᵀ x = 1_m, so every term gradient makes the same positive angle with
it whenever such a direction exists. Its length is Σ_i g_iᵀ ĝ (``projection``, the
paper's default) or ℓ·Σ_i U(g_i)ᵀ ĝ with ℓ the ``min`` / ``max`` / ``mean`` / ``harmonic``
/ ``geometric`` mean of the norms ‖g_i‖. For two terms the direction has the closed
form ĝ ∝ U(g_1⊥) + U(g_2⊥), g_1⊥ the part of g_1 orthogonal to g_2.

* ``config``: one backward pass per term every step; the ConFIG vector replaces the
  gradient of a base optimiser (Adam by default, or SGD) with the usual schedules.
* ``mconfig`` (M-ConFIG): one term per step, in turn; per-term first moments with bias
  correction, the ConFIG vector of the corrected moments, a second moment of the
  pseudo-gradient reconstructed from it, and an SGD step lr·g_c/(√ŝ + ε).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from pinnlab.compile import Objective
from pinnlab.solvers.base import Params, Solver, register_solver
from pinnlab.solvers.least_squares import ParamLayout
from pinnlab.solvers.schedules import make_schedule

LENGTHS = ("projection", "min", "max", "mean", "harmonic", "geometric")


def unit_rows(grads: Tensor, eps: float = 0.0) -> tuple[Tensor, Tensor]:
    """Row norms and unit rows; rows with norm ≤ ``eps`` become zero."""
    norms = grads.norm(dim=1)
    safe = torch.where(norms > eps, norms, torch.ones_like(norms))
    units = torch.where((norms > eps)[:, None], grads / safe[:, None], torch.zeros_like(grads))
    return norms, units


def config_direction(grads: Tensor, closed_form: bool = True) -> Tensor:
    """The unit conflict-free direction ĝ for gradients ``grads`` (m, P); zero if none exists.

    The pseudo-inverse solve is done through the m × m Gramian of the unit vectors in
    float64. With exactly two non-zero gradients and ``closed_form``, the two-term formula is used.
    """
    g = grads.to(torch.float64)
    norms, units = unit_rows(g, eps=torch.finfo(g.dtype).tiny)
    units = units[norms > torch.finfo(g.dtype).tiny]
    if units.shape[0] == 0:
        return torch.zeros_like(grads[0])
    if units.shape[0] == 2 and closed_form:
        x = two_term_direction(units[0], units[1])
    else:
        gram = units @ units.T
        ones = torch.ones(units.shape[0], dtype=g.dtype, device=g.device)
        x = units.T @ (torch.linalg.pinv(gram, hermitian=True, rtol=1e-12) @ ones)
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


def term_gradients(objective: Objective, params: Params, terms: Sequence[str]) -> tuple[Tensor, dict[str, float]]:
    """Gradients of w_t·mean(r_t²) for each term (rows of an (m, P) matrix) from one forward
    pass and one backward pass per term; also the unweighted term losses."""
    layout = ParamLayout(params)
    residuals = objective.residuals(params, list(terms))
    leaves = list(params.values())
    rows, losses = [], {}
    for i, name in enumerate(terms):
        loss = residuals[name].pow(2).mean()
        losses[name] = float(loss.detach())
        grads = torch.autograd.grad(objective.weights[name] * loss, leaves, retain_graph=i < len(terms) - 1,
                                    allow_unused=True)
        rows.append(layout.flatten({n: torch.zeros_like(p) if g is None else g
                                    for (n, p), g in zip(params.items(), grads)}))
    return torch.stack(rows), losses


def _check_length(length: str) -> str:
    if length not in LENGTHS:
        raise ValueError(f"unknown length rule {length!r}; available: {', '.join(LENGTHS)}")
    return length


@register_solver("config")
class ConFIG(Solver):
    """ConFIG update fed to a base optimiser (``adam`` or ``sgd``) with an optional lr schedule."""

    name = "config"

    def __init__(self, lr: float = 1e-3, base: str = "adam", length: str = "projection", closed_form: bool = True,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, momentum: float = 0.0,
                 weight_decay: float = 0.0, schedule: str | None = None, final_lr: float | None = None,
                 gamma: float = 0.9, every: int = 1000, warmup: int = 0, steps: int = 1):
        if base not in ("adam", "sgd"):
            raise ValueError(f"unknown base optimiser {base!r}; available: adam, sgd")
        self.base = base
        self.length = _check_length(length)
        self.closed_form = closed_form
        if base == "adam":
            self.options = {"betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        else:
            self.options = {"momentum": momentum, "weight_decay": weight_decay}
        self.schedule = make_schedule(lr, steps, schedule, final_lr, gamma, every, warmup)

    def init(self, params: Params) -> dict[str, Any]:
        cls = torch.optim.Adam if self.base == "adam" else torch.optim.SGD
        return {"opt": cls(list(params.values()), lr=self.schedule(0), **self.options), "k": 0}

    def step(self, params: Params, state: dict[str, Any], objective: Objective):
        opt = state["opt"]
        lr = self.schedule(state["k"])
        for group in opt.param_groups:
            group["lr"] = lr
        terms = objective.terms
        grads, losses = term_gradients(objective, params, terms)
        update = config_update(grads, self.length, self.closed_form)
        layout = ParamLayout(params)
        for name, g in layout.unflatten(update).items():
            params[name].grad = g.clone()
        opt.step()
        state["k"] += 1
        loss = sum(objective.weights[t] * v for t, v in losses.items())
        info = {"loss": loss, "lr": lr, **{f"loss_{k}": v for k, v in losses.items()},
                "update_norm": float(update.norm()), **conflict_info(grads, update, terms)}
        return params, state, info

    def state_dict(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"opt": state["opt"].state_dict(), "k": state["k"]}

    def load_state_dict(self, state: dict[str, Any], saved: Mapping[str, Any]) -> dict[str, Any]:
        state["opt"].load_state_dict(saved["opt"])
        state["k"] = int(saved["k"])
        return state


@dataclass
class MomentumState:
    """M-ConFIG moments: per-term first moments ``m`` (terms, P) with update ``counts``, the
    second moment ``s`` and the reconstructed first moment ``fake_m`` of the ConFIG vector."""

    m: Tensor
    s: Tensor
    fake_m: Tensor
    counts: list[int] = field(default_factory=list)
    t: int = 0

    @classmethod
    def zeros(cls, n_terms: int, like: Tensor) -> MomentumState:
        return cls(like.new_zeros(n_terms, like.numel()), like.new_zeros(like.numel()),
                   like.new_zeros(like.numel()), [0] * n_terms, 0)


def mconfig_update(state: MomentumState, index: int, grad: Tensor, beta1: float = 0.9, beta2: float = 0.999,
                   eps: float = 1e-8, length: str = "projection", closed_form: bool = True) -> tuple[Tensor, Tensor]:
    """One M-ConFIG update from the new gradient of term ``index`` (updates ``state`` in place).

    m_i ← β1 m_i + (1−β1) g_i;  m̂_j = m_j / (1 − β1^{n_j});  g_c = ConFIG(m̂_1..m̂_m);
    with t the number of updates so far: m_c = (1 − β1^t) g_c, pseudo-gradient
    ĝ = (m_c − β1 m_c,prev)/(1 − β1), s ← β2 s + (1−β2) ĝ², ŝ = s/(1 − β2^t).
    Returns (g_c/(√ŝ + ε), the corrected moments m̂); the step is zero until every term has a moment.
    """
    state.counts[index] += 1
    state.m[index] = beta1 * state.m[index] + (1 - beta1) * grad
    if min(state.counts) == 0:
        return torch.zeros_like(grad), state.m.clone()
    state.t += 1
    corrections = torch.tensor([1 - beta1 ** n for n in state.counts], dtype=state.m.dtype, device=state.m.device)
    m_hat = state.m / corrections[:, None]
    g_c = config_update(m_hat, length, closed_form)
    fake_m = (1 - beta1 ** state.t) * g_c
    pseudo = (fake_m - beta1 * state.fake_m) / (1 - beta1)
    state.fake_m = fake_m
    state.s = beta2 * state.s + (1 - beta2) * pseudo.pow(2)
    s_hat = state.s / (1 - beta2 ** state.t)
    return g_c / (s_hat.sqrt() + eps), m_hat


@register_solver("mconfig")
class MConFIG(Solver):
    """M-ConFIG: one term back-propagated per step (in turn), momentum ConFIG, SGD step.

    The reported ``loss`` is Σ w_t·(latest loss of term t): each term's loss is refreshed
    when its turn comes (all are evaluated once at the first step).
    """

    name = "mconfig"

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 length: str = "projection", closed_form: bool = True, schedule: str | None = None,
                 final_lr: float | None = None, gamma: float = 0.9, every: int = 1000, warmup: int = 0,
                 steps: int = 1):
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.length = _check_length(length)
        self.closed_form = closed_form
        self.schedule = make_schedule(lr, steps, schedule, final_lr, gamma, every, warmup)

    def init(self, params: Params) -> dict[str, Any]:
        return {"k": 0, "moments": None, "latest": {}}

    def step(self, params: Params, state: dict[str, Any], objective: Objective):
        terms = objective.terms
        layout = ParamLayout(params)
        if state["moments"] is None:
            state["moments"] = MomentumState.zeros(len(terms), layout.flatten(params).detach())
        index = state["k"] % len(terms)
        term = terms[index]
        grads, losses = term_gradients(objective, params, [term])
        state["latest"].update(losses)
        missing = [t for t in terms if t not in state["latest"]]
        if missing:
            with torch.no_grad():
                _, extra = objective.loss({k: v.detach() for k, v in params.items()})
            state["latest"].update({t: float(extra[t]) for t in missing})
        lr = self.schedule(state["k"])
        update, m_hat = mconfig_update(state["moments"], index, grads[0], self.beta1, self.beta2, self.eps,
                                       self.length, self.closed_form)
        with torch.no_grad():
            for name, delta in layout.unflatten(lr * update).items():
                params[name].sub_(delta)
        state["k"] += 1
        loss = sum(objective.weights[t] * state["latest"][t] for t in terms)
        info = {"loss": loss, "lr": lr, "term": float(index),
                **{f"loss_{t}": state["latest"][t] for t in terms}, "update_norm": float(lr * update.norm())}
        if min(state["moments"].counts) > 0:
            info.update(conflict_info(m_hat, update, terms))
        return params, state, info

    def state_dict(self, state: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"k": state["k"], "latest": dict(state["latest"])}
        mom = state["moments"]
        if mom is not None:
            out["moments"] = {"m": mom.m, "s": mom.s, "fake_m": mom.fake_m, "counts": list(mom.counts), "t": mom.t}
        return out

    def load_state_dict(self, state: dict[str, Any], saved: Mapping[str, Any]) -> dict[str, Any]:
        state["k"] = int(saved["k"])
        state["latest"] = dict(saved.get("latest", {}))
        mom = saved.get("moments")
        if mom is not None:
            state["moments"] = MomentumState(mom["m"].clone(), mom["s"].clone(), mom["fake_m"].clone(),
                                             [int(c) for c in mom["counts"]], int(mom["t"]))
        return state


__all__ = [
    "LENGTHS", "ConFIG", "MConFIG", "MomentumState", "config_direction", "config_length", "config_update",
    "conflict_info", "mconfig_update", "term_gradients", "two_term_direction",
]
