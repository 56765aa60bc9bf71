"""Runs end to end: the CLI, the run directory, VTK read back, load/predict, resume and bad-input handling."""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import meshio
import numpy as np
import pytest
import pyvista as pv
import torch

import pinnlab as pl
from pinnlab.config import read_yaml
from pinnlab.errors import ConfigError
from pinnlab.io import run_dir as rd
from pinnlab.run import trainer as run_module

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.one_thread
pv.OFF_SCREEN = True


def heat_exact(t, x, k=0.1):
    return np.exp(-k * np.pi**2 * t) * np.sin(np.pi * x)


def history_steps(run):
    with (run / rd.HISTORY).open() as fh:
        return [int(float(r["step"])) for r in csv.DictReader(fh)]


def weights(run, name=rd.MODEL):
    return rd.load_checkpoint(run / name)["model"]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# -- the command line -----------------------------------------------------------------------------------------


def test_cli_solve_export_and_vtk_read_back(tmp_path, cli, write_yaml, tiny):
    cfg = write_yaml(tiny(output={"vtk": True, "plots": True, "resolution": [5, 9], "frames": 3}))
    run = tmp_path / "run"
    code, out, err = cli("solve", cfg, "--out", run, "--set", "train.steps=4", "--quiet")
    assert code == 0, err
    assert out.splitlines()[0] == f"run directory: {run}"
    assert out.splitlines()[1].startswith("steps 4, wall time ") and "rel. L2: u " in out
    for name in ("config.yaml", "metrics.json", "history.csv", "model.pt", "checkpoint.pt", "vtk/solution.pvd",
                 "vtk/solution_0000.vtu", "vtk/solution_0002.vtu", "vtk/solution_xt.vtu", "plots/history.png",
                 "plots/u.png"):
        assert (run / name).is_file(), name
    resolved = read_yaml(run / "config.yaml")
    assert resolved["train"]["steps"] == 4 and resolved["model"]["width"] == 8
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == 4 and metrics["problem"] == "heat1d" and metrics["dtype"] == "float64"
    assert set(metrics["losses"]) == {"heat", "initial", "boundary"} and math.isfinite(metrics["loss"])
    assert set(metrics["rel_l2"]) == {"u"} and metrics["network_parameters"] == 2 * 8 + 8 + 8 + 1
    assert history_steps(run) == [1, 2, 3, 4]

    solution = pl.load(run)
    # the x-t plane: 5 times x 9 positions, first axis (t) slowest
    xt = meshio.read(run / "vtk" / "solution_xt.vtu")
    assert xt.points.shape == (45, 3) and [c.type for c in xt.cells] == ["quad"]
    assert set(xt.point_data) == {"u", "u_reference", "u_error", "t", "x"}
    t, x = xt.point_data["t"], xt.point_data["x"]
    np.testing.assert_allclose(np.c_[t, x], xt.points[:, :2], atol=1e-15)
    np.testing.assert_allclose(xt.point_data["u"], solution.predict(np.c_[t, x])[:, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.point_data["u_reference"], heat_exact(t, x), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(xt.point_data["u_error"], np.abs(xt.point_data["u"] - heat_exact(t, x)), atol=1e-12)
    # the time series through pyvista
    reader = pv.get_reader(str(run / "vtk" / "solution.pvd"))
    assert reader.time_values == pytest.approx([0.0, 0.5, 1.0])
    reader.set_active_time_value(0.5)
    frame = reader.read()[0]
    assert frame.n_points == 9 and {"u", "u_reference", "u_error"} <= set(frame.point_data.keys())
    xs = np.asarray(frame.points)[:, 0]
    np.testing.assert_allclose(np.asarray(frame.point_data["u"]), solution.predict(np.c_[np.full(9, 0.5), xs])[:, 0],
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(frame.point_data["u_reference"]), heat_exact(0.5, xs), atol=1e-14)

    code, out, err = cli("export", run, "--resolution", 7, 13, "--frames", 4, "--out", tmp_path / "again")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == [
        "solution.pvd", "solution_0000.vtu", "solution_0001.vtu", "solution_0002.vtu", "solution_0003.vtu",
        "solution_xt.vtu"]
    assert out.split() == [str(tmp_path / "again" / "solution.pvd"), str(tmp_path / "again" / "solution_xt.vtu")]
    assert pv.read(tmp_path / "again" / "solution_xt.vtu").n_points == 7 * 13
    assert meshio.read(tmp_path / "again" / "solution_0003.vtu").points.shape == (13, 3)
    code, _, err = cli("export", run, "--resolution", 6, "--out", tmp_path / "square")
    assert code == 0, err
    assert meshio.read(tmp_path / "square" / "solution_xt.vtu").points.shape == (36, 3)


def test_steady_problem_vtk_read_back(tmp_path, tiny):
    cfg = tiny(problem={"equation": "poisson2d"}, output={"vtk": True, "resolution": [4, 6]})
    solution = pl.solve(cfg, out=tmp_path / "run")
    path = tmp_path / "run" / "vtk" / "solution.vtu"
    grid = pv.read(path)
    assert grid.n_points == 24 and grid.n_cells == 15
    assert set(np.unique(grid.celltypes)) == {pv.CellType.QUAD}
    pts = np.asarray(grid.points)[:, :2]
    np.testing.assert_allclose(np.asarray(grid.point_data["u"]), solution.predict(pts)[:, 0], rtol=1e-12, atol=1e-12)
    exact = np.sin(np.pi * pts[:, 0]) * np.sin(np.pi * pts[:, 1])
    np.testing.assert_allclose(meshio.read(path).point_data["u_reference"], exact, atol=1e-14)


def test_cli_list(cli):
    code, out, _ = cli("list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "equations:"
    for name in ("heat1d", "poisson2d", "burgers1d", "allen_cahn1d"):
        assert any(line.split()[:1] == [name] for line in lines), name
    solvers = next(line for line in lines if line.startswith("solvers:"))
    assert "adam" in solvers and "lbfgs" in solvers
    methods = next(line for line in lines if line.startswith("derivatives:"))
    assert "autograd" in methods
    samplers = next(line for line in lines if line.startswith("samplers:"))
    assert samplers.split(":")[1].split(",")[0].strip() == "uniform"


def test_cli_usage_errors(cli):
    with pytest.raises(SystemExit) as info:
        cli("frobnicate")
    assert info.value.code == 2
    code, _, err = cli("export", "/nonexistent/run")
    assert code == 2 and err == "error: '/nonexistent/run' is not a run directory (no config.yaml)\n"


def test_module_entry_point_reports_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("problem:\n  equation: heat1d\nmodel: {widht: 3}\ntrain: {steps: 1}\n")
    proc = subprocess.run([sys.executable, "-m", "pinnlab.cli", "validate", str(bad)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"error: {bad}: unknown key 'model.widht' (did you mean 'width'?)\n"


# -- run directories -------------------------------------------------------------------------------------------


def test_run_directory_rules(tmp_path, monkeypatch, tiny):
    monkeypatch.chdir(tmp_path)
    cfg = tiny(train={"steps": 1})
    first = pl.solve(cfg)
    second = pl.solve({**cfg, "name": "named"})
    third = pl.solve(cfg)
    assert (first.run_dir, second.run_dir, third.run_dir) == (
        Path("runs/heat1d"), Path("runs/named"), Path("runs/heat1d-1"))
    with pytest.raises(ConfigError, match="output directory 'runs/heat1d' exists and is not empty; use --resume"):
        pl.solve(cfg, out="runs/heat1d")
    with pytest.raises(ConfigError, match="cannot resume: 'empty/checkpoint.pt' does not exist"):
        pl.solve(cfg, out="empty", resume=True)
    with pytest.raises(ConfigError, match="--resume needs the run directory"):
        pl.solve(cfg, resume=True)
    out = pl.solve(tiny(train={"steps": 1}, output={"dir": "custom"}))
    assert out.run_dir == Path("custom")


def test_missing_cuda_is_reported(tiny, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ConfigError, match="device 'cuda' was requested but no CUDA device is available"):
        pl.solve(tiny(), out=tmp_path / "run", device="cuda")


# -- load and predict ------------------------------------------------------------------------------------------------


def test_load_and_predict(tmp_path, tiny):
    solution = pl.solve(tiny(), out=tmp_path / "run")
    loaded = pl.load(tmp_path / "run")
    assert loaded.coords == ["t", "x"] and loaded.fields == ["u"]
    pts = np.random.default_rng(0).random((17, 2))
    pred = loaded.predict(pts)
    assert pred.shape == (17, 1) and pred.dtype == np.float64
    np.testing.assert_array_equal(pred, solution.predict(pts))
    assert loaded.predict(np.zeros((0, 2))).shape == (0, 1)
    assert loaded.metrics["steps"] == 5 and loaded.errors(resolution=[5, 9]) == pytest.approx(
        solution.errors(resolution=[5, 9]))
    assert loaded.errors(resolution=[5, 9])["u"] == pytest.approx(loaded.metrics["rel_l2"]["u"])
    with pytest.raises(ValueError, match=r"points must have shape \(N, 2\) with columns \['t', 'x'\], got \(3, 3\)"):
        loaded.predict(np.zeros((3, 3)))
    assert "Solution(problem='heat1d', coords=['t', 'x'], fields=['u']" in repr(loaded)
    with pytest.raises(ConfigError, match="is not a run directory"):
        pl.load(tmp_path)


def test_errors_at_random_points(tmp_path, tiny):
    solution = pl.solve(tiny(output={"eval_points": 300, "vtk": False, "plots": False}), out=tmp_path / "run")
    points = solution.evaluation_points(random_points=300)
    assert points.shape == (300, 2) and np.array_equal(points, solution.evaluation_points(random_points=300))
    assert (points[:, 0] >= 0).all() and (points[:, 0] <= 1).all() and len(np.unique(points[:, 1])) == 300
    t, x = points[:, 0], points[:, 1]
    exact = heat_exact(t, x)
    by_hand = np.linalg.norm(solution.predict(points)[:, 0] - exact) / np.linalg.norm(exact)
    assert solution.metrics["rel_l2"]["u"] == pytest.approx(by_hand, rel=1e-9)
    assert solution.errors(random_points=300)["u"] == pytest.approx(by_hand, rel=1e-9)
    assert pl.load(tmp_path / "run").errors()["u"] == pytest.approx(by_hand, rel=1e-9)  # the run's own points
    assert solution.metrics["error_points"] == {"kind": "random", "count": 300}
    assert solution.errors(random_points=300, seed=1)["u"] != pytest.approx(by_hand, rel=1e-9)


def test_python_problem_solve_and_load(tmp_path, tiny):
    pde = pl.PDE(coordinates=["x"], fields=["u", "v"], parameters={"k": 4.0},
                 equations={"a": "u_xx - k*u = -(pi**2 + k)*sin(pi*x)", "b": "v - u"})
    problem = pl.Problem(pde, {"x": [0, 1]}, {"ends": pl.Dirichlet(field="u", value=0)},
                         exact={"u": "sin(pi*x)", "v": "sin(pi*x)"}, name="rd")
    solution = pl.solve(tiny(problem=None, output={"resolution": 11}), problem=problem, out=tmp_path / "run")
    assert solution.coords == ["x"] and solution.fields == ["u", "v"]
    assert solution.predict(np.linspace(0, 1, 4)).shape == (4, 2)  # a 1-D array for a 1-D problem
    assert set(solution.metrics["rel_l2"]) == {"u", "v"}
    assert rd.load_checkpoint(tmp_path / "run" / rd.MODEL)["format"] == 1
    with pytest.raises(ConfigError, match=r"solved a problem defined in Python; pass it: pl.load\(run_dir, problem"):
        pl.load(tmp_path / "run")
    again = pl.load(tmp_path / "run", problem=problem)
    np.testing.assert_array_equal(again.predict([[0.3], [0.6]]), solution.predict([[0.3], [0.6]]))


# -- resume ----------------------------------------------------------------------------------------------------------


RESUMABLE = {
    "sampling": {"interior": 24, "boundary": 6, "initial": 6, "resample_every": 3},
    "solver": {"name": None, "lr": None, "stages": [{"name": "adam", "steps": 6, "lr": 1e-2, "schedule": "cosine"},
                                                    {"name": "lbfgs", "steps": 6, "history": 5}]},
    "train": {"steps": 12, "checkpoint_every": 4, "eval_every": 5},
}


def _config(tiny, **changes):
    cfg = tiny(**RESUMABLE)
    for key, value in changes.items():
        cfg[key].update(value)
    return cfg


def _interrupt_at(monkeypatch, step, exc):
    original = run_module.Trainer._one_step

    def one_step(self, solver, state, bar):
        if self.step == step:
            monkeypatch.setattr(run_module.Trainer, "_one_step", original)
            raise exc
        return original(self, solver, state, bar)

    monkeypatch.setattr(run_module.Trainer, "_one_step", one_step)


@pytest.fixture
def reference_run(tmp_path, tiny):
    pl.solve(_config(tiny), out=tmp_path / "reference")
    return weights(tmp_path / "reference")


@pytest.mark.parametrize("step", [2, 7])
def test_resume_after_ctrl_c_matches_uninterrupted_run(tmp_path, tiny, write_yaml, cli, monkeypatch, reference_run,
                                                       step):
    """Ctrl-C (a real SIGINT) during step ``step`` + 1 (in the Adam stage, or in the L-BFGS stage) finishes
    that step and saves a checkpoint after it."""
    import os
    import signal

    cfg = write_yaml(_config(tiny))
    run = tmp_path / "run"
    original = run_module.Trainer._one_step

    def one_step(self, solver, state, bar):
        if self.step == step:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, solver, state, bar)

    monkeypatch.setattr(run_module.Trainer, "_one_step", one_step)
    code, _, err = cli("solve", cfg, "--out", run)
    monkeypatch.setattr(run_module.Trainer, "_one_step", original)
    assert code == 130
    assert f"interrupted: a checkpoint was saved in '{run}'; continue with" in err
    assert err.strip().endswith(f"pinnlab solve {cfg} --out {run} --resume")
    assert rd.load_checkpoint(run / rd.CHECKPOINT)["step"] == step + 1 and not (run / rd.MODEL).exists()
    code, _, err = cli("solve", cfg, "--out", run, "--resume")
    assert code == 0, err
    assert_same_weights(weights(run), reference_run)
    assert history_steps(run) == list(range(1, 13))


def test_resume_after_ctrl_c_inside_a_step(tmp_path, tiny, monkeypatch, reference_run):
    """A real SIGINT in the middle of an L-BFGS line search: the step finishes, then the checkpoint is saved."""
    import os
    import signal

    from pinnlab.solvers import base

    original, calls = base.Objective.loss, []

    def loss(self, params, record=False):
        calls.append(1)
        if len(calls) == 20:  # inside the line search of an L-BFGS step (steps 7-12)
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, params, record)

    monkeypatch.setattr(base.Objective, "loss", loss)
    with pytest.raises(KeyboardInterrupt):
        pl.solve(_config(tiny), out=tmp_path / "run")
    monkeypatch.setattr(base.Objective, "loss", original)
    pl.solve(_config(tiny), out=tmp_path / "run", resume=True)
    assert_same_weights(weights(tmp_path / "run"), reference_run)


def test_resume_after_a_crash_restarts_from_the_last_checkpoint(tmp_path, tiny, monkeypatch, reference_run):
    run = tmp_path / "run"
    _interrupt_at(monkeypatch, 10, RuntimeError("power cut"))
    with pytest.raises(RuntimeError, match="power cut"):
        pl.solve(_config(tiny), out=run)
    assert rd.load_checkpoint(run / rd.CHECKPOINT)["step"] == 8
    pl.solve(_config(tiny), out=run, resume=True)
    assert_same_weights(weights(run), reference_run)
    assert history_steps(run) == list(range(1, 13))


def test_continue_a_finished_run_with_more_steps(tmp_path, tiny, reference_run):
    """A run stopped by train.steps, continued with --resume and a larger train.steps, equals one long run."""
    run = tmp_path / "run"
    first = pl.solve(_config(tiny, train={"steps": 9}), out=run)
    assert first.metrics["steps"] == 9
    again = pl.solve(_config(tiny), out=run, resume=True)
    assert again.metrics["steps"] == 12
    assert_same_weights(weights(run), reference_run)
    # nothing left to do: the run and its checkpoint stay as they are
    before = rd.load_checkpoint(run / rd.CHECKPOINT)
    pl.solve(_config(tiny), out=run, resume=True)
    after = rd.load_checkpoint(run / rd.CHECKPOINT)
    assert after["step"] == 12 and after["solver"].keys() == before["solver"].keys()
    assert_same_weights(weights(run), reference_run)


def test_continue_a_single_solver_run(tmp_path, tiny):
    """One Adam stage (constant rate): 4 steps + 4 more with --resume equal 8 steps in one go."""
    cfg = tiny(train={"steps": 8})
    pl.solve(cfg, out=tmp_path / "long")
    pl.solve(tiny(train={"steps": 4}), out=tmp_path / "short")
    pl.solve(cfg, out=tmp_path / "short", resume=True)
    assert_same_weights(weights(tmp_path / "short"), weights(tmp_path / "long"))


# -- a loss that becomes non-finite -----------------------------------------------------------------------------------


BLOW_UP = {
    "problem": {"equation": None, "pde": {"coordinates": ["x"], "fields": ["u"], "equations": {"eq": "u_x = exp(exp(4*u))"}},
                "domain": {"x": [0, 1]}, "conditions": {"left": {"type": "dirichlet", "field": "u", "value": 0,
                                                                   "on": ["x_min"]}}},
    "solver": {"name": "adam", "lr": 5.0},
    "train": {"steps": 30, "checkpoint_every": 1},
    "output": {"resolution": 11},
}


def test_non_finite_loss_stops_cleanly_and_keeps_the_last_good_checkpoint(tmp_path, tiny, write_yaml, cli):
    path = write_yaml(tiny(**BLOW_UP))
    run = tmp_path / "run"
    code, out, err = cli("solve", path, "--out", run, "--quiet")
    assert code == 2 and out == "" and "Traceback" not in err
    match = re.fullmatch(
        r"error: the loss became (inf|nan) at step (\d+) \(terms: eq\)\. Training stopped; the last good state "
        r"\(step (\d+)\) was saved in '(.+)' \(resume with --resume once the cause is fixed\)\. Try a smaller "
        r"learning rate, float64 \(train\.dtype\), or larger loss weights on the conditions\.\n", err)
    assert match is not None, err
    bad_step = int(match.group(2))
    assert match.group(4) == str(run / rd.CHECKPOINT)
    ckpt = rd.load_checkpoint(run / rd.CHECKPOINT)
    # the loss of step b is that of the state after step b - 1: the last good state is the one before it
    assert ckpt["step"] == int(match.group(3)) == bad_step - 2
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())
    assert not (run / rd.MODEL).exists()
    code, _, err = cli("solve", path, "--out", tmp_path / "fresh", "--quiet", "--set", "train.checkpoint_every=100")
    assert code == 2 and "Traceback" not in err
    # no periodic checkpoint yet: the last good state checked when the run logged is saved all the same
    assert f"Training stopped; the last good state (step {bad_step - 2}) was saved" in err, err
