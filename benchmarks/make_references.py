"""Finite-element references of the built-in steady flows, with their mesh-convergence study.

    python benchmarks/make_references.py [NAME ...] [--levels A:B] [--out DIR] [--study-only]

NAME is any of pinnacle_ns2d_c, pinnacle_ns2d_cg, dfg_cylinder (default: all). For each, the
Taylor–Hood Newton solution (pinnlab.references.fem_navier_stokes) is computed on mesh levels A..B
of the case (pinnlab.equations.pinnacle_flows.CASES) and compared, level against the next, by
the relative L2 difference of u, v and p on the problem's evaluation points (the in-domain
nodes of the 101 × 101 grid its runs report errors on), over all of them and without those at (or within
0.05 of) a corner where p is unbounded. DFG 2D-1 adds the drag and lift
coefficients (volume and line integrals) and Δp with their deviations from the published
values. The finest solution is written to DIR/NAME.npz (default configs/references/) unless
``--study-only``; the table goes to stdout and to benchmarks/results/references.json.
Solve times are wall-clock seconds of this process (OMP_NUM_THREADS is recorded).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pinnlab.equations import get_equation
from pinnlab.equations.pinnacle_flows import CASES, REFERENCE_DIR
from pinnlab.references.fem_forces import DFG_2D1, dfg_quantities
from pinnlab.references.fem_navier_stokes import solve_navier_stokes

#: default mesh levels (first, last) per case: the last is the shipped reference
LEVELS = {"pinnacle_ns2d_c": (0, 3), "pinnacle_ns2d_cg": (0, 3), "dfg_cylinder": (0, 2)}
#: differences are also reported without the grid points this close to a singular point (a corner
#: where p is unbounded): 1e-9 leaves out the corner node itself
SINGULAR_RADII = (1e-9, 0.05)
RESULTS = Path(__file__).resolve().parent / "results" / "references.json"


def evaluation_points(name: str, resolution: int = 101) -> np.ndarray:
    """The in-domain nodes of the problem's evaluation grid."""
    domain = get_equation(name).domain
    _, points = domain.grid(resolution)
    mask = domain.contains(torch.as_tensor(points, dtype=torch.float64), atol=1e-9).numpy()
    return points[mask]


def relative_differences(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """||a - b|| / ||b|| per column u, v, p."""
    return {f: float(np.linalg.norm(a[:, i] - b[:, i]) / np.linalg.norm(b[:, i])) for i, f in enumerate("uvp")}


def study(name: str, first: int, last: int) -> tuple[list[dict[str, Any]], Any]:
    case, nu = CASES[name]
    points = evaluation_points(name)
    rows, previous, solution = [], None, None
    for level in range(first, last + 1):
        t0 = time.perf_counter()
        setup = case(level)
        mesh_s = time.perf_counter() - t0
        solution = solve_navier_stokes(setup["mesh"], nu, setup["dirichlet"], pressure=setup["pressure"],
                                       metadata={"problem": name, "level": level, "h": setup["h"]})
        values = solution(points)
        row: dict[str, Any] = {"level": level, "h": setup["h"], "triangles": len(solution.triangles),
                               "dofs": solution.num_dofs, "newton": list(solution.report.iterations),
                               "mesh_s": round(mesh_s, 2), "solve_s": round(solution.report.seconds, 2)}
        if previous is not None:
            row["diff_to_previous"] = relative_differences(previous, values)
            for radius in SINGULAR_RADII if setup["singular"] else ():
                far = np.all([np.hypot(*(points - c).T) > radius for c in setup["singular"]], axis=0)
                row[f"diff_beyond_{radius:g}"] = relative_differences(previous[far], values[far])
        if name == "dfg_cylinder":
            for method in ("volume", "line"):
                q = dfg_quantities(solution, method=method)
                row[method] = {k: v for k, v in q.items()}
                row[f"{method}_rel_error"] = {k: (v - DFG_2D1[k]) / DFG_2D1[k] for k, v in q.items()}
        if name == "pinnacle_ns2d_cg":
            outlet = np.column_stack([np.full(201, 4.0), np.linspace(0, 2, 201)])
            row["max_abs_p_outlet"] = float(np.abs(solution(outlet)[:, 2]).max())
        rows.append(row)
        print(json.dumps({"problem": name, **row}), flush=True)
        previous = values
    return rows, solution


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(CASES)} (default: all)")
    parser.add_argument("--levels", help="first:last mesh level (default per case)")
    parser.add_argument("--out", type=Path, default=REFERENCE_DIR)
    parser.add_argument("--study-only", action="store_true", help="do not write the reference files")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in CASES]
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}; choose from {', '.join(CASES)}")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in args.names or list(CASES):
        first, last = LEVELS[name]
        if args.levels:
            first, last = (int(v) for v in args.levels.split(":"))
        rows, solution = study(name, first, last)
        results[name] = {"rows": rows, "date": datetime.now(UTC).isoformat(timespec="seconds"),
                         "machine": platform.processor() or platform.machine(),
                         "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
        if not args.study_only:
            args.out.mkdir(parents=True, exist_ok=True)
            path = solution.save(args.out / f"{name}.npz", single=True)
            print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
