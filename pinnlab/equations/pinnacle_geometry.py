"""PINNacle's Poisson problems on complex geometry (Hao et al., NeurIPS 2024), with finite-element references.

Both are posed on a square with circular holes; the boundary parts are ``outer`` (the square)
and ``holes`` (every circle), as in PINNacle's ``src/pde/poisson.py`` (``Poisson2D_Classic``,
``PoissonBoltzmann2D``). PINNacle compares with COMSOL data files; here the reference is an
isoparametric P2 finite-element solution computed when it is first evaluated (a few seconds,
kept in memory only), on a mesh fine enough that halving ``h`` changes it by less than 1e-5
relative in L2 (docs/benchmarks.md gives the convergence study).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from pinnlab.equations.registry import register_equation
from pinnlab.geometry import geometry_from_dict, triangulate
from pinnlab.references.fem import FESolution, solve_elliptic
from pinnlab.spec import PDE, Dirichlet, Problem

C_HOLES = [(0.3, 0.3, 0.1), (-0.3, 0.3, 0.1), (0.3, -0.3, 0.1), (-0.3, -0.3, 0.1)]
CG_HOLES = [(0.5, 0.5, 0.2), (0.4, -0.4, 0.4), (-0.2, -0.7, 0.1), (-0.6, 0.5, 0.3)]
C_REFERENCE_H = 0.007
"""Mesh size of Poisson2d-C's reference: P2, 84 061 dofs, relative L2 difference 2.6e-6 to h = 0.0035."""
CG_REFERENCE_H = 0.007
"""Mesh size of Poisson2d-CG's reference: P2, 291 861 dofs, relative L2 difference 2.9e-6 to h = 0.005."""
CG_K2, CG_A = 64.0, 10.0


def holed_square(half: float, holes: list[tuple[float, float, float]]) -> dict[str, Any]:
    """The shape tree of ``[-half, half]²`` (part ``outer``) minus disks (part ``holes``)."""
    square = {"type": "rectangle", "low": [-half, -half], "high": [half, half], "name": "outer"}
    disks = [{"type": "disk", "center": [cx, cy], "radius": r, "name": "holes"} for cx, cy, r in holes]
    return {"type": "difference", "of": [square, *disks]}


def cg_source(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """PINNacle's forcing ``A (μ1² + x² + μ2² + y²) sin(μ1 π x) sin(μ2 π y)`` with A = 10, μ = (1, 4)."""
    return CG_A * (17.0 + x**2 + y**2) * np.sin(np.pi * x) * np.sin(4 * np.pi * y)


def _mesh(half: float, holes: list[tuple[float, float, float]], h: float) -> Any:
    return triangulate(geometry_from_dict(holed_square(half, holes), ["x", "y"]), h)


def solve_c(h: float = C_REFERENCE_H, order: int = 2) -> FESolution:
    """The finite-element solution of Poisson2d-C on a mesh of size ``h``."""
    return solve_elliptic(_mesh(0.5, C_HOLES, h), dirichlet={"outer": 1.0, "holes": 0.0}, order=order)


def solve_cg(h: float = CG_REFERENCE_H, order: int = 2) -> FESolution:
    """The finite-element solution of Poisson2d-CG on a mesh of size ``h``."""
    return solve_elliptic(_mesh(1.0, CG_HOLES, h), f=cg_source, c=CG_K2, dirichlet={"outer": 0.2, "holes": 1.0},
                          order=order)


class LazyReference:
    """A reference callable on ``(N, 2)`` points that solves its problem on first use and keeps the solution."""

    def __init__(self, build: Callable[[], FESolution]):
        self.build = build
        self.solution: FESolution | None = None

    def __call__(self, points: Any) -> np.ndarray:
        if self.solution is None:
            self.solution = self.build()
        return self.solution(np.asarray(points, dtype=np.float64).reshape(-1, 2))[:, None]


def _check(h: Any, order: Any) -> tuple[float, int]:
    if isinstance(h, bool) or not isinstance(h, (int, float)) or not math.isfinite(h) or not 0 < h <= 0.2:
        raise ValueError(f"reference_h must be a mesh size in (0, 0.2], got {h!r}")
    if order not in (1, 2):
        raise ValueError(f"reference_order must be 1 or 2, got {order!r}")
    return float(h), int(order)


@register_equation("pinnacle_poisson2d_c", "PINNacle Poisson2d-C: lap(u) = 0 on a square minus four disks, "
                                           "u = 1 / 0, P2 finite-element reference")
def pinnacle_poisson2d_c(reference_h: float = C_REFERENCE_H, reference_order: int = 2) -> Problem:
    """Δu = 0 in [−0.5, 0.5]² minus the disks of radius 0.1 at (±0.3, ±0.3); u = 1 on ``outer``, 0 on ``holes``."""
    h, order = _check(reference_h, reference_order)
    pde = PDE(coordinates=["x", "y"], fields=["u"], equations={"laplace": "lap(u)"})
    conditions = {"outer": Dirichlet(field="u", value=1, on=["outer"]),
                  "holes": Dirichlet(field="u", value=0, on=["holes"])}
    return Problem(pde, holed_square(0.5, C_HOLES), conditions, reference=LazyReference(lambda: solve_c(h, order)),
                   name="pinnacle_poisson2d_c")


@register_equation("pinnacle_poisson2d_cg", "PINNacle Poisson2d-CG: -lap(u) + 64 u = f on a square minus four "
                                            "disks, u = 0.2 / 1, P2 finite-element reference")
def pinnacle_poisson2d_cg(reference_h: float = CG_REFERENCE_H, reference_order: int = 2) -> Problem:
    """Poisson–Boltzmann (Helmholtz) −Δu + 64u = 10(17 + x² + y²) sin(πx) sin(4πy) in [−1, 1]² minus the disks
    (centre, radius) (0.5, 0.5, 0.2), (0.4, −0.4, 0.4), (−0.2, −0.7, 0.1), (−0.6, 0.5, 0.3); u = 0.2 on ``outer``,
    1 on ``holes``."""
    h, order = _check(reference_h, reference_order)
    forcing = "10*(17 + x**2 + y**2)*sin(pi*x)*sin(4*pi*y)"
    pde = PDE(coordinates=["x", "y"], fields=["u"], equations={"helmholtz": f"-lap(u) + 64*u - {forcing}"})
    conditions = {"outer": Dirichlet(field="u", value=0.2, on=["outer"]),
                  "holes": Dirichlet(field="u", value=1, on=["holes"])}
    return Problem(pde, holed_square(1.0, CG_HOLES), conditions, reference=LazyReference(lambda: solve_cg(h, order)),
                   name="pinnacle_poisson2d_cg")
