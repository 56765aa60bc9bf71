"""Forward problems of the PINNacle benchmark (Hao et al., NeurIPS 2024) posed on boxes and balls.

Each follows the definition of PINNacle's source (``src/pde/*.py``): domain, coefficients, initial
and boundary data. Where that definition is ambiguous or inconsistent the choice made here is stated
in the factory's docstring (and in ``benchmarks/pinnacle.py``, which tabulates the cases). References:
closed forms, Cole–Hopf (Burgers), spectral solvers (Kuramoto–Sivashinsky, Gray–Scott, Heat2d-LT) and
a series solution (Wave2d-MS); NS2d-LT has no reference here (PINNacle's is a data file).
"""

from __future__ import annotations

import math

import numpy as np

from pinnlab.equations.burgers import burgers1d
from pinnlab.equations.registry import register_equation
from pinnlab.references.gray_scott import GrayScottReference
from pinnlab.references.heat_longtime import HeatLongTimeReference
from pinnlab.references.kuramoto_sivashinsky import KuramotoSivashinskyReference
from pinnlab.references.pinnacle_closed_forms import wave2d_longtime
from pinnlab.spec import PDE, Coordinate, Dirichlet, Initial, Neumann, Periodic, Problem


def _lazy(build):
    """A reference callable on (N, D) points that builds its (cached) solver, called on the columns, on first use."""
    cache: dict[str, object] = {}

    def reference(points: np.ndarray) -> np.ndarray:
        if "ref" not in cache:
            cache["ref"] = build()
        p = np.asarray(points, dtype=np.float64)
        values = cache["ref"](*p.T)  # type: ignore[operator]
        return values[:, None] if values.ndim == 1 else values

    return reference


@register_equation("pinnacle_burgers1d_c", "PINNacle Burgers1d-C: u_t + u u_x = nu u_xx (nu = 0.01/pi), Cole-Hopf")
def pinnacle_burgers1d_c() -> Problem:
    """x in [-1, 1], t in [0, 1], u(0) = -sin(pi x), u = 0 at x = ±1: the classic problem (``burgers1d``)."""
    return burgers1d().replace(name="pinnacle_burgers1d_c")


@register_equation("pinnacle_heat2d_ms", "PINNacle Heat2d-MS: multi-scale anisotropic heat on [0,1]^2 x [0,5], exact")
def pinnacle_heat2d_ms(t_end: float = 5.0) -> Problem:
    """u_t = u_xx / (500 pi)^2 + u_yy / pi^2, u(0) = sin(20 pi x) sin(pi y), u = 0 on the walls;
    u = sin(20 pi x) sin(pi y) exp(-(400/500^2 + 1) t)."""
    pde = PDE(coordinates=["t", "x", "y"], time="t", fields=["u"],
              parameters={"kx": 1 / (500 * math.pi) ** 2, "ky": 1 / math.pi**2},
              equations={"heat": "u_t - kx*u_xx - ky*u_yy"})
    mode = "sin(20*pi*x)*sin(pi*y)"
    conditions = {"initial": Initial(field="u", value=mode), "boundary": Dirichlet(field="u", value=0)}
    exact = {"u": f"{mode}*exp(-(kx*400*pi**2 + ky*pi**2)*t)"}
    return Problem(pde, {"t": [0.0, t_end], "x": [0.0, 1.0], "y": [0.0, 1.0]}, conditions, exact=exact,
                   name="pinnacle_heat2d_ms")


@register_equation("pinnacle_heat2d_lt", "PINNacle Heat2d-LT: forced nonlinear heat on [0,1]^2 x [0,100], "
                                         "sine-spectral reference")
def pinnacle_heat2d_lt(t_end: float = 100.0, reference_n: int = 128, reference_dt: float = 0.02) -> Problem:
    """u_t = 0.001 lap(u) + 5 sin(u^2) (1 + 2 sin(pi t/4)) sin(4 pi x) sin(2 pi y), u(0) = sin(4 pi x) sin(3 pi y),
    u = 0 on the walls. PINNacle's reference is a data file; here a sine pseudo-spectral solution."""
    pde = PDE(coordinates=["t", "x", "y"], time="t", fields=["u"], parameters={"kd": 1e-3},
              equations={"heat": "u_t - kd*lap(u) - 5*sin(u**2)*(1 + 2*sin(pi*t/4))*sin(4*pi*x)*sin(2*pi*y)"})
    conditions = {"initial": Initial(field="u", value="sin(4*pi*x)*sin(3*pi*y)"),
                  "boundary": Dirichlet(field="u", value=0)}
    reference = _lazy(lambda: HeatLongTimeReference(n=reference_n, dt=reference_dt, t_max=t_end))
    return Problem(pde, {"t": [0.0, t_end], "x": [0.0, 1.0], "y": [0.0, 1.0]}, conditions, reference=reference,
                   name="pinnacle_heat2d_lt")


_WAVE1D = "sin(pi*x)*cos(2*pi*t) + 0.5*sin(4*pi*x)*cos(8*pi*t)"


@register_equation("pinnacle_wave1d_c", "PINNacle Wave1d-C: u_tt = 4 u_xx on [0,1] x [0,1], exact")
def pinnacle_wave1d_c() -> Problem:
    """u(0) = sin(pi x) + sin(4 pi x)/2, u_t(0) = 0, u = 0 at x = 0, 1;
    u = sin(pi x) cos(2 pi t) + sin(4 pi x) cos(8 pi t) / 2."""
    pde = PDE(coordinates=["t", "x"], time="t", fields=["u"], parameters={"c": 2.0},
              equations={"wave": "u_tt - c**2*u_xx"})
    conditions = {"initial": Initial(field="u", value="sin(pi*x) + 0.5*sin(4*pi*x)"),
                  "initial_rate": Initial(equation="u_t = 0"),
                  "boundary": Dirichlet(field="u", value=0, on=["x"])}
    return Problem(pde, {"t": [0.0, 1.0], "x": [0.0, 1.0]}, conditions, exact={"u": _WAVE1D},
                   name="pinnacle_wave1d_c")


_WAVE2D_DATA = "(sin(pi*x)*sinh(pi*y) + sinh(3*pi*x)*sin(2*pi*y))*cos(pi*t)"


@register_equation("pinnacle_wave2d_ms", "PINNacle Wave2d-MS: u_tt = u_xx + 2 u_yy on [0,1]^2 x [0,100] with "
                                         "PINNacle's data; series solution")
def pinnacle_wave2d_ms(t_end: float = 100.0, reference_modes: int = 4000) -> Problem:
    """u_tt = u_xx + a^2 u_yy (a = sqrt 2), u = g at t = 0 and on the walls, u_t(0) = 0, with PINNacle's
    g = (sin(pi x) sinh(pi y) + sinh(3 pi x) sin(2 pi y)) cos(pi t).

    PINNacle scores against g itself, which does not solve this equation (its residual is -2 pi^2 g), and
    states no u_t(0) condition; here the problem keeps PINNacle's equation and data, adds u_t(0) = 0 (which
    g satisfies) and is scored against the true solution (``wave2d_longtime``)."""
    pde = PDE(coordinates=["t", "x", "y"], time="t", fields=["u"], parameters={"a": math.sqrt(2.0)},
              equations={"wave": "u_tt - u_xx - a**2*u_yy"})
    conditions = {"initial": Initial(field="u", value="sin(pi*x)*sinh(pi*y) + sinh(3*pi*x)*sin(2*pi*y)"),
                  "initial_rate": Initial(equation="u_t = 0"),
                  "boundary": Dirichlet(field="u", value=_WAVE2D_DATA, on=["x", "y"])}

    def reference(points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, dtype=np.float64)
        return wave2d_longtime(p[:, 0], p[:, 1], p[:, 2], modes=reference_modes)[:, None]

    return Problem(pde, {"t": [0.0, t_end], "x": [0.0, 1.0], "y": [0.0, 1.0]}, conditions, reference=reference,
                   name="pinnacle_wave2d_ms")


@register_equation("pinnacle_ns2d_lt", "PINNacle NS2d-LT: unsteady channel flow on [0,2]x[0,1], t in [0,5], "
                                       "nu = 0.01 (no reference)")
def pinnacle_ns2d_lt(nu: float = 0.01, t_end: float = 5.0) -> Problem:
    """Incompressible Navier–Stokes with the body force f_y = -sin(pi x) sin(pi y) sin(pi t); inflow
    u = sin(pi y)(sin(pi t) + sin(3 pi t) + sin(5 pi t)), v = 0 at x = 0; p = 0 at x = 2; no slip at y = 0, 1;
    at rest at t = 0. PINNacle also sets p = 0 at t = 0, which the accelerating inflow contradicts, so the
    initial pressure is left free. PINNacle's reference is a data file; none is built here."""
    momentum_x = "u_t + u*u_x + v*u_y + p_x - nu*lap(u)"
    momentum_y = "v_t + u*v_x + v*v_y + p_y - nu*lap(v) + sin(pi*x)*sin(pi*y)*sin(pi*t)"
    pde = PDE(coordinates=["t", "x", "y"], time="t", fields=["u", "v", "p"], parameters={"nu": nu},
              equations={"momentum_x": momentum_x, "momentum_y": momentum_y, "continuity": "u_x + v_y"})
    inflow = "sin(pi*y)*(sin(pi*t) + sin(3*pi*t) + sin(5*pi*t))"
    conditions = {
        "inlet_u": Dirichlet(field="u", value=inflow, on=["x_min"]),
        "inlet_v": Dirichlet(field="v", value=0, on=["x_min"]),
        "outlet_p": Dirichlet(field="p", value=0, on=["x_max"]),
        "walls_u": Dirichlet(field="u", value=0, on=["y_min", "y_max"]),
        "walls_v": Dirichlet(field="v", value=0, on=["y_min", "y_max"]),
        "initial_u": Initial(field="u", value=0),
        "initial_v": Initial(field="v", value=0),
    }
    return Problem(pde, {"t": [0.0, t_end], "x": [0.0, 2.0], "y": [0.0, 1.0]}, conditions, name="pinnacle_ns2d_lt")


@register_equation("pinnacle_gray_scott", "PINNacle Gray-Scott on [-1,1)^2 periodic, t in [0,200], spectral reference")
def pinnacle_gray_scott(t_end: float = 200.0, reference_n: int = 512, reference_dt: float = 0.25) -> Problem:
    """u_t = 1e-5 lap(u) + 0.04 (1 - u) - u v^2, v_t = 5e-6 lap(v) - 0.1 v + u v^2 with PINNacle's Gaussian
    initial data. PINNacle states no boundary condition; the pattern stays far from the edges (the field
    there is at rest, (1, 0), to 1e-5), so the periodic problem is used (see ``references.gray_scott``)."""
    pde = PDE(coordinates=["t", "x", "y"], time="t", fields=["u", "v"],
              parameters={"b": 0.04, "d": 0.1, "eu": 1e-5, "ev": 5e-6},
              equations={"gs_u": "u_t - eu*lap(u) - b*(1 - u) + u*v**2", "gs_v": "v_t - ev*lap(v) + d*v - u*v**2"})
    conditions = {"initial_u": Initial(field="u", value="1 - exp(-80*((x + 0.05)**2 + (y + 0.02)**2))"),
                  "initial_v": Initial(field="v", value="exp(-80*((x - 0.05)**2 + (y - 0.02)**2))"),
                  "periodic_x": Periodic(coordinate="x", derivatives=1),
                  "periodic_y": Periodic(coordinate="y", derivatives=1)}
    reference = _lazy(lambda: GrayScottReference(n=reference_n, dt=reference_dt, t_max=t_end))
    return Problem(pde, {"t": [0.0, t_end], "x": [-1.0, 1.0], "y": [-1.0, 1.0]}, conditions, reference=reference,
                   name="pinnacle_gray_scott")


@register_equation("pinnacle_ks", "PINNacle Kuramoto-Sivashinsky on [0,2pi) periodic, t in [0,1], ETDRK4 reference")
def pinnacle_ks(t_end: float = 1.0, reference_n: int = 384, reference_dt: float = 2.5e-5) -> Problem:
    """u_t + (100/16) u u_x + (100/16^2) u_xx + (100/16^4) u_xxxx = 0, u(0) = cos x (1 + sin x), periodic in x
    (PINNacle states only the initial condition; its reference is the periodic solution)."""
    pde = PDE(coordinates=["t", "x"], time="t", fields=["u"],
              parameters={"alpha": 100 / 16, "beta": 100 / 16**2, "gamma": 100 / 16**4},
              equations={"ks": "u_t + alpha*u*u_x + beta*u_xx + gamma*u_xxxx"})
    conditions = {"initial": Initial(field="u", value="cos(x)*(1 + sin(x))"),
                  "periodic": Periodic(coordinate="x", derivatives=3)}
    reference = _lazy(lambda: KuramotoSivashinskyReference(n=reference_n, dt=reference_dt, t_max=t_end))
    return Problem(pde, {"t": [0.0, t_end], "x": [0.0, 2 * math.pi]}, conditions, reference=reference,
                   name="pinnacle_ks")


@register_equation("pinnacle_poisson_nd", "PINNacle PNd: -lap(u) = pi^2/4 sum sin(pi x_i/2) on [0,1]^5, exact")
def pinnacle_poisson_nd(dim: int = 5) -> Problem:
    """u = sum_i sin(pi x_i / 2) on the unit hypercube, Dirichlet data from u."""
    exact = "sum(sin(pi*x/2))"
    pde = PDE(coordinates=[Coordinate("x", dim=dim)], fields=["u"],
              equations={"poisson": f"lap(u) + pi**2/4*{exact}"})
    domain = {"type": "hypercube", "coordinate": "x", "low": 0.0, "high": 1.0}
    return Problem(pde, domain, {"boundary": Dirichlet(field="u", value=exact)}, exact={"u": exact},
                   name="pinnacle_poisson_nd")


@register_equation("pinnacle_heat_nd", "PINNacle HNd: u_t = lap(u)/d + f in the unit ball (d = 5), t in [0,1], exact")
def pinnacle_heat_nd(dim: int = 5, t_end: float = 1.0) -> Problem:
    """f = -|x|^2 exp(|x|^2/2 + t) / d, u = exp(|x|^2/2 + t); Neumann data dn(u) = |x| exp(|x|^2/2 + t)
    (PINNacle passes u itself, equal to it on |x| = 1) and the initial value exp(|x|^2/2)."""
    exact = "exp(norm2(x)/2 + t)"
    pde = PDE(coordinates=["t", Coordinate("x", dim=dim)], time="t", fields=["u"], parameters={"d": float(dim)},
              equations={"heat": f"u_t - lap(u)/d + norm2(x)/d*{exact}"})
    conditions = {"initial": Initial(field="u", value="exp(norm2(x)/2)"),
                  "boundary": Neumann(field="u", value=f"sqrt(norm2(x))*{exact}")}
    domain = {"type": "ball", "coordinate": "x", "radius": 1.0, "time": [0.0, t_end]}
    return Problem(pde, domain, conditions, exact={"u": exact}, name="pinnacle_heat_nd")
