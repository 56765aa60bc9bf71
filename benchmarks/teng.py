"""TENG benchmarks on the 2-D periodic problems, with a space-time PINN beside them.

    python benchmarks/teng.py                        # every case (tens of minutes on a laptop CPU)
    python benchmarks/teng.py --cases heat_heun heat_euler
    python benchmarks/teng.py --cases heat_pinn --set-pinn solver.stages.0.steps=500

Cases (configurations in ``configs/``; ``--set KEY=VALUE`` overrides every TENG case):

- ``heat_heun`` / ``heat_euler`` / ``heat_euler_half``: the heat equation with TENG-Heun and
  TENG-Euler at the same dt, and TENG-Euler at dt/2 (the order gap and Euler's first order);
- ``allen_cahn_heun``, ``burgers_heun``: the nonlinear problems with TENG-Heun;
- ``heat_pinn``: the heat problem as a space-time PINN (Adam, then L-BFGS) through
  ``pinnlab solve`` with an inline PDE configuration, scored against the same spectral
  reference on the same grid at the same output times.

Each case reports the relative L2 error at the final time and its maximum over the recorded
times, the initial-fit error and the wall time; the table is printed as markdown and the
results are merged into a JSON file (default ``benchmarks/teng.json``). On a shared machine
run with ``OMP_NUM_THREADS=1``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

import pinnlab as pl
from pinnlab.cli import main as cli_main
from pinnlab.equations import get_equation

ROOT = Path(__file__).resolve().parent.parent
U0 = "cosh(3*sin(x))*sinh(sin(y))/25"

TENG_CASES: dict[str, tuple[str, list[str]]] = {
    "heat_heun": ("configs/teng_heat2d.yaml", []),
    "heat_euler": ("configs/teng_heat2d.yaml", ["teng.integrator=euler"]),
    "heat_euler_half": ("configs/teng_heat2d.yaml", ["teng.integrator=euler", "teng.dt=0.005"]),
    "allen_cahn_heun": ("configs/teng_allen_cahn2d.yaml", []),
    "burgers_heun": ("configs/teng_burgers2d.yaml", []),
}


def pinn_config(t_end: float) -> dict[str, Any]:
    """The heat problem of ``configs/teng_heat2d.yaml`` as an inline space-time PINN configuration."""
    return {
        "name": "heat2d_periodic_pinn",
        "problem": {
            "pde": {"coordinates": ["t", "x", "y"], "time": "t", "fields": ["u"], "parameters": {"nu": 0.1},
                    "equations": {"heat": "u_t - nu*lap(u)"}},
            "domain": {"t": [0.0, t_end], "x": [0.0, 2 * np.pi], "y": [0.0, 2 * np.pi]},
            "conditions": {"initial": {"type": "initial", "field": "u", "value": U0},
                           "periodic_x": {"type": "periodic", "coordinate": "x"},
                           "periodic_y": {"type": "periodic", "coordinate": "y"}},
        },
        "model": {"width": 48, "depth": 4, "activation": "tanh", "periodic": True},
        "sampling": {"method": "sobol", "interior": 2000, "initial": 1000, "boundary": 200, "resample_every": 0},
        "loss": {"weights": {"initial": 100.0}},
        "solver": {"stages": [{"name": "adam", "steps": 600, "lr": 2e-3, "schedule": "cosine", "final_lr": 1e-4},
                              {"name": "lbfgs", "steps": 400}]},
        "train": {"dtype": "float64", "seed": 0, "eval_every": 500, "checkpoint_every": 1000, "progress": False},
        "output": {"vtk": False, "plots": False, "resolution": [5, 32, 32], "frames": 5},
    }


def _reference_errors(predict, times: list[float], t_end: float, n: int = 64) -> list[float]:
    """Relative L2 errors of ``predict(points (N, 3))`` against the heat reference on an n x n periodic grid."""
    problem = get_equation("heat2d_periodic", t_end=t_end)
    axis = 2 * np.pi * np.arange(n) / n
    gx, gy = np.meshgrid(axis, axis, indexing="ij")
    out = []
    for t in times:
        pts = np.column_stack([np.full(gx.size, t), gx.ravel(), gy.ravel()])
        ref = problem.reference(pts)[:, 0]
        out.append(float(np.linalg.norm(predict(pts)[:, 0] - ref) / np.linalg.norm(ref)))
    return out


def run_teng(name: str, overrides: list[str], out: Path) -> dict[str, Any]:
    path, extra = TENG_CASES[name]
    start = time.perf_counter()
    result = pl.solve(ROOT / path, out=out / name, overrides=[*extra, *overrides], progress=False)
    m = result.metrics
    cfg = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    t = cfg["teng"]
    return {
        "case": name, "method": m["method"], "problem": m["problem"], "config": path, "overrides": extra + overrides,
        "t_end": m["t_end"], "dt": m["dt"], "steps": m["time_steps"], "points": m["points"],
        "parameters": m["network_parameters"], "subset": t["projection"]["subset"],
        "iterations": t["projection"]["iterations"], "network": f"{cfg['model']['width']}x{cfg['model']['depth']}"
                                                                 f" h{cfg['model']['harmonics']}",
        "initial_fit": m["initial_fit"]["relative"], "rel_l2_final": m["rel_l2"]["u"],
        "rel_l2_max": m["rel_l2_max"]["u"], "wall_time_s": round(time.perf_counter() - start, 1),
        "run_dir": str(result.run_dir),
    }


def run_pinn(overrides: list[str], out: Path, t_end: float = 1.0) -> dict[str, Any]:
    run = out / "heat_pinn"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "heat2d_pinn.yaml"
        path.write_text(yaml.safe_dump(pinn_config(t_end), sort_keys=False))
        start = time.perf_counter()
        code = cli_main(["solve", str(path), "--out", str(run), "--quiet", *[a for o in overrides for a in ("--set", o)]])
        wall = time.perf_counter() - start
    if code != 0:
        raise RuntimeError(f"pinnlab solve failed with exit code {code}")
    solution = pl.load(run)
    times = [0.0, 0.25 * t_end, 0.5 * t_end, 0.75 * t_end, t_end]
    errors = _reference_errors(solution.predict, times, t_end)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    stages = cfg["solver"]["stages"]
    return {
        "case": "heat_pinn", "method": "pinn " + " + ".join(f"{s['name']} {s['steps']}" for s in stages),
        "problem": "heat2d_periodic", "config": "inline (benchmarks/teng.py: pinn_config)", "overrides": overrides,
        "t_end": t_end, "points": cfg["sampling"]["interior"], "parameters": solution.metrics.get("network_parameters"),
        "network": f"{cfg['model']['width']}x{cfg['model']['depth']}", "rel_l2_final": errors[-1],
        "rel_l2_max": max(errors), "rel_l2_times": dict(zip(map(str, times), errors)),
        "wall_time_s": round(wall, 1), "run_dir": str(run),
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = "| case | method | problem | t_end | dt | points | params (subset) | init fit | rel L2 final | rel L2 max | wall s |"
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        sub = f" ({r['subset']})" if r.get("subset") else ""
        init = f"{r['initial_fit']:.1e}" if "initial_fit" in r else "-"
        lines.append(f"| {r['case']} | {r['method']} | {r['problem']} | {r['t_end']:g} | {r.get('dt', '-')} | "
                     f"{r['points']} | {r['parameters']}{sub} | {init} | {r['rel_l2_final']:.2e} | "
                     f"{r['rel_l2_max']:.2e} | {r['wall_time_s']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=[*TENG_CASES, "heat_pinn"],
                        choices=[*TENG_CASES, "heat_pinn"])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for TENG cases")
    parser.add_argument("--set-pinn", action="append", default=[], metavar="KEY=VALUE", help="override for the PINN")
    parser.add_argument("--runs", default="runs/benchmarks/teng", help="directory of the run directories")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "teng.json"))
    args = parser.parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = Path(args.runs) / stamp
    rows = []
    for case in args.cases:
        row = run_pinn(args.set_pinn, out) if case == "heat_pinn" else run_teng(case, args.set, out)
        row.update({"date": stamp, "hardware": f"{platform.processor() or platform.machine()}, "
                                              f"{torch.get_num_threads()} torch thread(s)", "torch": torch.__version__})
        rows.append(row)
        print(table([row]).splitlines()[-1], flush=True)
    print(table(rows))
    path = Path(args.json)
    saved = json.loads(path.read_text()) if path.exists() else {}
    saved.update({r["case"]: r for r in rows})
    path.write_text(json.dumps(saved, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
