"""pinnlab against DeepXDE on viscous Burgers (ν = 0.01/π), in one process, scored against Cole–Hopf.

    pip install deepxde            # not a dependency of pinnlab; the torch backend is used
    python benchmarks/peers.py [--configs burgers1d pinnacle_burgers1d_c] [--dde-adam 15000] [--json FILE]

DeepXDE: its documented example (examples/pinn_forward/Burgers.py): x ∈ [-1, 1], t ∈ [0, 0.99], 2540
interior, 80 boundary and 160 initial points, a 3 × 20 tanh network (Glorot normal), Adam 15 000 steps at
1e-3, then L-BFGS (DeepXDE's default stopping), float32. pinnlab: the shipped configurations named by
``--configs``. Both are scored on the same grid, t = linspace(0, 0.99, 100) × x = linspace(-1, 1, 256) (the
example's data grid), against the Cole–Hopf solution. Reported for each: final relative L2 error, training
wall time, and, for pinnlab, the training time at which its error (logged at evaluation steps in
``history.csv``) first reached DeepXDE's final error. Without DeepXDE only the pinnlab rows are run.
Results are written to ``benchmarks/results/peers.json``.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
NU = 0.01 / np.pi


def grid() -> tuple[np.ndarray, np.ndarray]:
    """Points (N, 2) as (t, x) and the Cole–Hopf values on the example's 100 × 256 grid."""
    from pinnlab.references import burgers_cole_hopf

    t, x = np.linspace(0.0, 0.99, 100), np.linspace(-1.0, 1.0, 256)
    tt, xx = np.meshgrid(t, x, indexing="ij")
    points = np.column_stack([tt.ravel(), xx.ravel()])
    return points, burgers_cole_hopf(points[:, 0], points[:, 1], NU)


def rel_l2(pred: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(pred.ravel() - ref) / np.linalg.norm(ref))


def run_deepxde(adam_steps: int, seed: int) -> dict[str, Any]:
    """DeepXDE's Burgers example with the torch backend; its final error on the common grid."""
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde

    dde.config.set_random_seed(seed)

    def pde(x, y):
        dy_x = dde.grad.jacobian(y, x, i=0, j=0)
        dy_t = dde.grad.jacobian(y, x, i=0, j=1)
        dy_xx = dde.grad.hessian(y, x, i=0, j=0)
        return dy_t + y * dy_x - NU * dy_xx

    geomtime = dde.geometry.GeometryXTime(dde.geometry.Interval(-1, 1), dde.geometry.TimeDomain(0, 0.99))
    bc = dde.icbc.DirichletBC(geomtime, lambda x: 0, lambda _, on_boundary: on_boundary)
    ic = dde.icbc.IC(geomtime, lambda x: -np.sin(np.pi * x[:, 0:1]), lambda _, on_initial: on_initial)
    data = dde.data.TimePDE(geomtime, pde, [bc, ic], num_domain=2540, num_boundary=80, num_initial=160)
    model = dde.Model(data, dde.nn.FNN([2] + [20] * 3 + [1], "tanh", "Glorot normal"))
    points, ref = grid()
    xt = points[:, ::-1].copy()  # DeepXDE orders the columns (x, t)
    start = time.perf_counter()
    model.compile("adam", lr=1e-3)
    model.train(iterations=adam_steps, display_every=max(1, adam_steps))
    after_adam = time.perf_counter() - start
    error_adam = rel_l2(model.predict(xt), ref)
    model.compile("L-BFGS")
    model.train(display_every=1000)
    wall = time.perf_counter() - start
    return {"method": f"DeepXDE {dde.__version__} (torch), Adam {adam_steps} + L-BFGS", "rel_l2": rel_l2(model.predict(xt), ref),
            "wall_time_s": round(wall, 1), "rel_l2_after_adam": error_adam, "time_adam_s": round(after_adam, 1)}


def time_to_reach(history: Path, target: float) -> float | None:
    """Training time of the first evaluation row of ``history.csv`` with rel_l2_u <= target (None: never)."""
    with open(history, newline="") as f:
        for row in csv.DictReader(f):
            value = row.get("rel_l2_u")
            if value not in (None, "") and float(value) <= target:
                return float(row["wall_time_s"])
    return None


def run_pinnlab(config: str, out: Path, overrides: list[str]) -> dict[str, Any]:
    import pinnlab as pl

    solution = pl.solve(ROOT / "configs" / f"{config}.yaml", out=out,
                        overrides=["train.progress=false", "output.vtk=false", "output.plots=false", *overrides])
    points, ref = grid()
    return {"method": f"pinnlab configs/{config}.yaml", "rel_l2": rel_l2(solution.predict(points)[:, 0], ref),
            "rel_l2_own_grid": solution.metrics["rel_l2"]["u"], "wall_time_s": solution.metrics["wall_time_s"],
            "history": out / "history.csv"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="*", default=["burgers1d", "pinnacle_burgers1d_c"])
    parser.add_argument("--dde-adam", type=int, default=15000, help="DeepXDE's Adam steps (the example: 15000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for pinnlab runs")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "peers.json")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    have_dde = importlib.util.find_spec("deepxde") is not None
    target = None
    if have_dde:
        rows.append(run_deepxde(args.dde_adam, args.seed))
        target = rows[0]["rel_l2"]
    else:
        print("DeepXDE is not installed (pip install deepxde): pinnlab rows only")
    with tempfile.TemporaryDirectory() as tmp:
        for config in args.configs:
            row = run_pinnlab(config, Path(tmp) / config, args.set)
            history = row.pop("history")
            row["time_to_deepxde_error_s"] = time_to_reach(history, target) if target is not None else None
            rows.append(row)
    print(f"{'method':<58} {'rel. L2':>9} {'train s':>8} {'to DeepXDE error':>16}")
    for row in rows:
        reach = row.get("time_to_deepxde_error_s")
        print(f"{row['method']:<58} {row['rel_l2']:>9.2e} {row['wall_time_s']:>8.1f} "
              f"{'–' if reach is None else f'{reach:.1f} s':>16}")
    import torch

    report = {"rows": rows, "grid": "t = linspace(0, 0.99, 100) x x = linspace(-1, 1, 256), Cole-Hopf",
              "note": "time_to_deepxde_error_s is read from pinnlab's evaluation rows (every train.eval_every steps)",
              "machine": {"platform": platform.platform(), "torch": torch.__version__,
                          "threads": torch.get_num_threads()}}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
