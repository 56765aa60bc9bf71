"""Poisson equation -Δu = f on [0,1]^n, zero Dirichlet, u = Π sin(π x_i)."""

from pinnlab.equations.registry import register_equation
from pinnlab.spec import PDE, Dirichlet, Problem

SPACE = ("x", "y", "z")


@register_equation("poisson", "Poisson -lap(u) = f on [0,1]^dim (dim 1-3), u = prod sin(pi x_i)")
def poisson(dim: int = 2, frequency: float = 1.0) -> Problem:
    if dim not in (1, 2, 3):
        raise ValueError("dim must be 1, 2 or 3")
    space = list(SPACE[:dim])
    mode = "*".join(f"sin(a*pi*{c})" for c in space)
    pde = PDE(coordinates=space, fields=["u"], parameters={"a": frequency},
              equations={"poisson": f"-lap(u) - {dim}*a**2*pi**2*{mode}"})
    domain = {c: [0.0, 1.0] for c in space}
    return Problem(pde, domain, {"boundary": Dirichlet(field="u", value=0)}, exact={"u": mode},
                   name=f"poisson{dim}d")


for _dim in (1, 2, 3):
    register_equation(f"poisson{_dim}d", f"Poisson equation in {_dim}-D (alias of poisson with dim={_dim})")(
        lambda _d=_dim, **kw: poisson(dim=_d, **kw)
    )
