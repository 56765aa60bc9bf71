"""The accelerator path measured: steps per second and time to a target error of shipped problems, and the
derivative engine's training-step times, on one device; the throughput on two GPUs when two are there.

    python benchmarks/gpu.py [--device cuda] [--quick] [--only NAME ...] [--out benchmarks/results/gpu.json]

Solves (``pinnlab solve`` of a shipped configuration through the API, errors measured every
``eval_every`` steps): ``burgers1d_gn``, ``kovasznay``, ``poisson_ball_d1000``,
``poisson_ball_d100000`` and a 10⁶-dimensional STDE Poisson problem (the d = 10⁵ configuration
with ``dim: 1000000``). Steps per second come from the trainer's clock (``history.csv``; its rows
wait for the device), the time to target is the training time at the first evaluation at or below
the target error.

Derivatives: one training step (operator at the points, mean square, backward to the weights) of a
4 × 128 tanh MLP: the Laplacian by nested autograd and by collapsed Taylor mode at d = 100 and 1000,
and sparse STDE (16 directions) next to a plain forward + backward pass at d = 10⁵ and 10⁶; best of
``--repeats`` steps after a warm-up, with the device synchronised around each.

Two GPUs (``torch.cuda.device_count() >= 2``): ``poisson_ball_d1000`` with N points on one GPU
and 2N on two (``--nproc 2``); the throughput ratio is 2·t(1 GPU) / t(2 GPUs).

``--quick`` shrinks everything (a few steps, small dimensions and grids) so that the script runs in
seconds on a CPU: a smoke test of the script, not a measurement. Targets (on an H100/H200-class
GPU): 10⁶-d Poisson to rel. L2 ≤ 1e-2 in under 8 minutes, collapsed Laplacian at d = 100 at least
3× faster than nested autograd, at least 1.8× throughput on two GPUs.
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
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]

#: name: shipped config, overrides, target relative L2 error (field u), overrides under --quick
SOLVES: dict[str, dict[str, Any]] = {
    "burgers1d_gn": {"config": "burgers1d_gn.yaml", "set": [], "target": 1e-3,
                     "quick": ["train.steps=3", "sampling.interior=200", "sampling.boundary=20", "sampling.initial=20",
                               "output.resolution=[11,16]"]},
    "kovasznay": {"config": "kovasznay.yaml", "set": [], "target": 1e-4,
                  "quick": ["train.steps=3", "sampling.interior=100", "sampling.boundary=40",
                            "output.resolution=[11,11]"]},
    "poisson_ball_d1000": {"config": "poisson_ball_d1000.yaml", "set": ["train.eval_every=500"], "target": 1e-2,
                           "quick": ["train.steps=4", "problem.options.dim=100", "output.eval_points=50"]},
    "poisson_ball_d100000": {"config": "poisson_ball_d100000.yaml", "set": [], "target": 1e-1,
                             "quick": ["train.steps=4", "problem.options.dim=500", "output.eval_points=50"]},
    "poisson_ball_d1000000": {"config": "poisson_ball_d100000.yaml", "target": 1e-2,
                              "set": ["name=poisson_ball_d1000000", "problem.options.dim=1000000",
                                      ("solver.stages=[{name: adam, steps: 3000, lr: 1.0e-3, schedule: cosine, "
                                       "final_lr: 1.0e-4}]")],
                              "quick": ["train.steps=4", "problem.options.dim=1000", "output.eval_points=50"]},
}
#: (operator, dimension, method, points); dimensions and points shrink under --quick
DERIVATIVES = [("laplacian", 100, "nested", 1024), ("laplacian", 100, "collapsed", 1024),
               ("laplacian", 1000, "nested", 1024), ("laplacian", 1000, "collapsed", 1024),
               ("stde", 100_000, "stde_sparse", 1024), ("stde", 100_000, "plain", 1024),
               ("stde", 1_000_000, "stde_sparse", 128), ("stde", 1_000_000, "plain", 128)]
QUICK_DIMS = {100: 8, 1000: 16, 100_000: 500, 1_000_000: 1000}


def environment(device: torch.device) -> dict[str, Any]:
    info = {"device": str(device), "torch": torch.__version__, "cuda": torch.version.cuda,
            "python": platform.python_version(), "host": platform.node(), "cpus": os.cpu_count(),
            "date": datetime.now(UTC).isoformat(timespec="seconds")}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["gpus"] = torch.cuda.device_count()
    else:
        info["gpu"] = None
        info["processor"] = platform.processor() or platform.machine()
    return info


def _history(run: Path) -> list[dict[str, float]]:
    with (run / "history.csv").open() as fh:
        return [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(fh)]


def solve_case(name: str, spec: dict[str, Any], device: torch.device, quick: bool, work: Path) -> dict[str, Any]:
    import pinnlab as pl

    overrides = [*spec["set"], f"train.device={device.type}", "train.progress=false", "output.vtk=false",
                 "output.plots=false", "train.checkpoint_every=100000"]
    if quick:
        overrides += [*spec["quick"], "train.log_every=1", "train.eval_every=2"]
    start = time.perf_counter()
    solution = pl.solve(ROOT / "configs" / spec["config"], out=work / name, overrides=overrides)
    total = time.perf_counter() - start
    rows = _history(work / name)
    clock = [(r["step"], r["wall_time_s"]) for r in rows]
    per_step = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(clock) if b[0] > a[0]]
    skip = min(len(per_step) // 10 + 1, max(len(per_step) - 1, 0))  # the first rows include warm-up
    step_s = statistics.median(per_step[skip:]) if per_step else float("nan")
    reached = next((r for r in rows if r.get("rel_l2_u", float("inf")) <= spec["target"]), None)
    final = solution.metrics.get("rel_l2", {}).get("u")
    return {"case": name, "kind": "solve", "steps": solution.metrics["steps"], "steps_per_s": 1.0 / step_s,
            "target": spec["target"], "final_rel_l2": final,
            "time_to_target_s": None if reached is None else reached["wall_time_s"],
            "step_of_target": None if reached is None else int(reached["step"]),
            "training_s": solution.metrics["wall_time_s"], "command_s": total}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def nested_laplacian(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Δu by nested reverse mode: the gradient, then one more backward pass per dimension (as DeepXDE does)."""
    z = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(net(z).sum(), z, create_graph=True)
    return sum(torch.autograd.grad(g[:, i].sum(), z, create_graph=True)[0][:, i] for i in range(x.shape[1]))


def derivative_step(operator: str, d: int, method: str, points: int, device: torch.device):
    """One training step of a 4 x 128 tanh MLP with the given derivative method, as a function of the step."""
    from pinnlab.autodiff import Derivative, make_backend
    from pinnlab.nn import MLP

    gen = torch.Generator().manual_seed(0)
    net = MLP(d, 1, width=128, depth=4, activation="tanh").to(device)
    x = torch.rand(points, d, generator=gen).to(device)
    request = Derivative(0, "laplacian", tuple(range(d)))

    if method == "plain":
        def loss(step: int) -> torch.Tensor:
            return net(x).pow(2).mean()
    elif method == "nested":
        def loss(step: int) -> torch.Tensor:
            return nested_laplacian(net, x).pow(2).mean()
    else:
        backend = (make_backend("taylor", collapsed=True) if method == "collapsed" else
                   make_backend("stde", kind="sparse", samples=16))
        plan = backend.plan([request], d)

        def loss(step: int) -> torch.Tensor:
            return plan(net, x, step)[request].pow(2).mean()

    def step(k: int) -> None:
        net.zero_grad(set_to_none=True)
        loss(k).backward()

    return step


def derivative_case(operator: str, d: int, method: str, points: int, device: torch.device, repeats: int
                    ) -> dict[str, Any]:
    step = derivative_step(operator, d, method, points, device)
    step(0)
    _sync(device)
    times = []
    for k in range(repeats):
        start = time.perf_counter()
        step(k + 1)
        _sync(device)
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"case": f"{operator}_d{d}_{method}", "kind": "derivative", "operator": operator, "dim": d,
            "method": method, "points": points, "step_ms": 1e3 * min(times), "peak_mb": peak}


def two_gpus(work: Path, quick: bool) -> dict[str, Any]:
    """poisson_ball_d1000: N points on one GPU against 2N on two (``--nproc 2``)."""
    n = 4096 if not quick else 256
    steps = 300 if not quick else 20
    times = {}
    for nproc, points in ((1, n), (2, 2 * n)):
        out = work / f"two_gpus_{nproc}"
        command = [sys.executable, "-m", "pinnlab", "solve", str(ROOT / "configs" / "poisson_ball_d1000.yaml"),
                   "--out", str(out), "--quiet", "--device", "cuda", "--set", f"sampling.interior={points}",
                   "--set", f"train.steps={steps}", "--set", "train.log_every=10", "--set", f"train.eval_every={steps}",
                   "--set", "output.plots=false"] + (["--nproc", "2"] if nproc == 2 else [])
        subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
        rows = _history(out)
        times[nproc] = (rows[-1]["wall_time_s"] - rows[1]["wall_time_s"]) / (rows[-1]["step"] - rows[1]["step"])
    return {"case": "poisson_ball_d1000_two_gpus", "kind": "multi_gpu", "points_per_gpu": n,
            "step_s_1gpu": times[1], "step_s_2gpus": times[2], "throughput_ratio": 2 * times[1] / times[2]}


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    by = {r["case"]: r for r in results}
    out: dict[str, Any] = {}
    for d in (100, 1000):
        nested, collapsed = by.get(f"laplacian_d{d}_nested"), by.get(f"laplacian_d{d}_collapsed")
        if nested and collapsed:
            out[f"collapsed_speedup_d{d}"] = nested["step_ms"] / collapsed["step_ms"]
    for d in (100_000, 1_000_000):
        stde, plain = by.get(f"stde_d{d}_stde_sparse"), by.get(f"stde_d{d}_plain")
        if stde and plain:
            out[f"stde_over_plain_d{d}"] = stde["step_ms"] / plain["step_ms"]
    million = by.get("poisson_ball_d1000000")
    if million:
        out["d1e6_time_to_1e-2_s"] = million["time_to_target_s"]
    if "poisson_ball_d1000_two_gpus" in by:
        out["two_gpu_throughput_ratio"] = by["poisson_ball_d1000_two_gpus"]["throughput_ratio"]
    return out


def print_table(results: list[dict[str, Any]], env: dict[str, Any], totals: dict[str, Any]) -> None:
    print(f"device {env['device']} ({env.get('gpu') or env.get('processor')}), torch {env['torch']}, "
          f"CUDA {env['cuda']}")
    print(f"{'case':28s} {'steps/s':>9s} {'time to target':>16s} {'final rel. L2':>14s}")
    for r in results:
        if r["kind"] == "solve":
            reach = "not reached" if r["time_to_target_s"] is None else f"{r['time_to_target_s']:.1f} s"
            final = "-" if r["final_rel_l2"] is None else f"{r['final_rel_l2']:.2e}"
            print(f"{r['case']:28s} {r['steps_per_s']:9.2f} {reach + ' (' + format(r['target'], 'g') + ')':>16s} "
                  f"{final:>14s}")
    print(f"{'derivative step':28s} {'ms':>9s} {'peak MB':>16s}")
    for r in results:
        if r["kind"] == "derivative":
            peak = "-" if r["peak_mb"] is None else f"{r['peak_mb']:.0f}"
            print(f"{r['case']:28s} {r['step_ms']:9.1f} {peak:>16s}")
    for key, value in totals.items():
        print(f"{key}: {value if value is None else format(value, '.3g')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of the script")
    parser.add_argument("--only", nargs="+", help="cases to run: names, or a name before \"_METHOD\"")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gpu.json")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here (use --device cpu)")
    if device.type == "cpu":
        torch.set_num_threads(1)

    def wanted(name: str) -> bool:
        return not args.only or any(name == p or name.startswith(p + "_") for p in args.only)

    env = environment(device)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in SOLVES.items():
            if wanted(name):
                results.append(solve_case(name, spec, device, args.quick, Path(tmp)))
                print(f"{name}: {results[-1]['steps_per_s']:.2f} steps/s", flush=True)
        for operator, d, method, points in DERIVATIVES:
            dim, n = (QUICK_DIMS[d], 32) if args.quick else (d, points)
            if wanted(f"{operator}_d{d}_{method}"):
                results.append({**derivative_case(operator, dim, method, n, device, 2 if args.quick else args.repeats),
                                "case": f"{operator}_d{d}_{method}"})
                print(f"{results[-1]['case']}: {results[-1]['step_ms']:.1f} ms", flush=True)
        if device.type == "cuda" and torch.cuda.device_count() >= 2 and wanted("poisson_ball_d1000_two_gpus"):
            results.append(two_gpus(Path(tmp), args.quick))
    totals = summary(results)
    report = {"benchmark": "gpu path", "quick": args.quick, "environment": env, "summary": totals, "results": results}
    if device.type != "cuda" or torch.cuda.device_count() < 2:
        report["two_gpus"] = "not measured: fewer than two CUDA devices"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print_table(results, env, totals)
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
