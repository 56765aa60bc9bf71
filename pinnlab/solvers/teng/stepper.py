"""TENG: time-evolving natural gradient (Chen, McCarran, Vizcaino, Soljačić, Luo, ICML 2024).

A network u_θ(x) of the spatial coordinates holds the solution at one time. Each time step
is an explicit Runge–Kutta step (:mod:`pinnlab.solvers.teng.integrators`) in function space:
every stage target (e.g. ``u + dt F[u]`` for Euler) is matched by a few Gauss–Newton
iterations on the residual ``u_θ - target`` at quadrature points, each a float64 least-squares
solve for a random subset of the parameters (redrawn every iteration, see
:func:`~pinnlab.solvers.teng.fit.fit_subset`).

Two solvers the trainer drives like any other: ``teng_fit`` fits u_θ to the initial value (one
fit stage per step) and ``teng`` advances it by one time step per step. Both see the problem
only through an evolution objective (:class:`pinnlab.compile.EvolutionObjective`): the values
and rates F[u_θ] at the current quadrature points, the initial value there, and the
quadrature weight. Their state holds the random generator of the parameter subsets, and for
``teng`` the time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import torch
from torch import Tensor

from pinnlab.errors import SolverError
from pinnlab.solvers.base import Params, Solver, is_sharded, register_solver
from pinnlab.solvers.teng.fit import FitResult, FitStage, fit_subset
from pinnlab.solvers.teng.integrators import ButcherTableau, get_tableau, rk_step


def _fit_stage(spec: FitStage | Mapping[str, Any]) -> FitStage:
    if isinstance(spec, FitStage):
        return spec
    try:
        return FitStage(**dict(spec))
    except TypeError as exc:
        raise ValueError(f"fit stage {dict(spec)}: {exc}") from None


def _check(objective: Any, name: str) -> None:
    if not all(hasattr(objective, a) for a in ("values", "rate", "points", "weight", "module")):
        raise SolverError(f"the '{name}' solver advances evolution equations u_t = F[u]; use it through a "
                          "'mode: teng' configuration")


def _fit(objective: Any, params: Mapping[str, Tensor], target: Tensor, stage: FitStage,
         generator: torch.Generator, chunk: int) -> FitResult:
    return fit_subset(objective.module, params, objective.points, target, objective.weight, stage.iterations,
                      stage.subset, generator, stage.tol, stage.rcond, stage.damping, chunk, is_sharded(objective))


class _SubsetSolver(Solver):
    """State: the generator of the random parameter subsets (and a step counter)."""

    needs_fixed_points = True

    def __init__(self, seed: int = 0, chunk: int = 4096):
        self.seed, self.chunk = int(seed), int(chunk)

    def init(self, params: Params) -> dict[str, Any]:
        return {"generator": torch.Generator().manual_seed(self.seed), "k": 0}

    def state_dict(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"generator": state["generator"].get_state(), "k": state["k"]}

    def load_state_dict(self, state: dict[str, Any], saved: Mapping[str, Any]) -> dict[str, Any]:
        state["generator"].set_state(saved["generator"])
        state["k"] = int(saved["k"])
        return state


@register_solver("teng_fit")
class TengInitialFit(_SubsetSolver):
    """Least-squares fit of u_θ to the initial value; step k runs fit stage k on that step's points."""

    name = "teng_fit"

    def __init__(self, steps: int = 1, stages: Sequence[FitStage | Mapping[str, Any]] = (), seed: int = 0,
                 chunk: int = 4096):
        super().__init__(seed, chunk)
        self.stages = [_fit_stage(s) for s in stages] or [FitStage(iterations=200)]

    def step(self, params: Params, state: dict[str, Any], objective: Any) -> tuple[Params, Any, dict[str, float]]:
        _check(objective, self.name)
        stage = self.stages[min(state["k"], len(self.stages) - 1)]
        fit = _fit(objective, params, objective.initial(), stage, state["generator"], self.chunk)
        state["k"] += 1
        return fit.params, state, {"loss": fit.loss, "fit_relative": fit.relative, "iterations": fit.iterations}


@register_solver("teng")
class TengStepper(_SubsetSolver):
    """One explicit Runge–Kutta step of size ``dt`` per solver step, from time ``t0``."""

    name = "teng"

    def __init__(self, dt: float, steps: int = 1, integrator: str | ButcherTableau = "heun", t0: float = 0.0,
                 projection: FitStage | Mapping[str, Any] | None = None, seed: int = 0, chunk: int = 4096):
        super().__init__(seed, chunk)
        if not dt > 0:
            raise ValueError(f"dt must be positive, got {dt}")
        self.dt, self.t0 = float(dt), float(t0)
        self.tableau = integrator if isinstance(integrator, ButcherTableau) else get_tableau(integrator)
        self.projection = _fit_stage(projection) if projection is not None else FitStage(iterations=5)

    def time(self, state: Mapping[str, Any]) -> float:
        """The time of the current parameters (steps are counted, so times stay on the grid t0 + k dt)."""
        return self.t0 + state["k"] * self.dt

    def step(self, params: Params, state: dict[str, Any], objective: Any) -> tuple[Params, Any, dict[str, float]]:
        _check(objective, self.name)
        generator = state["generator"]

        def project(target: Tensor, start: Params, stage: int) -> tuple[Params, dict[str, float]]:
            fit = _fit(objective, start, target, self.projection, generator, self.chunk)
            return fit.params, {"loss": fit.loss, "relative": fit.relative, "iterations": fit.iterations}

        new, infos = rk_step(self.tableau, dict(params), self.time(state), self.dt, objective.values,
                             objective.rate, project)
        state["k"] += 1
        info: dict[str, float] = {"loss": infos[-1]["loss"], "fit_relative": infos[-1]["relative"],
                                  "t": self.time(state)}
        for i, stage in enumerate(infos):
            info[f"loss_stage{i + 1}"] = stage["loss"]
        info["iterations"] = sum(s["iterations"] for s in infos)
        return new, state, info

    def describe(self) -> dict[str, Any]:
        return {"integrator": self.tableau.name, "dt": self.dt, "projection": asdict(self.projection)}


__all__ = ["TengInitialFit", "TengStepper"]
