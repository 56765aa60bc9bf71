"""Inverse runs end to end: learned parameters in history, metrics, solutions and checkpoints (resume),
validation losses, and a short run of every shipped inverse configuration."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

import pinnlab as pl
from pinnlab.config import read_yaml
from pinnlab.errors import ConfigError
from pinnlab.io import run_dir as rd

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parents[1]

#: heat1d with an unknown diffusivity k (true 0.1): initial and boundary values, noisy observations
HEAT_INVERSE = {
    "problem": {
        "equation": "heat1d",
        "parameters": {"k": {"value": 0.05, "trainable": True, "positive": True, "true_value": 0.1}},
        "conditions": {
            "initial": {"type": "initial", "field": "u", "value": "sin(pi*x)"},
            "boundary": {"type": "dirichlet", "field": "u", "value": 0},
            "data": {"type": "data", "from_reference": {"points": 40, "noise": 0.01, "seed": 0}, "validation": 0.25},
        },
    },
    "solver": {"name": "adam", "lr": 1.0e-2},
}


def history(run):
    with (run / rd.HISTORY).open() as fh:
        return list(csv.DictReader(fh))


def test_learned_parameters_are_reported_everywhere(tmp_path, tiny):
    run = tmp_path / "run"
    solution = pl.solve(tiny(**HEAT_INVERSE), out=run)
    rows = history(run)
    assert {"param_k", "param_k_rel_error", "val_loss_data"} <= set(rows[-1])
    assert float(rows[0]["param_k"]) != 0.05 and float(rows[-1]["param_k"]) == pytest.approx(solution.parameters["k"])
    metrics = json.loads((run / rd.METRICS).read_text())
    entry = metrics["parameters"]["k"]
    assert entry["initial"] == 0.05 and entry["true_value"] == 0.1
    assert entry["value"] == pytest.approx(solution.parameters["k"], rel=1e-15)
    assert entry["rel_error"] == pytest.approx(abs(entry["value"] - 0.1) / 0.1, rel=1e-12)
    assert metrics["network_parameters"] == 2 * 8 + 8 + 8 + 1  # the network alone
    assert set(metrics["validation"]) == {"data"} and metrics["validation"]["data"] > 0
    assert float(rows[-1]["val_loss_data"]) == pytest.approx(metrics["validation"]["data"])
    assert solution.parameter_errors() == {"k": pytest.approx(entry["rel_error"])}
    loaded = pl.load(run)
    assert loaded.parameters["k"] == solution.parameters["k"]
    saved = rd.load_checkpoint(run / rd.MODEL)
    assert set(saved["pde_parameters"]) == {"pde.k"}


def test_cli_prints_the_learned_parameters(tmp_path, tiny, cli, write_yaml):
    path = write_yaml(tiny(**HEAT_INVERSE))
    code, out, err = cli("validate", path)
    assert code == 0 and out.strip().endswith("terms heat, initial, boundary, data, trainable parameters k)")
    code, out, err = cli("solve", path, "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / rd.METRICS).read_text())["parameters"]["k"]
    assert (f"parameter k: {metrics['value']:.8g} (true 0.1, rel. error {metrics['rel_error']:.2e})"
            in out.splitlines())


def test_resume_keeps_the_parameters(tmp_path, tiny):
    cfg = tiny(**HEAT_INVERSE, train={"steps": 8, "checkpoint_every": 4})
    whole = pl.solve(cfg, out=tmp_path / "whole")
    part = tmp_path / "part"
    pl.solve(cfg, out=part, overrides=["train.steps=4"])
    assert float(rd.load_checkpoint(part / rd.CHECKPOINT)["pde_parameters"]["pde.k"]) != float(torch.log(
        torch.tensor(0.05, dtype=torch.float64)))
    resumed = pl.solve(cfg, out=part, resume=True)
    assert resumed.parameters["k"] == whole.parameters["k"]
    assert [r["param_k"] for r in history(part)] == [r["param_k"] for r in history(tmp_path / "whole")]


def test_points_outside_the_domain_stop_the_run_before_it_starts(tmp_path, tiny):
    cfg = tiny(problem={"equation": "heat1d", "conditions": {
        "obs": {"type": "data", "fields": ["u"], "points": [[0.5, 0.5], [0.5, 2.0]], "values": [[0.1], [0.2]]}}})
    with pytest.raises(ConfigError, match=r"<config>: problem: condition 'obs': 1 data point\(s\) lie outside the "
                                          r"domain; the first is \(t = 0.5, x = 2\)"):
        pl.solve(cfg, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_parameter_keys_are_validated(tmp_path, tiny):
    cfg = tiny(problem={"equation": "heat1d", "parameters": {"k": {"value": 0.1, "trainabel": True}}})
    with pytest.raises(ConfigError, match="unknown key 'problem.parameters.k.trainabel'"):
        pl.solve(cfg, out=tmp_path / "run")
    cfg = tiny(problem={"equation": "heat1d", "parameters": {"k": {"value": -0.1, "positive": True}}})
    with pytest.raises(ConfigError, match="value -0.1 must be positive"):
        pl.solve(cfg, out=tmp_path / "run")


# -- the shipped configurations, briefly ---------------------------------------------------------------------------

SHORT = {
    "burgers1d_inverse": ["model.width=8", "model.depth=2", "sampling.interior=64",
                          "problem.conditions.data.from_reference.points=64"],
    "burgers1d_inverse_noisy": ["model.width=8", "model.depth=2", "sampling.interior=64",
                                "problem.conditions.data.from_reference.points=64"],
    "kovasznay_inverse": ["model.width=8", "model.depth=2", "sampling.interior=64",
                          "problem.conditions.data_u.from_reference.points=64",
                          "problem.conditions.data_v.from_reference.points=64"],
    "pinnacle_pinv": ["model.width=8", "model.depth=2", "model.fields.a.width=4", "sampling.interior=64",
                      "loss.weights.poisson=100", "loss.weights.boundary_a=100",  # lighter weights: faster in 20 steps
                      "problem.conditions.data.from_reference.points=64", "sampling.boundary=32",
                      "train.stop_stalled=null"],  # the stopping rule has its own tests (test_inverse_stopping.py)
}


@pytest.mark.parametrize("name", sorted(SHORT))
def test_shipped_inverse_configs_run_briefly(tmp_path, name):
    """A few Levenberg–Marquardt steps of each shipped inverse configuration on a small network: the run
    works end to end, the loss falls, and the unknowns are reported (loose tolerance)."""
    path = ROOT / "configs" / f"{name}.yaml"
    assert read_yaml(path)["name"] == name
    steps = 20 if name == "pinnacle_pinv" else 6  # a starts far from the truth (softplus of a fresh network)
    overrides = SHORT[name] + [f"train.steps={steps}", "train.progress=false", "output.vtk=false", "output.plots=false",
                               "output.resolution=[11, 11]", "train.eval_every=5", "train.log_every=1"]
    solution = pl.solve(path, out=tmp_path / "run", overrides=overrides)
    metrics, rows = solution.metrics, history(tmp_path / "run")
    assert metrics["steps"] == steps and len(rows) == steps
    assert float(rows[-1]["loss"]) < 0.5 * float(rows[0]["loss"])  # the loss of the step's starting point
    declared = solution.problem.pde.trainable_parameters
    assert set(metrics.get("parameters", {})) == set(declared)
    for pname, entry in metrics.get("parameters", {}).items():
        assert 0 <= entry["rel_error"] < 10 and entry["true_value"] == declared[pname].true_value
        assert entry["value"] > 0 or not declared[pname].positive
        assert f"param_{pname}" in rows[-1]
    if name == "pinnacle_pinv":
        assert not declared and metrics["rel_l2"]["a"] < 0.3
        assert bool((solution.predict([[0.5, 0.5], [0.1, 0.9]])[:, 1] > 0).all())  # a stays positive
    if name == "burgers1d_inverse":  # clean data: both coefficients move towards the truth
        assert all(e["rel_error"] < abs(e["initial"] - e["true_value"]) / e["true_value"]
                   for e in metrics["parameters"].values())
    if name == "kovasznay_inverse":
        assert metrics["up_to_constant"] == ["p"] and set(metrics["rel_l2"]) == {"u", "v", "p"}


def test_parameter_plot(tmp_path):
    from pinnlab.io.plots import plot_parameters

    history = {"step": [1.0, 2.0, 3.0], "loss": [1.0, 0.5, 0.2], "param_k": [0.05, 0.08, 0.099],
               "param_k_rel_error": [0.5, 0.2, 0.01]}
    path = plot_parameters(tmp_path / "parameters.png", history)
    assert path.is_file() and path.stat().st_size > 1000
    with pytest.raises(ValueError, match="history has no param_ columns"):
        plot_parameters(tmp_path / "none.png", {"step": [1.0], "loss": [1.0]})
