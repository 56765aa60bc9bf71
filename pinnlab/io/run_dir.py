"""The run directory: resolved config, history, metrics, checkpoints — written so that it is always true.

Every file is written to ``NAME.tmp``, flushed to the disk and renamed over ``NAME``: a crash, a kill
or a full disk leaves the previous file whole. A failed write is a :class:`RunDirectoryError` naming
the file and the reason, and leaves no temporary file. Checkpoints carry a digest of their contents,
so a damaged one is reported as such instead of being loaded with wrong numbers.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import json
import math
import os
import pickle
import time
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import torch
import yaml

from pinnlab.errors import ConfigError, PinnlabError

CONFIG = "config.yaml"
METRICS = "metrics.json"
HISTORY = "history.csv"
MODEL = "model.pt"
CHECKPOINT = "checkpoint.pt"
TEMPORARY = ".tmp"

#: the keys a file must hold to be read as what its name says
REQUIRED_KEYS = {
    CHECKPOINT: ("model", "step", "stage", "stage_step", "solver", "sampler", "torch_rng"),
    MODEL: ("model",),
}
DIGEST = "digest"


class RunDirectoryError(PinnlabError):
    """A file of the run directory could not be written, or is damaged and cannot be read."""


# -- writing ---------------------------------------------------------------------------------------


def _failed_write(path: Path, exc: OSError) -> RunDirectoryError:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason += " (free some space, then resume the run)"
    kept = f"; the previous {path.name} is kept" if path.exists() else ""
    return RunDirectoryError(f"could not write '{path}': {reason}{kept}")


def _sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (where the platform allows opening a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """A file object whose contents replace ``path`` only once they are completely on the disk."""
    path = Path(path)
    tmp = path.with_name(path.name + TEMPORARY)
    try:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise _failed_write(path, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def write_text(path: Path, text: str) -> Path:
    """Replace ``path`` by ``text``, atomically."""
    with atomic_file(path, "w") as fh:
        fh.write(text)
    return path


def remove_temporaries(run_dir: Path) -> list[Path]:
    """Delete the temporary files a killed run left behind (``*.tmp`` directly in ``run_dir``)."""
    removed = []
    for tmp in Path(run_dir).glob(f"*{TEMPORARY}"):
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def prepare_run_dir(path: Path, resume: bool) -> Path:
    """Create (or, to resume, reopen) a run directory. A non-empty directory is never reused without
    ``resume``: nothing in it is touched."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"output directory '{path}' is a file, not a directory; choose another --out")
    if not resume and path.exists() and any(path.iterdir()):
        raise ConfigError(f"output directory '{path}' exists and is not empty; use --resume to continue "
                          "that run, or choose another --out")
    if resume and not (path / CHECKPOINT).exists():
        raise ConfigError(f"cannot resume: '{path / CHECKPOINT}' does not exist")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirectoryError(f"could not create the run directory '{path}': {exc.strerror or exc}") from None
    if resume:
        remove_temporaries(path)
    return path


def write_config(run_dir: Path, config: Mapping[str, Any]) -> Path:
    """Write the resolved configuration. An existing, different ``config.yaml`` (a resumed run with
    other settings) is kept as ``config.N.yaml``, N = 1, 2, ...: config.yaml always describes the
    settings of the latest run into the directory."""
    path = run_dir / CONFIG
    text = yaml.safe_dump(dict(config), sort_keys=False)
    if path.exists() and path.read_text() != text:
        k = 1
        while (run_dir / f"config.{k}.yaml").exists():
            k += 1
        try:
            os.replace(path, run_dir / f"config.{k}.yaml")
        except OSError as exc:
            raise _failed_write(run_dir / f"config.{k}.yaml", exc) from None
    return write_text(path, text)


def write_metrics(run_dir: Path, metrics: Mapping[str, Any]) -> Path:
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        if isinstance(v, Mapping):
            return {k: clean(x) for k, x in v.items()}
        return v

    return write_text(run_dir / METRICS, json.dumps(clean(dict(metrics)), indent=2))


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """The run's ``metrics.json`` ({} when there is none; a damaged file is a RunDirectoryError)."""
    path = Path(run_dir) / METRICS
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirectoryError(f"'{path}' cannot be read: {_first_line(exc)}") from None
    if not isinstance(data, dict):
        raise RunDirectoryError(f"'{path}' cannot be read: expected a JSON object")
    return data


# -- checkpoints -------------------------------------------------------------------------------------


def _feed(h: Any, obj: Any) -> None:
    """Feed a checkpoint tree (dicts, lists, tensors, numbers, strings) into the hash ``h``."""
    if isinstance(obj, torch.Tensor):
        t = torch.empty(obj.shape, dtype=obj.dtype).copy_(obj.detach())  # plain strides, on the CPU
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, Mapping):
        h.update(b"{")
        for key in sorted(obj, key=repr):
            h.update(repr(key).encode())
            _feed(h, obj[key])
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(b"[" if isinstance(obj, list) else b"(")
        for item in obj:
            _feed(h, item)
        h.update(b"]")
    else:
        h.update(f"{type(obj).__name__}:{obj!r};".encode())


def digest(payload: Mapping[str, Any]) -> str:
    """A digest of a checkpoint's contents (its own ``digest`` entry left out)."""
    h = hashlib.blake2b(digest_size=16)
    _feed(h, {k: v for k, v in payload.items() if k != DIGEST})
    return h.hexdigest()


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file, flushed, then renamed: a crash or a full disk never leaves a broken file.

    A mapping gets a ``digest`` of its contents, checked by :func:`load_checkpoint`.
    """
    if isinstance(obj, Mapping):
        obj = {**obj, DIGEST: digest(obj)}
    with atomic_file(Path(path), "wb") as fh:
        torch.save(obj, fh)


def _first_line(exc: BaseException) -> str:
    """The first sentence of an exception's message (torch's run on for lines)."""
    text = str(exc).strip().splitlines()
    first = text[0].split(". ")[0].rstrip(".") if text else ""
    return first[:160] or type(exc).__name__


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint or model file (``weights_only=True``: no code is unpickled).

    A missing, truncated, corrupted or foreign file is a :class:`RunDirectoryError` saying so.
    """
    path = Path(path)
    if not path.is_file():
        raise RunDirectoryError(f"'{path}' does not exist")
    damaged = (f"'{path}' is damaged (truncated or corrupted) and cannot be loaded; restore it from a copy, "
               "or start the run again in a new directory")
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise RunDirectoryError(f"could not read '{path}': {exc.strerror or exc}") from None
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, ValueError, KeyError, IndexError, TypeError,
            AttributeError, zipfile.BadZipFile, UnicodeDecodeError) as exc:  # what torch raises on a damaged file
        raise RunDirectoryError(f"{damaged} ({_first_line(exc)})") from None
    required = REQUIRED_KEYS.get(path.name, ())
    missing = [k for k in required if not isinstance(data, dict) or k not in data]
    if missing:
        raise RunDirectoryError(f"'{path}' is not a pinnlab {path.stem} file (it has no '{missing[0]}')")
    if isinstance(data, dict) and DIGEST in data and data[DIGEST] != digest(data):
        raise RunDirectoryError(f"{damaged} (its contents do not match the digest written with them)")
    return data


def snapshot(obj: Any) -> Any:
    """A copy of a checkpoint tree that later in-place updates (of parameters, optimiser state) leave alone."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, Mapping):
        return {k: snapshot(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(snapshot(v) for v in obj)
    return obj


class GoodStates:
    """The last two checkpoints of states whose steps were checked finite, kept in memory.

    After a non-finite step the run writes the latest of them from before it, so the checkpoint on
    disk is the last good state rather than the last periodic one.
    """

    def __init__(self) -> None:
        self._states: list[dict[str, Any]] = []

    def keep(self, payload: Mapping[str, Any]) -> None:
        if self._states and self._states[-1]["step"] == payload["step"]:
            self._states[-1] = snapshot(dict(payload))
        else:
            self._states = [*self._states[-1:], snapshot(dict(payload))]

    def latest_until(self, step: int) -> dict[str, Any] | None:
        """The latest kept state at or before ``step``, or None."""
        for state in reversed(self._states):
            if state["step"] <= step:
                return state
        return None


# -- history -------------------------------------------------------------------------------------------


class HistoryWriter:
    """Appends rows to history.csv; new columns (e.g. a later solver's diagnostics) widen the file.

    The file is rewritten at least every ``flush_seconds`` while rows arrive, so it can be read
    (and plotted) while a run goes on.
    """

    def __init__(self, path: Path, resume: bool = False, flush_seconds: float = 5.0):
        self.path = path
        self.flush_seconds = float(flush_seconds)
        self._flushed = time.monotonic()
        self.rows: list[dict[str, Any]] = []
        if resume and path.exists():
            with path.open(newline="") as fh:
                self.rows = [dict(r) for r in csv.DictReader(fh)]
        self.columns: list[str] = list(self.rows[0].keys()) if self.rows else []

    def truncate(self, step: int) -> None:
        """Drop rows after ``step`` (when resuming from an earlier checkpoint); unreadable rows go too."""
        def step_of(row: Mapping[str, Any]) -> float:
            try:
                return float(row.get("step") or "nan")
            except ValueError:
                return math.nan

        self.rows = [r for r in self.rows if step_of(r) <= step]

    def append(self, row: Mapping[str, Any]) -> None:
        for key in row:
            if key not in self.columns:
                self.columns.append(key)
        self.rows.append(dict(row))
        if time.monotonic() - self._flushed >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        self._flushed = time.monotonic()
        with atomic_file(self.path, "w") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns, restval="", extrasaction="ignore")
            writer.writeheader()
            for r in self.rows:
                writer.writerow(r)

    def as_columns(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {c: [] for c in self.columns}
        for r in self.rows:
            for c in self.columns:
                v = r.get(c, "")
                try:
                    out[c].append(float(v))
                except (TypeError, ValueError):
                    out[c].append(float("nan"))
        return out
