"""The training loop: stages of solvers over sampled points, with logging, evaluation and checkpoints.

One loop for every kind of run: the :class:`~pinnlab.run.setup.RunSetup` says what is trained
(a PINN, or TENG's initial fit and time steps), the loop does the rest — solver stages, the
NaN guard, history, progress, evaluation, checkpoints and Ctrl-C. In a data-parallel run every rank
runs the loop on its shard of the points and rank 0 alone writes (see :mod:`pinnlab.run.distributed`).
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Self

import torch

from pinnlab import distributed
from pinnlab.compile.parameters import is_pde_key, pde_entries
from pinnlab.config.messages import solver_error
from pinnlab.errors import ConfigError, SolverError
from pinnlab.io import run_dir as rd
from pinnlab.io.points import export_sampler_points
from pinnlab.nn import count_parameters
from pinnlab.run.distributed import NullHistory, gather_checkpoint, is_writer, load_checkpoint
from pinnlab.run.export import export_plots, export_vtk
from pinnlab.run.pending import PendingSteps
from pinnlab.run.progress import Progress
from pinnlab.run.setup import RunSetup
from pinnlab.run.solution import Solution
from pinnlab.run.stopping import StopRules
from pinnlab.solvers import make_solver

TIME_LIMIT = "time_limit"
"""The ``rule`` of a run's ``stopped`` record when ``train.time_limit_s`` ended it."""


class InterruptGuard:
    """Defers Ctrl-C to the end of the step in flight, so a checkpoint never holds a half-done step.

    A second Ctrl-C stops at once (without saving; the last periodic checkpoint stays valid).
    Outside the main thread signals cannot be caught and nothing is deferred; neither in a data-parallel
    run, where the ranks could not agree on the step to stop at (torchrun stops them all; the last
    periodic checkpoint stays valid).
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
        if threading.current_thread() is threading.main_thread() and not distributed.is_distributed():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class Trainer:
    """Owns the objects of one run and advances them stage by stage."""

    def __init__(self, cfg: Any, setup: RunSetup, device: torch.device, run_dir: Path, source: str,
                 resolved: dict[str, Any], redraw_points: bool = False):
        self.cfg, self.setup, self.device, self.run_dir, self.source = cfg, setup, device, run_dir, source
        #: on resume: draw the points afresh (the sampling settings changed) instead of restoring them
        self.redraw_points = redraw_points
        self.resolved = resolved
        self.problem = setup.problem
        self.model = setup.model
        self.params = setup.initial_params()
        self.sampler = setup.sampler
        self.stages = setup.stages
        self.total_steps = sum(s["steps"] for s in self.stages)
        if cfg.train.steps is not None:
            self.total_steps = min(self.total_steps, cfg.train.steps)
        #: rank 0 (or the only process) writes the run directory, the history and the progress
        self.writer = is_writer()
        self.history = rd.HistoryWriter(run_dir / rd.HISTORY, resume=True) if self.writer else NullHistory()
        self.pending = PendingSteps()
        self.good = rd.GoodStates()  # the latest states checked finite, for a checkpoint after a bad step
        self.step = 0
        self.stage_index = 0
        self.stage_step = 0
        self.last_errors: dict[str, float] = {}
        self.last_info: dict[str, float] = {}
        self.wall_time = 0.0
        #: train.stop_below / stop_stalled; ``stopped`` records the rule met, its step and losses
        program = getattr(setup, "program", None)
        stalled = getattr(cfg.train, "stop_stalled", None)
        self.stop = StopRules(getattr(cfg.train, "stop_below", None), stalled.model_dump() if stalled else None,
                              list(program.terms) if program is not None else None, source,
                              getattr(setup, "weights", None))
        self.stopped: dict[str, Any] | None = None
        self._wall_at_start = 0.0

    # -- checkpoints ----------------------------------------------------------------
    def sync_model(self) -> None:
        with torch.no_grad():
            for name, p in self.model.named_parameters():
                p.copy_(self.params[name])

    def save_checkpoint(self, solver, state) -> None:
        self._settle()  # a non-finite step is never stored
        payload = self.checkpoint_payload(solver, state)
        if self.writer:
            rd.atomic_save(payload, self.run_dir / rd.CHECKPOINT)
            self.history.flush()
        self.good.keep(payload)

    def checkpoint_payload(self, solver, state) -> dict[str, Any]:
        """Everything a resume needs, as of the current step."""
        self.sync_model()
        payload = {
            "format": 1,
            "model": self.model.state_dict(),
            "pde_parameters": {k: v.detach().clone() for k, v in pde_entries(self.params).items()},
            "step": self.step,
            "stage": self.stage_index,
            "stage_step": self.stage_step,
            "solver": solver.state_dict(state) if solver is not None else {},
            "sampler": self.sampler.state_dict(),
            "setup": self.setup.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "wall_time": self.wall_time,
            "last_info": self.last_info,
            "stopped": self.stopped,
            "stop_rules": self.stop.state_dict(),
        }
        return gather_checkpoint(payload, self.sampler, self.params)  # every rank's sampler state

    def load_checkpoint(self) -> dict[str, Any]:
        ckpt = load_checkpoint(self.run_dir / rd.CHECKPOINT, self.device)
        try:
            self.model.load_state_dict(ckpt["model"])
        except RuntimeError as exc:
            detail = (str(exc).strip().splitlines()[1:2] or [str(exc)])[0].strip()
            raise ConfigError(f"cannot resume: the network in '{self.run_dir / rd.CHECKPOINT}' does not fit the "
                              f"model of {self.source} (resume with the model settings of the run): {detail}") from None
        self.params = self.setup.initial_params()
        for key, value in ckpt.get("pde_parameters", {}).items():
            if key in self.params:
                self.params[key] = value.to(self.params[key]).detach().clone().requires_grad_(True)
        self.step, self.stage_index, self.stage_step = ckpt["step"], ckpt["stage"], ckpt["stage_step"]
        if not self.redraw_points:
            self.sampler.load_state_dict(ckpt["sampler"])
        self.setup.load_state_dict(ckpt.get("setup", {}))
        torch.set_rng_state(ckpt["torch_rng"])
        self.wall_time = float(ckpt.get("wall_time", 0.0))
        self.last_info = dict(ckpt.get("last_info", {}))
        stopped = ckpt.get("stopped") if self.stop.active else None  # without a rule: train on
        self.stopped = None if stopped and stopped.get("rule") == TIME_LIMIT else stopped  # a fresh budget
        self.stop.load_state_dict(ckpt.get("stop_rules", {}))
        self.history.truncate(self.step)
        return ckpt

    # -- loop ------------------------------------------------------------------------
    def run(self, resume: bool = False, progress: bool = True) -> None:
        saved = self.load_checkpoint() if resume else None
        self._wall_at_start = self.wall_time  # train.time_limit_s counts this invocation's training only
        if saved is None and not distributed.is_distributed():
            self.good.keep(self.checkpoint_payload(None, None))  # the initial state (solver state: as initialised)
        bar = Progress(self.total_steps, self.step, self.problem.name, enabled=progress and self.writer)
        self._current: tuple[Any, Any] = (None, None)
        guard = InterruptGuard()
        try:
            with guard:
                self._loop(saved, bar, guard)
        except KeyboardInterrupt as exc:
            if guard.requested:  # the step in flight was finished: a consistent point to save
                self.save_checkpoint(*self._current)
            bar.close()
            exc.run_dir, exc.saved = self.run_dir, guard.requested  # type: ignore[attr-defined]
            raise
        except BaseException:
            bar.close()
            raise
        bar.close()
        solver, state = self._current
        if solver is not None or saved is None:  # a resume with nothing left to do keeps the checkpoint
            self.save_checkpoint(solver, state)

    def _make_stage_solver(self, spec: dict[str, Any]):
        name, steps = spec.pop("name"), spec.pop("steps")
        try:
            solver = make_solver(name, steps=steps, **spec)
            state = solver.init(self.params)  # bad option values (e.g. lr: fast) fail here
            if hasattr(self.sampler, "bind_solver"):
                self.sampler.bind_solver(solver)
        except (ValueError, TypeError) as exc:
            raise solver_error(exc, self.source, self.cfg, self.stage_index, {"name": name, **spec}) from None
        return name, steps, solver, state

    def _loop(self, saved: dict[str, Any] | None, bar: Progress, guard: InterruptGuard) -> None:
        t = self.cfg.train
        while self.stage_index < len(self.stages) and self.step < self.total_steps and self.stopped is None:
            name, steps, solver, state = self._make_stage_solver(dict(self.stages[self.stage_index]))
            if saved is not None and saved["solver"]:
                state = solver.load_state_dict(state, saved["solver"])
            saved = None
            self._current = (solver, state)
            bar.describe(f"{self.problem.name} [{name}]")
            while self.stage_step < steps and self.step < self.total_steps:
                state = self._one_step(solver, state, bar)
                self._current = (solver, state)
                if guard.requested:
                    raise KeyboardInterrupt
                if self.step % t.checkpoint_every == 0:
                    self.save_checkpoint(solver, state)
                if self.stopped is not None:
                    break
            if self.stopped is not None or self.stage_step < steps or self.stage_index == len(self.stages) - 1:
                break  # stopped by train.steps or at the end: a resume with more steps continues here
            self.stage_index += 1
            self.stage_step = 0

    def _diverged(self, loss: float, info: dict[str, float]) -> SolverError:
        bad = [k.removeprefix("loss_") for k, v in info.items() if k.startswith("loss_") and not math.isfinite(v)]
        self.history.flush()
        where = f" (terms: {', '.join(bad)})" if bad else ""
        ckpt = self.run_dir / rd.CHECKPOINT
        good = self.good.latest_until(self.step if math.isfinite(loss) else self.step - 1)
        if good is not None and self.writer and not distributed.is_distributed():
            rd.atomic_save(good, ckpt)  # the state before the bad step, not only the last periodic one
            kept = (f"the last good state (step {good['step']}) was saved in '{ckpt}' (resume with --resume "
                    "once the cause is fixed)")
        else:
            kept = (f"the last good checkpoint is in '{ckpt}' (resume with --resume)" if ckpt.exists() else
                    f"no checkpoint was written yet (train.checkpoint_every = {self.cfg.train.checkpoint_every})")
        if math.isfinite(loss) and self.step > 0:
            return SolverError(f"the parameters became non-finite in step {self.step + 1} (loss {loss:.6g} before "
                               f"it){where}. Training stopped; {kept}. {self.setup.divergence_hint}")
        if self.step == 0:  # not finite before any update: the problem, not the optimiser
            return SolverError(f"the loss is {loss} at the initial parameters{where}, before any update. Look for "
                               "NaN or infinite values in the problem: parameters, source terms, boundary values "
                               "and data.")
        return SolverError(f"the loss became {loss} at step {self.step + 1}{where}. Training stopped; {kept}. "
                           f"{self.setup.divergence_hint}")

    def _settle(self) -> dict[str, Any]:
        """Read the steps since the last look; stop at the first with a non-finite loss or parameters."""
        bad = self.pending.settle()
        if bad is not None:
            step, info = bad
            self.step = step - 1  # the error names the step that failed, as if it were checked at once
            raise self._diverged(info.get("loss", math.nan), info)
        self.last_info = dict(self.pending.latest) if self.pending.latest else self.last_info
        return self.last_info

    def _one_step(self, solver, state, bar: Progress) -> Any:
        """One solver step with its bookkeeping; returns the new solver state."""
        t = self.cfg.train
        start = time.perf_counter()
        batches = self.sampler.sample(self.step)
        objective = self.setup.objective(batches, self.step)
        params, state, info = solver.step(self.params, state, objective)
        # the loss and the finiteness of the parameters are read at logging, evaluation and checkpoint
        # steps only (no device synchronisation at every step); a bad step is reported as before
        self.pending.add(self.step + 1, info, params)
        self.params = params
        if self.sampler.adaptive:
            if self.sampler.wants_residuals(self.step):
                self._settle()  # the sampler reads the residuals now anyway
            self.sampler.observe(batches, self._residual_probe(objective), self.step)
        self.setup.record(self.step + 1, params, info)
        self.wall_time += time.perf_counter() - start
        self.step += 1
        self.stage_step += 1
        self.last_info = info
        if self.stop.active:
            self.stopped = self.stop.check(objective, self.params, self.step)
        if t.time_limit_s is not None and self.stopped is None and self.step % t.log_every == 0:
            self.stopped = self._time_limit(t.time_limit_s)
        last = self.step == self.total_steps or self.stopped is not None
        log = self.step % t.log_every == 0 or last
        evaluate = self.step % t.eval_every == 0 or last
        if log or evaluate:
            waited = time.perf_counter()
            info = self._settle()
            self.wall_time += time.perf_counter() - waited  # on a GPU: the steps still running when it was read
            if not distributed.is_distributed():
                self.good.keep(self.checkpoint_payload(solver, state))
        loss = info.get("loss", math.nan)
        row: dict[str, Any] | None = None
        if log:
            row = {"step": self.step, "wall_time_s": round(self.wall_time, 4), **info,
                   **self.sampler.diagnostics()}
        if evaluate:
            self.last_errors = self.setup.errors(self.params, info) if self.writer else {}
            row = row or {"step": self.step, "wall_time_s": round(self.wall_time, 4), **info}
            row.update({f"rel_l2_{k}": v for k, v in self.last_errors.items()})
            if self.writer:
                row.update(self.setup.validation(self.params))
        if row is not None and self.writer:
            monitored = self.setup.monitor(self.params)
            row.update(monitored)
            self.history.append(row)
            if self.step % t.eval_every == 0:
                self.history.flush()  # readable while the run goes on
            bar.report(loss, self.last_errors, {k.removeprefix("param_"): v for k, v in monitored.items()
                                                if not k.endswith("_rel_error")})
        bar.update(self.step, self.wall_time)
        return state

    def _time_limit(self, limit: float) -> dict[str, Any] | None:
        """The record of ``train.time_limit_s`` if this invocation has trained that long (rank 0 decides)."""
        spent = self.wall_time - self._wall_at_start
        over = bool(distributed.broadcast_object(spent >= limit))
        return {"rule": TIME_LIMIT, "step": self.step, "limit_s": limit, "seconds": round(spent, 3)} if over else None

    def _residual_probe(self, objective):
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
    def finish(self) -> Solution:
        self.sync_model()
        errors = self.setup.errors(self.params, self.last_info) if self.writer else {}
        metrics: dict[str, Any] = {
            "problem": self.problem.name,
            "mode": getattr(self.cfg, "mode", "pinn"),
            "steps": self.step,
            "wall_time_s": round(self.wall_time, 3),
            **self.setup.result_metrics(self.params, self.last_info, self.step),
            "network_parameters": count_parameters({k: v for k, v in self.params.items() if not is_pde_key(k)}),
            "device": str(self.device),
            "dtype": self.cfg.train.dtype,
            "torch": torch.__version__,
        }
        if errors:
            metrics["rel_l2"] = errors
        if self.stopped is not None:
            metrics["stopped"] = self.stopped
        if distributed.is_distributed():
            metrics["processes"] = distributed.world_size()
        solution = self.setup.solution(self.params, self.resolved, self.run_dir, metrics)
        if not self.writer:
            return solution
        rd.atomic_save({"format": 1, "model": self.setup.final_model_state(),
                        "pde_parameters": {k: v.detach().clone() for k, v in pde_entries(self.params).items()}},
                       self.run_dir / rd.MODEL)
        out = self.cfg.output
        if out.vtk:
            export_vtk(solution, self.run_dir / "vtk", out.resolution, out.frames)
        if out.plots:
            export_plots(solution, self.run_dir / "plots", self.history.as_columns(), out.resolution)
        export_sampler_points(self.sampler, self.run_dir, solution.coords, vtk=out.vtk, plots=out.plots)
        rd.write_metrics(self.run_dir, metrics)
        self.history.flush()
        return solution


__all__ = ["InterruptGuard", "Trainer"]
