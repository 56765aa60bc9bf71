"""Stopping on a loss term: the discrepancy principle (``train.stop_below``) and a stalled data fit
(``train.stop_stalled``) on a data term weighted by 1/σ²."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import pinnlab as pl
from pinnlab.compile.synthetic import draw_observations
from pinnlab.errors import ConfigError
from pinnlab.io import run_dir as rd

pytestmark = pytest.mark.usefixtures("one_thread")

#: heat1d with an unknown diffusivity k (true 0.1) and 40 noisy observations (σ = 0.01, weights 1/σ²)
PROBLEM = {
    "equation": "heat1d",
    "parameters": {"k": {"value": 0.05, "trainable": True, "positive": True, "true_value": 0.1}},
    "conditions": {
        "initial": {"type": "initial", "field": "u", "value": "sin(pi*x)"},
        "boundary": {"type": "dirichlet", "field": "u", "value": 0},
        "data": {"type": "data", "from_reference": {"points": 40, "noise": 0.01, "seed": 0}},
    },
}
STEPS = 30


def history(run):
    with (run / rd.HISTORY).open() as fh:
        return list(csv.DictReader(fh))


def test_the_run_stops_at_the_first_step_whose_loss_meets_the_level(tmp_path, tiny):
    cfg = tiny(problem=PROBLEM, train={"steps": STEPS, "eval_every": 10})
    pl.solve(cfg, out=tmp_path / "full")
    full = history(tmp_path / "full")
    # row s holds the losses at the start of step s: the data loss after s steps is in row s + 1
    after = [float(r["loss_data"]) for r in full[1:]]
    assert after[0] > 2 * after[-1]  # the data loss falls over the run
    level = after[STEPS // 2]
    expected = 1 + next(i for i, v in enumerate(after) if v <= level)
    assert 1 < expected < STEPS

    run = tmp_path / "stopped"
    solution = pl.solve(tiny(problem=PROBLEM, train={"steps": STEPS, "eval_every": 10, "stop_below": {"data": level}}),
                        out=run)
    metrics = json.loads((run / rd.METRICS).read_text())
    assert metrics["steps"] == expected and metrics["stopped"]["step"] == expected
    assert metrics["stopped"]["levels"] == {"data": level} and metrics["stopped"]["rule"] == "stop_below"
    assert metrics["stopped"]["losses"]["data"] == pytest.approx(after[expected - 1], rel=1e-9)
    # the same trajectory as the full run up to the stop, and the stopping step is logged and evaluated
    rows = history(run)
    assert len(rows) == expected and rows[-1]["rel_l2_u"] != ""
    assert solution.parameters["k"] == pytest.approx(float(full[expected - 1]["param_k"]), rel=1e-12)
    assert float(rows[-1]["param_k"]) == pytest.approx(float(full[expected - 1]["param_k"]), rel=1e-12)

    # a resumed run that met its rule stays stopped; without the rule it trains on
    again = pl.solve(tiny(problem=PROBLEM, train={"steps": STEPS + 10, "stop_below": {"data": level}}), out=run,
                     resume=True)
    assert again.metrics["steps"] == expected and again.parameters["k"] == solution.parameters["k"]
    more = pl.solve(tiny(problem=PROBLEM, train={"steps": STEPS}), out=run, resume=True)
    assert more.metrics["steps"] == STEPS and "stopped" not in more.metrics


def test_the_discrepancy_principle_on_a_data_term_weighted_by_its_noise(tmp_path, tiny):
    """With weights 1/σ² the data loss is χ²/N: the exact solution scores about 1 on the noisy data, and a run
    told to stop at level 1 ends at the first step with χ²/N <= 1 (checked against the residuals)."""
    cfg = tiny(problem=PROBLEM, model={"width": 16, "depth": 2}, solver={"name": "gauss_newton", "lr": None},
               sampling={"interior": 64, "boundary": 16, "initial": 16},
               loss={"weights": {"heat": 1e4, "initial": 1e4, "boundary": 1e4}},
               train={"steps": 40, "eval_every": 10, "stop_below": {"data": 1.0}})
    run = tmp_path / "run"
    solution = pl.solve(cfg, out=run)
    stopped = solution.metrics["stopped"]
    assert stopped["losses"]["data"] <= 1.0 and solution.metrics["steps"] == stopped["step"] < 40
    rows = history(run)
    assert all(float(r["loss_data"]) > 1.0 for r in rows[1:])  # no earlier step met the level
    # the reported χ²/N is that of the stopped model on the observations
    _, points, values, sigma = draw_observations(solution.problem, ["u"], 40, noise=0.01, seed=0)
    chi2 = float(np.mean(((solution.predict(points)[:, 0] - values[:, 0]) / sigma) ** 2))
    assert chi2 == pytest.approx(stopped["losses"]["data"], rel=1e-6)


def test_a_stalled_fit_stops_the_run(tmp_path, tiny):
    """``stop_stalled``: the first step k >= steps + 1 at which the objective in units of the data's χ² (the total
    loss × 40 points / weight 1) fell by less than ``below`` from step k - steps; the window survives a resume."""
    cfg = tiny(problem=PROBLEM, train={"steps": STEPS, "eval_every": 10})
    pl.solve(cfg, out=tmp_path / "full")
    full = history(tmp_path / "full")
    measure = {s: 40 * float(r["loss"]) for s, r in enumerate(full[1:], start=1)}  # after s steps
    window = 5
    falls = {k: measure[k - window] - measure[k] for k in range(window + 1, STEPS)}
    below = sorted(falls.values())[len(falls) // 2]
    expected = next(k for k in sorted(falls) if falls[k] < below)
    assert window + 1 < expected < STEPS

    rule = {"term": "data", "steps": window, "below": below}
    run = tmp_path / "stalled"
    solution = pl.solve(tiny(problem=PROBLEM, train={"steps": STEPS, "eval_every": 10, "stop_stalled": rule}), out=run)
    stopped = solution.metrics["stopped"]
    assert solution.metrics["steps"] == stopped["step"] == expected and stopped["rule"] == "stop_stalled"
    assert stopped["decrease"] == pytest.approx(falls[expected], rel=1e-6, abs=1e-9)
    assert stopped["measure"] == pytest.approx(measure[expected], rel=1e-9)
    assert stopped["chi2"] == pytest.approx(40 * float(full[expected]["loss_data"]), rel=1e-9)

    # stopped part-way by train.steps and resumed: the window of the earlier steps is kept
    part = tmp_path / "part"
    cut = expected - 2
    pl.solve(tiny(problem=PROBLEM, train={"steps": cut, "checkpoint_every": 1000, "stop_stalled": rule}), out=part)
    resumed = pl.solve(tiny(problem=PROBLEM, train={"steps": STEPS, "stop_stalled": rule}), out=part, resume=True)
    assert resumed.metrics["stopped"]["step"] == expected
    assert resumed.parameters["k"] == pytest.approx(solution.parameters["k"], rel=1e-12)


def test_the_stall_window_restarts_when_the_sampler_draws_new_points(tmp_path, tiny):
    """New collocation points change the loss without any progress: with points redrawn every 3 steps a window of
    5 steps never fills, so even a rule that any fit meets (below 1e9) never stops; on fixed points it stops as
    soon as the window is full."""
    rule = {"term": "data", "steps": 5, "below": 1.0e9}
    fixed = pl.solve(tiny(problem=PROBLEM, train={"steps": 12, "stop_stalled": rule}), out=tmp_path / "fixed")
    assert fixed.metrics["stopped"]["step"] == 6 == fixed.metrics["steps"]
    redrawn = pl.solve(tiny(problem=PROBLEM, sampling={"method": "rad", "resample_every": 3},
                            train={"steps": 12, "stop_stalled": rule}), out=tmp_path / "redrawn")
    assert redrawn.metrics["steps"] == 12 and "stopped" not in redrawn.metrics


def test_stop_below_names_a_loss_term_and_a_positive_level(tmp_path, tiny):
    with pytest.raises(ConfigError, match=r"key 'train.stop_below.dta': 'dta' is not a loss term \(did you mean "
                                          r"'data'\?\)"):
        pl.solve(tiny(problem=PROBLEM, train={"stop_below": {"dta": 1.0}}), out=tmp_path / "a")
    with pytest.raises(ConfigError, match=r"train.stop_below.data"):
        pl.solve(tiny(problem=PROBLEM, train={"stop_below": {"data": 0.0}}), out=tmp_path / "b")
    with pytest.raises(ConfigError, match=r"key 'train.stop_stalled.term': 'dat' is not a loss term"):
        pl.solve(tiny(problem=PROBLEM, train={"stop_stalled": {"term": "dat"}}), out=tmp_path / "c")
    with pytest.raises(ConfigError, match=r"the term 'data' has loss weight 0"):
        pl.solve(tiny(problem=PROBLEM, loss={"weights": {"data": 0}}, train={"stop_stalled": {"term": "data"}}),
                 out=tmp_path / "e")
    with pytest.raises(ConfigError, match=r"train.stop_stalled.steps"):
        pl.solve(tiny(problem=PROBLEM, train={"stop_stalled": {"term": "data", "steps": 0}}), out=tmp_path / "d")
