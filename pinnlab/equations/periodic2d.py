"""2-D periodic problems on [0, 2π)² with Fourier pseudo-spectral references (the TENG benchmarks).

    heat2d_periodic:  u_t = nu lap(u)                 (nu = 1/10)
    allen_cahn2d:     u_t = nu lap(u) + u - u³        (nu = 1/200)
    burgers2d:        u_t + u (u_x + u_y) = nu lap(u) (nu = 1/100)

The initial condition ``u0`` is an expression of x and y (default
cosh(3 sin x) sinh(sin y) / 25); the reference is computed once per set of arguments.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from pinnlab.compile.evaluate import evaluate
from pinnlab.equations.registry import register_equation
from pinnlab.references import PeriodicSpectral2DReference
from pinnlab.spec import PDE, Initial, Periodic, Problem, expr

U0 = "cosh(3*sin(x))*sinh(sin(y))/25"


@lru_cache(maxsize=16)
def _grid_function(text: str):
    """u0(x, y) on numpy arrays from an expression (one function object per text, so solves are shared)."""
    node = expr.parse(text, expr.Namespace(fields=(), scalar_coords=("x", "y")), "initial condition u0")

    def u0(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        cols = {"x": torch.as_tensor(x, dtype=torch.float64), "y": torch.as_tensor(y, dtype=torch.float64)}
        value = evaluate(node, lambda leaf: cols[leaf.name])
        return np.broadcast_to(np.asarray(value, dtype=np.float64), np.shape(x))

    return u0


def _problem(name: str, equation: tuple[str, str], nu: float, nonlinearity: str, t_end: float, u0: str, n: int,
             dt: float) -> Problem:
    pde = PDE(coordinates=["t", "x", "y"], time="t", fields=["u"], parameters={"nu": nu},
              equations=dict([equation]))
    conditions = {"initial": Initial(field="u", value=u0),
                  "periodic_x": Periodic(coordinate="x", derivatives=1),
                  "periodic_y": Periodic(coordinate="y", derivatives=1)}
    cache: dict[str, PeriodicSpectral2DReference] = {}

    def reference(points: np.ndarray) -> np.ndarray:
        if "ref" not in cache:
            cache["ref"] = PeriodicSpectral2DReference(_grid_function(u0), nu, nonlinearity, t_end, n=n, dt=dt)
        return cache["ref"](points[:, 0], points[:, 1], points[:, 2])[:, None]

    domain = {"t": [0.0, t_end], "x": [0.0, 2 * math.pi], "y": [0.0, 2 * math.pi]}
    return Problem(pde, domain, conditions, reference=reference, name=name)


@register_equation("heat2d_periodic", "heat u_t = nu lap(u) on [0,2pi)^2 periodic (nu = 0.1), spectral reference")
def heat2d_periodic(nu: float = 0.1, t_end: float = 4.0, u0: str = U0, reference_n: int = 64) -> Problem:
    return _problem("heat2d_periodic", ("heat", "u_t - nu*lap(u)"), nu, "none", t_end, u0, reference_n, 1e-2)


@register_equation("allen_cahn2d", "Allen-Cahn u_t = nu lap(u) + u - u^3 on [0,2pi)^2 periodic (nu = 1/200)")
def allen_cahn2d(nu: float = 1 / 200, t_end: float = 4.0, u0: str = U0, reference_n: int = 64,
                 reference_dt: float = 1e-2) -> Problem:
    return _problem("allen_cahn2d", ("allen_cahn", "u_t - nu*lap(u) - (u - u**3)"), nu, "allen_cahn", t_end, u0, reference_n,
                    reference_dt)


@register_equation("burgers2d", "viscous Burgers u_t + u (u_x + u_y) = nu lap(u) on [0,2pi)^2 periodic (nu = 1/100)")
def burgers2d(nu: float = 1 / 100, t_end: float = 4.0, u0: str = U0, reference_n: int = 192,
              reference_dt: float = 1e-3) -> Problem:
    return _problem("burgers2d", ("burgers", "u_t + u*(u_x + u_y) - nu*lap(u)"), nu, "burgers", t_end, u0, reference_n,
                    reference_dt)
