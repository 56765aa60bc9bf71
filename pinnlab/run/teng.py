"""TENG runs in the one trainer: a network of the spatial coordinates, fitted to u0, then advanced in time.

``mode: teng`` configurations (see :class:`pinnlab.config.schema.TengRunConfig`) become two solver
stages, ``teng_fit`` (one initial-fit stage per step) and ``teng`` (one time step per step), on a
quadrature grid that a fixed sampler shifts by a random offset at every step. The parameters
after every step are kept as the trajectory, so the solution is a function of time and space:
:class:`TrajectoryModel` evaluates it at any (t, x) by linear interpolation in time between the
stored steps, exact at the step times.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from pinnlab.compile import EvolutionObjective, PointSet
from pinnlab.config.schema import TengRunConfig
from pinnlab.config.teng import spatial_model, teng_plan
from pinnlab.run.setup import RunSetup
from pinnlab.run.solution import Solution, relative_errors
from pinnlab.sampling import FixedSampler, GridDrawer, PeriodicGrid
from pinnlab.solvers.least_squares import ParamLayout
from pinnlab.spec import Problem


class TrajectoryModel(nn.Module):
    """u(t, x) from the parameters of a spatial network stored at increasing times.

    Points are (N, D) with the time in column ``time_column`` and the spatial coordinates in
    ``spatial_columns``; between two stored times the two networks' values are blended linearly.
    """

    def __init__(self, module: nn.Module, time_column: int, spatial_columns: Sequence[int], times: Tensor,
                 states: Tensor):
        super().__init__()
        self.module = module
        self.time_column, self.spatial_columns = int(time_column), list(spatial_columns)
        self.layout = ParamLayout(dict(module.named_parameters()))
        self.register_buffer("times", times)
        self.register_buffer("states", states)

    @classmethod
    def empty(cls, module: nn.Module, time_column: int, spatial_columns: Sequence[int], count: int = 0):
        size = sum(p.numel() for p in module.parameters())
        like = next(module.parameters())
        return cls(module, time_column, spatial_columns, like.new_zeros(count), like.new_zeros(count, size))

    def _params(self, k: int) -> dict[str, Tensor]:
        return self.layout.unflatten(self.states[k])

    def forward(self, x: Tensor) -> Tensor:
        if self.times.numel() == 0:
            raise RuntimeError("the trajectory holds no state yet")
        t = x[:, self.time_column]
        space = x[:, self.spatial_columns]
        k = torch.searchsorted(self.times, t.contiguous(), right=True).clamp(1, max(len(self.times) - 1, 1)) - 1
        out = None
        for i in torch.unique(k).tolist():
            rows = torch.nonzero(k == i).squeeze(1)
            left = functional_call(self.module, self._params(i), (space[rows],))
            if i + 1 < len(self.times):
                right = functional_call(self.module, self._params(i + 1), (space[rows],))
                span = self.times[i + 1] - self.times[i]
                w = ((t[rows] - self.times[i]) / span).clamp(0.0, 1.0)[:, None]
                left = (1 - w) * left + w * right
            if out is None:
                out = left.new_empty(x.shape[0], left.shape[1])
            out[rows] = left
        assert out is not None
        return out


def _open_grid(low: Sequence[float], high: Sequence[float], n: Sequence[int]) -> np.ndarray:
    """The periodic grid without its right end points, as (N, d) points."""
    axes = [a + (b - a) * np.arange(k) / k for a, b, k in zip(low, high, n)]
    return np.stack([m.ravel() for m in np.meshgrid(*axes, indexing="ij")], axis=-1)


class TengSetup(RunSetup):
    """The TENG set-up: spatial network, quadrature grid, ``teng_fit`` and ``teng`` stages, trajectory."""

    divergence_hint = "Try a larger teng.projection.rcond, a smaller teng.dt or more quadrature points (teng.points)."

    def __init__(self, cfg: TengRunConfig, problem: Problem, device: torch.device, dtype: torch.dtype, source: str):
        self.cfg, self.problem, self.source = cfg, problem, source
        plan = teng_plan(cfg, problem, source)
        self.plan, self.periodic = plan, plan.setup
        pde = problem.pde
        self.fields = list(pde.fields)
        seed = cfg.train.seed
        generator = torch.Generator().manual_seed(seed)
        self.model = spatial_model(cfg.model, self.periodic.low, self.periodic.high, len(self.fields), generator,
                                   source).to(device, dtype)
        self.grid = PeriodicGrid(self.periodic.low, self.periodic.high, plan.points, dtype=dtype, device=device)
        drawer = GridDrawer(self.grid, torch.Generator().manual_seed(seed + 1), cfg.teng.random_offset)
        self.sampler = FixedSampler({"quadrature": PointSet("quadrature", "grid", len(self.grid))}, drawer,
                                    resample_every=1 if cfg.teng.random_offset else 0)
        t = cfg.teng
        fit_stages = [s.model_dump() for s in t.initial_fit.stages]
        self.stages = [
            {"name": "teng_fit", "steps": len(fit_stages), "stages": fit_stages, "seed": seed},
            {"name": "teng", "steps": plan.steps, "integrator": t.integrator, "dt": t.dt, "t0": self.periodic.t0,
             "projection": t.projection.model_dump(), "seed": seed + 2},
        ]
        self.time_column = pde.column_map()[pde.time]
        self.spatial_columns = list(pde.spatial_columns())
        self.trajectory = TrajectoryModel.empty(self.model, self.time_column, self.spatial_columns)
        self.eval_space = _open_grid(self.periodic.low, self.periodic.high, plan.resolution)
        self._reference_solution = Solution(problem, self.model, self.periodic.geometry)
        self.max_errors: dict[str, float] = {}
        self.fit_info: dict[str, float] = {}

    def objective(self, batches: Mapping[str, Any], step: int) -> EvolutionObjective:
        return EvolutionObjective(self.plan.operator, self.model, batches["quadrature"].x, self.grid.weight,
                                  self.periodic.u0, step)

    def _reference(self, t: float) -> np.ndarray | None:
        pts = np.empty((len(self.eval_space), len(self.problem.pde.columns)))
        pts[:, self.time_column] = t
        pts[:, self.spatial_columns] = self.eval_space
        return self._reference_solution.reference(pts)

    def errors(self, params: Mapping[str, Tensor], info: Mapping[str, float]) -> dict[str, float]:
        t = float(info.get("t", self.periodic.t0))
        ref = self._reference(t)
        if ref is None:
            return {}
        x = torch.as_tensor(self.eval_space, dtype=self.grid.low.dtype, device=self.grid.low.device)
        with torch.no_grad():
            pred = torch.cat([functional_call(self.model, dict(params), (c,)) for c in x.split(65536)])
        errors = relative_errors(pred.double().cpu().numpy(), ref, self.fields)
        for f, v in errors.items():
            self.max_errors[f] = max(self.max_errors.get(f, 0.0), v)
        return errors

    def record(self, step: int, params: Mapping[str, Tensor], info: Mapping[str, float]) -> None:
        """Keep the parameters after the initial fit and after every time step."""
        if "t" not in info:  # an initial-fit step: the state at t0 is the latest fit
            iterations = self.fit_info.get("iterations", 0.0) + float(info.get("iterations", 0))
            self.fit_info = {**{k: float(v) for k, v in info.items()}, "iterations": iterations}
            times, states = self.trajectory.times[:0], self.trajectory.states[:0]
            t = self.periodic.t0
        else:
            times, states, t = self.trajectory.times, self.trajectory.states, float(info["t"])
        flat = self.trajectory.layout.flatten({k: v.detach() for k, v in params.items()})
        self.trajectory.times = torch.cat([times, times.new_tensor([t])])
        self.trajectory.states = torch.cat([states, flat[None].to(states)])

    def result_metrics(self, params: Mapping[str, Tensor], info: Mapping[str, float], step: int) -> dict[str, Any]:
        t = self.cfg.teng
        times = self.trajectory.times
        out: dict[str, Any] = {
            "method": f"teng-{t.integrator}", "dt": t.dt, "time_steps": max(len(times) - 1, 0),
            "t_end": float(times[-1]) if len(times) else self.periodic.t0, "points": len(self.grid),
            "subset": t.projection.subset, "iterations": t.projection.iterations,
            "loss": float(info.get("loss", math.nan)),
            "initial_fit": {"relative": self.fit_info.get("fit_relative", math.nan),
                            "loss": self.fit_info.get("loss", math.nan),
                            "iterations": int(self.fit_info.get("iterations", 0))},
        }
        if self.max_errors:
            out["rel_l2_max"] = dict(self.max_errors)
        return out

    def solution(self, params: Mapping[str, Tensor], config: dict[str, Any], run_dir: Path | None,
                 metrics: dict[str, Any] | None = None) -> Solution:
        with torch.no_grad():
            for name, p in self.model.named_parameters():
                p.copy_(params[name])
        times = self.trajectory.times
        t_end = float(times[-1]) if len(times) > 1 else self.plan.t_end
        return Solution(self.problem, self.trajectory, self.periodic.solution_geometry(t_end), config, run_dir,
                        metrics)

    def final_model_state(self) -> dict[str, Any]:
        return self.trajectory.state_dict()

    def state_dict(self) -> dict[str, Any]:
        return {"times": self.trajectory.times, "states": self.trajectory.states, "max_errors": self.max_errors,
                "fit_info": self.fit_info}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.trajectory.times = state["times"].to(self.trajectory.times)
        self.trajectory.states = state["states"].to(self.trajectory.states)
        self.max_errors = dict(state["max_errors"])
        self.fit_info = dict(state["fit_info"])


def trajectory_for_loading(cfg: TengRunConfig, problem: Problem, state: Mapping[str, Tensor], device: str,
                           dtype: torch.dtype, source: str) -> tuple[TrajectoryModel, Any]:
    """A TENG run's saved solution (``model.pt``): the trajectory model and its space–time geometry."""
    plan = teng_plan(cfg, problem, source)
    setup = plan.setup
    model = spatial_model(cfg.model, setup.low, setup.high, len(problem.pde.fields), None, source).to(device, dtype)
    pde = problem.pde
    count = state["times"].shape[0]
    trajectory = TrajectoryModel.empty(model, pde.column_map()[pde.time], pde.spatial_columns(), count)
    trajectory.load_state_dict(state)
    t_end = float(trajectory.times[-1]) if count > 1 else plan.t_end
    return trajectory, setup.solution_geometry(t_end)


__all__ = ["TengSetup", "TrajectoryModel", "trajectory_for_loading"]
