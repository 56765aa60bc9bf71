"""The shipped PINNacle configurations validate and run two steps end to end on shrunken set-ups."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import pytest
import yaml

import pinnlab as pl
from pinnlab.config import apply_overrides, load_config, read_yaml

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["model.width=6", "model.depth=2", "sampling.interior=48", "sampling.boundary=16", "sampling.initial=16"]

#: case -> (extra overrides, evaluation resolution or points)
CASES: dict[str, list[str]] = {
    "pinnacle_burgers1d_c": ["output.resolution=[5, 9]"],
    "pinnacle_heat2d_ms": ["model.fourier.features=4", "output.resolution=[3, 5, 5]"],
    "pinnacle_heat2d_lt": ["problem.options.t_end=0.5", "problem.options.reference_n=16",
                           "problem.options.reference_dt=0.05", "output.resolution=[3, 5, 5]"],
    "pinnacle_wave1d_c": ["output.resolution=[5, 9]"],
    "pinnacle_wave2d_ms": ["model.fourier.features=4", "problem.options.t_end=1.0",
                           "problem.options.reference_modes=50", "output.resolution=[3, 5, 5]"],
    "pinnacle_ns2d_lt": ["output.resolution=[3, 5, 5]"],
    "pinnacle_gray_scott": ["model.harmonics=1", "problem.options.t_end=1.0", "problem.options.reference_n=16",
                            "problem.options.reference_dt=0.5", "output.resolution=[3, 5, 5]"],
    "pinnacle_ks": ["model.harmonics=1", "problem.options.t_end=0.01", "problem.options.reference_n=32",
                    "problem.options.reference_dt=1e-3", "output.resolution=[3, 9]"],
    "pinnacle_poisson_nd": ["output.eval_points=20"],
    "pinnacle_heat_nd": ["output.eval_points=20"],
    "pinnacle_ns2d_c": ["output.resolution=9"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_pinnacle_config_validates_and_runs_two_steps(tmp_path, name):
    path = ROOT / "configs" / f"{name}.yaml"
    config = load_config(path)
    assert config.name == name and config.problem.equation == name
    overrides = SMALL + CASES[name] + ["train.steps=2", "train.progress=false", "output.vtk=false",
                                       "output.plots=false", "train.eval_every=1", "train.log_every=1"]
    solution = pl.solve(path, out=tmp_path / "run", overrides=overrides)
    metrics = solution.metrics
    assert metrics["steps"] == 2
    with open(tmp_path / "run" / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(math.isfinite(float(r["loss"])) for r in rows)
    if name == "pinnacle_ns2d_lt":  # no reference: losses only
        assert not metrics.get("rel_l2")
    else:
        assert set(metrics["rel_l2"]) == set(solution.problem.pde.fields)
        assert all(math.isfinite(v) for v in metrics["rel_l2"].values())


def test_benchmark_quick_mode_prints_a_row_per_case(capsys, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("pinnacle_benchmark", ROOT / "benchmarks" / "pinnacle.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # dataclasses look their module up
    spec.loader.exec_module(bench)
    missing = next((c for c in bench.CASES if not (ROOT / "configs" / f"{c}.yaml").exists()), None)
    cases = ["pinnacle_wave1d_c", "pinnacle_ns2d_lt"] + ([missing] if missing else [])
    out = tmp_path / "results.json"
    assert bench.main(["--quick", "--json", str(out), *cases]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["case", "rel."] and len(lines) == 1 + len(cases)
    assert lines[1].startswith("pinnacle_wave1d_c") and "9.79e-02" in lines[1]
    if missing:
        assert "config missing" in lines[-1]
    assert not out.exists()  # quick runs are not results
    flows = bench.CASES["pinnacle_ns2d_c"]
    assert bench.figure(flows, {"u": 1e-3, "v": 2e-3, "p": 0.5}) == 2e-3  # velocity only
    assert bench.figure(bench.CASES["pinnacle_pinv"], {"u": 1e-1, "a": 3e-3}) == 3e-3
    assert bench.figure(bench.CASES["pinnacle_wave1d_c"], {"u": 4e-3}) == 4e-3


def test_benchmark_records_a_finished_run_of_the_shipped_config(tmp_path, monkeypatch):
    """``--record CASE=RUN_DIR`` takes the row from the run's metrics; a run with other settings is refused."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("pinnacle_benchmark_record", ROOT / "benchmarks" / "pinnacle.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    # a shrunken copy of the Wave1d-C config stands in for the shipped one
    shipped = tmp_path / "root" / "configs" / "pinnacle_wave1d_c.yaml"
    shipped.parent.mkdir(parents=True)
    small = [*SMALL, "output.resolution=[5, 9]", "train.steps=2", "output.vtk=false", "output.plots=false"]
    shipped.write_text(yaml.safe_dump(apply_overrides(read_yaml(ROOT / "configs" / "pinnacle_wave1d_c.yaml"), small)))
    monkeypatch.setattr(bench, "ROOT", tmp_path / "root")
    run = tmp_path / "run"
    solution = pl.solve(shipped, out=run, overrides=["train.progress=false"])
    out = tmp_path / "results.json"
    assert bench.main(["--json", str(out), "--record", f"pinnacle_wave1d_c={run}"]) == 0
    row = json.loads(out.read_text())["cases"]["pinnacle_wave1d_c"]
    assert row["status"] == "recorded" and row["steps"] == 2
    assert row["figure"] == pytest.approx(solution.metrics["rel_l2"]["u"])
    other = tmp_path / "other"
    pl.solve(shipped, out=other, overrides=["train.progress=false", "model.width=7"])
    with pytest.raises(SystemExit, match=r"not a run of configs/pinnacle_wave1d_c.yaml; it differs in model.width \(7"):
        bench.main(["--json", str(out), "--record", f"pinnacle_wave1d_c={other}"])
