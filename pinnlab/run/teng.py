"""TENG runs: configuration -> initial fit -> time stepping -> run directory.

A TENG configuration has a top-level ``teng:`` section (or ``mode: teng``) next to
``problem``, ``model`` and ``output``::

    name: teng_heat2d
    problem: {equation: heat2d_periodic, options: {t_end: 1.0}}
    model: {width: 40, depth: 6, activation: tanh}
    teng:
      integrator: heun          # euler | heun | midpoint | rk3 | rk4
      dt: 0.01
      t_end: 1.0                # default: the end of the problem's time interval
      points: 64                # quadrature grid per spatial axis (or one number per axis)
      projection: {iterations: 5, subset: 1024, rcond: 1.0e-6}
      initial_fit:
        stages:
          - {iterations: 200, subset: 1024, damping: 1.0e-3}
          - {iterations: 400, subset: 1024, rcond: 1.0e-6}
    output: {times: [0.0, 0.5, 1.0], resolution: 128, eval_every: 10}

The problem must be an evolution equation (see :mod:`pinnlab.evolution`) on a box whose
spatial coordinates are all periodic, with an initial value for every field. The run
directory holds ``config.yaml``, ``history.csv`` (per step: fit losses, and the relative
L2 error where a reference exists), ``metrics.json``, ``model.pt`` (final parameters),
``states.pt`` (parameters at the output times), ``vtk/solution.pvd`` and ``plots/``.
"""

from __future__ import annotations

import difflib
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from torch import Tensor, nn
from torch.func import functional_call
from tqdm.auto import tqdm

from pinnlab.autodiff import make_backend
from pinnlab.compile import EvolutionOperator, exact_function
from pinnlab.config.schema import ProblemConfig, _valid_keys, apply_overrides, read_yaml
from pinnlab.config.build import geometry_of, problem_from_config
from pinnlab.errors import ConfigError, PinnlabError, SolverError, SpecError
from pinnlab.io import run_dir as rd
from pinnlab.io.plots import plot_comparison_2d, plot_history, plot_line
from pinnlab.io.vtk import write_time_series
from pinnlab.nn import MLP, InputScaling, PeriodicEmbedding, PINNModel, count_parameters, parameters_of
from pinnlab.nn.layers import ACTIVATIONS
from pinnlab.run.trainer import _run_directory, default_dtype, resolve_device
from pinnlab.solvers.teng import TENG, FitStage, PeriodicGrid, TengOptions
from pinnlab.solvers.teng.integrators import TABLEAUS, get_tableau
from pinnlab.spec import Initial, Periodic, Problem

# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FitStageConfig(_Section):
    """Least-squares iterations on random parameter subsets (see :func:`pinnlab.solvers.teng.fit_subset`)."""

    iterations: int = Field(5, ge=0)
    subset: int | None = Field(1024, ge=1)
    damping: float = Field(0.0, ge=0)
    rcond: float | None = Field(1e-6, gt=0)
    tol: float = Field(0.0, ge=0)

    def stage(self) -> FitStage:
        return FitStage(self.iterations, self.subset, self.damping, self.rcond, self.tol)


def _default_initial_stages() -> list[FitStageConfig]:
    return [FitStageConfig(iterations=200, damping=1e-3, rcond=None), FitStageConfig(iterations=400)]


class InitialFitConfig(_Section):
    """Fit of the network to the initial condition: stages run in order, each on a freshly shifted grid."""

    stages: list[FitStageConfig] = Field(default_factory=_default_initial_stages, min_length=1)


class TengModelConfig(_Section):
    """MLP of the spatial coordinates behind an exact periodic embedding (cos, sin of each coordinate)."""

    width: int = Field(40, ge=1)
    depth: int = Field(6, ge=1)
    activation: str = "tanh"
    harmonics: int = Field(1, ge=1)


class TengConfig(_Section):
    integrator: str = "heun"
    dt: float = Field(gt=0)
    t_end: float | None = None
    points: int | list[int] = 64
    random_offset: bool = True
    projection: FitStageConfig = Field(default_factory=FitStageConfig)
    initial_fit: InitialFitConfig = Field(default_factory=InitialFitConfig)
    derivatives: Literal["autograd", "taylor"] = "autograd"
    device: Literal["auto", "cpu", "cuda"] = "cpu"
    seed: int = 0
    progress: bool = True


class TengOutputConfig(_Section):
    dir: str | None = None
    times: list[float] | None = None
    frames: int = Field(11, ge=2)
    resolution: int | list[int] = 128
    eval_every: int = Field(10, ge=1)
    vtk: bool = True
    plots: bool = True


class TengRunConfig(_Section):
    name: str | None = None
    mode: Literal["teng"] = "teng"
    problem: ProblemConfig
    model: TengModelConfig = Field(default_factory=TengModelConfig)
    teng: TengConfig
    output: TengOutputConfig = Field(default_factory=TengOutputConfig)

    @model_validator(mode="after")
    def known_integrator(self) -> TengRunConfig:
        if self.teng.integrator not in TABLEAUS:
            get_tableau(self.teng.integrator)  # raises with a hint
        return self


def is_teng_config(data: Mapping[str, Any]) -> bool:
    """Whether a configuration mapping asks for a TENG run (``teng:`` section or ``mode: teng``)."""
    return "teng" in data or data.get("mode") == "teng"


def parse_teng_config(data: Mapping[str, Any], source: str = "<config>") -> TengRunConfig:
    """Validate a TENG configuration; :class:`ConfigError` names ``source``, the key and the reason."""
    if "teng" not in data:
        raise ConfigError(f"{source}: 'mode: teng' needs a 'teng' section (with at least 'dt')")
    try:
        return TengRunConfig.model_validate(dict(data))
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            path = ".".join(str(p) for p in loc) or "(top level)"
            if err["type"] == "extra_forbidden":
                valid = _valid_keys(TengRunConfig, loc[:-1])
                close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else (f" (valid keys: {', '.join(valid)})"
                                                                       if valid else "")
                lines.append(f"{source}: unknown key '{path}'{hint}")
            else:
                lines.append(f"{source}: key '{path}': {err['msg'].removeprefix('Value error, ')}")
        raise ConfigError("\n".join(lines)) from None


# ---------------------------------------------------------------------------------------------
# The problem as TENG needs it
# ---------------------------------------------------------------------------------------------


@dataclass
class PeriodicSetup:
    """What TENG takes from a problem: the spatial box, the time interval, u0 and a reference."""

    low: list[float]
    high: list[float]
    t0: float
    t_end: float
    spatial_names: list[str]
    u0: Callable[[Tensor], Tensor]
    reference: Callable[[np.ndarray], np.ndarray] | None


def periodic_setup(problem: Problem, source: str = "<config>") -> PeriodicSetup:
    """Check that ``problem`` is a periodic initial value problem and extract its pieces."""
    pde = problem.pde
    where = f"{source}: problem"
    spatial = pde.spatial
    if any(c.dim is not None for c in spatial):
        raise ConfigError(f"{where}: TENG needs scalar spatial coordinates, not vector ones")
    names = [c.name for c in spatial]
    periodic = {c.coordinate for c in problem.conditions.values() if isinstance(c, Periodic)}
    initial = {c.field: c for c in problem.conditions.values() if isinstance(c, Initial) and c.field}
    others = [n for n, c in problem.conditions.items() if not isinstance(c, (Initial, Periodic))]
    if others:
        raise ConfigError(f"{where}: TENG solves periodic initial value problems; condition(s) {others} are "
                          "neither initial nor periodic")
    missing = [n for n in names if n not in periodic]
    if missing:
        raise ConfigError(f"{where}: TENG needs every spatial coordinate periodic; {missing} have no periodic "
                          "condition")
    lacking = [f for f in pde.fields if f not in initial]
    if lacking:
        raise ConfigError(f"{where}: field(s) {lacking} need an initial condition with 'field' and 'value'")
    geometry = geometry_of(problem, source)
    low, high = geometry.bounding_box()
    columns = [geometry.names.index(c) for c in pde.columns]
    low, high = [low[i] for i in columns], [high[i] for i in columns]
    spans = [h - lo for lo, h in zip(low, high)]
    if min(spans) <= 0 or abs(geometry.log_volume() - sum(math.log(s) for s in spans)) > 1e-9:
        raise ConfigError(f"{where}: TENG needs a box domain (a range per coordinate)")
    t_col = pde.column_map()[pde.time]
    t0, t_end = low[t_col], high[t_col]
    exact_u0 = exact_function(Problem(pde, None, exact={f: str(initial[f].value) for f in pde.fields}))
    assert exact_u0 is not None
    spatial_cols = pde.spatial_columns()
    n_cols = len(pde.columns)

    def full_points(x: Tensor, t: float) -> Tensor:
        pts = x.new_empty(x.shape[0], n_cols)
        pts[:, t_col] = t
        pts[:, spatial_cols] = x
        return pts

    def u0(x: Tensor) -> Tensor:
        return exact_u0(full_points(x, t0))

    reference = None
    exact = exact_function(problem)
    if problem.reference is not None:
        def reference(points: np.ndarray) -> np.ndarray:
            return np.asarray(problem.reference(points), dtype=np.float64).reshape(len(points), -1)
    elif exact is not None:
        def reference(points: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return exact(torch.as_tensor(points, dtype=torch.float64)).numpy()

    return PeriodicSetup([low[i] for i in spatial_cols], [high[i] for i in spatial_cols], t0, t_end, names, u0,
                         reference)


def spatial_model(cfg: TengModelConfig, low: Sequence[float], high: Sequence[float], n_fields: int,
                  generator: torch.Generator | None = None) -> PINNModel:
    """x (N, d) -> fields: scaling onto [-1, 1], exact periodic embedding of every axis, MLP."""
    if cfg.activation not in ACTIVATIONS:
        raise ConfigError(f"key 'model.activation': unknown activation '{cfg.activation}' "
                          f"(available: {', '.join(ACTIVATIONS)})")
    d = len(low)
    periodic = PeriodicEmbedding(d, {c: 2.0 for c in range(d)}, harmonics=cfg.harmonics)  # the box maps to [-1, 1]
    body = MLP(periodic.out_dim, n_fields, cfg.width, cfg.depth, cfg.activation, generator=generator)
    return PINNModel(InputScaling(list(low), list(high)), body, periodic=periodic)


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


@dataclass
class TengResult:
    """A finished TENG run: final parameters, the model, metrics and the run directory."""

    run_dir: Path
    model: nn.Module
    params: dict[str, Tensor]
    metrics: dict[str, Any]
    history: dict[str, list[float]]


def _periodic_axes(low: Sequence[float], high: Sequence[float], n: Sequence[int], closed: bool) -> list[np.ndarray]:
    if closed:
        return [np.linspace(a, b, k) for a, b, k in zip(low, high, n)]
    return [a + (b - a) * np.arange(k) / k for a, b, k in zip(low, high, n)]


def _mesh(axes: Sequence[np.ndarray]) -> np.ndarray:
    return np.stack([m.ravel() for m in np.meshgrid(*axes, indexing="ij")], axis=-1)


class _Monitor:
    """Predictions and relative L2 errors on a fixed periodic grid."""

    def __init__(self, model: nn.Module, setup: PeriodicSetup, pde_columns: int, time_column: int,
                 spatial_columns: list[int], resolution: Sequence[int]):
        self.model, self.setup = model, setup
        self.points = _mesh(_periodic_axes(setup.low, setup.high, resolution, closed=False))
        self.n_columns, self.time_column, self.spatial_columns = pde_columns, time_column, spatial_columns

    def full(self, x: np.ndarray, t: float) -> np.ndarray:
        pts = np.empty((len(x), self.n_columns))
        pts[:, self.time_column] = t
        pts[:, self.spatial_columns] = x
        return pts

    def predict(self, params: Mapping[str, Tensor], x: np.ndarray) -> np.ndarray:
        like = next(iter(params.values()))
        pts = torch.as_tensor(x, dtype=like.dtype, device=like.device)
        with torch.no_grad():
            out = [functional_call(self.model, dict(params), (chunk,)) for chunk in pts.split(65536)]
        return torch.cat(out).double().cpu().numpy()

    def reference(self, x: np.ndarray, t: float) -> np.ndarray | None:
        return None if self.setup.reference is None else self.setup.reference(self.full(x, t))

    def errors(self, params: Mapping[str, Tensor], t: float, fields: Sequence[str]) -> dict[str, float]:
        ref = self.reference(self.points, t)
        if ref is None:
            return {}
        pred = self.predict(params, self.points)
        out = {}
        for i, f in enumerate(fields):
            norm = np.linalg.norm(ref[:, i])
            err = np.linalg.norm(pred[:, i] - ref[:, i])
            out[f] = float(err / norm) if norm > 0 else float(err / math.sqrt(len(ref)))
        return out


def _output_steps(times: Sequence[float] | None, frames: int, t0: float, dt: float, steps: int) -> list[int]:
    """Step indices of the output times (snapped to the step grid), always including 0 and the last step."""
    if times is None:
        wanted = np.linspace(0, steps, frames)
    else:
        wanted = (np.asarray(times, dtype=float) - t0) / dt
    return sorted({int(np.clip(round(w), 0, steps)) for w in wanted} | {0, steps})


def solve_teng(config: str | Path | Mapping[str, Any], out: str | Path | None = None,
               overrides: list[str] | None = None, device: str | None = None,
               progress: bool | None = None) -> TengResult:
    """Run TENG as configured (a YAML path or a dict); writes and returns the run directory's results."""
    if isinstance(config, Mapping):
        data, source = dict(config), "<config>"
    else:
        data, source = read_yaml(config), str(config)
    data = apply_overrides(data, overrides or [])
    cfg = parse_teng_config(data, source)
    problem = problem_from_config(cfg.problem, source)
    try:
        operator = EvolutionOperator(problem.pde, make_backend(cfg.teng.derivatives))
    except SpecError as exc:
        raise ConfigError(f"{source}: problem: {exc}") from None
    setup = periodic_setup(problem, source)
    t_end = cfg.teng.t_end if cfg.teng.t_end is not None else setup.t_end
    if not setup.t0 < t_end <= setup.t_end + 1e-12:
        raise ConfigError(f"{source}: key 'teng.t_end': {t_end} is outside the problem's time interval "
                          f"({setup.t0}, {setup.t_end}]")
    steps = round((t_end - setup.t0) / cfg.teng.dt)
    if steps < 1 or abs(setup.t0 + steps * cfg.teng.dt - t_end) > 1e-9 * max(1.0, abs(t_end)):
        raise ConfigError(f"{source}: key 'teng.dt': {cfg.teng.dt} does not divide the interval "
                          f"[{setup.t0}, {t_end}] into whole steps")
    dev = resolve_device(device or cfg.teng.device)
    name = cfg.name or f"teng_{problem.name}"
    run_dir = _run_directory(out, cfg, name, False)
    resolved = cfg.model_dump(mode="json")
    rd.write_config(run_dir, resolved)
    with default_dtype(torch.float64):
        return _TengRun(cfg, problem, operator, setup, t_end, steps, dev, run_dir).run(
            cfg.teng.progress if progress is None else progress)


class _TengRun:
    def __init__(self, cfg: TengRunConfig, problem: Problem, operator: EvolutionOperator, setup: PeriodicSetup,
                 t_end: float, steps: int, device: torch.device, run_dir: Path):
        self.cfg, self.problem, self.setup, self.t_end, self.steps = cfg, problem, setup, t_end, steps
        self.run_dir = run_dir
        pde = problem.pde
        self.fields = list(pde.fields)
        d = len(setup.low)
        generator = torch.Generator().manual_seed(cfg.teng.seed)
        self.model = spatial_model(cfg.model, setup.low, setup.high, len(self.fields), generator).to(device,
                                                                                                    torch.float64)
        self.params = parameters_of(self.model)
        points = cfg.teng.points if isinstance(cfg.teng.points, list) else [cfg.teng.points] * d
        resolution = cfg.output.resolution if isinstance(cfg.output.resolution, list) else [cfg.output.resolution] * d
        if len(points) != d or len(resolution) != d:
            raise ConfigError(f"teng.points and output.resolution need one number or {d} numbers")
        self.grid = PeriodicGrid(setup.low, setup.high, points, device=device)
        options = TengOptions(cfg.teng.projection.stage(), cfg.teng.random_offset, cfg.teng.seed)
        self.teng = TENG(self.model, operator, self.grid, get_tableau(cfg.teng.integrator), options)
        self.monitor = _Monitor(self.model, setup, len(pde.columns), pde.column_map()[pde.time],
                                pde.spatial_columns(), resolution)
        self.history = rd.HistoryWriter(run_dir / rd.HISTORY)
        self.output_steps = _output_steps(cfg.output.times, cfg.output.frames, setup.t0, cfg.teng.dt, steps)

    def run(self, progress: bool) -> TengResult:
        cfg, setup = self.cfg, self.setup
        dt = cfg.teng.dt
        start = time.perf_counter()
        fit = self.teng.fit_initial(self.params, setup.u0, [s.stage() for s in cfg.teng.initial_fit.stages])
        fit_time = time.perf_counter() - start
        params = fit.params
        errors = self.monitor.errors(params, setup.t0, self.fields)
        self.history.append({"step": 0, "t": setup.t0, "wall_time_s": round(fit_time, 4), "loss": fit.loss,
                             "fit_relative": fit.relative, **{f"rel_l2_{k}": v for k, v in errors.items()}})
        states = {0: {k: v.detach().cpu().clone() for k, v in params.items()}}
        max_errors = dict(errors)
        wall = 0.0
        bar = tqdm(total=self.steps, disable=not progress, file=sys.stderr, dynamic_ncols=True,
                   desc=f"{self.problem.name} [teng-{cfg.teng.integrator}]")
        t = setup.t0
        for k in range(1, self.steps + 1):
            tick = time.perf_counter()
            params, info = self.teng.step(params, t, dt)
            wall += time.perf_counter() - tick
            t = setup.t0 + k * dt
            if not all(torch.isfinite(p).all() for p in params.values()) or not math.isfinite(info["loss"]):
                self.history.flush()
                raise SolverError(f"TENG diverged at step {k} (t = {t:.6g}); try a larger teng.projection.rcond, "
                                  "a smaller dt or more quadrature points")
            row: dict[str, Any] = {"step": k, "t": t, "wall_time_s": round(fit_time + wall, 4), **info}
            evaluate = k % cfg.output.eval_every == 0 or k in self.output_steps
            if evaluate:
                errors = self.monitor.errors(params, t, self.fields)
                row.update({f"rel_l2_{f}": v for f, v in errors.items()})
                for f, v in errors.items():
                    max_errors[f] = max(max_errors.get(f, 0.0), v)
                bar.set_postfix({"loss": f"{info['loss']:.2e}", **{f"L2({f})": f"{v:.2e}" for f, v in errors.items()}},
                                refresh=False)
            if k in self.output_steps:
                states[k] = {name: v.detach().cpu().clone() for name, v in params.items()}
            self.history.append(row)
            if evaluate:
                self.history.flush()
            bar.update(1)
        bar.close()
        self.history.flush()
        self.params = params
        with torch.no_grad():
            for name, p in self.model.named_parameters():
                p.copy_(params[name])
        metrics = self._metrics(fit, fit_time, wall, errors, max_errors)
        self._write(states, metrics)
        return TengResult(self.run_dir, self.model, params, metrics, self.history.as_columns())

    def _metrics(self, fit, fit_time: float, wall: float, errors: dict[str, float],
                 max_errors: dict[str, float]) -> dict[str, Any]:
        cfg = self.cfg
        metrics: dict[str, Any] = {
            "problem": self.problem.name,
            "method": f"teng-{cfg.teng.integrator}",
            "dt": cfg.teng.dt,
            "steps": self.steps,
            "t_end": self.t_end,
            "points": len(self.grid),
            "parameters": count_parameters(self.params),
            "subset": cfg.teng.projection.subset,
            "iterations": cfg.teng.projection.iterations,
            "initial_fit": {"relative": fit.relative, "loss": fit.loss, "iterations": fit.iterations,
                            "wall_time_s": round(fit_time, 3)},
            "wall_time_s": round(fit_time + wall, 3),
            "stepping_wall_time_s": round(wall, 3),
            "device": str(self.grid.low.device),
            "torch": torch.__version__,
        }
        if errors:
            metrics["rel_l2"] = errors
            metrics["rel_l2_max"] = max_errors
        return metrics

    def _write(self, states: dict[int, dict[str, Tensor]], metrics: dict[str, Any]) -> None:
        cfg, setup = self.cfg, self.setup
        times = [setup.t0 + k * cfg.teng.dt for k in states]
        rd.atomic_save({"format": 1, "model": self.model.state_dict(), "t": self.t_end}, self.run_dir / rd.MODEL)
        rd.atomic_save({"format": 1, "times": times, "states": list(states.values())}, self.run_dir / "states.pt")
        rd.write_metrics(self.run_dir, metrics)
        res = cfg.output.resolution if isinstance(cfg.output.resolution, list) else [cfg.output.resolution] * len(
            setup.low)
        axes = _periodic_axes(setup.low, setup.high, [r + 1 for r in res], closed=True)
        x = _mesh(axes)
        frames = []
        for k, state in states.items():
            t = setup.t0 + k * cfg.teng.dt
            pred = self.monitor.predict(state, x)
            ref = self.monitor.reference(x, t)
            frame = {}
            for i, f in enumerate(self.fields):
                frame[f] = pred[:, i]
                if ref is not None:
                    frame[f"{f}_reference"] = ref[:, i]
                    frame[f"{f}_error"] = np.abs(pred[:, i] - ref[:, i])
            frames.append(frame)
        if cfg.output.vtk and len(axes) <= 3:
            write_time_series(self.run_dir / "vtk", "solution", times, axes, frames, axis_names=None)
        if cfg.output.plots:
            plots = self.run_dir / "plots"
            plot_history(plots / "history.png", self.history.as_columns(), x_key="t")
            last = frames[-1]
            names = setup.spatial_names
            if len(axes) == 2:
                shape = (len(axes[0]), len(axes[1]))
                for f in self.fields:
                    if f"{f}_reference" in last:
                        plot_comparison_2d(plots / f"{f}_final.png", axes[0], axes[1], last[f].reshape(shape),
                                           last[f"{f}_reference"].reshape(shape), names[0], names[1], f)
            elif len(axes) == 1:
                for f in self.fields:
                    curves = {f"t = {tt:g}": fr[f] for tt, fr in zip(times, frames)}
                    plot_line(plots / f"{f}_profiles.png", axes[0], curves, names[0], f, f"{f} over time")


def solve_teng_cli(args: Any) -> int:
    """The ``pinnlab solve`` branch for TENG configurations."""
    if getattr(args, "resume", False):
        raise ConfigError("TENG runs cannot be resumed (--resume); start a new run")
    result = solve_teng(args.config, out=args.out, overrides=args.set, device=args.device,
                        progress=False if args.quiet else None)
    m = result.metrics
    errors = ", ".join(f"{k} {v:.3e}" for k, v in m.get("rel_l2", {}).items())
    print(f"run directory: {result.run_dir}")
    print(f"{m['method']}: {m['steps']} steps of dt {m['dt']}, wall time {m['wall_time_s']:.1f} s, initial fit "
          f"{m['initial_fit']['relative']:.2e}" + (f", rel. L2 at t = {m['t_end']:g}: {errors}" if errors else ""))
    return 0


def is_teng_file(path: str | Path) -> bool:
    """Whether the YAML file at ``path`` is a TENG configuration (False when it cannot be read)."""
    try:
        return is_teng_config(read_yaml(path))
    except PinnlabError:
        return False


__all__ = ["TengResult", "TengRunConfig", "is_teng_config", "is_teng_file", "parse_teng_config", "periodic_setup",
           "solve_teng", "solve_teng_cli", "spatial_model"]
