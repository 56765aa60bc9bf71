"""Steady 2-D flows with finite-element references: PINNacle's NS2d-C and NS2d-CG, and DFG 2D-1.

* ``pinnacle_ns2d_c`` — PINNacle NS2d-C (Hao et al., NeurIPS 2024; ``NS2D_LidDriven`` of
  PINNacle's ``src/pde/ns.py``): the lid-driven cavity [0, 1]², ν = 0.01, lid u = 4x(1 − x),
  v = 0 at y = 1, no slip on the other walls, p(0, 0) = 0.
* ``pinnacle_ns2d_cg`` — PINNacle NS2d-CG (``NS2D_BackStep``): the backward-facing step
  [0, 4] × [0, 2] minus [0, 2] × [1, 2], ν = 0.01, inflow u = 4y(1 − y), v = 0 at x = 0,
  p = 0 at the outlet x = 4 (PINNacle's meaning: a Dirichlet condition on p, nothing on the
  velocity there), no slip on every other wall. One condition on p does not fix the outlet
  velocity; the reference takes the do-nothing outflow ν ∂u/∂x − p/ρ = ν ∂v/∂x = 0, under
  which p = ρν ∂u/∂x stays below 1.6e-3 on the outlet (p itself spans about ±0.1). (The other
  completion, v = 0 with the natural condition for u, gives p = 0 exactly, but the flow still
  has |v| up to 0.09 there and v then drops to 0 in a layer as thin as the mesh: a solution of
  the discretisation, not of the flow.) ``outlet="do_nothing"`` poses the problem with the
  reference's own condition instead of p = 0.
* ``dfg_cylinder`` — DFG 2D-1 (Schäfer & Turek 1996): the channel [0, 2.2] × [0, 0.41] minus
  the cylinder of radius 0.05 at (0.2, 0.2), ν = 1e-3, parabolic inflow of mean 0.2 (Re = 20),
  no slip on the walls and the cylinder, do-nothing outflow ν ∂u/∂x − p/ρ = ν ∂v/∂x = 0 at
  x = 2.2. The drag and lift coefficients and the pressure difference across the cylinder
  have published values (:data:`DFG_BENCHMARK`).

The references are Taylor–Hood (P2–P1) Newton solutions (:mod:`pinnlab.references.fem_navier_stokes`),
written once by ``benchmarks/make_references.py`` to ``configs/references/NAME.npz`` (computing them
takes 1.5 to 3 minutes per case on one CPU core) and read when a problem's reference is first
evaluated. Relative L2 change on the 101 × 101 evaluation grid from the next coarser mesh
(docs/benchmarks.md has the study): NS2d-C u 6e-6, v 7e-6, p 2.7e-4; NS2d-CG u 1.7e-5,
v 9e-5, p 1.8e-4 (p without the grid node at the singular corner); DFG u 9e-5, v 6e-4, p 7e-4.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pinnlab.equations.navier_stokes import navier_stokes_pde, pressure_gauge
from pinnlab.equations.registry import register_equation
from pinnlab.errors import SpecError
from pinnlab.geometry import Disk, Rectangle
from pinnlab.references.fem_forces import DFG_2D1
from pinnlab.spec import Boundary, Dirichlet, Problem

#: corners where p is unbounded: the lid's ends in NS2d-C, the step's re-entrant corner in NS2d-CG
SINGULAR = {"pinnacle_ns2d_c": ((0.0, 1.0), (1.0, 1.0)), "pinnacle_ns2d_cg": ((2.0, 1.0),)}
#: where the reference files live (override with the environment variable ``PINNLAB_REFERENCES``)
REFERENCE_DIR = Path(__file__).resolve().parents[2] / "configs" / "references"
#: published DFG 2D-1 values: drag and lift coefficients, p(0.15, 0.2) - p(0.25, 0.2)
DFG_BENCHMARK = dict(DFG_2D1)
DFG_H, DFG_U_MAX = 0.41, 0.3


def reference_path(name: str) -> Path:
    """The file holding the reference of the built-in flow ``name``."""
    root = os.environ.get("PINNLAB_REFERENCES")
    return (Path(root) if root else REFERENCE_DIR) / f"{name}.npz"


class FlowReference:
    """The reference of a built-in flow: ``(N, 2)`` points ``(x, y)`` to ``(N, 3)`` values ``(u, v, p)``.

    The file is read on first use; ``field`` is the :class:`~pinnlab.references.taylor_hood.TaylorHoodField`
    (gradients, ``.vtu`` output), ``benchmark`` the published values of the flow, if any, and
    ``singular_points`` the corners where the exact p is unbounded: the value there is the
    discretisation's, and it changes with the mesh (leave such points out of pressure errors).
    """

    def __init__(self, name: str, benchmark: dict[str, float] | None = None, rho: float = 1.0):
        self.name = name
        self.singular_points = SINGULAR.get(name, ())
        self.benchmark = dict(benchmark or {})
        self.rho = float(rho)  # the file holds the solution for rho = 1: p scales with rho
        self._field: Any = None

    @property
    def field(self) -> Any:
        if self._field is None:
            from pinnlab.references.taylor_hood import TaylorHoodField

            path = reference_path(self.name)
            if not path.exists():
                raise SpecError(f"the reference of '{self.name}' is missing ({path}); write it with "
                                f"python benchmarks/make_references.py {self.name}")
            try:
                field = TaylorHoodField.load(path)
                self._field = field if self.rho == 1.0 else TaylorHoodField(
                    field.points, field.triangles, field.velocity, self.rho * field.pressure, field.metadata,
                    field.boundary_edges, field.edge_labels)
            except ValueError as exc:
                raise SpecError(f"the reference of '{self.name}': {exc}") from None
        return self._field

    def __call__(self, points: Any) -> np.ndarray:
        return self.field(np.asarray(points, dtype=np.float64))

    def __repr__(self) -> str:
        return f"FlowReference({self.name!r})"


def _zero(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    return 0.0, 0.0


def corner_grading(point: tuple[float, float], h_min: float, h: float, slope: float = 0.1) -> tuple[Any, ...]:
    """Size fields making the edge length about ``max(h_min, slope · r)`` at distance r from ``point``
    (singular corners: the error of a P1 pressure ~ r^a then shrinks with the slope everywhere)."""
    fields, radius = [], h_min / slope
    while slope * radius < h:
        fields.append((point, slope * radius, radius))
        radius *= 2.0
    return ((point, h_min, 0.0), *fields)


def _do_nothing(part: str) -> dict[str, Boundary]:
    """ν ∂u/∂n − (p/ρ) n = 0 on ``part``, a side x = const with outward normal +x."""
    return {"outlet_x": Boundary(equation="nu*u_x - p/rho = 0", on=[part]),
            "outlet_y": Boundary(equation="nu*v_x = 0", on=[part])}


# -- PINNacle NS2d-C: lid-driven cavity ------------------------------------------------------------

def ns2d_c_lid(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """The lid of NS2d-C: u = 4x(1 - x), v = 0."""
    return 4.0 * x * (1.0 - x), 0.0


@register_equation("pinnacle_ns2d_c", "PINNacle NS2d-C: lid-driven cavity, nu = 0.01, lid u = 4x(1-x); FEM reference")
def pinnacle_ns2d_c(nu: float = 0.01, rho: float = 1.0) -> Problem:
    """Steady cavity flow on [0, 1]² with the lid u = 4x(1 − x) at y = 1 and p(0, 0) = 0."""
    pde = navier_stokes_pde(2, True, nu, rho)
    walls = ["x_min", "x_max", "y_min"]
    conditions = {
        "lid_u": Dirichlet(field="u", value="4*x*(1 - x)", on=["y_max"]),
        "lid_v": Dirichlet(field="v", value=0, on=["y_max"]),
        "walls_u": Dirichlet(field="u", value=0, on=walls),
        "walls_v": Dirichlet(field="v", value=0, on=walls),
        "gauge": pressure_gauge((0.0, 0.0), 0.0),
    }
    return Problem(pde, Rectangle((0.0, 0.0), (1.0, 1.0)), conditions,
                   reference=_reference("pinnacle_ns2d_c", nu, rho), name="pinnacle_ns2d_c")


def ns2d_c_case(level: int) -> dict[str, Any]:
    """NS2d-C on mesh ``level``: h = 0.04/2^level, graded to h/40 at the lid's corners (:func:`corner_grading`),
    where the lid's slope 4 meets the wall's 0 and p is unbounded, and h/4 at the gauge point."""
    from pinnlab.geometry.meshing import triangulate

    h = 0.04 / 2 ** level
    refine = (*corner_grading((0.0, 1.0), h / 40, h), *corner_grading((1.0, 1.0), h / 40, h), ((0.0, 0.0), h / 4, 0.0))
    return {"mesh": triangulate(Rectangle((0.0, 0.0), (1.0, 1.0)), h, refine=refine),
            "dirichlet": {("x_min", "x_max", "y_min"): _zero, "y_max": ns2d_c_lid},
            "pressure": ((0.0, 0.0), 0.0), "h": h, "singular": SINGULAR["pinnacle_ns2d_c"]}


# -- PINNacle NS2d-CG: backward-facing step ---------------------------------------------------------

#: the removed block reaches this far past the channel's left and top sides (as in PINNacle), so that
#: the segments x = 0, 1 < y <= 2 and y = 2, 0 <= x < 2, outside the domain, do not count as inside
STEP_OVERLAP = 1e-6


def step_domain() -> Any:
    """[0, 4] × [0, 2] minus the step [0, 2] × [1, 2] (parts ``step_x_max``, ``step_y_min``, both ``step``)."""
    eps = STEP_OVERLAP
    return Rectangle((0.0, 0.0), (4.0, 2.0)) - Rectangle((-eps, 1.0), (2.0, 2.0 + eps), name="step")


def ns2d_cg_inflow(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """The inflow of NS2d-CG: u = 4y(1 - y), v = 0 at x = 0."""
    return 4.0 * y * (1.0 - y), 0.0


@register_equation("pinnacle_ns2d_cg", "PINNacle NS2d-CG: backward-facing step, nu = 0.01, p = 0 at the outlet; "
                                       "FEM reference")
def pinnacle_ns2d_cg(nu: float = 0.01, rho: float = 1.0, outlet: str = "pinnacle") -> Problem:
    """Steady flow over the backward-facing step: parabolic inflow at x = 0, no slip on the walls, and at
    x = 4 p = 0 (``outlet="pinnacle"``) or the do-nothing condition of the reference (``"do_nothing"``)."""
    pde = navier_stokes_pde(2, True, nu, rho)
    walls = ["y_min", "y_max", "step"]
    conditions: dict[str, Any] = {
        "inlet_u": Dirichlet(field="u", value="4*y*(1 - y)", on=["x_min"]),
        "inlet_v": Dirichlet(field="v", value=0, on=["x_min"]),
        "walls_u": Dirichlet(field="u", value=0, on=walls),
        "walls_v": Dirichlet(field="v", value=0, on=walls),
    }
    if outlet == "pinnacle":
        conditions["outlet_p"] = Dirichlet(field="p", value=0, on=["x_max"])
    elif outlet == "do_nothing":
        conditions.update(_do_nothing("x_max"))
    else:
        raise SpecError(f"pinnacle_ns2d_cg: outlet must be 'pinnacle' or 'do_nothing', got {outlet!r}")
    return Problem(pde, step_domain(), conditions, reference=_reference("pinnacle_ns2d_cg", nu, rho),
                   name="pinnacle_ns2d_cg")


OUTLETS = ("do_nothing", "v_zero")


def ns2d_cg_case(level: int, outlet: str = "do_nothing") -> dict[str, Any]:
    """NS2d-CG on mesh ``level``: h = 0.1/2^level, graded to h/20 at the re-entrant corner (2, 1)
    (:func:`corner_grading`), where p and the velocity gradient are unbounded (~ r^-0.46).

    ``outlet``: ``do_nothing`` (the shipped reference) leaves ν ∂u/∂x − p/ρ = ν ∂v/∂x = 0 at x = 4, so p
    equals ρν ∂u/∂x there (|p| <= 1.6e-3); ``v_zero`` imposes v = 0 there, which with the natural
    condition for u gives p = 0 exactly but forces v from about 0.09 to 0 in a layer of the mesh's width.
    """
    from pinnlab.geometry.meshing import triangulate

    if outlet not in OUTLETS:
        raise SpecError(f"outlet must be one of {', '.join(OUTLETS)}, got {outlet!r}")
    h = 0.1 / 2 ** level
    mesh = triangulate(step_domain(), h, refine=corner_grading((2.0, 1.0), h / 20, h))
    dirichlet: dict[Any, Any] = {"x_min": ns2d_cg_inflow}
    if outlet == "v_zero":
        dirichlet["x_max"] = {"v": lambda x, y: 0.0}
    dirichlet[("y_min", "y_max", "step")] = _zero
    return {"mesh": mesh, "pressure": None, "h": h, "singular": SINGULAR["pinnacle_ns2d_cg"],
            "dirichlet": dirichlet}


# -- DFG 2D-1: flow around a cylinder --------------------------------------------------------------

def dfg_domain() -> Any:
    """The DFG channel minus the cylinder (part ``cylinder``)."""
    return Rectangle((0.0, 0.0), (2.2, DFG_H)) - Disk((0.2, 0.2), 0.05, name="cylinder")


def dfg_inflow(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """u = 4 U y (H - y) / H², v = 0 with U = 0.3, H = 0.41 (mean velocity 0.2)."""
    return 4.0 * DFG_U_MAX * y * (DFG_H - y) / DFG_H**2, 0.0


@register_equation("dfg_cylinder", "DFG 2D-1 (Schaefer & Turek 1996): channel flow around a cylinder, Re = 20; "
                                   "FEM reference, c_D, c_L, delta p")
def dfg_cylinder(nu: float = 1e-3, rho: float = 1.0) -> Problem:
    """DFG 2D-1 with do-nothing outflow; ``problem.reference.benchmark`` holds c_D, c_L and Δp.

    Another ``nu`` than 1e-3 changes the flow: the problem then has no reference."""
    pde = navier_stokes_pde(2, True, nu, rho)
    walls = ["y_min", "y_max"]
    u_in = f"4*{DFG_U_MAX}*y*({DFG_H} - y)/{DFG_H}**2"
    conditions = {
        "inlet_u": Dirichlet(field="u", value=u_in, on=["x_min"]),
        "inlet_v": Dirichlet(field="v", value=0, on=["x_min"]),
        "walls_u": Dirichlet(field="u", value=0, on=walls),
        "walls_v": Dirichlet(field="v", value=0, on=walls),
        "cylinder_u": Dirichlet(field="u", value=0, on=["cylinder"]),
        "cylinder_v": Dirichlet(field="v", value=0, on=["cylinder"]),
        **_do_nothing("x_max"),
    }
    benchmark = {**DFG_BENCHMARK, "delta_p": rho * DFG_BENCHMARK["delta_p"]}
    return Problem(pde, dfg_domain(), conditions, reference=_reference("dfg_cylinder", nu, rho, benchmark),
                   name="dfg_cylinder")


def dfg_case(level: int) -> dict[str, Any]:
    """DFG 2D-1 on mesh ``level``: h = 0.04/2^level, h/8 within 0.06 of the cylinder's centre, h/3 within
    0.1 of it and along the near wake (centres 0.3 to 0.7 on y = 0.2)."""
    from pinnlab.geometry.meshing import triangulate

    h = 0.04 / 2 ** level
    wake = tuple(((x, 0.2), h / 3, 0.1) for x in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7))
    mesh = triangulate(dfg_domain(), h, refine=(((0.2, 0.2), h / 8, 0.06), *wake))
    return {"mesh": mesh, "pressure": None, "h": h, "singular": [],
            "dirichlet": {"x_min": dfg_inflow, ("y_min", "y_max", "cylinder"): _zero}}


#: the finite-element set-up of each built-in flow by mesh level, and its viscosity
CASES: dict[str, tuple[Callable[[int], dict[str, Any]], float]] = {
    "pinnacle_ns2d_c": (ns2d_c_case, 0.01),
    "pinnacle_ns2d_cg": (ns2d_cg_case, 0.01),
    "dfg_cylinder": (dfg_case, 1e-3),
}


def _reference(name: str, nu: float, rho: float, benchmark: dict[str, float] | None = None) -> FlowReference | None:
    """The shipped reference (any density), or None for another viscosity than the one it was computed for."""
    if abs(nu - CASES[name][1]) > 1e-12 * CASES[name][1]:
        return None
    if not (np.isfinite(rho) and rho > 0):
        raise SpecError(f"{name}: rho must be a positive number, got {rho!r}")
    return FlowReference(name, benchmark, rho)
