"""Allen–Cahn u_t = eps u_xx + a (u - u³), x in [-1,1] periodic, u0 = x² cos(πx); spectral reference."""

import numpy as np

from pinnlab.equations.registry import register_equation
from pinnlab.references import AllenCahn1DReference
from pinnlab.spec import PDE, Initial, Periodic, Problem


@register_equation("allen_cahn1d", "Allen-Cahn in 1-D (eps = 1e-4, a = 5), periodic, ETDRK4 reference")
def allen_cahn1d(eps: float = 1e-4, a: float = 5.0, t_end: float = 1.0) -> Problem:
    pde = PDE(coordinates=["t", "x"], time="t", fields=["u"], parameters={"eps": eps, "a": a},
              equations={"allen_cahn": "u_t - eps*u_xx - a*(u - u**3)"})
    conditions = {"initial": Initial(field="u", value="x**2*cos(pi*x)"),
                  "periodic": Periodic(coordinate="x", derivatives=1)}
    solver = {}

    def reference(points: np.ndarray) -> np.ndarray:
        if "ref" not in solver:
            solver["ref"] = AllenCahn1DReference(eps=eps, a=a, t_max=max(t_end, 1.0))
        return solver["ref"](points[:, 0], points[:, 1])[:, None]

    return Problem(pde, {"t": [0.0, t_end], "x": [-1.0, 1.0]}, conditions, reference=reference,
                   name="allen_cahn1d")
