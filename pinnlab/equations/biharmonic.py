"""Clamped plate: lap(lap(u)) = f on [0,1]^2, u = dn(u) = 0 on the boundary, u = sin^2(pi x) sin^2(pi y)."""

from pinnlab.equations.registry import register_equation
from pinnlab.spec import PDE, Dirichlet, Neumann, Problem

# lap^2 (X Y) = X'''' Y + 2 X'' Y'' + X Y'''' with X = sin^2(pi x): X'' = 2 pi^2 cos(2 pi x), X'''' = -8 pi^4 cos(2 pi x)
SOURCE = ("8*pi**4*(cos(2*pi*x)*cos(2*pi*y) - cos(2*pi*x)*sin(pi*y)**2"
          " - sin(pi*x)**2*cos(2*pi*y))")


@register_equation("biharmonic2d", "clamped plate lap(lap(u)) = f on [0,1]^2, u = sin^2(pi x) sin^2(pi y)")
def biharmonic2d() -> Problem:
    pde = PDE(coordinates=["x", "y"], fields=["u"], equations={"biharmonic": f"lap(lap(u)) - ({SOURCE})"})
    conditions = {"boundary": Dirichlet(field="u", value=0), "clamp": Neumann(field="u", value=0)}
    domain = {"x": [0.0, 1.0], "y": [0.0, 1.0]}
    return Problem(pde, domain, conditions, exact={"u": "sin(pi*x)**2*sin(pi*y)**2"}, name="biharmonic2d")
