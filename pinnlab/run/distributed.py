"""Data-parallel runs: the process group, each rank's device, rank-0 I/O, checkpoints of every rank, the launcher.

A run becomes data-parallel when torchrun starts it on several ranks (``torchrun
--nproc_per_node=N -m pinnlab solve CONFIG``, or ``pinnlab solve CONFIG --nproc N``, which calls
torchrun's launcher): :func:`start` joins the process group torchrun describes in the environment
(NCCL for GPUs, gloo on CPUs, collectives timing out after ``train.timeout_s``). Every rank trains
on its shard of the points (see :mod:`pinnlab.distributed`); rank 0 alone writes the run directory,
the history, the progress and the logs. A checkpoint holds every rank's sampler state and the
number of ranks, and resumes only with that number.
"""

from __future__ import annotations

import atexit
import datetime
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import torch
import torch.distributed as dist

from pinnlab import distributed
from pinnlab.errors import ConfigError, PinnlabError
from pinnlab.io import run_dir as rd

T = TypeVar("T")


def launched_ranks() -> int:
    """The number of ranks torchrun started (``WORLD_SIZE``; 1 outside torchrun)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def device_for_rank(name: str) -> torch.device:
    """``train.device`` for this process: ``auto`` is CUDA when available; with several ranks a CUDA device
    is the rank's local GPU (``LOCAL_RANK``)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device 'cuda' was requested but no CUDA device is available (use --device cpu or auto)")
        if launched_ranks() > 1:
            local = distributed.local_rank()
            if local >= torch.cuda.device_count():
                raise ConfigError(f"rank {os.environ.get('RANK', '?')} has local rank {local} but this host has "
                                  f"{torch.cuda.device_count()} CUDA device(s); start at most that many processes "
                                  "per host")
            return torch.device("cuda", local)
    return torch.device(name)


def start(device: torch.device, timeout_s: float) -> None:
    """Join the process group of a torchrun job of several ranks (a no-op otherwise, or when joined already)."""
    if launched_ranks() <= 1 or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=float(timeout_s)))
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"could not join the process group of {launched_ranks()} ranks ({backend}): {exc}") from None
    atexit.register(_leave)


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def is_writer() -> bool:
    """Whether this process writes files and progress (rank 0, or the only process)."""
    return distributed.rank() == 0


def on_rank_zero(make: Callable[[], T]) -> T:
    """``make()`` on rank 0, its result on every rank; a :class:`PinnlabError` there is raised on every rank."""
    if not distributed.is_distributed():
        return make()
    outcome: tuple[str, Any] = ("ok", None)
    if is_writer():
        try:
            outcome = ("ok", make())
        except PinnlabError as exc:
            outcome = ("error", (type(exc), str(exc)))
    kind, value = distributed.broadcast_object(outcome)
    if kind == "error":
        error_type, message = value
        raise error_type(message)
    return value


def check_shards(point_sets: Mapping[str, Any], source: str) -> None:
    """Every rank needs at least one point of every point set."""
    world = distributed.world_size()
    small = {name: ps.n for name, ps in point_sets.items() if ps.n < world}
    if world > 1 and small:
        listing = ", ".join(f"'{k}' ({n})" for k, n in small.items())
        raise ConfigError(f"{source}: the point sets {listing} have fewer points than the {world} processes; "
                          "every process needs at least one point of each (key 'sampling')")


def _to_cpu(tree: Any) -> Any:
    if isinstance(tree, torch.Tensor):
        return tree.detach().cpu()
    if isinstance(tree, Mapping):
        return {k: _to_cpu(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_to_cpu(v) for v in tree)
    return tree


def to_device(tree: Any, device: torch.device) -> Any:
    """Tensors of a saved state moved to ``device``; byte tensors (random generator states) stay on the CPU."""
    if isinstance(tree, torch.Tensor):
        return tree if tree.dtype == torch.uint8 else tree.to(device)
    if isinstance(tree, Mapping):
        return {k: to_device(v, device) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(to_device(v, device) for v in tree)
    return tree


def gather_checkpoint(payload: dict[str, Any], sampler: Any, params: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """The checkpoint of a data-parallel run (on rank 0; every rank calls this): the parameters are checked
    bit-identical across the ranks, and every rank's sampler state is kept with the number of ranks."""
    if not distributed.is_distributed():
        return payload
    distributed.check_identical(params)
    state = _to_cpu(sampler.state_dict())
    states: list[Any] | None = [None] * distributed.world_size() if is_writer() else None
    dist.gather_object(state, states, dst=0)
    return {**payload, "sampler": states[0] if states else state, "samplers": states,
            "world_size": distributed.world_size()}


def load_checkpoint(path: Path, device: torch.device) -> dict[str, Any]:
    """A checkpoint for this rank: read by rank 0 and sent to every rank (no shared file system needed); its
    sampler state is this rank's. Resuming with another number of ranks than the run had is an error."""
    if not distributed.is_distributed():
        ckpt = rd.load_checkpoint(path, map_location="cpu")
    else:
        ckpt = on_rank_zero(lambda: rd.load_checkpoint(path, map_location="cpu"))
    saved, world = int(ckpt.get("world_size", 1)), distributed.world_size()
    if saved != world:
        raise ConfigError(f"'{path}' was written by a run on {saved} process(es) and this one has {world}: resume "
                          f"with the same number (pinnlab solve ... --resume --nproc {saved}, or torchrun "
                          f"--nproc_per_node={saved}), since every process continues its own points")
    if world > 1:
        ckpt["sampler"] = ckpt["samplers"][distributed.rank()]
    if device.type != "cpu":
        ckpt = {**ckpt, "solver": to_device(ckpt["solver"], device)}
    return ckpt


class NullHistory:
    """The history of ranks other than 0: they write nothing."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def append(self, row: Mapping[str, Any]) -> None:
        pass

    def flush(self) -> None:
        pass

    def truncate(self, step: int) -> None:
        pass

    def as_columns(self) -> dict[str, list[float]]:
        return {}


def end_failed_rank(exc: BaseException) -> NoReturn:
    """Report an error that stopped this rank of a data-parallel run and end the process at once (the
    process group cannot be left cleanly while other ranks wait in a collective; torchrun stops them)."""
    text = str(exc).strip().splitlines()
    reason = f"{type(exc).__name__}: {text[-1] if text else ''}"
    lost = any(word in reason for word in ("Timed out", "timed out", "Connection closed", "Connection reset",
                                           "Broken pipe", "NCCL"))
    hint = (" Another process failed or stopped answering (collectives wait train.timeout_s seconds); the "
            "messages of torchrun and the other processes name it." if lost else "")
    print(f"error: process {distributed.rank()} of {distributed.world_size()} stopped: {reason}.{hint} The last "
          "checkpoint stays valid (resume with --resume and the same number of processes).", file=sys.stderr,
          flush=True)
    sys.stdout.flush()
    os._exit(3)


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run ``python -m pinnlab ARGV`` on ``nproc`` processes of this host through torchrun's launcher
    (``torch.distributed.run --standalone``); returns its exit code."""
    if nproc < 1:
        raise ConfigError(f"--nproc must be at least 1, got {nproc}")
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "pinnlab", *argv]
    return subprocess.run(command, check=False, env=env).returncode


__all__ = [
    "NullHistory", "check_shards", "device_for_rank", "end_failed_rank", "gather_checkpoint", "is_writer", "launch", "launched_ranks",
    "load_checkpoint", "on_rank_zero", "start", "to_device",
]
