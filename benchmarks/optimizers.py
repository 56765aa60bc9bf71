"""Optimiser benchmarks: Gauss–Newton / ENGD accuracy, ConFIG against Adam, matrix-free CG cost.

    python benchmarks/optimizers.py accuracy configs/poisson2d_gn.yaml configs/heat1d_gn.yaml [--set K=V ...]
    python benchmarks/optimizers.py compare configs/burgers1d_config.yaml --solvers config adam --seeds 0 1 2
    python benchmarks/optimizers.py cg [--config configs/heat1d_gn.yaml] [--width 128] [--depth 4] [--steps 10]
        [--linearize]
    python benchmarks/optimizers.py table RUN_DIR [RUN_DIR ...]

``accuracy`` solves each configuration and reports its relative L2 errors, steps and wall time.
``compare`` solves one configuration with each solver (``solver.name`` override, every other
setting shared) and each seed, and reports every error and the mean and standard deviation.
``cg`` trains a wide network (≥ 50 000 parameters) a few steps with matrix-free Gauss–Newton
and ENGD and with Adam, and reports the cost per step, CG iterations and the loss decrease
(``--set solver.*`` overrides apply to the Gauss–Newton runs only).
``table`` summarises finished run directories (e.g. of ``pinnlab solve --out DIR`` runs).
Each command prints a markdown table and merges its results into the JSON file
(default ``benchmarks/optimizers.json``). For timings on a shared machine, run with
``OMP_NUM_THREADS=1``.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
import yaml

import pinnlab as pl

QUIET = ["output.vtk=false", "output.plots=false", "train.progress=false"]


def _solve(config: str, overrides: list[str], out: Path) -> pl.Solution:
    return pl.solve(config, out=out, overrides=[*QUIET, *overrides], progress=False)


def _history(run_dir: Path) -> dict[str, list[float]]:
    columns: dict[str, list[float]] = {}
    with (run_dir / "history.csv").open() as fh:
        for row in csv.DictReader(fh):
            for key, value in row.items():
                try:
                    columns.setdefault(key, []).append(float(value))
                except (TypeError, ValueError):
                    columns.setdefault(key, []).append(float("nan"))
    return columns


def _summary(run_dir: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) if (run_dir / "config.yaml").exists() else {}
    solver = cfg.get("solver", {})
    stages = solver.get("stages") or [{"name": solver.get("name"), "steps": solver.get("steps")}]
    return {
        "run": str(run_dir),
        "problem": metrics.get("problem"),
        "solver": " + ".join(f"{s['name']} {s['steps']}" for s in stages),
        "parameters": metrics.get("network_parameters"),
        "steps": metrics.get("steps"),
        "wall_time_s": metrics.get("wall_time_s"),
        "loss": metrics.get("loss"),
        "rel_l2": metrics.get("rel_l2", {}),
        "seed": cfg.get("train", {}).get("seed"),
    }


def accuracy(configs: list[str], overrides: list[str], keep: Path | None) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = keep or Path(tmp)
        for config in configs:
            out = base / Path(config).stem
            solution = _solve(config, overrides, out)
            rows[Path(config).stem] = _summary(out, solution.metrics)
    return rows


def compare(config: str, solvers: list[str], seeds: list[int], overrides: list[str],
            keep: Path | None) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = keep or Path(tmp)
        for solver in solvers:
            runs = []
            for seed in seeds:
                out = base / f"{Path(config).stem}-{solver}-{seed}"
                solution = _solve(config, [*overrides, f"solver.name={solver}", f"train.seed={seed}"], out)
                runs.append(_summary(out, solution.metrics))
            rows[solver] = _aggregate(runs)
    return rows


def _aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    errors = [next(iter(r["rel_l2"].values())) for r in runs]
    return {"runs": runs, "rel_l2": errors, "mean": statistics.fmean(errors),
            "std": statistics.pstdev(errors) if len(errors) > 1 else 0.0,
            "wall_time_s": [r["wall_time_s"] for r in runs]}


def cg_cost(config: str, width: int, depth: int, steps: int, overrides: list[str],
            linearize: bool = False) -> dict[str, Any]:
    """Matrix-free Gauss–Newton and ENGD on a wide network against Adam: cost and descent."""
    rows: dict[str, Any] = {}
    common = [f"model.width={width}", f"model.depth={depth}", f"train.steps={steps}", "train.log_every=1",
              f"train.eval_every={steps}", f"train.checkpoint_every={steps}",
              *(o for o in overrides if not o.startswith("solver."))]
    # solver.* overrides go to the Gauss–Newton runs only
    gn = [f"solver.linearize={str(linearize).lower()}", "solver.solve=cg",
          *(o for o in overrides if o.startswith("solver."))]
    solvers = {
        "gauss_newton (cg)": ["solver.name=gauss_newton", *gn],
        "engd (cg)": ["solver.name=engd", *gn],
        "adam": ["solver.name=adam", "solver.lr=1.0e-3"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in solvers.items():
            out = Path(tmp) / name.split()[0]
            solution = _solve(config, [f"solver.steps={steps}", *common, *extra], out)
            hist = _history(out)
            loss = hist["loss"]
            step_s = hist.get("step_s") or [solution.metrics["wall_time_s"] / steps] * steps
            rows[name] = {
                "parameters": solution.metrics["network_parameters"],
                "step_s_median": statistics.median(step_s[1:] if len(step_s) > 1 else step_s),
                "loss_first": loss[0], "loss_last": solution.metrics["loss"],
                "cg_iters_mean": statistics.fmean(hist["cg_iters"]) if "cg_iters" in hist else None,
                "rel_l2": solution.metrics.get("rel_l2", {}),
            }
    return rows


def table(run_dirs: list[str]) -> dict[str, Any]:
    rows = {}
    for d in run_dirs:
        path = Path(d)
        metrics = json.loads((path / "metrics.json").read_text())
        rows[path.name] = _summary(path, metrics)
    return rows


def groups(rows: dict[str, Any]) -> dict[str, Any]:
    """Runs of the same problem and solver (e.g. several seeds), aggregated."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for r in rows.values():
        by_key.setdefault(f"{r['problem']}: {r['solver']}", []).append(r)
    return {key: _aggregate(runs) for key, runs in by_key.items() if len(runs) > 1}


def _fmt_errors(errors: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2e}" for k, v in errors.items()) or "-"


def print_rows(kind: str, rows: dict[str, Any]) -> None:
    if kind in ("accuracy", "table"):
        print("| run | problem | solver | params | steps | wall s | loss | rel. L2 |")
        print("|---|---|---|---:|---:|---:|---:|---|")
        for name, r in rows.items():
            print(f"| {name} | {r['problem']} | {r['solver']} | {r['parameters']} | {r['steps']} | "
                  f"{r['wall_time_s']:.0f} | {r['loss']:.2e} | {_fmt_errors(r['rel_l2'])} |")
        grouped = groups(rows)
        if grouped:
            print()
            print_rows("compare", grouped)
    elif kind == "compare":
        print("| solver | rel. L2 per seed | mean ± std | wall s per run |")
        print("|---|---|---|---|")
        for name, r in rows.items():
            per_seed = ", ".join(f"{e:.3e}" for e in r["rel_l2"])
            walls = ", ".join(f"{w:.0f}" for w in r["wall_time_s"])
            print(f"| {name} | {per_seed} | {r['mean']:.3e} ± {r['std']:.1e} | {walls} |")
    else:
        print("| solver | params | s / step | CG iters / step | loss first → last |")
        print("|---|---:|---:|---:|---|")
        for name, r in rows.items():
            iters = "-" if r["cg_iters_mean"] is None else f"{r['cg_iters_mean']:.1f}"
            print(f"| {name} | {r['parameters']} | {r['step_s_median']:.2f} | {iters} | "
                  f"{r['loss_first']:.3e} → {r['loss_last']:.3e} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    acc = sub.add_parser("accuracy")
    acc.add_argument("configs", nargs="+")
    cmp_ = sub.add_parser("compare")
    cmp_.add_argument("config")
    cmp_.add_argument("--solvers", nargs="+", default=["config", "adam"])
    cmp_.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    cg = sub.add_parser("cg")
    cg.add_argument("--config", default="configs/heat1d_gn.yaml")
    cg.add_argument("--width", type=int, default=128)
    cg.add_argument("--depth", type=int, default=4)
    cg.add_argument("--steps", type=int, default=10)
    cg.add_argument("--linearize", action="store_true", help="traced tangent maps for the JVPs")
    tab = sub.add_parser("table")
    tab.add_argument("run_dirs", nargs="+")
    for p in (acc, cmp_, cg):
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    for p in (acc, cmp_):
        p.add_argument("--keep", type=Path, default=None, help="keep the run directories here")
    for p in (acc, cmp_, cg, tab):
        p.add_argument("--json", type=Path, default=Path(__file__).with_name("optimizers.json"))
    args = parser.parse_args(argv)
    if args.command == "accuracy":
        rows = accuracy(args.configs, args.set, args.keep)
    elif args.command == "compare":
        rows = compare(args.config, args.solvers, args.seeds, args.set, args.keep)
    elif args.command == "cg":
        rows = cg_cost(args.config, args.width, args.depth, args.steps, args.set, args.linearize)
    else:
        rows = table(args.run_dirs)
    print_rows(args.command, rows)
    data = json.loads(args.json.read_text()) if args.json.exists() else {}
    entry = data.setdefault(args.command, {"results": {}})
    entry.update(date=datetime.now(UTC).isoformat(timespec="seconds"), torch=torch.__version__,
                 machine=f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    entry["results"].update(rows)
    args.json.write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
