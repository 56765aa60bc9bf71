"""Viscous Burgers u_t + u u_x = nu u_xx on [-1,1] × [0,1], u0 = -sin(πx); Cole–Hopf reference."""

import numpy as np

from pinnlab.equations.registry import register_equation
from pinnlab.references import burgers_cole_hopf
from pinnlab.spec import PDE, Dirichlet, Initial, Problem


@register_equation("burgers1d", "viscous Burgers in 1-D (nu = 0.01/pi), Cole-Hopf reference")
def burgers1d(nu: float = 0.01 / np.pi, t_end: float = 1.0) -> Problem:
    pde = PDE(coordinates=["t", "x"], time="t", fields=["u"], parameters={"nu": nu},
              equations={"burgers": "u_t + u*u_x - nu*u_xx"})
    conditions = {"initial": Initial(field="u", value="-sin(pi*x)"), "boundary": Dirichlet(field="u", value=0)}

    def reference(points: np.ndarray) -> np.ndarray:
        return burgers_cole_hopf(points[:, 0], points[:, 1], nu)[:, None]

    return Problem(pde, {"t": [0.0, t_end], "x": [-1.0, 1.0]}, conditions, reference=reference, name="burgers1d")
