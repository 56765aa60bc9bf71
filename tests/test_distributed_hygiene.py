"""No device synchronisation at every step: diagnostics are read at logging steps, with the same results."""

from __future__ import annotations

import csv
import math

import pytest
import torch

import pinnlab as pl
from pinnlab.errors import SolverError
from pinnlab.io import run_dir as rd
from pinnlab.run.pending import PendingSteps

BASE = {
    "problem": {"equation": "heat1d"},
    "model": {"width": 8, "depth": 1},
    "derivatives": {"method": "taylor"},
    "sampling": {"interior": 32, "boundary": 8, "initial": 8},
    "solver": {"name": "adam", "lr": 1e-2},
    "train": {"steps": 12, "dtype": "float64", "progress": False, "eval_every": 6, "log_every": 1,
              "checkpoint_every": 1000},
    "output": {"vtk": False, "plots": False, "resolution": [5, 9]},
}

#: u_x = exp(exp(4u)) with a large learning rate: the loss overflows in step 5
BLOW_UP = {
    **BASE,
    "problem": {"pde": {"coordinates": ["x"], "fields": ["u"], "equations": {"eq": "u_x = exp(exp(4*u))"}},
                "domain": {"x": [0, 1]},
                "conditions": {"left": {"type": "dirichlet", "field": "u", "value": 0, "on": ["x_min"]}}},
    "solver": {"name": "adam", "lr": 0.6},
    "train": {**BASE["train"], "steps": 30, "eval_every": 30},
    "output": {"vtk": False, "plots": False, "resolution": 11},
}


def history(run):
    with (run / rd.HISTORY).open() as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_pending_steps_report_the_first_bad_step_and_the_latest_numbers():
    pending = PendingSteps()
    good = {"w": torch.ones(2)}
    pending.add(1, {"loss": torch.tensor(0.5), "lr": 0.1}, good)
    pending.add(2, {"loss": torch.tensor(0.25), "lr": 0.1}, good)
    assert pending.settle() is None and pending.latest == {"loss": 0.25, "lr": 0.1}
    assert isinstance(pending.latest["loss"], float) and len(pending) == 0
    pending.add(3, {"loss": torch.tensor(0.2)}, {"w": torch.tensor([1.0, float("nan")])})  # finite loss, bad weights
    pending.add(4, {"loss": torch.tensor(float("inf"))}, good)
    assert pending.settle() == (3, {"loss": pytest.approx(0.2)})
    pending.add(5, {"loss": float("nan")}, good)
    step, info = pending.settle()
    assert step == 5 and math.isnan(info["loss"])


def test_adam_returns_tensors_and_the_history_holds_the_numbers_of_every_step(tmp_path):
    from pinnlab.config import parse_config
    from pinnlab.config.build import problem_from_config
    from pinnlab.run.setup import PinnSetup
    from pinnlab.solvers import make_solver

    torch.set_default_dtype(torch.float64)
    try:
        cfg = parse_config(BASE)
        setup = PinnSetup(cfg, problem_from_config(cfg.problem), torch.device("cpu"), torch.float64, "<test>")
        solver = make_solver("adam", lr=1e-2)
        params = setup.initial_params()
        _, _, info = solver.step(params, solver.init(params), setup.objective(setup.sampler.sample(0), 0))
    finally:
        torch.set_default_dtype(torch.float32)
    assert isinstance(info["loss"], torch.Tensor) and info["loss"].dim() == 0 and not info["loss"].requires_grad
    sparse = pl.solve({**BASE, "train": {**BASE["train"], "log_every": 4}}, out=tmp_path / "sparse")
    dense = pl.solve(BASE, out=tmp_path / "dense")
    rows_sparse, rows_dense = history(sparse.run_dir), history(dense.run_dir)
    assert [r["step"] for r in rows_sparse] == ["4", "6", "8", "12"]  # log every 4, errors every 6
    by_step = {r["step"]: r for r in rows_dense}
    for row in rows_sparse:  # the same numbers, read later
        for key in ("loss", "loss_heat", "loss_initial", "loss_boundary"):
            assert float(row[key]) == float(by_step[row["step"]][key]), key
    assert sparse.metrics["loss"] == dense.metrics["loss"]


def test_a_bad_step_is_found_at_the_next_logging_step_and_named_as_before(tmp_path):
    """With rows every step the NaN guard reads every step; with rows every 10 steps it reads at the next
    checkpoint (step 8), names the same step (5), keeps a checkpoint from before it, writes no later row."""
    messages, rows = {}, {}
    for every in (1, 10):
        cfg = {**BLOW_UP, "train": {**BLOW_UP["train"], "log_every": every, "checkpoint_every": 4}}
        with pytest.raises(SolverError) as info:
            pl.solve(cfg, out=tmp_path / f"every{every}")
        messages[every] = str(info.value).replace(f"every{every}", "RUN")
        rows[every] = [int(r["step"]) for r in history(tmp_path / f"every{every}")]
    for every in (1, 10):
        assert messages[every].startswith("the loss became inf at step 5 (terms: eq). Training stopped; ")
        ckpt = rd.load_checkpoint(tmp_path / f"every{every}" / rd.CHECKPOINT)
        assert ckpt["step"] < 5 and all(torch.isfinite(v).all() for v in ckpt["model"].values())
    assert rows[1] == [1, 2, 3, 4] and rows[10] == []
