"""What one run trains, behind one interface the trainer drives: a PINN set-up here, TENG in run/teng.py.

A set-up owns the problem, the network, the sampler and the solver stages, builds the objective
a solver steps over from the current batches, measures errors, and knows what its results are.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from pinnlab import distributed
from pinnlab.compile import Batch, Objective
from pinnlab.compile.reference_data import ReferenceData
from pinnlab.config.build import check_data, check_faces, geometry_of, model_from_config, program_from_config
from pinnlab.config.schema import RunConfig
from pinnlab.errors import ConfigError
from pinnlab.nn import BoundModel, parameters_of
from pinnlab.run.solution import Solution, relative_errors
from pinnlab.sampling import PointDrawer, Sampler, make_sampler, sampler_names
from pinnlab.spec import Problem

#: sampling methods that draw fixed designs (the ``fixed`` sampler with that design)
FIXED_METHODS = ("uniform", "sobol", "lhs")


def sampling_methods() -> list[str]:
    """Every value ``sampling.method`` accepts."""
    return [*FIXED_METHODS, *(s for s in sampler_names() if s != "fixed")]


class RunSetup:
    """The interface the trainer drives; subclasses build their pieces in ``__init__``."""

    problem: Problem
    model: nn.Module
    sampler: Sampler
    stages: list[dict[str, Any]]
    #: advice appended to the error when the loss becomes non-finite
    divergence_hint = ("Try a smaller learning rate, float64 (train.dtype), or larger loss weights on the "
                       "conditions.")

    def initial_params(self) -> dict[str, Tensor]:
        return parameters_of(self.model)

    def objective(self, batches: Mapping[str, Any], step: int) -> Any:
        raise NotImplementedError

    def errors(self, params: Mapping[str, Tensor], info: Mapping[str, float]) -> dict[str, float]:
        """Relative L2 errors of the current parameters (empty without a reference)."""
        return {}

    def monitor(self, params: Mapping[str, Tensor]) -> dict[str, float]:
        """Cheap values for every ``history.csv`` row and the progress bar (e.g. learned PDE parameters)."""
        return {}

    def validation(self, params: Mapping[str, Tensor]) -> dict[str, float]:
        """Losses on held-out points, measured with the errors (``history.csv`` columns)."""
        return {}

    def record(self, step: int, params: Mapping[str, Tensor], info: Mapping[str, float]) -> None:
        """Called after every successful step."""

    def result_metrics(self, params: Mapping[str, Tensor], info: Mapping[str, float], step: int) -> dict[str, Any]:
        """What this kind of run adds to ``metrics.json`` after ``step`` steps."""
        return {}

    def solution(self, params: Mapping[str, Tensor], config: dict[str, Any], run_dir: Path | None,
                 metrics: dict[str, Any] | None = None) -> Solution:
        raise NotImplementedError

    def final_model_state(self) -> dict[str, Any]:
        """What ``model.pt`` holds."""
        return self.model.state_dict()

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass


class Evaluator:
    """Relative L2 errors at fixed points (grid or seeded random); the reference values are computed once."""

    def __init__(self, solution: Solution, resolution: Any, random_points: int | None = None,
                 up_to_constant: tuple[str, ...] = ()):
        self.solution = solution
        self.resolution, self.random_points = resolution, random_points
        self.up_to_constant = tuple(up_to_constant)
        self._points: Any = None
        self._ref: Any = None

    def _prepare(self) -> None:
        if self._points is None:
            self._points = self.solution.evaluation_points(self.resolution, self.random_points)
            has = self.solution.problem.has_reference()
            self._ref = self.solution.reference(self._points) if has else None

    @property
    def points(self) -> Any:
        self._prepare()
        return self._points

    @property
    def ref(self) -> Any:
        self._prepare()
        return self._ref

    def __call__(self) -> dict[str, float]:
        if self.ref is None:
            return {}
        return relative_errors(self.solution.predict(self.points), self.ref, self.solution.fields,
                               self.up_to_constant)


class PinnSetup(RunSetup):
    """A network of every coordinate, trained on the weighted residuals of every term."""

    def __init__(self, cfg: RunConfig, problem: Problem, device: torch.device, dtype: torch.dtype, source: str):
        self.cfg, self.problem, self.source = cfg, problem, source
        for k, stage in enumerate(cfg.stages()):
            if stage["name"] in ("teng", "teng_fit"):
                raise ConfigError(f"{source}: solver stage {k + 1}: '{stage['name']}' steps evolution equations "
                                  "in time; use it through 'mode: teng' (see docs/configuration.md)")
        self.geometry = geometry_of(problem, source)
        init_gen = torch.Generator().manual_seed(cfg.train.seed)
        self.model = model_from_config(cfg.model, problem, self.geometry, init_gen, source).to(device, dtype)
        self.program = program_from_config(cfg, problem, source)
        check_faces(self.program, self.geometry, source)
        check_data(self.program, self.geometry, source)
        self.unknowns = self.program.unknowns
        self.device, self.dtype = device, dtype
        self.held_out = {name: ps.held_out for name, ps in self.program.point_sets.items() if ps.held_out is not None}
        unknown = [f for f in cfg.output.up_to_constant if f not in problem.pde.fields]
        if unknown:
            raise ConfigError(f"{source}: key 'output.up_to_constant': '{unknown[0]}' is not a field "
                              f"({', '.join(problem.pde.fields)})")
        self.sampler = self._make_sampler(device, dtype)
        self.weights = dict(cfg.loss.weights)
        self.stages = cfg.stages()
        self._solution = Solution(problem, self.model, self.geometry)
        self.evaluator = Evaluator(self._solution, cfg.output.resolution, cfg.output.eval_points,
                                   tuple(cfg.output.up_to_constant))

    def initial_params(self) -> dict[str, Tensor]:
        """The network's parameters and the raw values of the trainable PDE parameters (``pde.NAME``)."""
        return {**parameters_of(self.model), **self.unknowns.initial(self.dtype, self.device)}

    def _make_sampler(self, device: torch.device, dtype: torch.dtype) -> Sampler:
        s = self.cfg.sampling
        if s.method not in sampling_methods():
            raise ConfigError(f"{self.source}: key 'sampling.method': unknown method '{s.method}' "
                              f"(methods: {', '.join(sampling_methods())})")
        generator = torch.Generator().manual_seed(self.cfg.train.seed + 1)
        fixed = s.method in FIXED_METHODS
        design = s.method if fixed else s.options.get("base", "uniform")
        drawer = PointDrawer(self.geometry, generator, design, dtype, device)
        name = "fixed" if fixed else s.method
        options = {k: v for k, v in s.options.items() if k != "base"}
        if s.snapshots and not fixed:
            options.setdefault("snapshots", s.snapshots)
        try:
            return make_sampler(name, self.program.point_sets, drawer, resample_every=s.resample_every, **options)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{self.source}: key 'sampling.method': {exc} "
                              f"(methods: {', '.join(sampling_methods())})") from None

    def objective(self, batches: Mapping[str, Any], step: int) -> Objective:
        return Objective(self.program, self.model, batches, self.weights, step=step)

    def _sync(self, params: Mapping[str, Tensor]) -> None:
        with torch.no_grad():
            for name, p in self.model.named_parameters():
                p.copy_(params[name])

    def errors(self, params: Mapping[str, Tensor], info: Mapping[str, float]) -> dict[str, float]:
        self._sync(params)
        return self.evaluator()

    def monitor(self, params: Mapping[str, Tensor]) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, entry in self.unknowns.report(params).items():
            out[f"param_{name}"] = entry["value"]
            if "rel_error" in entry:
                out[f"param_{name}_rel_error"] = entry["rel_error"]
        return out

    def validation(self, params: Mapping[str, Tensor]) -> dict[str, float]:
        out = {}
        detached = {k: v.detach() for k, v in params.items()}
        for term, obs in self.held_out.items():
            point_set = self.program.terms[term].point_set
            weights = None if obs.weights is None else obs.weights.to(self.device, self.dtype)
            batch = Batch(obs.coords.to(self.device, self.dtype), values=obs.values.to(self.device, self.dtype),
                          weights=weights)
            network, values = self.unknowns.split(detached)
            with torch.no_grad():
                r = self.program.residuals(BoundModel(self.model, network), {point_set: batch}, terms=[term],
                                           parameters=values)[term]
            squares = r.pow(2) if weights is None else weights.reshape(-1, *([1] * (r.dim() - 1))) * r.pow(2)
            out[f"val_loss_{term}"] = float(squares.mean())
        return out

    def result_metrics(self, params: Mapping[str, Tensor], info: Mapping[str, float], step: int) -> dict[str, Any]:
        batches = self.sampler.batches or self.sampler.sample(step)
        detached = {k: v.detach() for k, v in params.items()}
        objective = self.objective(batches, step)
        total, losses = objective.loss(detached)
        if objective.sharded:  # the ranks' shares of the global losses
            total, losses = distributed.all_reduce_sum_tree((total, losses))
        out: dict[str, Any] = {"loss": float(total.detach()),
                               "losses": {k: float(v.detach()) for k, v in losses.items()},
                               "derivatives": self.cfg.derivatives.method}
        if self.evaluator.ref is not None:
            kind = "random" if self.cfg.output.eval_points else "grid"
            if isinstance(self.problem.reference, ReferenceData):
                kind = "reference data"
            out["error_points"] = {"kind": kind, "count": len(self.evaluator.points)}
            if self.cfg.output.up_to_constant:
                out["up_to_constant"] = list(self.cfg.output.up_to_constant)
        if self.unknowns:
            out["parameters"] = self.unknowns.report(params)
        if self.held_out:
            out["validation"] = {k.removeprefix("val_loss_"): v for k, v in self.validation(params).items()}
        return out

    def solution(self, params: Mapping[str, Tensor], config: dict[str, Any], run_dir: Path | None,
                 metrics: dict[str, Any] | None = None) -> Solution:
        self._sync(params)
        return Solution(self.problem, self.model, self.geometry, config, run_dir, metrics,
                        parameters=self.unknowns.values(params))


__all__ = ["FIXED_METHODS", "Evaluator", "PinnSetup", "RunSetup", "sampling_methods"]
