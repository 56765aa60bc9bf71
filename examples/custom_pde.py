"""A PDE that is not built in, solved twice: from Python classes and from the equivalent YAML.

Steady advection–diffusion on [0, 1] with a boundary layer at x = 1:

    v u_x = D u_xx,   u(0) = 0,   u(1) = 1,
    exact solution u(x) = (exp(Pe x) - 1) / (exp(Pe) - 1),   Pe = v / D = 5.

Run from the repository root (well under two minutes on a laptop CPU):

    python examples/custom_pde.py

Each solve writes a run directory under ``runs/`` (config, metrics, history, model, VTK).
"""

from __future__ import annotations

import numpy as np
import yaml

import pinnlab as pl

V, DIFFUSION = 1.0, 0.2

# training settings shared by both forms: a small network in float64, then L-BFGS
SETTINGS = {
    "model": {"width": 20, "depth": 2, "activation": "tanh"},
    "sampling": {"method": "sobol", "interior": 64, "boundary": 2},
    "loss": {"weights": {"left": 10.0, "right": 10.0}},
    "solver": {"name": "lbfgs", "steps": 300},
    "train": {"dtype": "float64", "seed": 0, "progress": False, "eval_every": 100},
    "output": {"resolution": 201, "plots": False},
}


def exact(x: np.ndarray) -> np.ndarray:
    pe = V / DIFFUSION
    return np.expm1(pe * x) / np.expm1(pe)


def python_problem() -> pl.Problem:
    """The problem built from pinnlab's classes."""
    pde = pl.PDE(
        coordinates=["x"],
        fields=["u"],
        parameters={"v": V, "D": DIFFUSION},
        equations={"advection_diffusion": "v*u_x = D*u_xx"},
    )
    return pl.Problem(
        pde,
        domain={"x": [0.0, 1.0]},
        conditions={
            "left": pl.Dirichlet(field="u", value=0, on=["x_min"]),
            "right": pl.Dirichlet(field="u", value=1, on=["x_max"]),
        },
        exact={"u": "(exp(v/D*x) - 1)/(exp(v/D) - 1)"},
        name="advection_diffusion",
    )


#: the same problem as the ``problem`` section of a YAML configuration
YAML_PROBLEM = {
    "pde": {
        "coordinates": ["x"],
        "fields": ["u"],
        "parameters": {"v": V, "D": DIFFUSION},
        "equations": {"advection_diffusion": "v*u_x = D*u_xx"},
    },
    "domain": {"x": [0.0, 1.0]},
    "conditions": {
        "left": {"type": "dirichlet", "field": "u", "value": 0, "on": ["x_min"]},
        "right": {"type": "dirichlet", "field": "u", "value": 1, "on": ["x_max"]},
    },
    "exact": {"u": "(exp(v/D*x) - 1)/(exp(v/D) - 1)"},
}


def report(label: str, solution: pl.Solution) -> float:
    x = np.linspace(0.0, 1.0, 401)
    u = solution.predict(x[:, None])[:, 0]
    ref = exact(x)
    rel = float(np.linalg.norm(u - ref) / np.linalg.norm(ref))
    print(f"{label:<7} rel. L2 error {rel:.2e}, max error {np.abs(u - ref).max():.2e}, "
          f"u(0.9) = {u[360]:.5f} (exact {ref[360]:.5f}), run directory {solution.run_dir}")
    return rel


def main() -> None:
    from_python = pl.solve({**SETTINGS, "name": "advection_diffusion_python"}, problem=python_problem())
    config = {"name": "advection_diffusion_yaml", "problem": YAML_PROBLEM, **SETTINGS}
    print("The YAML form of this run:\n")
    print(yaml.safe_dump(config, sort_keys=False, default_flow_style=None))
    from_yaml = pl.solve(config)
    errors = [report("python", from_python), report("yaml", from_yaml)]
    assert max(errors) < 1e-2, "the PINN did not reach 1% relative L2 error"


if __name__ == "__main__":
    main()
