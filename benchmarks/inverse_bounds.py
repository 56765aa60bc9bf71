"""Cramér–Rao bound of the Burgers identification: the best precision any unbiased estimator of λ1, λ2 reaches.

    python benchmarks/inverse_bounds.py [--points 2000] [--noise 0.01] [--draws 5] [--step 1e-5]

u_t + λ1 u u_x = λ2 u_xx with u(0, x) = −sin(πx) and zero boundary values: v = λ1 u solves Burgers'
equation with viscosity λ2 and initial value −λ1 sin(πx), and w(t, x) = v(t/λ1, x)/λ1 solves it with
viscosity λ2/λ1 from −sin(πx), so

    u(t, x; λ1, λ2) = U(λ1 t, x; ν = λ2/λ1),   U the Cole–Hopf solution of pinnlab.references.

With N observations u(t_i, x_i) + ε_i, ε_i ~ N(0, σ²), the Fisher information of (λ1, λ2) is JᵀJ/σ², J the
sensitivities ∂u/∂λ at the points (central differences of the exact solution), and its inverse bounds the
covariance of every unbiased estimator. The model here *knows* the initial and boundary values, which the
PINN set-up of ``configs/burgers1d_inverse_noisy.yaml`` (data only) does not: its bound can only be wider.
The points and σ are those of that configuration (``from_reference``: uniform points with the seed of the
draw, σ = noise · std(u)). Prints the relative standard deviations of λ1 and λ2 per draw and the share of
λ2's information carried by the points near the shock (|x| < 0.05).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from pinnlab.compile.synthetic import problem_geometry
from pinnlab.equations.registry import get_equation
from pinnlab.references import burgers_cole_hopf

NU = 0.01 / np.pi


def burgers_bound(points: np.ndarray, noise: float, step: float = 1e-5) -> dict[str, float]:
    """Relative Cramér–Rao standard deviations of λ1 and λ2 (true 1 and 0.01/π) from observations at
    ``points`` (N, 2) in (t, x) with relative noise ``noise``; ``step``: relative finite-difference step."""
    t, x = points[:, 0], points[:, 1]

    def u(l1: float, l2: float) -> np.ndarray:
        return burgers_cole_hopf(l1 * t, x, l2 / l1)

    sigma = noise * float(u(1.0, NU).std())
    j1 = (u(1.0 + step, NU) - u(1.0 - step, NU)) / (2 * step)
    j2 = (u(1.0, NU * (1 + step)) - u(1.0, NU * (1 - step))) / (2 * step * NU)
    jac = np.stack([j1, j2], axis=1)
    cov = np.linalg.inv(jac.T @ jac / sigma**2)
    s1, s2 = np.sqrt(np.diag(cov))
    near = np.abs(x) < 0.05
    return {"sigma": sigma, "lambda1": float(s1), "lambda2": float(s2 / NU), "correlation": float(cov[0, 1] / s1 / s2),
            "shock_share": float((j2[near] ** 2).sum() / (j2**2).sum()), "shock_points": int(near.sum())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--noise", type=float, default=0.01, help="noise as a fraction of std(u) (default 0.01)")
    parser.add_argument("--draws", type=int, default=5, help="point sets, seeds 0 .. draws-1 (default 5)")
    parser.add_argument("--step", type=float, default=1e-5, help="relative finite-difference step (default 1e-5)")
    args = parser.parse_args(argv)
    geometry = problem_geometry(get_equation("burgers1d_inverse"))
    print(f"{'seed':>4} {'sigma':>9} {'sd lambda1':>11} {'sd lambda2':>11} {'corr':>6} {'lambda2 info |x|<0.05':>22}")
    for seed in range(args.draws):
        points = geometry.sample_interior(args.points, torch.Generator().manual_seed(seed), dtype=torch.float64)
        b = burgers_bound(points.numpy(), args.noise, args.step)
        print(f"{seed:>4} {b['sigma']:>9.3e} {b['lambda1']:>11.2e} {b['lambda2']:>11.2e} {b['correlation']:>6.2f} "
              f"{b['shock_share']:>14.2f} ({b['shock_points']} pts)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
