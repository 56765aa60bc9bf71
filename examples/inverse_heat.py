"""An inverse problem over the public API: the diffusivity of the heat equation from noisy measurements.

    u_t = k u_xx on [0, 1] × [0, 1],   u(t, 0) = u(t, 1) = 0,   u(0, x) = sin(πx),
    exact solution u = exp(−k π² t) sin(πx) with k = 0.1, which is to be found from 300 noisy
    measurements of u (σ = 0.01), starting from the guess k = 0.03.

The measurements are drawn from the exact solution and written to a CSV file with a header
(t, x, u, sigma), as a sensor file would be; the run reads them back, holds 10 % of them out for
validation, and trains the network and k together with Levenberg–Marquardt in float64.

Run from the repository root (about half a minute on one CPU core):

    python examples/inverse_heat.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import pinnlab as pl

TRUE_K = 0.1


def heat_problem(conditions: dict[str, pl.Data] | None = None) -> pl.Problem:
    """The heat equation with an unknown, positive diffusivity k (its true value known here, for scoring)."""
    pde = pl.PDE(coordinates=["t", "x"], time="t", fields=["u"], equations={"heat": "u_t = k*u_xx"},
                 parameters={"k": pl.Parameter(0.03, trainable=True, positive=True, true_value=TRUE_K)})
    return pl.Problem(pde, {"t": [0.0, 1.0], "x": [0.0, 1.0]}, {
        "initial": pl.Initial(field="u", value="sin(pi*x)"),
        "walls": pl.Dirichlet(field="u", value=0),
        **(conditions or {}),
    }, exact={"u": "exp(-k*pi**2*t)*sin(pi*x)"}, name="heat_inverse")


def write_measurements(path: Path, count: int = 300, sigma: float = 0.01) -> Path:
    """Noisy samples of the exact solution as a CSV file naming its columns."""
    data = pl.synthesize(heat_problem(), count, noise=sigma, seed=0)
    table = np.column_stack([data.coords, data.values, np.full(count, sigma)])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, table, delimiter=",", header="t,x,u,sigma", comments="")
    return path


def main() -> None:
    csv = write_measurements(Path("runs") / "heat_inverse_measurements.csv")
    problem = heat_problem({"sensors": pl.Data(file=str(csv), validation=0.1, seed=0)})
    solution = pl.solve({
        "model": {"width": 16, "depth": 2},
        "sampling": {"method": "sobol", "interior": 400, "boundary": 50, "initial": 50},
        # the data term is weighted by 1/σ² = 1e4; the equations and the known values as strongly
        "loss": {"weights": {"heat": 1e4, "initial": 1e4, "walls": 1e4}},
        "solver": {"name": "gauss_newton", "steps": 60},
        "train": {"dtype": "float64", "progress": False, "eval_every": 20},
        "output": {"vtk": False},
    }, problem=problem)
    k = solution.parameters["k"]
    m = solution.metrics
    print(f"run directory: {solution.run_dir}")
    print(f"k = {k:.6f} (true {TRUE_K}, relative error {solution.parameter_errors()['k']:.2e}); "
          f"rel. L2 of u {m['rel_l2']['u']:.2e}; validation loss {m['validation']['sensors']:.3f} "
          "(about 1 at the noise level)")


if __name__ == "__main__":
    main()
