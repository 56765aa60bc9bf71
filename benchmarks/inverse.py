"""Inverse-problem benchmarks: recovered parameters and coefficient fields of the shipped configurations.

    python benchmarks/inverse.py [CASE ...] [--set KEY=VALUE ...] [--json FILE] [--keep DIR]

CASE is any of burgers1d_inverse, burgers1d_inverse_noisy, kovasznay_inverse, pinnacle_pinv
(default: all, one after the other). Each solves ``configs/CASE.yaml`` (plus the ``--set``
overrides) and reports its figure against the target: the largest relative error of the learned
parameters (Burgers, Kovasznay), or the relative L2 error of the coefficient field a (PInv), with
the other errors, the training wall time (the trainer's clock) and the CPU time of the whole solve.
Prints a table and merges the results into the JSON file (default ``benchmarks/results/inverse.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

import pinnlab as pl

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
    if kind == "parameters":
        row["figure"] = max(entry["rel_error"] for entry in row["parameters"].values())
    else:
        row["figure"] = row["rel_l2"][kind]
    row["meets_target"] = bool(row["figure"] <= target)
    return row


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
    args = parser.parse_args(argv)
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}; cases: {', '.join(CASES)}")
    results: dict[str, Any] = json.loads(args.json.read_text()) if args.json.exists() else {}
    print(f"{'case':<24} {'figure':>10} {'target':>7} {'met':>4} {'train s':>8} {'cpu s':>8} {'steps':>6}  details")
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        for case in args.cases or list(CASES):
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
