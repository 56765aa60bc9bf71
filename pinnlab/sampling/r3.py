"""Residual-driven interior samplers: R3, causal R3 (Daw et al., ICML 2023) and RAD (Wu et al., 2023).

All three move only the ``interior`` point set; boundary, initial and periodic sets keep
the base behaviour (drawn once, or again every ``resample_every`` steps). The fitness of
an interior point is the sum of ``|r|`` over every equation (and every component of a
vector residual) evaluated there.

When the population evolves: after every step for first-order solvers; for solvers that
need fixed points within a step (``needs_fixed_points``: L-BFGS, Gauss–Newton, ...) only
after every ``resample_every``-th step (never, when that is 0), which the sampler learns
through :meth:`ResidualSampler.bind_solver`. The option ``every = K`` fixes the period to
K steps for every solver. RAD evolves every ``every`` (default ``resample_every``) steps,
since it evaluates the residual on a dense candidate pool.

In a data-parallel run each rank holds its shard of the population; the rules use global
statistics (the mean fitness, the gate's loss, RAD's density over the whole pool), fresh points
come from one draw shared by all ranks and fill the ranks' populations in rank order, so the
population is the one a single process would hold, in another order.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pinnlab import distributed
from pinnlab.compile import Batch, PointSet
from pinnlab.sampling.base import PointDrawer, Sampler, register_sampler, take_rows

INTERIOR = "interior"
GATES = ("tanh", "sigmoid", "relu_tanh")

Residuals = Mapping[str, Tensor] | Callable[..., Mapping[str, Tensor]]


# -- the rules, as pure functions ------------------------------------------------------------
def fitness_of(residuals: Mapping[str, Tensor], terms: list[str]) -> Tensor:
    """Σ over ``terms`` of ``|r|`` (vector residuals summed over components): shape (N,)."""
    parts = [r.detach().abs().reshape(r.shape[0], -1).sum(-1) for name, r in residuals.items() if name in terms]
    if not parts:
        raise ValueError(f"no interior residuals among {sorted(residuals)} (expected {terms})")
    return torch.stack(parts).sum(0)


def retain_mask(fitness: Tensor) -> Tensor:
    """R3's retain rule: the points whose fitness is strictly above the population mean (over all ranks)."""
    return fitness > distributed.global_mean(fitness)


def causal_gate(t_norm: Tensor, alpha: float, beta: float, kind: str = "tanh") -> Tensor:
    """The time gate g(t̃) on normalised time t̃ ∈ [0, 1]; ≈1 before ``beta``, ≈0 after.

    ``tanh``: (1 − tanh(α(t̃ − β)))/2; ``sigmoid``: 1 − σ(α(t̃ − β)); ``relu_tanh``:
    max(0, −tanh(α(t̃ − β))), exactly 0 beyond β.
    """
    z = alpha * (t_norm - beta)
    if kind == "tanh":
        return 0.5 * (1.0 - torch.tanh(z))
    if kind == "sigmoid":
        return 1.0 - torch.sigmoid(z)
    if kind == "relu_tanh":
        return torch.relu(-torch.tanh(z))
    raise ValueError(f"unknown gate {kind!r}; available: {', '.join(GATES)}")


def gate_increment(fitness: Tensor, gate: Tensor, eta: float, eps: float, clip: float) -> float:
    """Causal R3's shift of β: η · min(exp(−ε · mean((|r|·g)²)), clip)."""
    gated_loss = float(distributed.global_mean((fitness * gate).pow(2)))
    return eta * min(math.exp(-eps * gated_loss), clip)


def rad_probabilities(fitness: Tensor, k: float = 1.0, c: float = 1.0) -> Tensor:
    """RAD's density over candidates: p ∝ |r|^k / mean(|r|^k) + c, normalised to sum 1."""
    f = fitness.pow(k)
    mean = f.mean()
    p = (f / mean if mean > 0 else torch.zeros_like(f)) + c
    if not torch.all(torch.isfinite(p)) or p.sum() <= 0:
        raise ValueError("RAD probabilities are not finite or all zero (non-finite residuals, or c = 0 "
                         "with zero residuals)")
    return p / p.sum()


# -- snapshots -------------------------------------------------------------------------------
@dataclass
class Snapshot:
    """The interior population before one evolution: points, their fitness and which were retained."""

    step: int
    points: np.ndarray
    fitness: np.ndarray
    retained: np.ndarray


# -- samplers --------------------------------------------------------------------------------
class ResidualSampler(Sampler):
    """Common machinery: an interior population moved by residual feedback.

    ``terms`` names the equations whose residuals make the fitness (default: every term
    evaluated on the interior, found from the first residuals seen); ``snapshots = K > 0``
    keeps the population every K evolutions (see :mod:`pinnlab.io.points`); ``every``
    overrides the solver-dependent schedule (see the module docstring). ``reuse`` (default)
    takes the fitness from the residuals the solver's own loss evaluation recorded at the
    start of the step, as the authors' code does, when the solver records them (Adam);
    otherwise, or with ``reuse = False``, the residuals are evaluated again after the update.
    """

    adaptive = True
    kind = "residual"

    def __init__(self, point_sets: Mapping[str, PointSet], drawer: PointDrawer, resample_every: int = 0,
                 terms: list[str] | None = None, snapshots: int = 0, every: int | None = None, reuse: bool = True):
        super().__init__(point_sets, drawer, resample_every)
        self.reuse = bool(reuse)
        if INTERIOR not in self.point_sets:
            raise ValueError(f"the {self.kind} sampler needs an '{INTERIOR}' point set")
        if int(snapshots) < 0:
            raise ValueError(f"snapshots must be >= 0, got {snapshots}")
        if every is not None and int(every) < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.every = None if every is None else int(every)
        self.terms = None if terms is None else list(terms)
        self.snapshot_every = int(snapshots)
        self.snapshots: list[Snapshot] = []
        self.fixed_points = False
        self.evolutions = 0
        self._stats: dict[str, float | Tensor] = {}

    # the schedule ---------------------------------------------------------------------------
    def bind_solver(self, solver: Any) -> None:
        """Adapt the schedule to a solver: fixed points within ``resample_every`` steps for line searches."""
        self.fixed_points = bool(getattr(solver, "needs_fixed_points", False))

    def evolve_due(self, step: int) -> bool:
        """Whether the population evolves after ``step``."""
        if self.every is not None:
            return (step + 1) % self.every == 0
        if not self.fixed_points:
            return True
        return self.resample_every > 0 and (step + 1) % self.resample_every == 0

    def wants_residuals(self, step: int) -> bool:
        return self.evolve_due(step)

    def refresh(self, step: int) -> None:
        """Redraw every point set except an existing interior population."""
        population = self.batches.get(INTERIOR)
        self.batches = {name: population if name == INTERIOR and population is not None else self.drawer.draw(ps)
                        for name, ps in self.point_sets.items()}

    # feedback -------------------------------------------------------------------------------
    def observe(self, batches: Mapping[str, Batch], residuals: Residuals, step: int) -> None:
        """Evolve the interior from the residuals (a mapping, or a probe ``probe(terms)``) when due."""
        if not self.evolve_due(step):
            return
        x = self.batches[INTERIOR].x
        fitness = self._fitness(residuals, x.shape[0])
        self._evolve(x, fitness, step)
        self.evolutions += 1

    def _fitness(self, residuals: Residuals, n: int) -> Tensor:
        values = residuals(self.terms) if callable(residuals) else residuals
        if self.terms is None:
            others = {name for name in self.point_sets if name != INTERIOR}
            self.terms = [name for name in values if name not in others]
        fitness = fitness_of(values, self.terms)
        if fitness.shape[0] != n:
            raise ValueError(f"interior residuals have {fitness.shape[0]} rows, the population {n}")
        return fitness

    @abstractmethod
    def _evolve(self, x: Tensor, fitness: Tensor, step: int) -> None:
        """Replace the interior population ``x`` given its fitness."""

    def _replace(self, x: Tensor, keep: Tensor, step: int, fitness: Tensor) -> None:
        """Keep ``x[keep]``, fill the population back up with fresh points, record statistics."""
        kept = x[keep]
        fresh = self._fresh(x.shape[0] - kept.shape[0], x.device)
        self._snapshot(step, x, fitness, keep)
        # a new dict: the objective of the finished step keeps the points it was built on
        self.batches = {**self.batches, INTERIOR: Batch(torch.cat([kept, fresh]))}
        # 0-d tensors, read only when a history row is written (no device sync per step)
        self._stats.update({"sampler_retained": distributed.global_mean(keep.float()),
                            "sampler_res_mean": distributed.global_mean(fitness),
                            "sampler_res_max": distributed.global_max(fitness)})

    def _fresh(self, need: int, device: torch.device) -> Tensor:
        """``need`` fresh interior points. With several ranks: one draw of what all ranks need, handed out
        in rank order (the generator advances alike on every rank)."""
        ps = self.point_sets[INTERIOR]
        if self.drawer.world == 1:
            return self.drawer.draw(ps, need).x
        needs = torch.zeros(self.drawer.world, dtype=torch.int64, device=device)
        needs[self.drawer.rank] = need
        needs = distributed.all_reduce_sum_(needs).tolist()
        offset = sum(needs[:self.drawer.rank])
        return self.drawer.draw_all(ps, sum(needs)).x[offset:offset + need]

    def _snapshot(self, step: int, x: Tensor, fitness: Tensor, keep: Tensor, local: bool = True) -> None:
        """Keep the population (every rank's rows, gathered, when ``local``) if a snapshot is due."""
        if self.snapshot_every > 0 and self.evolutions % self.snapshot_every == 0:
            if local and distributed.is_distributed():
                n = self.point_sets[INTERIOR].n
                x, fitness, keep = (distributed.gather_rows(t.detach(), n) for t in (x, fitness, keep))
            self.snapshots.append(Snapshot(step + 1, x.detach().cpu().numpy().copy(),
                                           fitness.detach().cpu().numpy().copy(), keep.detach().cpu().numpy().copy()))

    # reporting and checkpoints ---------------------------------------------------------------
    def diagnostics(self) -> dict[str, float]:
        return {k: float(v) for k, v in self._stats.items()}

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update({
            "evolutions": self.evolutions, "fixed_points": self.fixed_points, "terms": self.terms,
            "stats": self.diagnostics(),
            # tensors, not arrays: checkpoints are loaded with weights_only=True
            "snapshots": [{"step": s.step, "points": torch.from_numpy(s.points), "fitness": torch.from_numpy(s.fitness),
                           "retained": torch.from_numpy(s.retained)} for s in self.snapshots],
        })
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.evolutions = int(state["evolutions"])
        self.fixed_points = bool(state["fixed_points"])
        self.terms = None if state["terms"] is None else list(state["terms"])
        self._stats = dict(state["stats"])
        self.snapshots = [Snapshot(int(s["step"]), s["points"].numpy(), s["fitness"].numpy(), s["retained"].numpy())
                          for s in state["snapshots"]]


@register_sampler("r3")
class R3Sampler(ResidualSampler):
    """Retain–resample–release: keep the points with fitness above the mean, redraw the rest uniformly.

    The population size never changes; points leave as soon as their residual drops
    below the population mean ("release").
    """

    kind = "r3"

    def _evolve(self, x: Tensor, fitness: Tensor, step: int) -> None:
        self._replace(x, retain_mask(fitness), step, fitness)


@register_sampler("causal_r3")
class CausalR3Sampler(R3Sampler):
    """R3 with a causal time gate: fitness ``|r|·g(t̃)``; the gate opens as early times are learnt.

    After each evolution β grows by ``eta · min(exp(−eps · mean((|r|·g)²)), clip)``
    (the mean over the population before the update, gated with the β it was selected
    with). Defaults follow the authors' reference code: ``gate = "tanh"``, ``alpha = 5``,
    ``beta = −0.5``, ``eta = 1e-3``, ``eps = 20``, ``clip = 0.1``. With ``gate_loss`` (the
    reference code's behaviour, default) the interior loss is gated too, mean((r·g)²), by
    giving the interior batch the per-point weights g².
    """

    kind = "causal_r3"

    def __init__(self, point_sets: Mapping[str, PointSet], drawer: PointDrawer, resample_every: int = 0,
                 terms: list[str] | None = None, snapshots: int = 0, every: int | None = None, gate: str = "tanh",
                 alpha: float = 5.0, beta: float = -0.5, eta: float = 1e-3, eps: float = 20.0, clip: float = 0.1,
                 gate_loss: bool = True, reuse: bool = True):
        super().__init__(point_sets, drawer, resample_every, terms, snapshots, every, reuse)
        self.gate_loss = bool(gate_loss)
        geometry = drawer.geometry
        if not all(hasattr(geometry, a) for a in ("time_column", "t0", "t1")):
            raise ValueError("causal_r3 needs a time-dependent problem (a time × space domain)")
        if gate not in GATES:
            raise ValueError(f"unknown gate {gate!r}; available: {', '.join(GATES)}")
        if alpha <= 0 or eta < 0 or eps < 0 or clip < 0:
            raise ValueError("causal_r3 needs alpha > 0 and eta, eps, clip >= 0")
        self.time_column = int(geometry.time_column)
        self.t0, self.t1 = float(geometry.t0), float(geometry.t1)
        self.gate, self.alpha, self.beta = gate, float(alpha), float(beta)
        self.eta, self.eps, self.clip = float(eta), float(eps), float(clip)
        self._stats["sampler_beta"] = self.beta

    def gate_values(self, x: Tensor) -> Tensor:
        """g(t̃) at points ``x`` with the current β."""
        t_norm = (x[:, self.time_column] - self.t0) / (self.t1 - self.t0)
        return causal_gate(t_norm, self.alpha, self.beta, self.gate)

    def loss_weights(self) -> Tensor:
        """g(t̃)² per interior point: the factor the gated PDE loss mean((r·g)²) puts on r²."""
        return self.gate_values(self.batches[INTERIOR].x).pow(2)

    def _evolve(self, x: Tensor, fitness: Tensor, step: int) -> None:
        gate = self.gate_values(x)
        self._replace(x, retain_mask(fitness * gate), step, fitness)
        self.beta += gate_increment(fitness, gate, self.eta, self.eps, self.clip)
        self._stats.update({"sampler_beta": self.beta, "sampler_gate_mean": distributed.global_mean(gate)})
        self._weigh_interior()

    def refresh(self, step: int) -> None:
        super().refresh(step)
        self._weigh_interior()

    def _weigh_interior(self) -> None:
        """Attach the loss weights g² (current β) to the interior batch when the loss is gated."""
        if self.gate_loss and INTERIOR in self.batches:
            x = self.batches[INTERIOR].x
            self.batches = {**self.batches, INTERIOR: Batch(x, weights=self.loss_weights())}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "beta": self.beta}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.beta = float(state["beta"])


@register_sampler("rad")
class RADSampler(ResidualSampler):
    """Residual-based adaptive distribution: every ``every`` (default ``resample_every``) steps the whole interior is
    drawn, without replacement, from a uniform candidate pool with p ∝ |r|^k / mean(|r|^k) + c.

    ``pool`` is the candidate count (default 10 × the interior size). The residuals on the
    pool come from the trainer's probe, evaluated with the pool standing in for the interior.
    """

    kind = "rad"
    # every rank draws the whole candidate pool, evaluates its shard of it; the densities and the
    # draw of the new population (the same on every rank) use the fitness of the whole pool

    def __init__(self, point_sets: Mapping[str, PointSet], drawer: PointDrawer, resample_every: int = 0,
                 terms: list[str] | None = None, snapshots: int = 0, every: int | None = None, k: float = 1.0,
                 c: float = 1.0, pool: int | None = None):
        # the recorded residuals belong to the population, not to the candidate pool
        super().__init__(point_sets, drawer, resample_every, terms, snapshots, every, reuse=False)
        if self.every is None:
            if self.resample_every <= 0:
                raise ValueError("rad needs resample_every > 0 or every >= 1 (it redraws the whole interior)")
            self.every = self.resample_every
        if k < 0 or c < 0:
            raise ValueError("rad needs k >= 0 and c >= 0")
        n = self.point_sets[INTERIOR].n
        self.k, self.c = float(k), float(c)
        self.pool = 10 * n if pool is None else int(pool)
        if self.pool < n:
            raise ValueError(f"the RAD pool ({self.pool}) must be at least the interior size ({n})")

    def observe(self, batches: Mapping[str, Batch], residuals: Residuals, step: int) -> None:
        if not self.evolve_due(step):
            return
        if not callable(residuals):
            raise TypeError("rad needs a residual probe (a callable), not fixed residuals")
        pool = self.drawer.draw_all(self.point_sets[INTERIOR], self.pool)
        mine = distributed.shard(self.pool, self.drawer.rank, self.drawer.world)
        candidates = pool if self.drawer.world == 1 else take_rows(pool, mine)
        fitness = self._fitness(self._probe_at(batches, residuals, candidates), mine.stop - mine.start)
        self._evolve(pool.x, distributed.gather_rows(fitness, self.pool), step)
        self.evolutions += 1

    def _probe_at(self, batches: Mapping[str, Batch], probe: Callable[..., Mapping[str, Tensor]],
                  candidates: Batch) -> Callable[..., Mapping[str, Tensor]]:
        """The probe evaluated with ``candidates`` as the interior (the probe reads the batches it was given,
        which are this sampler's own dict)."""
        if batches is not self.batches:
            raise RuntimeError("rad can only probe the batches it handed out")

        def at_candidates(terms: list[str] | None = None) -> Mapping[str, Tensor]:
            current = self.batches[INTERIOR]
            self.batches[INTERIOR] = candidates
            try:
                return probe(terms)
            finally:
                self.batches[INTERIOR] = current

        return at_candidates

    def _evolve(self, x: Tensor, fitness: Tensor, step: int) -> None:
        n = self.point_sets[INTERIOR].n
        p = rad_probabilities(fitness, self.k, self.c)
        chosen = torch.multinomial(p.cpu().to(torch.float64), n, replacement=False,
                                   generator=self.drawer.generator).to(x.device)
        keep = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        keep[chosen] = True
        self._snapshot(step, x, fitness, keep, local=False)
        if self.drawer.world > 1:
            chosen = chosen[distributed.shard(n, self.drawer.rank, self.drawer.world)]
        self.batches = {**self.batches, INTERIOR: Batch(x[chosen])}
        self._stats.update({"sampler_retained": n / x.shape[0], "sampler_res_mean": fitness.mean(),
                            "sampler_res_max": fitness.max()})
