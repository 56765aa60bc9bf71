"""Incompressible Navier–Stokes in velocity–pressure form, and classical cases with known answers.

    u_t + (u·∇)u + ∇p/rho - nu Δu - f = 0,    ∇·u = 0

in 2-D (fields u, v, p over x, y) or 3-D (u, v, w, p over x, y, z), steady or with
time t. ``f`` is a body acceleration (force per unit mass). The pressure is fixed
only up to a constant (a function of time, for unsteady flow) by these equations
and velocity boundary data; a *gauge* removes it: :func:`pressure_gauge` pins p
at one point (at several times for unsteady flow), and ``gauge="none"`` leaves it
free. (A mean-zero gauge would need a loss term that averages over the points;
the compiled residuals are pointwise, so it is not offered.)

Cases: Kovasznay flow (steady 2-D, exact), the decaying Taylor–Green vortex
(unsteady 2-D periodic, exact), the lid-driven cavity (steady 2-D, validated
against Ghia, Ghia & Shin 1982) and the Ethier–Steinman Beltrami flow (unsteady
3-D, exact).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from pinnlab.equations.registry import register_equation
from pinnlab.errors import SpecError
from pinnlab.spec import PDE, Data, Dirichlet, Initial, Periodic, Problem

SPACE = ("x", "y", "z")
VELOCITY = ("u", "v", "w")


def _viscosity(nu: float | None, re: float | None, default: float) -> float:
    if nu is not None and re is not None:
        raise SpecError("navier_stokes: give either 'nu' or 're' (nu = 1/re), not both")
    if re is not None:
        if re <= 0:
            raise SpecError(f"navier_stokes: re must be positive, got {re}")
        return 1.0 / float(re)
    value = default if nu is None else float(nu)
    if value <= 0:
        raise SpecError(f"navier_stokes: nu must be positive, got {value}")
    return value


def navier_stokes_equations(dim: int = 2, steady: bool = True,
                            force: Sequence[str | float] | None = None) -> dict[str, str]:
    """The momentum equations ``momentum_x, ...`` and ``continuity`` as expression strings.

    ``force`` lists one body-acceleration expression per velocity component.
    """
    if dim not in (2, 3):
        raise SpecError(f"navier_stokes: dim must be 2 or 3, got {dim}")
    space, vel = SPACE[:dim], VELOCITY[:dim]
    if force is not None and len(force) != dim:
        raise SpecError(f"navier_stokes: force needs {dim} components, got {len(force)}")
    equations = {}
    for i, (ui, xi) in enumerate(zip(vel, space)):
        convection = " + ".join(f"{uj}*{ui}_{xj}" for uj, xj in zip(vel, space))
        text = f"{convection} + p_{xi}/rho - nu*lap({ui})"
        if not steady:
            text = f"{ui}_t + {text}"
        if force is not None:
            text += f" - ({force[i]})"
        equations[f"momentum_{xi}"] = text
    equations["continuity"] = " + ".join(f"{ui}_{xi}" for ui, xi in zip(vel, space))
    return equations


def navier_stokes_pde(dim: int = 2, steady: bool = True, nu: float = 0.01, rho: float = 1.0,
                      force: Sequence[str | float] | None = None,
                      parameters: Mapping[str, float] | None = None) -> PDE:
    """The incompressible Navier–Stokes PDE; ``parameters`` adds named constants for the force."""
    space = list(SPACE[:dim])
    coords = space if steady else ["t", *space]
    return PDE(coordinates=coords, time=None if steady else "t", fields=[*VELOCITY[:dim], "p"],
               parameters={"nu": nu, "rho": rho, **dict(parameters or {})},
               equations=navier_stokes_equations(dim, steady, force))


def pressure_gauge(point: Sequence[float], value: float | Sequence[float] = 0.0,
                   times: Sequence[float] | None = None) -> Data:
    """A data condition pinning ``p`` at the spatial ``point`` (at each of ``times`` if unsteady).

    ``value`` is one number, or one per time. The coordinates are ordered as the
    PDE's columns: ``(x, y[, z])`` steady, ``(t, x, y[, z])`` unsteady.
    """
    point = [float(c) for c in point]
    if times is None:
        if np.ndim(value) != 0:
            raise SpecError(f"pressure_gauge: a steady gauge takes one value, got {value!r}")
        coords = np.array([point])
        values = np.array([[float(value)]])
    else:
        ts = np.asarray(times, dtype=float)
        coords = np.column_stack([ts, np.tile(point, (len(ts), 1))])
        values = np.broadcast_to(np.asarray(value, dtype=float), ts.shape)[:, None].copy()
    return Data(fields=["p"], coords=coords, values=values)


def _exact_gauge(problem: Problem, point: Sequence[float], times: Sequence[float] | None) -> Data:
    """Pin p to the exact solution's value at ``point`` (and ``times``)."""
    from pinnlab.compile import exact_function

    gauge = pressure_gauge(point, 0.0, times)
    solution = exact_function(problem)
    with torch.no_grad():
        p = solution(torch.as_tensor(gauge.coords, dtype=torch.float64))[:, -1].numpy()
    return gauge.replace(values=p[:, None])


def _with_gauge(problem: Problem, gauge: str, point: Sequence[float], times: Sequence[float] | None) -> Problem:
    if gauge == "none":
        return problem
    if gauge != "point":
        raise SpecError(f"navier_stokes: gauge must be 'point' or 'none', got {gauge!r}")
    return problem.replace(conditions={**problem.conditions, "gauge": _exact_gauge(problem, point, times)})


def _velocity_dirichlet(values: Mapping[str, str], on: list[str] | None = None) -> dict[str, Dirichlet]:
    return {f"boundary_{f}": Dirichlet(field=f, value=v, on=on) for f, v in values.items()}


@register_equation("navier_stokes", "incompressible Navier-Stokes (dim 2|3, steady or not); give the "
                                    "domain and conditions in the config")
def navier_stokes(dim: int = 2, steady: bool = True, nu: float | None = None, re: float | None = None,
                  rho: float = 1.0, force: Sequence[str | float] | None = None,
                  gauge_point: Sequence[float] | None = None, gauge_value: float = 0.0,
                  gauge_times: int = 11, t_end: float = 1.0) -> Problem:
    """A bare Navier–Stokes problem on the unit box, to complete with ``domain``/``conditions``.

    With ``gauge_point``, p is pinned to ``gauge_value`` there (at ``gauge_times``
    times in [0, t_end] when unsteady).
    """
    pde = navier_stokes_pde(dim, steady, _viscosity(nu, re, 0.01), rho, force)
    domain = {c: [0.0, 1.0] for c in SPACE[:dim]}
    if not steady:
        domain = {"t": [0.0, t_end], **domain}
    conditions = {}
    if gauge_point is not None:
        times = None if steady else np.linspace(0.0, t_end, gauge_times)
        conditions["gauge"] = pressure_gauge(gauge_point, gauge_value, times)
    return Problem(pde, domain, conditions, name=f"navier_stokes{dim}d")


# -- Kovasznay flow ------------------------------------------------------------------------------

#: lambda = Re/2 - sqrt(Re^2/4 + 4 pi^2) written with Re = 1/nu, so parameter overrides stay exact
KOVASZNAY_LAMBDA = "(1/(2*nu) - sqrt(1/(4*nu**2) + 4*pi**2))"


def kovasznay_exact() -> dict[str, str]:
    """Kovasznay (1948): u = 1 - e^{λx} cos 2πy, v = λ/(2π) e^{λx} sin 2πy, p = ρ(1 - e^{2λx})/2."""
    lam = KOVASZNAY_LAMBDA
    return {
        "u": f"1 - exp({lam}*x)*cos(2*pi*y)",
        "v": f"{lam}/(2*pi)*exp({lam}*x)*sin(2*pi*y)",
        "p": f"rho/2*(1 - exp(2*{lam}*x))",
    }


@register_equation("kovasznay", "Kovasznay flow (steady 2-D NS, Re = 40), exact solution")
def kovasznay(re: float = 40.0, rho: float = 1.0, gauge: str = "point",
              x: Sequence[float] = (-0.5, 1.0), y: Sequence[float] = (-0.5, 1.5)) -> Problem:
    """Kovasznay flow on ``x × y``; exact velocity on the whole boundary, p pinned at (0, 0.5)."""
    pde = navier_stokes_pde(2, True, _viscosity(None, re, 0.025), rho)
    exact = kovasznay_exact()
    conditions = _velocity_dirichlet({"u": exact["u"], "v": exact["v"]})
    problem = Problem(pde, {"x": list(x), "y": list(y)}, conditions, exact=exact, name="kovasznay")
    return _with_gauge(problem, gauge, (0.0, 0.5), None)


# -- Taylor–Green vortex -------------------------------------------------------------------------

def taylor_green_exact() -> dict[str, str]:
    """Decaying Taylor–Green vortex: u = cos x sin y F, v = -sin x cos y F, F = e^{-2νt}."""
    decay = "exp(-2*nu*t)"
    return {
        "u": f"cos(x)*sin(y)*{decay}",
        "v": f"-sin(x)*cos(y)*{decay}",
        "p": f"-rho/4*(cos(2*x) + cos(2*y))*{decay}**2",
    }


@register_equation("taylor_green2d", "decaying Taylor-Green vortex on [0, 2pi]^2 (periodic), exact solution")
def taylor_green2d(nu: float = 0.1, re: float | None = None, rho: float = 1.0, t_end: float = 1.0,
                   gauge: str = "point", gauge_times: int = 11) -> Problem:
    """Unsteady 2-D Taylor–Green vortex, periodic in x and y; p pinned at (π/4, π/4) where it is 0."""
    pde = navier_stokes_pde(2, False, _viscosity(nu if re is None else None, re, 0.01), rho)
    exact = taylor_green_exact()
    conditions = {
        "initial_u": Initial(field="u", value="cos(x)*sin(y)"),
        "initial_v": Initial(field="v", value="-sin(x)*cos(y)"),
        "periodic_x": Periodic(coordinate="x", derivatives=1),
        "periodic_y": Periodic(coordinate="y", derivatives=1),
    }
    two_pi = 2.0 * np.pi
    domain = {"t": [0.0, t_end], "x": [0.0, two_pi], "y": [0.0, two_pi]}
    problem = Problem(pde, domain, conditions, exact=exact, name="taylor_green2d")
    return _with_gauge(problem, gauge, (np.pi / 4, np.pi / 4), np.linspace(0.0, t_end, gauge_times))


# -- lid-driven cavity ---------------------------------------------------------------------------

LIDS = ("squared", "polynomial", "sharp")


def lid_profile(lid: str = "squared", exponent: int = 8) -> str:
    """The lid velocity u(x, 1) as an expression.

    ``sharp``: u = 1 (discontinuous at the upper corners, as in Ghia et al.);
    ``polynomial``: u = 1 - (2x-1)^(2k), continuous but with slope -4k at the corners,
    where the side walls need u_x = -v_y = 0; ``squared``: u = (1 - (2x-1)^(2k))^2,
    which vanishes with zero slope, so the boundary data are C^1 at the corners.
    """
    if lid not in LIDS:
        raise SpecError(f"lid_driven_cavity: lid must be one of {', '.join(LIDS)}, got {lid!r}")
    if isinstance(exponent, bool) or not isinstance(exponent, int) or exponent < 1:
        raise SpecError(f"lid_driven_cavity: lid_exponent must be a positive integer, got {exponent!r}")
    if lid == "sharp":
        return "1"
    bump = f"(1 - (2*x - 1)**{2 * exponent})"
    return bump if lid == "polynomial" else f"{bump}**2"


@register_equation("lid_driven_cavity", "lid-driven cavity on [0,1]^2 (smoothed lid), Ghia et al. (1982) "
                                        "centreline data for Re = 100, 1000")
def lid_driven_cavity(re: float = 100.0, rho: float = 1.0, lid: str = "squared", lid_exponent: int = 8,
                      gauge: str = "point") -> Problem:
    """Steady cavity flow on [0, 1]^2 with the lid velocity :func:`lid_profile` at y = 1.

    The default ``(1 - (2x-1)^16)^2`` is within 1 % of 1 for 0.15 <= x <= 0.85 and
    removes the corner singularities (see :func:`lid_profile`); p is pinned to 0 at
    the lower-left corner.
    """
    pde = navier_stokes_pde(2, True, _viscosity(None, re, 0.01), rho)
    conditions = {
        "lid_u": Dirichlet(field="u", value=lid_profile(lid, lid_exponent), on=["y_max"]),
        "lid_v": Dirichlet(field="v", value=0, on=["y_max"]),
        "walls_u": Dirichlet(field="u", value=0, on=["x_min", "x_max", "y_min"]),
        "walls_v": Dirichlet(field="v", value=0, on=["x_min", "x_max", "y_min"]),
    }
    if gauge == "point":
        conditions["gauge"] = pressure_gauge((0.0, 0.0), 0.0)
    elif gauge != "none":
        raise SpecError(f"lid_driven_cavity: gauge must be 'point' or 'none', got {gauge!r}")
    return Problem(pde, {"x": [0.0, 1.0], "y": [0.0, 1.0]}, conditions, name=f"cavity_re{re:g}")


# -- Ethier–Steinman Beltrami flow ---------------------------------------------------------------

def beltrami_exact() -> dict[str, str]:
    """Ethier & Steinman (1994), Int. J. Numer. Meth. Fluids 19, 369-375, with parameters a, d."""
    decay = "exp(-nu*d**2*t)"
    u = f"-a*(exp(a*x)*sin(a*y + d*z) + exp(a*z)*cos(a*x + d*y))*{decay}"
    v = f"-a*(exp(a*y)*sin(a*z + d*x) + exp(a*x)*cos(a*y + d*z))*{decay}"
    w = f"-a*(exp(a*z)*sin(a*x + d*y) + exp(a*y)*cos(a*z + d*x))*{decay}"
    p = (f"-rho*a**2/2*(exp(2*a*x) + exp(2*a*y) + exp(2*a*z)"
         f" + 2*sin(a*x + d*y)*cos(a*z + d*x)*exp(a*(y + z))"
         f" + 2*sin(a*y + d*z)*cos(a*x + d*y)*exp(a*(z + x))"
         f" + 2*sin(a*z + d*x)*cos(a*y + d*z)*exp(a*(x + y)))*{decay}**2")
    return {"u": u, "v": v, "w": w, "p": p}


@register_equation("beltrami3d", "Ethier-Steinman Beltrami flow on [-1,1]^3 x [0,1] (unsteady 3-D), exact")
def beltrami3d(a: float = np.pi / 4, d: float = np.pi / 2, nu: float = 1.0, re: float | None = None,
               rho: float = 1.0, t_end: float = 1.0, gauge: str = "point", gauge_times: int = 11) -> Problem:
    """Unsteady 3-D Beltrami flow; exact velocity on the boundary and at t = 0, p pinned at the centre.

    The gauge values are the exact pressure for these arguments: change a, d or nu
    here (``problem.options``), not through ``problem.parameters``, which would leave
    them stale. (Kovasznay and Taylor–Green pin p where it is 0 for any parameters.)
    """
    pde = navier_stokes_pde(3, False, _viscosity(nu if re is None else None, re, 1.0), rho,
                            parameters={"a": a, "d": d})
    exact = beltrami_exact()
    initial = {f: exact[f].replace("*exp(-nu*d**2*t)", "") for f in VELOCITY}
    conditions: dict = {f"initial_{f}": Initial(field=f, value=initial[f]) for f in VELOCITY}
    conditions.update(_velocity_dirichlet({f: exact[f] for f in VELOCITY}))
    domain = {"t": [0.0, t_end], **{c: [-1.0, 1.0] for c in SPACE}}
    problem = Problem(pde, domain, conditions, exact=exact, name="beltrami3d")
    return _with_gauge(problem, gauge, (0.0, 0.0, 0.0), np.linspace(0.0, t_end, gauge_times))
