"""The run directory: resolved config, history, metrics, checkpoints."""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import yaml

CONFIG = "config.yaml"
METRICS = "metrics.json"
HISTORY = "history.csv"
MODEL = "model.pt"
CHECKPOINT = "checkpoint.pt"


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
        os.replace(path, run_dir / f"config.{k}.yaml")
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def write_metrics(run_dir: Path, metrics: Mapping[str, Any]) -> Path:
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        if isinstance(v, Mapping):
            return {k: clean(x) for k, x in v.items()}
        return v

    path = run_dir / METRICS
    path.write_text(json.dumps(clean(dict(metrics)), indent=2))
    return path


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file, then rename (a crash never leaves a broken file)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint or model file (``weights_only=True``: no code is unpickled)."""
    return torch.load(path, map_location=map_location, weights_only=True)


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
            with path.open() as fh:
                self.rows = [dict(r) for r in csv.DictReader(fh)]
        self.columns: list[str] = list(self.rows[0].keys()) if self.rows else []

    def truncate(self, step: int) -> None:
        """Drop rows after ``step`` (when resuming from an earlier checkpoint)."""
        self.rows = [r for r in self.rows if int(float(r["step"])) <= step]

    def append(self, row: Mapping[str, Any]) -> None:
        for key in row:
            if key not in self.columns:
                self.columns.append(key)
        self.rows.append(dict(row))
        if time.monotonic() - self._flushed >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        self._flushed = time.monotonic()
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns, restval="")
            writer.writeheader()
            for r in self.rows:
                writer.writerow(r)
        os.replace(tmp, self.path)

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
