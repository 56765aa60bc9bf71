"""``solve`` and ``load``: a configured run from start to run directory, and back from the directory."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from pinnlab.compile import ParameterMap
from pinnlab.config import apply_overrides, parse_config, read_yaml
from pinnlab.config.build import geometry_of, model_from_config, problem_from_config
from pinnlab.config.quantities import quantities_from_config
from pinnlab.config.schema import AnyRunConfig, RunBase, TengRunConfig
from pinnlab.errors import ConfigError
from pinnlab.io import run_dir as rd
from pinnlab.run import distributed as parallel
from pinnlab.run.distributed import device_for_rank
from pinnlab.run.setup import PinnSetup, RunSetup
from pinnlab.run.solution import Solution
from pinnlab.run.teng import TengSetup, trajectory_for_loading
from pinnlab.run.trainer import Trainer
from pinnlab.spec import Problem


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available; a rank of a data-parallel run takes its local GPU."""
    return device_for_rank(name)


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def dtype_of(cfg: RunBase) -> torch.dtype:
    return torch.float64 if cfg.train.dtype == "float64" else torch.float32


def _config_from(config: Any, overrides: list[str] | None) -> tuple[AnyRunConfig, dict[str, Any], str]:
    if isinstance(config, RunBase):
        data = config.model_dump(exclude_none=True)
        source = "<config>"
    elif isinstance(config, Mapping):
        data, source = dict(config), "<config>"
    else:
        data, source = read_yaml(config), str(config)
    data = apply_overrides(data, overrides or [])
    return parse_config(data, source), data, source


def run_directory(out: str | Path | None, cfg: RunBase, name: str, resume: bool) -> Path:
    """The run directory: ``out`` (or ``output.dir``), never overwritten unless resuming; else a fresh runs/NAME."""
    if out is None and cfg.output.dir is not None:
        out = cfg.output.dir
    if out is not None:
        return rd.prepare_run_dir(Path(out), resume)  # a non-empty directory is refused unless resuming
    if resume:
        raise ConfigError("--resume needs the run directory (--out DIR)")
    base = Path("runs") / name
    path, k = base, 1
    while path.exists() and (not path.is_dir() or any(path.iterdir())):
        path, k = Path(f"{base}-{k}"), k + 1
    return rd.prepare_run_dir(path, resume=False)


def make_setup(cfg: AnyRunConfig, problem: Problem, device: torch.device, source: str) -> RunSetup:
    """The set-up of a run of this kind (PINN or TENG)."""
    kind = TengSetup if isinstance(cfg, TengRunConfig) else PinnSetup
    setup = kind(cfg, problem, device, dtype_of(cfg), source)
    if cfg.output.quantities:  # checked before anything runs (names, symbols, points in the domain)
        geometry = getattr(setup, "geometry", None) or geometry_of(problem, source)
        quantities_from_config(cfg.output.quantities, problem, geometry, source, cfg.output.mesh_size)
    return setup


def solve(config: Any, problem: Problem | None = None, out: str | Path | None = None,
          overrides: list[str] | None = None, device: str | None = None, resume: bool = False,
          progress: bool | None = None) -> Solution:
    """Solve a problem as configured; returns the :class:`Solution` and writes a run directory.

    ``config`` is a YAML path, a dict or a parsed configuration (PINN or ``mode: teng``);
    ``problem`` (a Python :class:`Problem`) replaces the config's ``problem`` section when given.
    Started by torchrun on several ranks, the run is data-parallel (see :mod:`pinnlab.run.distributed`):
    every rank returns the solution, rank 0 alone writes the run directory.
    """
    if problem is not None and isinstance(config, Mapping) and "problem" not in config:
        config = {**config, "problem": {"equation": "__python__"}}
    cfg, data, source = _config_from(config, (overrides or []) + ([f"train.device={device}"] if device else []))
    if problem is None:
        problem = problem_from_config(cfg.problem, source)
    else:
        data["problem"] = {"python": problem.name}
    dev = resolve_device(cfg.train.device)
    parallel.start(dev, cfg.train.timeout_s)  # joins torchrun's process group when started on several ranks
    dtype = dtype_of(cfg)
    with default_dtype(dtype):
        torch.manual_seed(cfg.train.seed)
        setup = make_setup(cfg, problem, dev, source)  # every check before the run directory is made
        parallel.check_shards(setup.sampler.point_sets, source)
        name = cfg.name or (f"teng_{problem.name}" if isinstance(cfg, TengRunConfig) else problem.name)
        run_dir = parallel.on_rank_zero(lambda: run_directory(out, cfg, name, resume))
        resolved = cfg.model_dump(mode="json")
        if "python" in data.get("problem", {}):
            resolved["problem"] = {"python": problem.name}
        redraw = resume and parallel.on_rank_zero(lambda: _sampling_changed(run_dir, resolved))
        if parallel.is_writer():  # on resume with other settings the old file becomes config.N.yaml
            rd.write_config(run_dir, resolved)
            if redraw:
                print("note: the sampling settings differ from the run's; its points are drawn afresh with the new "
                      "ones", file=sys.stderr)
        trainer = Trainer(cfg, setup, dev, run_dir, source, resolved, redraw_points=redraw)
        show = cfg.train.progress if progress is None else progress
        trainer.run(resume=resume, progress=show)
        solution = trainer.finish()
        if cfg.output.quantities and parallel.is_writer():
            solution.metrics["quantities"] = solution.quantities()
            rd.write_metrics(run_dir, solution.metrics)
        return solution


def _sampling_changed(run_dir: Path, resolved: Mapping[str, Any]) -> bool:
    """Whether a resumed run's ``sampling`` section differs from the one its directory was run with."""
    path = run_dir / rd.CONFIG
    if not path.exists():
        return False
    try:
        before = read_yaml(path)
    except ConfigError:
        return False
    return isinstance(before, Mapping) and before.get("sampling") != resolved.get("sampling")


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
    teng = isinstance(cfg, TengRunConfig)
    weights = path / rd.MODEL if (path / rd.MODEL).exists() else path / rd.CHECKPOINT
    if not weights.exists():
        raise ConfigError(f"'{path}' holds no {rd.MODEL} or {rd.CHECKPOINT}")
    dtype = dtype_of(cfg)
    with default_dtype(dtype):
        state = rd.load_checkpoint(weights, map_location=device)
        if teng:
            trajectory = state["model"] if weights.name == rd.MODEL else state["setup"]
            if weights.name != rd.MODEL:  # a checkpoint holds the spatial network and the trajectory apart
                trajectory = {**{f"module.{k}": v for k, v in state["model"].items()},
                              "times": trajectory["times"], "states": trajectory["states"]}
            model, geometry = trajectory_for_loading(cfg, problem, trajectory, device, dtype, str(config_path))
        else:
            geometry = geometry_of(problem, str(config_path))
            model = model_from_config(cfg.model, problem, geometry, None, str(config_path)).to(device, dtype)
            try:
                model.load_state_dict(state["model"])
            except RuntimeError as exc:
                first = str(exc).strip().splitlines()[1:2] or [str(exc)]
                raise ConfigError(f"'{weights}': the saved network does not fit the problem '{problem.name}' and "
                                  f"the model section of '{config_path}' (pass the problem the run solved): "
                                  f"{first[0].strip()}") from None
    metrics = rd.read_metrics(path)
    learned = ParameterMap(problem.pde.trainable_parameters).values(state.get("pde_parameters", {}))
    return Solution(problem, model, geometry, data, path, metrics, parameters=learned)


__all__ = ["default_dtype", "load", "make_setup", "resolve_device", "run_directory", "solve"]
