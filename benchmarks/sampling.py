"""Adaptive sampling benchmarks: per-step overhead and accuracy of uniform, R3, causal R3 and RAD.

    python benchmarks/sampling.py overhead [--config configs/convection_adam_r3.yaml] [--steps 300]
    python benchmarks/sampling.py accuracy configs/convection_adam_uniform.yaml configs/convection_adam_r3.yaml ...
        [--set train.steps=20000] [--json results.json]

``overhead`` times training steps (the trainer's own clock: solver step plus sampler feedback,
no evaluation) for each sampling method on one problem, and the R3 update alone. ``accuracy``
solves each configuration and reports the relative L2 errors and wall times. Both print a
table and merge their results into the JSON file (default ``benchmarks/sampling.json``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

import pinnlab as pl
from pinnlab.compile import Batch, PointSet
from pinnlab.geometry import geometry_from_dict
from pinnlab.sampling import PointDrawer, R3Sampler

METHODS = {
    "uniform (fixed)": ["sampling.method=uniform", "sampling.resample_every=0"],
    "uniform (every step)": ["sampling.method=uniform", "sampling.resample_every=1"],
    "r3": ["sampling.method=r3"],
    "causal_r3": ["sampling.method=causal_r3"],
    "rad (every 100, pool 10N)": ["sampling.method=rad", "sampling.resample_every=100"],
}


def _solve(config: str, overrides: list[str], out: Path) -> pl.Solution:
    return pl.solve(config, out=out, overrides=["output.vtk=false", "output.plots=false", "train.progress=false",
                                                "train.device=cpu", *overrides])


def overhead(config: str, steps: int, repeats: int) -> dict[str, Any]:
    """Mean seconds per training step for each method (best of ``repeats`` runs)."""
    rows: dict[str, Any] = {}
    common = [f"train.steps={steps}", f"train.eval_every={steps}", f"train.checkpoint_every={steps}"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in METHODS.items():
            times = []
            for k in range(repeats):
                sol = _solve(config, [*common, *extra], Path(tmp) / f"{len(rows)}-{k}")
                times.append(sol.metrics["wall_time_s"] / steps)
            rows[name] = {"step_ms": 1e3 * min(times), "step_ms_median": 1e3 * statistics.median(times)}
    base = rows["uniform (every step)"]["step_ms"]
    for row in rows.values():
        row["overhead_vs_uniform"] = row["step_ms"] / base - 1.0
    rows["r3 update alone"] = _r3_update_cost()
    return rows


def _r3_update_cost(n: int = 1000, repeats: int = 200) -> dict[str, float]:
    """Seconds for one R3 evolution (fitness, retain mask, fresh draws) with given residuals."""
    geometry = geometry_from_dict({"t": [0.0, 1.0], "x": [0.0, 6.283185307179586]}, ["t", "x"], "t")
    sampler = R3Sampler({"interior": PointSet("interior", "interior", n)}, PointDrawer(geometry, torch.Generator()))
    batches = sampler.sample(0)
    r = torch.rand(n, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    for step in range(repeats):
        sampler.observe(batches, {"pde": r}, step)
        sampler.batches = {"interior": Batch(batches["interior"].x)}
        batches = sampler.batches
    return {"step_ms": 1e3 * (time.perf_counter() - start) / repeats, "points": n}


def accuracy(configs: list[str], overrides: list[str], keep: Path | None) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = keep or Path(tmp)
        for config in configs:
            name = Path(config).stem
            start = time.perf_counter()
            sol = _solve(config, overrides, base / name)
            rows[name] = {"config": config, "overrides": overrides, "rel_l2": sol.metrics.get("rel_l2", {}),
                          "steps": sol.metrics["steps"], "train_s": sol.metrics["wall_time_s"],
                          "wall_s": time.perf_counter() - start}
    return rows


def _print(kind: str, rows: dict[str, Any]) -> None:
    if kind == "overhead":
        print(f"{'method':28s} {'ms/step':>9s} {'median':>9s} {'overhead':>9s}")
        for name, r in rows.items():
            extra = f"{100 * r['overhead_vs_uniform']:+8.1f}%" if "overhead_vs_uniform" in r else ""
            print(f"{name:28s} {r['step_ms']:9.3f} {r.get('step_ms_median', float('nan')):9.3f} {extra:>9s}")
    else:
        print(f"{'config':28s} {'steps':>7s} {'rel. L2':>28s} {'train s':>9s} {'wall s':>9s}")
        for name, r in rows.items():
            err = ", ".join(f"{k}={v:.3e}" for k, v in r["rel_l2"].items())
            print(f"{name:28s} {r['steps']:7d} {err:>28s} {r['train_s']:9.1f} {r['wall_s']:9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["overhead", "accuracy"])
    parser.add_argument("configs", nargs="*", help="configurations (accuracy)")
    parser.add_argument("--config", default="configs/convection_adam_r3.yaml", help="problem for the overhead timing")
    parser.add_argument("--steps", type=int, default=300, help="steps per overhead run")
    parser.add_argument("--repeats", type=int, default=2, help="overhead runs per method (best is kept)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="KEY=VALUE override")
    parser.add_argument("--keep", type=Path, default=None, help="keep the accuracy run directories here")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/sampling.json"))
    args = parser.parse_args()
    if args.kind == "overhead":
        rows = overhead(args.config, args.steps, args.repeats)
    else:
        if not args.configs:
            parser.error("accuracy needs at least one configuration")
        rows = accuracy(args.configs, args.overrides, args.keep)
    _print(args.kind, rows)
    results = json.loads(args.json.read_text()) if args.json.exists() else {}
    results.setdefault(args.kind, {}).update(rows)
    results.setdefault("runs", []).append({
        "kind": args.kind, "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__, "command": " ".join(["python", *sys.argv]),
    })
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
