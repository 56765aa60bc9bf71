"""Data-parallel scaling on the CPU: step time against the number of points on 1 and 2 processes.

For each solver and each number of points per process N, three runs in fresh processes (one
torch thread each): 1 process with N points, 1 process with 2N points, and 2 processes (torchrun,
gloo) with 2N points, N per rank. Weak-scaling efficiency is t(1 proc, N) / t(2 procs, 2N): 1.0 when
the second process costs nothing; speed-up is t(1 proc, 2N) / t(2 procs, 2N) (strong scaling of the
2N-point problem). A step time is the median of the trainer's per-step times after a warm-up
(``history.csv``, rank 0).

    python benchmarks/scaling.py [--points 500 2000 8000] [--steps 40] [--solvers adam gauss_newton]
        [--out benchmarks/results/scaling_cpu.json]

On a machine with only two cores, the two ranks use both; anything else running there slows them.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]

#: Poisson on the unit square, a 4 x 64 tanh network (12.7k parameters) for Adam; a 3 x 32 network
#: (2.2k parameters, dense 2241 x 2241 Gramian) for Levenberg–Marquardt
SOLVERS: dict[str, dict[str, Any]] = {
    "adam": {"model": {"width": 64, "depth": 4}, "solver": {"name": "adam", "lr": 1e-3}, "train": {"dtype": "float32"}},
    "gauss_newton": {"model": {"width": 32, "depth": 3}, "solver": {"name": "gauss_newton"},
                     "train": {"dtype": "float64"}},
}


def config(solver: str, interior: int, steps: int) -> dict[str, Any]:
    spec = SOLVERS[solver]
    return {
        "problem": {"equation": "poisson2d"},
        "model": spec["model"],
        "derivatives": {"method": "taylor"},
        "sampling": {"interior": interior, "boundary": max(interior // 8, 2)},
        "solver": spec["solver"],
        "train": {**spec["train"], "steps": steps, "progress": False, "log_every": 1, "eval_every": steps,
                  "checkpoint_every": 10 * steps, "timeout_s": 600},
        "output": {"vtk": False, "plots": False, "resolution": [5, 5]},
    }


def step_time(run: Path, warmup: int) -> float:
    with (run / "history.csv").open() as fh:
        clock = [float(r["wall_time_s"]) for r in csv.DictReader(fh)]
    steps = [b - a for a, b in itertools.pairwise(clock)][warmup:]
    return statistics.median(steps)


def run_case(solver: str, interior: int, processes: int, steps: int, warmup: int, work: Path) -> float:
    name = f"{solver}_{interior}_{processes}"
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config(solver, interior, steps)))
    out = work / name
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "pinnlab", "solve", str(path), "--out", str(out), "--quiet"]
    if processes > 1:
        command += ["--nproc", str(processes)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    return step_time(out, warmup)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, nargs="+", default=[500, 2000, 8000], help="interior points per process")
    parser.add_argument("--solvers", nargs="+", default=list(SOLVERS), choices=list(SOLVERS))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scaling_cpu.json")
    args = parser.parse_args(argv)
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for solver in args.solvers:
            steps = args.steps if solver == "adam" else max(args.steps // 4, args.warmup + 3)
            for n in args.points:
                t1 = run_case(solver, n, 1, steps, args.warmup, Path(tmp))
                t1_double = run_case(solver, 2 * n, 1, steps, args.warmup, Path(tmp))
                t2 = run_case(solver, 2 * n, 2, steps, args.warmup, Path(tmp))
                rows.append({"solver": solver, "points_per_process": n, "t_1proc_N_ms": 1e3 * t1,
                             "t_1proc_2N_ms": 1e3 * t1_double, "t_2proc_2N_ms": 1e3 * t2,
                             "weak_efficiency": t1 / t2, "speedup_2N": t1_double / t2})
                r = rows[-1]
                print(f"{solver:13s} N/proc {n:6d}: 1 proc N {r['t_1proc_N_ms']:8.1f} ms | 1 proc 2N "
                      f"{r['t_1proc_2N_ms']:8.1f} ms | 2 procs 2N {r['t_2proc_2N_ms']:8.1f} ms | weak efficiency "
                      f"{r['weak_efficiency']:.2f} | speed-up {r['speedup_2N']:.2f}", flush=True)
    result = {"benchmark": "data-parallel scaling (CPU, gloo)", "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "torch": torch.__version__, "python": platform.python_version(), "steps": args.steps, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
