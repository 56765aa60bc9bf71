"""Heat equation u_t = k Δu on [0,1]^n × [0,T], zero boundary, u0 = Π sin(π x_i)."""

from pinnlab.equations.registry import register_equation
from pinnlab.spec import PDE, Dirichlet, Initial, Problem

SPACE = ("x", "y", "z")


@register_equation("heat", "heat u_t = k·lap(u) on [0,1]^dim (dim 1-3), exact separable solution")
def heat(dim: int = 1, k: float = 0.1, t_end: float = 1.0) -> Problem:
    if dim not in (1, 2, 3):
        raise ValueError("dim must be 1, 2 or 3")
    space = list(SPACE[:dim])
    mode = "*".join(f"sin(pi*{c})" for c in space)
    pde = PDE(coordinates=["t", *space], time="t", fields=["u"], parameters={"k": k},
              equations={"heat": "u_t - k*lap(u)"})
    domain = {"t": [0.0, t_end], **{c: [0.0, 1.0] for c in space}}
    conditions = {"initial": Initial(field="u", value=mode), "boundary": Dirichlet(field="u", value=0)}
    exact = {"u": f"exp(-{dim}*k*pi**2*t)*{mode}"}
    return Problem(pde, domain, conditions, exact=exact, name=f"heat{dim}d")


for _dim in (1, 2, 3):
    register_equation(f"heat{_dim}d", f"heat equation in {_dim}-D (alias of heat with dim={_dim})")(
        lambda _d=_dim, **kw: heat(dim=_d, **kw)
    )
