"""What a new user hits first: bad values named by key, a run directory that stays true, feedback."""

from __future__ import annotations

import io

import pytest
import yaml

import pinnlab as pl
from pinnlab.errors import ConfigError, SolverError
from pinnlab.io import run_dir as rd
from pinnlab.run.progress import Progress


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


def test_a_nan_parameter_is_not_blamed_on_the_learning_rate(tiny, tmp_path):
    cfg = tiny(problem={"equation": "heat1d", "parameters": {"k": float("nan")}})
    with pytest.raises(SolverError, match="at the initial parameters") as info:
        pl.solve(cfg, out=tmp_path / "run")
    assert "learning rate" not in str(info.value)


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
