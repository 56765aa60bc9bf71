"""Korteweg-de Vries u_t + 6 u u_x + u_xxx = 0 with a travelling soliton as exact solution."""

from pinnlab.equations.registry import register_equation
from pinnlab.spec import PDE, Dirichlet, Initial, Problem

SOLITON = "c/2/cosh(sqrt(c)/2*(x - c*t - x0))**2"


@register_equation("kdv1d", "KdV u_t + 6 u u_x + u_xxx = 0, soliton (c/2) sech^2(sqrt(c)/2 (x - c t - x0))")
def kdv1d(speed: float = 1.0, shift: float = -0.5, half_width: float = 6.0, t_end: float = 1.0) -> Problem:
    pde = PDE(coordinates=["t", "x"], time="t", fields=["u"], parameters={"c": speed, "x0": shift},
              equations={"kdv": "u_t + 6*u*u_x + u_xxx"})
    domain = {"t": [0.0, t_end], "x": [-half_width, half_width]}
    conditions = {"initial": Initial(field="u", value=SOLITON), "boundary": Dirichlet(field="u", value=SOLITON)}
    return Problem(pde, domain, conditions, exact={"u": SOLITON}, name="kdv1d")
