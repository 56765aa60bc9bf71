"""Navier–Stokes benchmarks: accuracy and wall time of the shipped configurations.

    python benchmarks/navier_stokes.py [CASE ...] [--set KEY=VALUE ...] [--json FILE] [--keep DIR]

CASE is any of kovasznay, taylor_green2d, cavity_re100, cavity_re1000, beltrami3d (default:
all). Each case solves ``configs/CASE.yaml`` (plus the ``--set`` overrides) and reports the
relative L2 errors against the exact solution, or for the cavity the largest deviation from
the Ghia, Ghia & Shin (1982) centreline tables, next to the target of the case, with the
training wall time (the trainer's clock) and the CPU time of the whole solve (which stays
meaningful on a shared machine). Prints a table and merges the results into the JSON file
(default ``benchmarks/results/navier_stokes.json``). ``OMP_NUM_THREADS`` is recorded with them.
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
from pinnlab.references.ghia import centreline_errors

ROOT = Path(__file__).resolve().parent.parent
#: case -> (config, metric kind, fields checked against the target, target)
CASES: dict[str, tuple[str, str, tuple[str, ...], float | None]] = {
    "kovasznay": ("configs/kovasznay.yaml", "rel_l2", ("u",), 1e-4),
    "taylor_green2d": ("configs/taylor_green2d.yaml", "rel_l2", ("u", "v"), 1e-3),
    "cavity_re100": ("configs/cavity_re100.yaml", "ghia", ("u", "v"), 0.02),
    "cavity_re1000": ("configs/cavity_re1000.yaml", "ghia", ("u", "v"), None),
    "beltrami3d": ("configs/beltrami3d.yaml", "rel_l2", ("u", "v", "w"), 1e-3),
}


def run_case(case: str, overrides: list[str], out: Path) -> dict[str, Any]:
    """Solve one case and measure it against its reference."""
    config, kind, fields, target = CASES[case]
    cpu = time.process_time()
    solution = pl.solve(ROOT / config, out=out, overrides=["train.progress=false", *overrides])
    m = solution.metrics
    row: dict[str, Any] = {"config": config, "overrides": overrides, "steps": m["steps"],
                           "wall_time_s": m["wall_time_s"], "cpu_time_s": round(time.process_time() - cpu, 1),
                           "loss": m["loss"], "parameters": m["network_parameters"],
                           "derivatives": m["derivatives"], "dtype": m["dtype"], "target": target}
    if kind == "ghia":
        re = solution.problem.pde.parameters["nu"] ** -1
        errors = centreline_errors(solution.predict, re)
        row["ghia_max_error"] = errors
        row["figure"] = max(errors.values())
    else:
        row["rel_l2"] = m.get("rel_l2", {})
        row["figure"] = max(row["rel_l2"][f] for f in fields)
    row["meets_target"] = None if target is None else bool(row["figure"] <= target)
    return row


def describe(case: str, row: dict[str, Any]) -> str:
    if "ghia_max_error" in row:
        e = row["ghia_max_error"]
        detail = f"max|u-u_G| {e['u_max_error']:.3e}, max|v-v_G| {e['v_max_error']:.3e}"
    else:
        detail = ", ".join(f"{k} {v:.2e}" for k, v in row["rel_l2"].items())
    target = "-" if row["target"] is None else f"{row['target']:.0e}"
    verdict = {True: "yes", False: "NO", None: "-"}[row["meets_target"]]
    return (f"{case:<15} {row['figure']:>10.3e} {target:>7} {verdict:>4} {row['wall_time_s']:>8.1f} "
            f"{row['cpu_time_s']:>8.1f} {row['steps']:>6}  {detail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", metavar="CASE", help=f"cases to run: {', '.join(CASES)} (default: all)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override applied to every case (repeatable)")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "navier_stokes.json"))
    parser.add_argument("--keep", help="keep the run directories under this folder")
    args = parser.parse_args(argv)
    cases = args.cases or list(CASES)
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}; cases: {', '.join(CASES)}")
    overrides = ["output.vtk=false", "output.plots=false", *args.set] if not args.keep else list(args.set)
    results: dict[str, Any] = {}
    print(f"{'case':<15} {'figure':>10} {'target':>7} {'met':>4} {'wall s':>8} {'cpu s':>8} {'steps':>6}  details")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        for case in cases:
            results[case] = run_case(case, overrides, base / case)
            print(describe(case, results[case]), flush=True)
    meta = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "torch": torch.__version__,
            "machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
    path = Path(args.json)
    stored = json.loads(path.read_text()) if path.exists() else {}
    stored.update({case: {**row, **meta} for case, row in results.items()})
    path.write_text(json.dumps(stored, indent=2) + "\n")
    print(f"results merged into {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
