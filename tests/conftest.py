"""Shared fixtures: tiny run configurations, YAML files and an in-process CLI runner."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from pinnlab.autodiff import backend_names

#: the fastest deterministic derivative method available (Taylor mode once registered)
FAST_METHOD = "taylor" if "taylor" in backend_names() else "autograd"

#: a run small enough to take well under a second per step on one core
TINY: dict[str, Any] = {
    "problem": {"equation": "heat1d"},
    "model": {"width": 8, "depth": 1},
    "derivatives": {"method": FAST_METHOD},
    "sampling": {"interior": 32, "boundary": 8, "initial": 8},
    "solver": {"name": "adam", "lr": 1.0e-2},
    "train": {"steps": 5, "dtype": "float64", "progress": False, "eval_every": 5, "log_every": 1,
              "checkpoint_every": 1000},
    "output": {"vtk": False, "plots": False, "resolution": [5, 9], "frames": 3},
}


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``changes`` section by section (a copy; ``None`` deletes a key)."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@pytest.fixture
def tiny() -> Callable[..., dict[str, Any]]:
    """``tiny(**sections)``: the tiny heat1d configuration with some sections changed."""

    def make(**changes: Any) -> dict[str, Any]:
        return merge(TINY, changes)

    return make


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[[dict[str, Any] | str, str], Path]:
    """``write_yaml(data_or_text, name)``: a YAML file in the test's temporary directory."""

    def write(data: dict[str, Any] | str, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
        return path

    return write


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``cli(*args)``: run ``pinnlab ARGS`` in-process; returns (exit code, stdout, stderr)."""
    from pinnlab.cli import main

    def run(*args: Any) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def one_thread():
    """Run a training test on one intra-op thread, restoring the previous setting afterwards.

    The networks here are tiny, so a thread pool gains nothing; on a shared, oversubscribed CPU its
    synchronisation made these tests 10-20x slower (measured: 150 s instead of 7 s).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The number of generated cases each property-based test tried (recorded by ``fuzzing.run_cases``)."""
    rows = [(report.nodeid, value) for outcome in ("passed", "failed") for report in terminalreporter.stats.get(outcome, [])
            if report.when == "call" for key, value in report.user_properties if key == "cases"]
    if rows:
        terminalreporter.write_sep("-", f"generated cases: {sum(v for _, v in rows)} in {len(rows)} tests")
        for nodeid, value in rows:
            terminalreporter.write_line(f"{value:7d}  {nodeid}")
