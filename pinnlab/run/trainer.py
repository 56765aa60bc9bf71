"""The training loop: stages of solvers over sampled points, with logging, evaluation and checkpoints."""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Self

import torch
from tqdm.auto import tqdm

from pinnlab import sampling as sampling_mod
from pinnlab.config import RunConfig, apply_overrides, parse_config, read_yaml
from pinnlab.config.build import check_faces, geometry_of, model_from_config, problem_from_config, program_from_config
from pinnlab.errors import ConfigError, SolverError
from pinnlab.io import run_dir as rd
from pinnlab.io.points import export_sampler_points
from pinnlab.nn import count_parameters, parameters_of
from pinnlab.run.export import export_plots, export_vtk
from pinnlab.run.solution import Solution, relative_errors
from pinnlab.sampling import PointDrawer, make_sampler
from pinnlab.solvers import Objective, make_solver
from pinnlab.spec import Problem

FIXED_METHODS = ("uniform", "sobol", "lhs")


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was requested but no CUDA device is available (use --device cpu or auto)")
    return torch.device(name)


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _config_from(config: Any, overrides: list[str] | None) -> tuple[RunConfig, dict[str, Any], str]:
    if isinstance(config, RunConfig):
        data = config.model_dump(exclude_none=True)
        source = "<config>"
    elif isinstance(config, Mapping):
        data, source = dict(config), "<config>"
    else:
        data, source = read_yaml(config), str(config)
    data = apply_overrides(data, overrides or [])
    return parse_config(data, source), data, source


def _run_directory(out: str | Path | None, cfg: RunConfig, name: str, resume: bool) -> Path:
    if out is None and cfg.output.dir is not None:
        out = cfg.output.dir
    if out is not None:
        path = Path(out)
        if not resume and path.exists() and any(path.iterdir()):
            raise ConfigError(f"output directory '{path}' exists and is not empty; use --resume to continue "
                              "that run, or choose another --out")
        if resume and not (path / rd.CHECKPOINT).exists():
            raise ConfigError(f"cannot resume: '{path / rd.CHECKPOINT}' does not exist")
        path.mkdir(parents=True, exist_ok=True)
        return path
    if resume:
        raise ConfigError("--resume needs the run directory (--out DIR)")
    base = Path("runs") / name
    path, k = base, 1
    while path.exists() and any(path.iterdir()):
        path, k = Path(f"{base}-{k}"), k + 1
    path.mkdir(parents=True, exist_ok=True)
    return path


class Evaluator:
    """Relative L2 errors at fixed points (grid or seeded random); the reference values are computed once."""

    def __init__(self, solution: Solution, resolution: Any, random_points: int | None = None):
        self.solution = solution
        self.points = solution.evaluation_points(resolution, random_points)
        self.ref = solution.reference(self.points) if solution.problem.has_reference() else None

    def __call__(self) -> dict[str, float]:
        if self.ref is None:
            return {}
        return relative_errors(self.solution.predict(self.points), self.ref, self.solution.fields)


class InterruptGuard:
    """Defers Ctrl-C to the end of the step in flight, so a checkpoint never holds a half-done step.

    A second Ctrl-C stops at once (without saving; the last periodic checkpoint stays valid).
    Outside the main thread signals cannot be caught and nothing is deferred.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\ninterrupt: finishing the current step, then saving a checkpoint (Ctrl-C again to stop now)",
              file=sys.stderr)

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class Trainer:
    """Owns the objects of one run and advances them stage by stage."""

    def __init__(self, cfg: RunConfig, problem: Problem, device: torch.device, run_dir: Path, source: str,
                 resolved: dict[str, Any]):
        self.cfg, self.problem, self.device, self.run_dir, self.source = cfg, problem, device, run_dir, source
        self.resolved = resolved
        self.dtype = torch.float64 if cfg.train.dtype == "float64" else torch.float32
        torch.manual_seed(cfg.train.seed)
        self.geometry = geometry_of(problem, source)
        init_gen = torch.Generator().manual_seed(cfg.train.seed)
        self.model = model_from_config(cfg.model, problem, self.geometry, init_gen, source).to(device, self.dtype)
        self.params = parameters_of(self.model)
        self.program = program_from_config(cfg, problem, source)
        check_faces(self.program, self.geometry, source)
        self.sampler = self._make_sampler()
        self.weights = dict(cfg.loss.weights)
        self.stages = cfg.stages()
        self.total_steps = sum(s["steps"] for s in self.stages)
        if cfg.train.steps is not None and cfg.solver.stages is not None:
            self.total_steps = min(self.total_steps, cfg.train.steps)
        self.solution = Solution(problem, self.model, self.geometry, resolved, run_dir)
        self.evaluator = Evaluator(self.solution, cfg.output.resolution, cfg.output.eval_points)
        self.history = rd.HistoryWriter(run_dir / rd.HISTORY, resume=True)
        self.step = 0
        self.stage_index = 0
        self.stage_step = 0
        self.last_errors: dict[str, float] = {}
        self.last_info: dict[str, float] = {}
        self.wall_time = 0.0

    def _make_sampler(self):
        s = self.cfg.sampling
        generator = torch.Generator().manual_seed(self.cfg.train.seed + 1)
        if s.method in FIXED_METHODS:
            drawer = PointDrawer(self.geometry, generator, s.method, self.dtype, self.device)
            name = "fixed"
        else:
            base = s.options.get("base", "uniform")
            drawer = PointDrawer(self.geometry, generator, base, self.dtype, self.device)
            name = s.method
        options = {k: v for k, v in s.options.items() if k != "base"}
        if s.snapshots and name != "fixed":
            options.setdefault("snapshots", s.snapshots)
        try:
            return make_sampler(name, self.program.point_sets, drawer, resample_every=s.resample_every, **options)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{self.source}: key 'sampling.method': {exc} "
                              f"(methods: {', '.join([*FIXED_METHODS, *sampling_mod.sampler_names()])})") from None

    # -- checkpoints ----------------------------------------------------------------
    def sync_model(self) -> None:
        with torch.no_grad():
            for name, p in self.model.named_parameters():
                p.copy_(self.params[name])

    def save_checkpoint(self, solver, state) -> None:
        self.sync_model()
        payload = {
            "format": 1,
            "model": self.model.state_dict(),
            "step": self.step,
            "stage": self.stage_index,
            "stage_step": self.stage_step,
            "solver": solver.state_dict(state) if solver is not None else {},
            "sampler": self.sampler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "wall_time": self.wall_time,
        }
        rd.atomic_save(payload, self.run_dir / rd.CHECKPOINT)
        self.history.flush()

    def load_checkpoint(self) -> dict[str, Any]:
        ckpt = rd.load_checkpoint(self.run_dir / rd.CHECKPOINT, map_location=self.device)
        self.model.load_state_dict(ckpt["model"])
        self.params = parameters_of(self.model)
        self.step, self.stage_index, self.stage_step = ckpt["step"], ckpt["stage"], ckpt["stage_step"]
        self.sampler.load_state_dict(ckpt["sampler"])
        torch.set_rng_state(ckpt["torch_rng"])
        self.wall_time = float(ckpt.get("wall_time", 0.0))
        self.history.truncate(self.step)
        return ckpt

    # -- loop ------------------------------------------------------------------------
    def run(self, resume: bool = False, progress: bool = True) -> None:
        saved = self.load_checkpoint() if resume else None
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not progress, file=sys.stderr,
                   dynamic_ncols=True, desc=self.problem.name)
        self._current: tuple[Any, Any] = (None, None)
        guard = InterruptGuard()
        try:
            with guard:
                self._loop(saved, bar, guard)
        except KeyboardInterrupt:
            if guard.requested:  # the step in flight was finished: a consistent point to save
                self.save_checkpoint(*self._current)
            bar.close()
            raise
        bar.close()
        solver, state = self._current
        if solver is not None or saved is None:  # a resume with nothing left to do keeps the checkpoint
            self.save_checkpoint(solver, state)

    def _loop(self, saved: dict[str, Any] | None, bar, guard: InterruptGuard) -> None:
        t = self.cfg.train
        while self.stage_index < len(self.stages) and self.step < self.total_steps:
            spec = dict(self.stages[self.stage_index])
            name, steps = spec.pop("name"), spec.pop("steps")
            try:
                solver = make_solver(name, steps=steps, **spec)
                state = solver.init(self.params)  # bad option values (e.g. lr: fast) fail here
                if hasattr(self.sampler, "bind_solver"):
                    self.sampler.bind_solver(solver)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{self.source}: solver stage {self.stage_index + 1} ('{name}'): {exc}") from None
            if saved is not None and saved["solver"]:
                state = solver.load_state_dict(state, saved["solver"])
            saved = None
            self._current = (solver, state)
            bar.set_description(f"{self.problem.name} [{name}]")
            while self.stage_step < steps and self.step < self.total_steps:
                state = self._one_step(solver, state, bar)
                self._current = (solver, state)
                if guard.requested:
                    raise KeyboardInterrupt
                if self.step % t.checkpoint_every == 0:
                    self.save_checkpoint(solver, state)
            if self.stage_step < steps or self.stage_index == len(self.stages) - 1:
                break  # stopped by train.steps or at the end: a resume with more steps continues here
            self.stage_index += 1
            self.stage_step = 0

    def _one_step(self, solver, state, bar) -> Any:
        """One solver step with its bookkeeping; returns the new solver state."""
        t = self.cfg.train
        start = time.perf_counter()
        batches = self.sampler.sample(self.step)
        objective = Objective(self.program, self.model, batches, self.weights, step=self.step)
        params, state, info = solver.step(self.params, state, objective)
        loss = info.get("loss", float("nan"))
        if not math.isfinite(loss) or not all(torch.isfinite(p).all() for p in params.values()):
            bad = [k.removeprefix("loss_") for k, v in info.items() if k.startswith("loss_") and not math.isfinite(v)]
            self.history.flush()
            where = f" (terms: {', '.join(bad)})" if bad else ""
            ckpt = self.run_dir / rd.CHECKPOINT
            kept = (f"the last good checkpoint is in '{ckpt}' (resume with --resume)" if ckpt.exists() else
                    f"no checkpoint was written yet (train.checkpoint_every = {t.checkpoint_every})")
            raise SolverError(
                f"the loss became {loss} at step {self.step + 1}{where}. Training stopped; {kept}. Try a smaller "
                "learning rate, float64 (train.dtype), or larger loss weights on the conditions."
            )
        self.params = params
        if self.sampler.adaptive:
            self.sampler.observe(batches, self._residual_probe(objective), self.step)
        self.wall_time += time.perf_counter() - start
        self.step += 1
        self.stage_step += 1
        self.last_info = info
        row: dict[str, Any] | None = None
        if self.step % t.log_every == 0 or self.step == self.total_steps:
            row = {"step": self.step, "wall_time_s": round(self.wall_time, 4), **info,
                   **self.sampler.diagnostics()}
        if self.step % t.eval_every == 0 or self.step == self.total_steps:
            self.sync_model()
            self.last_errors = self.evaluator()
            row = row or {"step": self.step, "wall_time_s": round(self.wall_time, 4), **info}
            row.update({f"rel_l2_{k}": v for k, v in self.last_errors.items()})
        if row is not None:
            self.history.append(row)
            if self.step % t.eval_every == 0:
                self.history.flush()  # readable while the run goes on
            postfix = {"loss": f"{loss:.3e}"}
            postfix.update({f"L2({k})": f"{v:.2e}" for k, v in self.last_errors.items()})
            bar.set_postfix(postfix, refresh=False)
        bar.update(1)
        return state

    def _residual_probe(self, objective: Objective):
        """Residuals for an adaptive sampler: those the solver recorded at the start of the step when
        the sampler accepts them (``reuse``, the default), else evaluated at the updated parameters."""
        params = {k: v.detach() for k, v in self.params.items()}
        recorded = objective.step_residuals if getattr(self.sampler, "reuse", False) else None

        def probe(terms: list[str] | None = None) -> dict[str, torch.Tensor]:
            wanted = objective.terms if terms is None else terms
            if recorded is not None and all(t in recorded for t in wanted):
                return {t: recorded[t] for t in wanted}
            with torch.no_grad():
                return {k: v.detach() for k, v in objective.residuals(params, terms).items()}

        return probe

    # -- results ---------------------------------------------------------------------
    def final_losses(self) -> tuple[float, dict[str, float]]:
        batches = self.sampler.sample(self.step) if not self.sampler.batches else self.sampler.batches
        objective = Objective(self.program, self.model, batches, self.weights, step=self.step)
        params = {k: v.detach() for k, v in self.params.items()}
        total, losses = objective.loss(params)
        return float(total.detach()), {k: float(v.detach()) for k, v in losses.items()}

    def finish(self) -> Solution:
        self.sync_model()
        loss, losses = self.final_losses()
        errors = self.evaluator()
        metrics = {
            "problem": self.problem.name,
            "steps": self.step,
            "wall_time_s": round(self.wall_time, 3),
            "loss": loss,
            "losses": losses,
            "parameters": count_parameters(self.params),
            "device": str(self.device),
            "dtype": self.cfg.train.dtype,
            "derivatives": self.cfg.derivatives.method,
            "torch": torch.__version__,
        }
        if errors:
            metrics["rel_l2"] = errors
            where = "random" if self.cfg.output.eval_points else "grid"
            metrics["error_points"] = {"kind": where, "count": len(self.evaluator.points)}
        rd.atomic_save({"format": 1, "model": self.model.state_dict()}, self.run_dir / rd.MODEL)
        out = self.cfg.output
        self.solution.metrics = metrics
        if out.vtk:
            export_vtk(self.solution, self.run_dir / "vtk", out.resolution, out.frames)
        if out.plots:
            export_plots(self.solution, self.run_dir / "plots", self.history.as_columns(), out.resolution)
        export_sampler_points(self.sampler, self.run_dir, self.solution.coords, vtk=out.vtk, plots=out.plots)
        rd.write_metrics(self.run_dir, metrics)
        self.history.flush()
        return self.solution


def solve(config: Any, problem: Problem | None = None, out: str | Path | None = None,
          overrides: list[str] | None = None, device: str | None = None, resume: bool = False,
          progress: bool | None = None) -> Solution:
    """Solve a problem as configured; returns the :class:`Solution` and writes a run directory.

    ``config`` is a YAML path, a dict or a :class:`RunConfig`; ``problem`` (a Python
    :class:`Problem`) replaces the config's ``problem`` section when given.
    """
    if problem is not None and isinstance(config, Mapping) and "problem" not in config:
        config = {**config, "problem": {"equation": "__python__"}}
    cfg, data, source = _config_from(config, (overrides or []) + ([f"train.device={device}"] if device else []))
    if problem is None:
        problem = problem_from_config(cfg.problem, source)
    else:
        data["problem"] = {"python": problem.name}
    name = cfg.name or problem.name
    dev = resolve_device(cfg.train.device)
    run_dir = _run_directory(out, cfg, name, resume)
    resolved = cfg.model_dump(mode="json")
    if "python" in data.get("problem", {}):
        resolved["problem"] = {"python": problem.name}
    if not resume:
        rd.write_config(run_dir, resolved)
    dtype = torch.float64 if cfg.train.dtype == "float64" else torch.float32
    with default_dtype(dtype):
        trainer = Trainer(cfg, problem, dev, run_dir, source, resolved)
        show = cfg.train.progress if progress is None else progress
        trainer.run(resume=resume, progress=show)
        return trainer.finish()


def load(run_dir: str | Path, problem: Problem | None = None, device: str = "cpu") -> Solution:
    """Reload a finished (or checkpointed) run as a :class:`Solution`.

    Runs of Python-defined problems need the same ``problem`` passed again.
    """
    path = Path(run_dir)
    config_path = path / rd.CONFIG
    if not config_path.exists():
        raise ConfigError(f"'{path}' is not a run directory (no {rd.CONFIG})")
    data = read_yaml(config_path)
    if "python" in (data.get("problem") or {}):
        if problem is None:
            raise ConfigError(f"the run in '{path}' solved a problem defined in Python; pass it: "
                              "pl.load(run_dir, problem=...)")
        data["problem"] = {"equation": "__python__"}
    cfg = parse_config(data, str(config_path))
    problem = problem or problem_from_config(cfg.problem, str(config_path))
    weights = path / rd.MODEL if (path / rd.MODEL).exists() else path / rd.CHECKPOINT
    if not weights.exists():
        raise ConfigError(f"'{path}' holds no {rd.MODEL} or {rd.CHECKPOINT}")
    dtype = torch.float64 if cfg.train.dtype == "float64" else torch.float32
    with default_dtype(dtype):
        geometry = geometry_of(problem, str(config_path))
        model = model_from_config(cfg.model, problem, geometry, None, str(config_path)).to(device, dtype)
        state = rd.load_checkpoint(weights, map_location=device)
        model.load_state_dict(state["model"])
    metrics = {}
    if (path / rd.METRICS).exists():
        import json

        metrics = json.loads((path / rd.METRICS).read_text())
    return Solution(problem, model, geometry, data, path, metrics)
