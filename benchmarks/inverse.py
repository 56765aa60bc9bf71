"""Inverse-problem benchmarks: recovered parameters and coefficient fields of the shipped configurations.

    python benchmarks/inverse.py [CASE ...] [--set KEY=VALUE ...] [--draws K] [--json FILE] [--keep DIR]

CASE is any of burgers1d_inverse, burgers1d_inverse_noisy, kovasznay_inverse, pinnacle_pinv
(default: all, one after the other). Each solves ``configs/CASE.yaml`` (plus the ``--set``
overrides) and reports its figure against the target: the largest relative error of the learned
parameters (Burgers, Kovasznay), or the relative L2 error of the coefficient field a (PInv), with
the other errors, the training wall time (the trainer's clock) and the CPU time of the whole solve.
Prints a table and merges the results into the JSON file (default ``benchmarks/results/inverse.json``).

``--draws K`` repeats each case with K draws of its observations: draw k adds k to the seed of every
``from_reference`` data condition (draw 0 is the configuration as shipped), so points and noise change
together. The case's figure is then the median over the draws; every draw is listed (``draws``) with the
mean and the largest figure, since one noise draw says little about an estimator's error.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

import pinnlab as pl
from pinnlab.config import read_yaml

ROOT = Path(__file__).resolve().parent.parent
#: case -> (figure: "parameters" or a field's rel. L2, target)
CASES: dict[str, tuple[str, float]] = {
    "burgers1d_inverse": ("parameters", 1e-4),
    "burgers1d_inverse_noisy": ("parameters", 5e-3),
    "kovasznay_inverse": ("parameters", 5e-3),
    "pinnacle_pinv": ("a", 1e-2),
}


def run_case(case: str, overrides: list[str], out: Path) -> dict[str, Any]:
    """Solve one case and measure it against its target."""
    kind, target = CASES[case]
    config = f"configs/{case}.yaml"
    cpu = time.process_time()
    solution = pl.solve(ROOT / config, out=out, overrides=["train.progress=false", *overrides])
    m = solution.metrics
    row: dict[str, Any] = {"config": config, "overrides": overrides, "steps": m["steps"],
                           "wall_time_s": m["wall_time_s"], "cpu_time_s": round(time.process_time() - cpu, 1),
                           "loss": m["loss"], "network_parameters": m["network_parameters"],
                           "rel_l2": m.get("rel_l2", {}), "parameters": m.get("parameters", {}),
                           "validation": m.get("validation", {}), "target": target}
    if "stopped" in m:
        row["stopped"] = m["stopped"]
    if kind == "parameters":
        row["figure"] = max(entry["rel_error"] for entry in row["parameters"].values())
    else:
        row["figure"] = row["rel_l2"][kind]
    row["meets_target"] = bool(row["figure"] <= target)
    return row


def draw_overrides(case: str, draw: int) -> list[str]:
    """Overrides giving every ``from_reference`` data condition of ``configs/CASE.yaml`` the seed of draw ``draw``."""
    conditions = read_yaml(ROOT / "configs" / f"{case}.yaml")["problem"].get("conditions") or {}
    return [f"problem.conditions.{name}.from_reference.seed={int(c['from_reference'].get('seed', 0)) + draw}"
            for name, c in conditions.items() if isinstance(c, dict) and isinstance(c.get("from_reference"), dict)]


def run_draws(case: str, overrides: list[str], draws: int, base: Path) -> dict[str, Any]:
    """``run_case`` for draws 0 .. draws-1 of the observations; the row of draw 0 with the median figure."""
    rows = []
    for k in range(draws):
        row = run_case(case, [*overrides, *draw_overrides(case, k)], base / f"{case}-draw{k}")
        print(f"  draw {k}: " + describe(case, row), flush=True)
        rows.append(row)
    return summarize(case, rows, overrides)


def summarize(case: str, rows: list[dict[str, Any]], overrides: list[str]) -> dict[str, Any]:
    """The row of draw 0 with the median figure over the draws ``rows`` (draw k in ``rows[k]``) and every draw."""
    figures = [r["figure"] for r in rows]
    summary = dict(rows[0], overrides=overrides, figure=statistics.median(figures))
    summary.update(meets_target=bool(summary["figure"] <= summary["target"]), figure_kind="median over draws",
                   figure_mean=statistics.fmean(figures), figure_max=max(figures),
                   wall_time_s=round(sum(r["wall_time_s"] for r in rows), 3),
                   cpu_time_s=round(sum(r["cpu_time_s"] for r in rows), 1),
                   draws=[{"draw": k, "seeds": draw_overrides(case, k), "figure": r["figure"],
                           "parameters": {n: e["rel_error"] for n, e in r["parameters"].items()},
                           "rel_l2": r["rel_l2"], "steps": r["steps"], "wall_time_s": r["wall_time_s"],
                           "stopped": r.get("stopped")} for k, r in enumerate(rows)])
    return summary


def describe(case: str, row: dict[str, Any]) -> str:
    learned = ", ".join(f"{k} {e['value']:.7g} ({e['rel_error']:.1e})" for k, e in row["parameters"].items())
    errors = ", ".join(f"{k} {v:.2e}" for k, v in row["rel_l2"].items())
    verdict = "yes" if row["meets_target"] else "NO"
    return (f"{case:<24} {row['figure']:>10.3e} {row['target']:>7.0e} {verdict:>4} {row['wall_time_s']:>8.1f} "
            f"{row['cpu_time_s']:>8.1f} {row['steps']:>6}  {learned}{'; ' if learned else ''}rel. L2 {errors}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", metavar="CASE", help=f"cases to run: {', '.join(CASES)} (default: all)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override applied to every case (repeatable)")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "inverse.json")
    parser.add_argument("--keep", type=Path, default=None, help="keep the run directories under DIR")
    parser.add_argument("--draws", type=int, default=1, metavar="K",
                        help="draws of the observations per case; the figure is their median (default 1)")
    args = parser.parse_args(argv)
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}; cases: {', '.join(CASES)}")
    if args.draws < 1:
        parser.error("--draws must be at least 1")
    results: dict[str, Any] = json.loads(args.json.read_text()) if args.json.exists() else {}
    print(f"{'case':<24} {'figure':>10} {'target':>7} {'met':>4} {'train s':>8} {'cpu s':>8} {'steps':>6}  details")
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        for case in args.cases or list(CASES):
            if args.draws > 1:
                row = run_draws(case, args.set, args.draws, base)
            else:
                row = run_case(case, args.set, base / case)
            row.update(date=datetime.now(UTC).strftime("%Y-%m-%d"), torch=torch.__version__,
                       threads=os.environ.get("OMP_NUM_THREADS", str(torch.get_num_threads())),
                       machine=platform.machine())
            results[case] = row
            print(describe(case, row), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
