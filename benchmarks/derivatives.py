"""Derivative methods side by side: time and peak memory of one training step.

A step is: the differential operator at the points, the mean-square loss, and the
backward pass to the parameters of an MLP (default 4 x 128, tanh) at 1024 points.
Operators: the Laplacian for d in --laplace-dims, the biharmonic (bilaplacian)
for d in --biharmonic-dims, and STDE alone at --stde-dim (default 100 000) next to
a plain forward + backward pass of the same network on the same points.

Methods:
  nested     loop over dimensions with torch.autograd.grad(create_graph=True) (as DeepXDE does)
  hessian    torch.func: vmap(hessian) per point, trace taken afterwards
  taylor     Taylor mode, standard (per-direction jets, summed at the end)
  collapsed  Taylor mode, collapsed (summed top coefficient propagated; the bilaplacian
             as a forward bilaplacian: gradient, Hessian, ∇Δ, Δ, Δ² pushed together)
  stde_sparse / stde_dense   STDE with --samples directions (dense: Rademacher for the
             Laplacian, Gaussian for the biharmonic)
  plain      forward + backward of the mean-square output (the reference cost of one pass)

Every measurement runs in a fresh subprocess: after the setup the peak resident
memory is reset (/proc/self/clear_refs); memory is the peak RSS (VmHWM) during the
first step minus the RSS before it, then --repeats further steps are timed. All
runs are repeated --rounds times round-robin and the best time is kept, so load
from other processes affects every method alike. Runs that would need more memory
than --memory-limit-gb (a rough a-priori estimate) or take longer than --timeout
seconds are reported as skipped.

  python benchmarks/derivatives.py --out results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

METHODS = ("nested", "hessian", "taylor", "collapsed", "stde_sparse", "stde_dense")
ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# Worker: one measurement in this process
# ---------------------------------------------------------------------------------------------


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _step_function(cfg: dict):
    import torch

    sys.path.insert(0, str(ROOT))
    from pinnlab.autodiff import Derivative, make_backend
    from pinnlab.nn import MLP

    torch.manual_seed(0)
    dtype = getattr(torch, cfg["dtype"])
    d, n, method, op = cfg["d"], cfg["points"], cfg["method"], cfg["operator"]
    net = MLP(d, 1, width=cfg["width"], depth=cfg["depth"], activation="tanh").to(dtype)
    x = torch.rand(n, d, dtype=dtype)
    params = dict(net.named_parameters())
    request = Derivative(0, op, tuple(range(d)))

    def laplacian_nested(u, z):
        (g,) = torch.autograd.grad(u.sum(), z, create_graph=True)
        total = 0
        for i in range(d):
            (gi,) = torch.autograd.grad(g[:, i].sum(), z, create_graph=True)
            total = total + gi[:, i]
        return total

    if method == "plain":
        def loss_fn(step):
            return (net(x) ** 2).mean()
    elif method == "nested":
        def loss_fn(step):
            z = x.detach().requires_grad_(True)
            lap = laplacian_nested(net(z), z)
            if op == "bilaplacian":
                lap = laplacian_nested(lap, z)
            return (lap ** 2).mean()
    elif method == "hessian":
        def single(p, xi):
            return torch.func.functional_call(net, p, (xi[None],))[0, 0]

        def lap_single(p, xi):
            return torch.func.hessian(single, argnums=1)(p, xi).diagonal().sum()

        def op_single(p, xi):
            if op == "laplacian":
                return lap_single(p, xi)
            return torch.func.hessian(lap_single, argnums=1)(p, xi).diagonal().sum()

        batched = torch.func.vmap(op_single, in_dims=(None, 0))

        def loss_fn(step):
            return (batched(params, x) ** 2).mean()
    else:
        if method in ("taylor", "collapsed"):
            backend = make_backend("taylor", collapsed=method == "collapsed")
        else:
            kind = "sparse" if method == "stde_sparse" else ("gaussian" if op == "bilaplacian" else "rademacher")
            backend = make_backend("stde", kind=kind, samples=cfg["samples"])
        plan = backend.plan([request], d)

        def loss_fn(step):
            return (plan(net, x, step)[request] ** 2).mean()

    def step(i):
        net.zero_grad(set_to_none=True)
        loss = loss_fn(i)
        loss.backward()
        return float(loss)

    return step


def worker(cfg: dict) -> dict:
    import torch

    if cfg.get("threads"):
        torch.set_num_threads(cfg["threads"])
    step = _step_function(cfg)
    reset = _reset_peak()
    base = _status("VmRSS")
    t0 = time.perf_counter()
    step(0)
    first = time.perf_counter() - t0
    peak = _status("VmHWM") if reset else None
    times = []
    for i in range(cfg["repeats"]):
        t0 = time.perf_counter()
        step(i + 1)
        times.append(time.perf_counter() - t0)
    return {"time_s": min(times), "times_s": times, "first_step_s": first,
            "peak_mb": (peak - base) / 2**20 if peak is not None else None}


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


def estimate_gb(method: str, op: str, d: int, points: int, width: int, depth: int, bytes_per: int,
                samples: int) -> float:
    """A rough a-priori memory estimate, used only to skip hopeless runs."""
    unit = points * width * depth * bytes_per
    # calibrated on measured runs (units of points x width x depth values, retained for backward)
    if op == "laplacian":
        directions = {"nested": 8 * d, "hessian": 6 * d, "taylor": 6 * d, "collapsed": 4 * d,
                      "stde_sparse": 4 * min(samples, d), "stde_dense": 4 * samples, "plain": 4}[method]
    else:
        directions = {"nested": 60 * d**2, "hessian": 30 * d**2, "taylor": 20 * d**2, "collapsed": 12 * d**2,
                      "stde_dense": 12 * samples}[method]
    inputs = points * d * bytes_per * (2 if method in ("plain", "stde_sparse", "stde_dense") else 4)
    return (directions * unit + inputs) / 2**30


def measure(cfg: dict, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--worker", json.dumps(cfg)]
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"skipped": f"too slow (> {timeout:.0f} s)"}
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-1:] or ["?"]
        if "memory" in tail[0].lower() or proc.returncode in (-9, 137):
            return {"skipped": "too much memory"}
        return {"skipped": f"failed: {tail[0][:120]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> dict:
    methods = [m for m in args.methods.split(",") if m]
    jobs = [("laplacian", d, m) for d in args.laplace_dims for m in methods]
    jobs += [("bilaplacian", d, m) for d in args.biharmonic_dims for m in methods]
    if args.stde_dim:
        jobs += [("laplacian", args.stde_dim, m) for m in ("plain", "stde_sparse", "stde_dense")]
    bytes_per = 8 if args.dtype == "float64" else 4
    results: dict[tuple[str, int, str], dict] = {}
    for round_ in range(args.rounds):  # round-robin, so that load changes hit every method alike
        for op, d, method in jobs:
            cfg = {"operator": op, "d": d, "method": method, "points": args.points, "width": args.width,
                   "depth": args.depth, "repeats": args.repeats, "samples": args.samples, "dtype": args.dtype,
                   "threads": args.threads}
            previous = results.get((op, d, method))
            if previous is not None and "skipped" in previous:
                continue
            if method == "stde_sparse" and op == "bilaplacian":
                res = {"skipped": "n/a (no sparse estimator)"}
            else:
                est = estimate_gb(method, op, d, args.points, args.width, args.depth, bytes_per, args.samples)
                if est > args.memory_limit_gb:
                    res = {"skipped": f"too much memory (est. {est:.0f} GB)"}
                else:
                    res = measure(cfg, args.timeout)
            if previous is not None and "skipped" not in res:
                res["time_s"] = min(res["time_s"], previous["time_s"])
                res["times_s"] = previous["times_s"] + res["times_s"]
                if previous.get("peak_mb") is not None and res.get("peak_mb") is not None:
                    res["peak_mb"] = min(res["peak_mb"], previous["peak_mb"])
            results[(op, d, method)] = {**cfg, **res}
            shown = res.get("skipped") or f"{1e3 * res['time_s']:.1f} ms, {res['peak_mb'] or float('nan'):.0f} MB"
            print(f"  round {round_}: {op:11s} d={d:<6d} {method:12s} {shown}", file=sys.stderr, flush=True)
    results = list(results.values())
    return {"hardware": {"machine": platform.machine(), "processor": platform.processor(),
                         "cpus": os.cpu_count(), "threads": args.threads},
            "date": time.strftime("%Y-%m-%d"),
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "worker"},
            "results": results}


def table(report: dict) -> str:
    rows = report["results"]
    groups: dict[tuple[str, int], dict[str, dict]] = {}
    for r in rows:
        groups.setdefault((r["operator"], r["d"]), {})[r["method"]] = r
    present = {r["method"] for r in rows}
    methods = [m for m in (*METHODS, "plain") if m in present]
    groups = dict(sorted(groups.items(), key=lambda item: (item[0][0] != "laplacian", item[0][1])))
    head = f"{'operator':12s} {'d':>6s} | " + " | ".join(f"{m:>24s}" for m in methods)
    lines = [head, "-" * len(head)]
    for (op, d), by in groups.items():
        ref = by.get("nested", {})
        cells = []
        for m in methods:
            r = by.get(m)
            if r is None:
                cells.append(f"{'':>24s}")
            elif "skipped" in r:
                cells.append(f"{r['skipped'][:24]:>24s}")
            else:
                t, mem = 1e3 * r["time_s"], r["peak_mb"]
                ratio = ""
                if "time_s" in ref and m != "nested":
                    ratio = f" x{ref['time_s'] / r['time_s']:.1f}"
                cells.append(f"{t:9.1f}ms{ratio:>6s} {mem if mem is not None else float('nan'):6.0f}MB")
        lines.append(f"{op:12s} {d:6d} | " + " | ".join(cells))
    lines.append("time: best step (operator + loss + backward); xN: speed-up over nested autograd;"
                 " MB: peak RSS increase during a step")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--laplace-dims", type=lambda s: [int(v) for v in s.split(",") if v],
                        default=[2, 10, 100, 1000, 10000])
    parser.add_argument("--biharmonic-dims", type=lambda s: [int(v) for v in s.split(",") if v], default=[2, 5, 10])
    parser.add_argument("--stde-dim", type=int, default=100000, help="0 to leave out")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--points", type=int, default=1024)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2, help="timed steps per run (after one warm-up step)")
    parser.add_argument("--rounds", type=int, default=2, help="round-robin passes over all runs")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=0, help="torch threads per run (0: torch default)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per measurement")
    parser.add_argument("--memory-limit-gb", type=float, default=6.0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--append", action="store_true", help="merge into an existing --out file")
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    report = run(args)
    if args.append and args.out and args.out.exists():
        old = json.loads(args.out.read_text())
        fresh = {(r["operator"], r["d"], r["method"]) for r in report["results"]}
        report["results"] = [r for r in old["results"] if (r["operator"], r["d"], r["method"]) not in fresh] + \
            report["results"]
        report["settings"] = [*(old["settings"] if isinstance(old["settings"], list) else [old["settings"]]),
                              report["settings"]]
    text = table(report)
    print(text)
    report["table"] = text
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
