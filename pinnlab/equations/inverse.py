"""Inverse problems with known answers: coefficients and a coefficient field to identify from observations.

Each problem declares its unknowns as trainable parameters (or as a field with no equation of its
own) with their true values, and carries its exact solution or reference, so observations can be
drawn from it (``from_reference`` data) and the recovered values scored. The observations are the
configuration's to choose: the problems come with no data conditions.
"""

from __future__ import annotations

import numpy as np

from pinnlab.equations.navier_stokes import kovasznay_exact
from pinnlab.equations.registry import register_equation
from pinnlab.references import burgers_cole_hopf
from pinnlab.spec import PDE, Dirichlet, Parameter, Problem


@register_equation("burgers1d_inverse", "Burgers identification (Raissi et al. 2019): lambda1, lambda2 in "
                                        "u_t + lambda1 u u_x = lambda2 u_xx; Cole-Hopf reference")
def burgers1d_inverse(nu: float = 0.01 / np.pi, t_end: float = 1.0, lambda1: float = 0.0,
                      lambda2: float = float(np.exp(-6.0))) -> Problem:
    """u_t + λ1 u u_x − λ2 u_xx = 0 on [−1, 1] × [0, t_end], u0 = −sin(πx): λ1 (true 1) and λ2 > 0
    (true ``nu``) trainable from the initial guesses ``lambda1``, ``lambda2``."""
    pde = PDE(coordinates=["t", "x"], time="t", fields=["u"],
              parameters={"lambda1": Parameter(lambda1, trainable=True, true_value=1.0),
                          "lambda2": Parameter(lambda2, trainable=True, positive=True, true_value=nu)},
              equations={"burgers": "u_t + lambda1*u*u_x - lambda2*u_xx"})

    def reference(points: np.ndarray) -> np.ndarray:
        return burgers_cole_hopf(points[:, 0], points[:, 1], nu)[:, None]

    return Problem(pde, {"t": [0.0, t_end], "x": [-1.0, 1.0]}, {}, reference=reference, name="burgers1d_inverse")


@register_equation("kovasznay_inverse", "Kovasznay flow with unknown nu and convective coefficient lambda1, "
                                        "exact solution (Re = 40)")
def kovasznay_inverse(re: float = 40.0, nu: float = 0.05, lambda1: float = 0.5) -> Problem:
    """λ1 (u·∇)u + ∇p − ν Δu = 0, ∇·u = 0 on [−0.5, 1] × [−0.5, 1.5]: λ1 (true 1) and ν > 0 (true
    1/``re``) trainable from the initial guesses ``lambda1``, ``nu``. The pressure is fixed only up to
    a constant (no gauge)."""
    momentum = {xi: f"lambda1*(u*{ui}_x + v*{ui}_y) + p_{xi} - nu*lap({ui})" for ui, xi in (("u", "x"), ("v", "y"))}
    pde = PDE(coordinates=["x", "y"], fields=["u", "v", "p"],
              parameters={"lambda1": Parameter(lambda1, trainable=True, true_value=1.0),
                          "nu": Parameter(nu, trainable=True, positive=True, true_value=1.0 / re), "rho": 1.0},
              equations={"momentum_x": momentum["x"], "momentum_y": momentum["y"], "continuity": "u_x + v_y"})
    return Problem(pde, {"x": [-0.5, 1.0], "y": [-0.5, 1.5]}, {}, exact=kovasznay_exact(), name="kovasznay_inverse")


#: a(x, y) = 1/D of PINNacle's PInv, and the source f = −div(a ∇u) for u = sin(πx) sin(πy)
_PINV_D = "(1 + x**2 + y**2 + (x - 1)**2 + (y - 1)**2)"
_PINV_F = (f"2*pi**2*sin(pi*x)*sin(pi*y)/{_PINV_D}"
           f" + pi*((4*x - 2)*cos(pi*x)*sin(pi*y) + (4*y - 2)*sin(pi*x)*cos(pi*y))/{_PINV_D}**2")


@register_equation("pinnacle_pinv", "PINNacle PInv: -div(a grad u) = f on [0,1]^2 with the coefficient field a "
                                    "unknown; exact u and a")
def pinnacle_pinv() -> Problem:
    """−div(a ∇u) = f on [0, 1]², u = sin(πx) sin(πy), a = 1/(1 + x² + y² + (x − 1)² + (y − 1)²).

    ``a`` is a field with no equation of its own, learned with u; the equation is written expanded,
    −(a Δu + a_x u_x + a_y u_y) = f. u = 0 on the boundary, and, as in PINNacle, a is known there
    (``boundary_a``): without it a is not determined near the corners, where u, ∇u and f vanish."""
    pde = PDE(coordinates=["x", "y"], fields=["u", "a"],
              equations={"poisson": f"-(a*lap(u) + a_x*u_x + a_y*u_y) = {_PINV_F}"})
    conditions = {"boundary": Dirichlet(field="u", value=0), "boundary_a": Dirichlet(field="a", value=f"1/{_PINV_D}")}
    return Problem(pde, {"x": [0.0, 1.0], "y": [0.0, 1.0]}, conditions,
                   exact={"u": "sin(pi*x)*sin(pi*y)", "a": f"1/{_PINV_D}"}, name="pinnacle_pinv")
