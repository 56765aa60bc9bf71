"""Gauss–Newton methods on the residual vector: Levenberg–Marquardt and energy natural gradient.

Both linearise the scaled residual vector r(θ) of the objective (‖r‖² = loss; every term,
weights included), solve the damped least-squares problem of :mod:`least_squares`
for a direction d and step θ ← θ − η d:

* ``gauss_newton`` (Levenberg–Marquardt): η = 1, damping λ = μ·‖r‖^power with μ adapted
  from the ratio of actual to predicted decrease (Nielsen's rule by default); rejected
  steps are retried with more damping within the same iteration.
* ``engd`` (energy natural gradient, Müller & Zeinhofer 2023): the Gramian of the
  linearised operator is JᵀJ, d = (JᵀJ)⁺ Jᵀ r, and η is the best of 0.5^k,
  k = 0..30, on the loss (zero when none decreases it).

The Jacobian is built per collocation point (``vmap`` over rows of each term's points,
one reverse pass each), with any derivative backend whose residuals act row by row;
otherwise, or if the row-wise residuals do not reproduce the batched ones, it falls
back to reverse/forward mode over the whole residual vector. Problems with more than
``dense_max`` parameters use matrix-free CG (JVP/VJP products, warm-started).

With a sharded objective (a data-parallel run) each rank linearises its own points; the
Gramian, Jᵀr, the CG products and every loss the damping and the line search look at are
summed over the ranks (see :mod:`pinnlab.solvers.least_squares`), so all ranks step alike.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor
from torch.func import vmap

from pinnlab import distributed
from pinnlab.compile import Objective
from pinnlab.solvers.base import Params, Solver, is_sharded, register_solver
from pinnlab.solvers.least_squares import (
    DENSE_METHODS,
    DenseLeastSquares,
    MatrixFreeLeastSquares,
    ParamLayout,
    detached,
    jacobian,
    rowwise_jacobian,
)
from pinnlab.solvers.schedules import check_number

JACOBIAN_METHODS = ("auto", "rows", "full", "rev", "fwd")
SOLVES = ("auto", "dense", "cg")
UPDATES = ("nielsen", "marquardt", "levenberg")


def whole_number(name: str, value: object, low: int) -> int:
    """``value`` if it is an integer >= ``low``; a ValueError naming the option ``name`` if not."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
    return value


def flag(name: str, value: object) -> bool:
    """``value`` if it is true or false; a TypeError naming the option ``name`` if not."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false, got {value!r}")
    return value


def objective_jacobian(objective: Objective, params: Mapping[str, Tensor], method: str = "rows",
                       chunk_size: int | None = None) -> tuple[Tensor, Tensor]:
    """The scaled residual vector r (‖r‖² = loss, same order as ``objective.residual_vector``)
    and its Jacobian (M, P) with respect to the flattened parameters.

    ``method``: ``rows`` (per collocation point, vectorised; needs residuals that act row by
    row), ``rev`` / ``fwd`` (reverse / forward mode over the whole vector) or ``full``
    (``rev`` or ``fwd``, whichever needs fewer products).
    """
    if method != "rows":
        return jacobian(objective.residual_vector, params, "auto" if method == "full" else method, chunk_size)
    parts_r, parts_j = [], []
    for term in objective.terms:

        def one_row(p: Params, row: dict[str, Tensor], term: str = term) -> Tensor:
            return objective.row_residuals(p, row, term)

        r, J = rowwise_jacobian(one_row, params, objective.rows(term), chunk_size)
        weights = objective.row_weights(term)
        if weights is not None and weights.shape[0] > 0:  # per-point weights w: rows scale by sqrt(w)
            root = weights.reshape(-1).sqrt().repeat_interleave(r.numel() // weights.shape[0])
            r, J = r * root, J * root[:, None]
        scale = objective.term_scale(term, r.numel())
        parts_r.append(scale * r)
        parts_j.append(scale * J)
    return torch.cat(parts_r), torch.cat(parts_j)


class GaussNewtonBase(Solver):
    """Shared linearisation: Jacobian (dense) or JVP/VJP operator (CG), chosen by size.

    Options: ``solve`` (``auto``: dense up to ``dense_max`` parameters, else ``cg``),
    ``dense_method`` and ``rcond`` (see :class:`DenseLeastSquares`), ``cg_tol`` and
    ``cg_max_iter`` (CG stops at relative residual ``cg_tol``), ``warm_start`` (CG starts
    from the previous direction), ``jacobian`` (``auto``: per point, checked once against
    the batched residuals, else ``full``; or ``rows`` / ``full`` / ``rev`` / ``fwd``, see
    :func:`objective_jacobian`), ``chunk_size`` (rows per vectorised Jacobian chunk),
    ``search_batch`` (step sizes per vectorised line-search chunk), ``scaled`` (damping
    λ·diag(JᵀJ), dense solves only) and ``linearize`` (CG: traced tangent map, see
    :class:`MatrixFreeLeastSquares`).
    """

    needs_fixed_points = True

    def __init__(self, solve: str = "auto", dense_method: str = "cholesky", dense_max: int = 10_000,
                 rcond: float = 3e-7, cg_tol: float = 1e-6, cg_max_iter: int = 100, warm_start: bool = True,
                 jacobian: str = "auto", chunk_size: int | None = None, search_batch: int | None = None,
                 scaled: bool = False, linearize: bool = False, steps: int = 1):
        if solve not in SOLVES:
            raise ValueError(f"unknown solve {solve!r}; available: {', '.join(SOLVES)}")
        if dense_method not in DENSE_METHODS:
            raise ValueError(f"unknown dense_method {dense_method!r}; available: {', '.join(DENSE_METHODS)}")
        if jacobian not in JACOBIAN_METHODS:
            raise ValueError(f"unknown jacobian {jacobian!r}; available: {', '.join(JACOBIAN_METHODS)}")
        self.solve_mode = solve
        self.dense_method = dense_method
        self.dense_max = whole_number("dense_max", dense_max, 0)
        self.rcond = check_number("rcond", rcond)
        self.cg_tol, self.cg_max_iter = check_number("cg_tol", cg_tol), whole_number("cg_max_iter", cg_max_iter, 1)
        self.warm_start = flag("warm_start", warm_start)
        self.jacobian = jacobian
        self.chunk_size = None if chunk_size is None else whole_number("chunk_size", chunk_size, 1)
        self.search_batch = None if search_batch is None else whole_number("search_batch", search_batch, 1)
        self.scaled = flag("scaled", scaled)
        self.trace_tangents = flag("linearize", linearize)

    def init(self, params: Params) -> dict[str, Any]:
        return {"k": 0, "direction": None, "jacobian": None}

    def uses_cg(self, params: Mapping[str, Tensor]) -> bool:
        """Whether this solver runs matrix-free for these parameters."""
        if self.solve_mode == "auto":
            return sum(p.numel() for p in params.values()) > self.dense_max
        return self.solve_mode == "cg"

    def linearize(self, params: Params, state: dict[str, Any], objective: Objective):
        """The least-squares system of this step (dense or matrix-free)."""
        if self.uses_cg(params):
            layout = ParamLayout(params)

            def fn(v: Tensor) -> Tensor:
                return objective.residual_vector(layout.unflatten(v))

            return MatrixFreeLeastSquares(fn, layout.flatten(detached(params)), self.cg_tol, self.cg_max_iter,
                                          self.trace_tangents, is_sharded(objective))
        r, J = self._jacobian(params, state, objective)
        return DenseLeastSquares(J, r, self.dense_method, self.rcond, self.scaled, is_sharded(objective))

    def _jacobian(self, params: Params, state: dict[str, Any], objective: Objective) -> tuple[Tensor, Tensor]:
        method = state.get("jacobian") or self.jacobian
        if method != "auto":
            return objective_jacobian(objective, params, method, self.chunk_size)
        # first step with jacobian=auto: try rows, check against the batched residuals (on every rank)
        rows_ok = False
        try:
            r, J = objective_jacobian(objective, params, "rows", self.chunk_size)
            with torch.no_grad():
                reference = objective.residual_vector(detached(params))
            tol = 1e-6 if reference.dtype == torch.float64 else 1e-3
            rows_ok = torch.allclose(r, reference, rtol=tol, atol=tol * float(reference.abs().max()))
            reason = "row-wise residuals differ from the batched ones"
        except (RuntimeError, NotImplementedError, ValueError, TypeError, AttributeError, KeyError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        if distributed.all_ranks(rows_ok) if is_sharded(objective) else rows_ok:
            state["jacobian"] = "rows"
            return r, J
        warnings.warn(f"{self.name}: per-point Jacobian unavailable ({reason}); using whole-batch "
                      "reverse/forward mode (slower)", RuntimeWarning, stacklevel=2)
        state["jacobian"] = "full"
        return objective_jacobian(objective, params, "full", self.chunk_size)

    def warm(self, state: dict[str, Any]) -> Tensor | None:
        return state["direction"] if self.warm_start else None

    @staticmethod
    def trial_loss(objective: Objective, layout: ParamLayout, theta: Tensor) -> float:
        with torch.no_grad():
            loss, _ = objective.loss(layout.unflatten(theta))
        return float(distributed.all_reduce_sum(loss) if is_sharded(objective) else loss)

    def ray_losses(self, objective: Objective, layout: ParamLayout, theta: Tensor, direction: Tensor,
                   etas: list[float], state: dict[str, Any]) -> list[float]:
        """Losses at θ − η·direction for every η, vectorised with ``vmap`` when the backend allows."""
        if len(etas) > 1 and state.get("batched_search", True):
            steps = torch.tensor(etas, dtype=theta.dtype, device=theta.device)

            def at(eta: Tensor) -> Tensor:
                return objective.loss(layout.unflatten(theta - eta * direction))[0]

            try:
                with torch.no_grad():
                    losses = vmap(at, randomness="same", chunk_size=self.search_batch)(steps)
            except (RuntimeError, NotImplementedError, ValueError, TypeError):
                state["batched_search"] = False
            else:
                return (distributed.all_reduce_sum(losses) if is_sharded(objective) else losses).tolist()
        return [self.trial_loss(objective, layout, theta - eta * direction) for eta in etas]

    @staticmethod
    def apply(params: Params, layout: ParamLayout, step: Tensor) -> None:
        """θ ← θ − step, in place (the dict keeps its leaf tensors)."""
        with torch.no_grad():
            for name, delta in layout.unflatten(step.to(next(iter(params.values())))).items():
                params[name].sub_(delta)

    @staticmethod
    def start_info(objective: Objective, params: Params) -> tuple[float, dict[str, float]]:
        with torch.no_grad():
            loss, losses = objective.loss(detached(params))
        if is_sharded(objective):
            loss, losses = distributed.all_reduce_sum_tree((loss, losses))
        return float(loss), {f"loss_{k}": float(v) for k, v in losses.items()}

    def state_dict(self, state: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in state.items() if v is not None}

    def load_state_dict(self, state: dict[str, Any], saved: Mapping[str, Any]) -> dict[str, Any]:
        state.update(saved)
        return state


@register_solver("gauss_newton")
class LevenbergMarquardt(GaussNewtonBase):
    """Levenberg–Marquardt with adaptive damping; one ``step`` is one accepted (or abandoned) update.

    The damping is λ = μ·‖r‖^``power`` (``power`` 0: classical LM; 1 or 2: Fan & Yuan /
    Yamashita & Fukushima, λ → 0 with the residual, which keeps fast local convergence
    on zero-residual problems with rank-deficient Jacobians). μ starts at ``damping``
    (default: λ = ``tau``·trace(JᵀJ)/P) and follows ``update``: ``nielsen`` (accepted:
    ×max(1/3, 1 − (2ρ − 1)³); rejected: ×ν, ν doubling), ``marquardt`` (ρ > 0.75: ÷3,
    ρ < 0.25: ×2; rejected: ×ν) or ``levenberg`` (accepted: ÷10; rejected: ×ν), with ρ the
    ratio of actual to predicted decrease; a trial is accepted when ρ > ``accept``, at most
    ``max_tries`` trials per step.
    """

    name = "gauss_newton"

    def __init__(self, damping: float | None = None, tau: float = 1e-3, update: str = "nielsen",
                 power: float = 0.0, accept: float = 1e-4, max_tries: int = 10, min_damping: float = 1e-15,
                 max_damping: float = 1e12, **options: Any):
        super().__init__(**options)
        if update not in UPDATES:
            raise ValueError(f"unknown damping update {update!r}; available: {', '.join(UPDATES)}")
        self.damping0 = None if damping is None else check_number("damping", damping)
        self.tau, self.update, self.power = check_number("tau", tau), update, check_number("power", power)
        self.accept, self.max_tries = check_number("accept", accept, 0, 1), whole_number("max_tries", max_tries, 1)
        self.min_damping, self.max_damping = check_number("min_damping", min_damping), check_number(
            "max_damping", max_damping)
        if self.max_damping <= self.min_damping:
            raise ValueError(f"max_damping ({max_damping}) must exceed min_damping ({min_damping})")

    def init(self, params: Params) -> dict[str, Any]:
        return {**super().init(params), "mu": self.damping0, "nu": 2.0}

    def step(self, params: Params, state: dict[str, Any], objective: Objective):
        start = time.perf_counter()
        loss0, term_losses = self.start_info(objective, params)
        system = self.linearize(params, state, objective)
        layout = ParamLayout(params)
        theta = layout.flatten(detached(params))
        residual_scale = math.sqrt(loss0) ** self.power if loss0 > 0 else 1.0
        if state["mu"] is None:
            state["mu"] = max(self.tau * system.mean_curvature(), self.min_damping) / residual_scale
        mu, nu = float(state["mu"]), float(state["nu"])
        accepted, tries, cg_iters, ratio, step_norm = False, 0, 0, float("nan"), 0.0
        trial_loss, direction, lam = loss0, None, mu * residual_scale
        while tries < self.max_tries:
            tries += 1
            lam = min(max(mu * residual_scale, self.min_damping), self.max_damping)
            sol = system.solve(lam, self.warm(state))
            direction, cg_iters = sol.direction, cg_iters + sol.iterations
            predicted = system.predicted_decrease(direction)
            trial_loss = self.trial_loss(objective, layout, theta - direction.to(theta))
            ratio = (loss0 - trial_loss) / predicted if predicted > 0 else float("-inf")
            if math.isfinite(trial_loss) and ratio > self.accept:
                accepted = True
                mu, nu = self._decrease(mu, ratio), 2.0
                break
            if lam >= self.max_damping:
                break
            mu, nu = mu * nu, nu * 2.0
        if accepted:
            self.apply(params, layout, direction)
            step_norm = float(direction.norm())
            state["direction"] = direction.to(theta)
        state["mu"], state["nu"], state["k"] = mu, nu, state["k"] + 1
        info = {"loss": loss0, **term_losses, "trial_loss": trial_loss if accepted else loss0,
                "damping": lam, "ratio": ratio if math.isfinite(ratio) else -1.0, "accepted": float(accepted),
                "tries": float(tries), "step_norm": step_norm, "grad_norm": 2 * float(system.gradient.norm()),
                "step_s": time.perf_counter() - start}
        if isinstance(system, MatrixFreeLeastSquares):
            info["cg_iters"] = float(cg_iters)
            info["cg_residual"] = float(sol.residual)
        return params, state, info

    def _decrease(self, mu: float, ratio: float) -> float:
        if self.update == "nielsen":
            return mu * max(1.0 / 3.0, 1.0 - (2.0 * ratio - 1.0) ** 3)
        if self.update == "levenberg":
            return mu / 10.0
        if ratio > 0.75:
            return mu / 3.0
        return mu * 2.0 if ratio < 0.25 else mu


@register_solver("engd")
class EnergyNaturalGradient(GaussNewtonBase):
    """Energy natural gradient: d = (JᵀJ + λI)⁺ Jᵀ r and a line search over η = 0.5^k.

    ``line_search``: ``grid`` (best of k = 0..``max_halvings``, the paper's choice),
    ``backtracking`` (first k that decreases the loss) or ``none`` (η = 1). The step is
    zero when no η decreases the loss. ``damping`` defaults to 0 (pseudo-inverse).
    """

    name = "engd"

    def __init__(self, damping: float = 0.0, line_search: str = "grid", max_halvings: int = 30,
                 dense_method: str = "pinv", **options: Any):
        super().__init__(dense_method=dense_method, **options)
        if line_search not in ("grid", "backtracking", "none"):
            raise ValueError(f"unknown line_search {line_search!r}; available: grid, backtracking, none")
        self.damping, self.line_search = check_number("damping", damping), line_search
        self.max_halvings = whole_number("max_halvings", max_halvings, 0)

    def step(self, params: Params, state: dict[str, Any], objective: Objective):
        start = time.perf_counter()
        loss0, term_losses = self.start_info(objective, params)
        system = self.linearize(params, state, objective)
        layout = ParamLayout(params)
        theta = layout.flatten(detached(params))
        sol = system.solve(self.damping, self.warm(state))
        direction = sol.direction.to(theta)
        eta, best = self.search(lambda etas: self.ray_losses(objective, layout, theta, direction, etas, state), loss0)
        if eta > 0:
            self.apply(params, layout, eta * direction)
        state["direction"] = direction
        state["k"] += 1
        info = {"loss": loss0, **term_losses, "trial_loss": best, "step_size": eta,
                "step_norm": eta * float(direction.norm()), "grad_norm": 2 * float(system.gradient.norm()),
                "damping": self.damping, "step_s": time.perf_counter() - start}
        if isinstance(system, MatrixFreeLeastSquares):
            info["cg_iters"] = float(sol.iterations)
            info["cg_residual"] = float(sol.residual)
        return params, state, info

    def search(self, loss_at: Callable[[list[float]], list[float]], loss0: float) -> tuple[float, float]:
        """Step size and its loss; (0, loss0) when no candidate decreases the loss.

        ``loss_at`` maps a list of step sizes to their losses (evaluated together when it can).
        """
        if self.line_search == "none":
            value = loss_at([1.0])[0]
            return (1.0, value) if math.isfinite(value) else (0.0, loss0)
        etas = [0.5**k for k in range(self.max_halvings + 1)]
        if self.line_search == "backtracking":
            for eta in etas:
                value = loss_at([eta])[0]
                if math.isfinite(value) and value < loss0:
                    return eta, value
            return 0.0, loss0
        best_eta, best = 0.0, loss0
        for eta, value in zip(etas, loss_at(etas)):
            if math.isfinite(value) and value < best:
                best_eta, best = eta, value
        return best_eta, best


__all__ = ["EnergyNaturalGradient", "GaussNewtonBase", "LevenbergMarquardt", "objective_jacobian"]
