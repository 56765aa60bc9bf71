"""What a new user hits first: bad values named by key, a run directory that stays true, feedback."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
import yaml

import pinnlab as pl
from pinnlab.errors import ConfigError, SolverError
from pinnlab.io import run_dir as rd
from pinnlab.run.progress import Progress

#: u_t = nu u_xx on [0, 1]^2 with u(0, x) = sin(pi x), written inline
INLINE_HEAT = {
    "pde": {"coordinates": ["t", "x"], "fields": ["u"], "time": "t", "parameters": {"nu": 0.1},
            "equations": {"heat": "u_t - nu*u_xx"}},
    "domain": {"t": [0, 1], "x": [0, 1]},
    "conditions": {"ic": {"type": "initial", "field": "u", "value": "sin(pi*x)"},
                   "bc": {"type": "dirichlet", "field": "u", "on": "x", "value": 0}},
}


@pytest.mark.parametrize("change, message", [
    ({"output": {"resolution": 1}}, "key 'output.resolution': every axis needs at least 2 points"),
    ({"output": {"resolution": [5, 0]}}, "key 'output.resolution': every axis needs at least 2 points"),
    ({"train": {"steps": 0}}, "key 'train.steps': Input should be greater than or equal to 1"),
    ({"solver": {"stages": [{"name": "adam", "steps": 0}]}, "train": {"steps": None}},
     "key 'solver.stages.0.steps': Input should be greater than or equal to 1"),
])
def test_bad_values_fail_validate_and_solve_with_the_key(tiny, write_yaml, cli, change, message, tmp_path):
    path = write_yaml(tiny(**change))
    code, _, err = cli("validate", path)
    assert code == 2 and message in err and str(path) in err, err
    code, _, err = cli("solve", path, "--out", tmp_path / "run")
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_export_rejects_a_one_point_grid(cli, tmp_path):
    with pytest.raises(SystemExit) as info:
        cli("export", tmp_path, "--resolution", 1)
    assert info.value.code == 2


def test_version(capsys):
    from pinnlab.cli import main

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"pinnlab {pl.__version__}"


def test_resume_with_other_settings_keeps_config_true(tiny, write_yaml, cli, tmp_path):
    cfg = write_yaml(tiny(train={"checkpoint_every": 1}))
    run = tmp_path / "run"
    assert cli("solve", cfg, "--out", run)[0] == 0
    code, _, err = cli("solve", cfg, "--out", run, "--resume", "--set", "train.steps=8")
    assert code == 0, err
    assert yaml.safe_load((run / rd.CONFIG).read_text())["train"]["steps"] == 8
    assert yaml.safe_load((run / "config.1.yaml").read_text())["train"]["steps"] == 5
    assert yaml.safe_load((run / rd.METRICS).read_text())["steps"] == 8


def test_history_reaches_the_disk_while_the_run_goes_on(tmp_path):
    writer = rd.HistoryWriter(tmp_path / rd.HISTORY, flush_seconds=0.0)
    writer.append({"step": 1, "loss": 0.5})
    assert (tmp_path / rd.HISTORY).read_text().splitlines() == ["step,loss", "1,0.5"]
    slow = rd.HistoryWriter(tmp_path / "other.csv", flush_seconds=3600.0)
    slow.append({"step": 1})
    assert not (tmp_path / "other.csv").exists()


def test_a_nan_source_term_is_not_blamed_on_the_learning_rate(tiny, tmp_path):
    """A loss that is not finite before any update points at the problem, not at the optimiser."""
    cfg = {**tiny(), "problem": INLINE_HEAT | {"pde": {**INLINE_HEAT["pde"],
                                                       "equations": {"heat": "u_t - u_xx + sqrt(x - 2)"}}}}
    with pytest.raises(SolverError, match="at the initial parameters") as info:
        pl.solve(cfg, out=tmp_path / "run")
    assert "learning rate" not in str(info.value)


@pytest.mark.parametrize("problem, message", [
    ({"equation": "heat1d", "parameters": {"k": float("nan")}}, "key 'problem.parameters.k': Input should be a finite"),
    ({"equation": "heat1d", "parameters": {"k": "abc"}}, "key 'problem.parameters.k': Input should be a valid number"),
    (INLINE_HEAT | {"pde": {**INLINE_HEAT["pde"], "parameters": {"nu": "abc"}}},
     "key 'problem.pde.parameters.nu': expected a number"),
    (INLINE_HEAT | {"pde": {**INLINE_HEAT["pde"], "parameters": {"nu": float("inf")}}},
     "key 'problem.pde.parameters.nu': must be a finite number, got inf"),
    (INLINE_HEAT | {"conditions": {"ic": {"type": "initial", "field": "u", "value": "sin(pi*q)"}}},
     "key 'problem.conditions.ic': unknown symbol 'q'"),
    (INLINE_HEAT | {"pde": {**INLINE_HEAT["pde"], "equations": {"heat": "u_t - nu*u_xx +"}}},
     "key 'problem.pde.equations.heat': syntax error"),
    (INLINE_HEAT | {"pde": {**INLINE_HEAT["pde"], "coordinates": "t, x"}},
     "key 'problem.pde.coordinates' must be a list of names"),
    ({"equation": "heat", "options": {"dim": "two"}}, "key 'problem.options'"),
])
def test_bad_problem_values_name_the_key(tiny, write_yaml, cli, problem, message):
    path = write_yaml({**tiny(), "problem": problem})
    code, _, err = cli("validate", path)
    assert code == 2 and f"error: {path}: {message}" in err and "Traceback" not in err, err


@pytest.mark.parametrize("solver, message", [
    ({"name": "adam", "lr": "fast"}, "key 'solver.lr': lr must be a number >= 0, got 'fast'"),
    ({"stages": [{"name": "adam", "steps": 2}, {"name": "adam", "steps": 3, "lr": "fast"}]},
     "key 'solver.stages.1.lr': lr must be a number >= 0, got 'fast'"),
    ({"name": "gauss_newton", "damping": -1.0}, "key 'solver.damping': damping must be a number >= 0, got -1.0"),
    ({"name": "gauss_newton", "tau": "abc"}, "key 'solver.tau': tau must be a number >= 0, got 'abc'"),
    ({"name": "gauss_newton", "max_tries": 0}, "key 'solver.max_tries': max_tries must be a whole number >= 1"),
    ({"name": "gauss_newton", "accept": 1.5}, "key 'solver.accept': accept must be a number in [0, 1)"),
    ({"name": "gauss_newton", "min_damping": 1.0, "max_damping": 0.5},
     "key 'solver.max_damping': max_damping (0.5) must exceed min_damping (1.0)"),
    ({"name": "gauss_newton", "warm_start": "yes"}, "key 'solver.warm_start': warm_start must be true or false"),
    ({"name": "engd", "damping": -0.1}, "key 'solver.damping': damping must be a number >= 0, got -0.1"),
    ({"name": "engd", "max_halvings": 2.5}, "key 'solver.max_halvings': max_halvings must be a whole number"),
    ({"name": "gauss_newton", "dampin": 1.0},
     "key 'solver.dampin': unknown option of solver 'gauss_newton' (did you mean 'damping'?)"),
])
def test_bad_solver_options_name_the_key(tiny, write_yaml, cli, solver, message, tmp_path):
    path = write_yaml({**tiny(train={"steps": 5 if "name" in solver else None}), "solver": solver})
    code, _, err = cli("validate", path)
    assert code == 2 and f"error: {path}: {message}" in err, err
    code, _, err = cli("solve", path, "--out", tmp_path / "run")
    assert code == 2 and message in err and "Traceback" not in err, err


def test_levenberg_marquardt_checks_its_options_when_built():
    from pinnlab.solvers.gauss_newton import EnergyNaturalGradient, LevenbergMarquardt

    with pytest.raises(ValueError, match="damping must be a number >= 0, got -1"):
        LevenbergMarquardt(damping=-1)
    with pytest.raises(ValueError, match="cg_max_iter must be a whole number >= 1"):
        EnergyNaturalGradient(cg_max_iter=0)
    assert LevenbergMarquardt(damping=0.0).damping0 == 0.0  # zero damping is Gauss-Newton itself


def _pty(columns: int | None):
    """A pseudo-terminal (reader fd, writer stream); a new one reports a size of 0 x 0 until one is set."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    reader, writer = pty.openpty()
    if columns is not None:
        fcntl.ioctl(writer, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    return reader, os.fdopen(writer, "w")


@pytest.mark.parametrize("columns, env, bar", [(None, None, False), (80, None, True), (80, "0", False),
                                               (0, "100", True), (10, None, False)])
def test_zero_width_terminal_gets_status_lines(monkeypatch, columns, env, bar):
    import os

    from pinnlab.run.progress import terminal_width

    if env is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", env)
    reader, stream = _pty(columns)
    try:
        progress = Progress(total=10, initial=0, name="heat1d", stream=stream, interval=0.0)
        assert progress.interactive is bar, terminal_width(stream)
        progress.report(0.25, {"u": 1e-3})
        progress.update(4)
        progress.close()
        stream.flush()
        shown = os.read(reader, 65536).decode(errors="replace")
    finally:
        stream.close()
        os.close(reader)
    if not bar:
        assert "heat1d: step 4/10, loss 2.500e-01, L2(u) 1.00e-03, elapsed" in shown, shown
    else:
        assert "/10 [" in shown and "it/s" in shown and "\r" in shown, shown  # the bar, drawn in place


def test_readme_states_how_long_the_demo_takes():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    demo = readme.index("bash scripts/demo.sh")
    assert "6–25 minutes on a 2-core" in readme[demo:demo + 600]


def test_the_license_is_an_spdx_expression():
    """No setuptools deprecation warning at install: ``project.license`` is an SPDX string (setuptools >= 77)."""
    import tomllib

    data = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert data["project"]["license"] == "MIT"
    assert any(r.replace(" ", "").startswith("setuptools>=77") for r in data["build-system"]["requires"])
    assert any(r.startswith("hypothesis") for r in data["project"]["optional-dependencies"]["test"])


def test_loading_with_the_wrong_problem_is_a_clear_error(tiny, tmp_path):
    solution = pl.solve(tiny(), out=tmp_path / "run")
    wrong = pl.Problem(pl.PDE(coordinates=["x", "y"], fields=["u", "v"], equations={"a": "u_xx", "b": "v_yy"}),
                       domain={"x": [0, 1], "y": [0, 1]})
    with pytest.raises(ConfigError, match="does not fit the problem"):
        pl.load(solution.run_dir, problem=wrong)


def test_progress_without_a_terminal_prints_status_lines():
    stream = io.StringIO()
    progress = Progress(total=10, initial=0, name="heat1d", stream=stream, interval=0.0)
    assert not progress.interactive
    progress.report(0.25, {"u": 1e-3})
    progress.update(4)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("heat1d: step 4/10, loss 2.500e-01, L2(u) 1.00e-03, elapsed 0:00, remaining")
    assert len(lines) == 2  # the status line, and one at the end
    quiet = io.StringIO()
    silent = Progress(total=10, initial=0, name="x", enabled=False, stream=quiet, interval=0.0)
    silent.update(3)
    silent.close()
    assert quiet.getvalue() == ""


def test_running_out_of_memory_is_a_clear_error(tiny, write_yaml, cli, monkeypatch):
    """A size too large for the machine (here simulated) ends with one message and exit 2, not a traceback."""
    import pinnlab.run

    def too_big(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(pinnlab.run, "make_setup", too_big)
    code, _, err = cli("validate", write_yaml(tiny()))
    assert code == 2 and err.startswith("error: out of memory: a size in the configuration") and "Traceback" not in err


def test_resume_with_other_sampling_settings_draws_the_points_afresh(tiny, write_yaml, cli, tmp_path):
    """The checkpoint's points belong to the old settings: a resume that changes ``sampling`` uses new ones."""
    cfg = write_yaml(tiny(train={"checkpoint_every": 1}, sampling={"interior": 30}))
    run = tmp_path / "run"
    assert cli("solve", cfg, "--out", run)[0] == 0
    code, _, err = cli("solve", cfg, "--out", run, "--resume", "--set", "train.steps=8", "--set", "sampling.interior=50")
    assert code == 0, err
    assert "points are drawn afresh" in err
    batches = torch.load(run / rd.CHECKPOINT, weights_only=True)["sampler"]["batches"]
    assert batches["interior"]["x"].shape[0] == 50
    code, _, err = cli("solve", cfg, "--out", run, "--resume", "--set", "train.steps=10", "--set", "sampling.interior=50")
    assert code == 0 and "afresh" not in err  # the same settings again: the saved points are kept
