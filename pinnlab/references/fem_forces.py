"""Forces of a flow on a body, from a Taylor–Hood solution, and the DFG 2D-1 benchmark quantities.

The force of the fluid on the body B (boundary part Γ, normal n_B out of B, into the fluid) is

    F = ∫_Γ σ n_B ds,    σ = −p I + ρν (∇u + ∇uᵀ).

``volume``: with a finite-element function w equal to a unit vector e on Γ and zero at every
other node, the momentum equation tested with w turns the line integral into a volume integral
over the triangles next to Γ (Babuška & Miller 1984; John & Matthies 2001):

    F·e = −∫_Ω ρν ∇u:∇w + ρ (u·∇u)·w − p ∇·w dx,

which converges at the rate of the energy error squared and is far more accurate than the line
integral on P2–P1 elements. (On a no-slip wall ∇uᵀ n adds nothing to the force.)
``line``: the line integral itself, with Gauss points on the boundary edges and the gradients
of the triangle next to each edge.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from .taylor_hood import TaylorHoodField, triangle_rule

METHODS = ("volume", "line")

#: DFG 2D-1 (Schäfer & Turek 1996), reference values of John & Matthies (2001) / Nabh (1998)
DFG_2D1 = {"c_d": 5.57953523384, "c_l": 0.010618948146, "delta_p": 0.11752016697}
#: the geometry and flow of DFG 2D-1
DFG_CENTER, DFG_RADIUS, DFG_U_MEAN, DFG_NU = (0.2, 0.2), 0.05, 0.2, 1e-3


def body_force(field: TaylorHoodField, on: str | Sequence[str], nu: float, rho: float = 1.0,
               method: str = "volume") -> NDArray:
    """The force ``(F_x, F_y)`` of the flow ``field`` on the boundary parts ``on``."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "line":
        return _line_force(field, on, nu, rho)
    return _volume_force(field, on, nu, rho)


def _volume_force(field: TaylorHoodField, on: str | Sequence[str], nu: float, rho: float) -> NDArray:
    body = np.zeros(len(field.velocity), dtype=bool)
    body[field.body_nodes(on)] = True
    cells6 = field.cells6
    cells = np.flatnonzero(body[cells6].any(axis=1))
    bary, weights = triangle_rule(6)
    q = len(weights)
    tri = np.repeat(cells, q)
    lam = np.tile(bary, (len(cells), 1))
    glam = field._grad_lambda(tri)
    phi, dphi = field._p2_shape(lam, glam)  # (N, 6), (N, 6, 2)
    nodes = cells6[tri]
    vel = field.velocity[nodes]
    u = np.einsum("nk,nkc->nc", phi, vel)
    grad = np.einsum("nkd,nkc->ncd", dphi, vel)  # [component, direction]
    p = np.einsum("nk,nk->n", lam, field.pressure[field.triangles[tri]])
    convect = np.einsum("ncd,nd->nc", grad, u)
    mask = body[nodes].astype(np.float64)  # w = e * sum of the body nodes' shape functions
    w_val = (phi * mask).sum(1)
    w_grad = (dphi * mask[:, :, None]).sum(1)  # (N, 2): gradient of that scalar
    dx = np.repeat(field.area[cells], q) * np.tile(weights, len(cells))
    force = np.zeros(2)
    for c in range(2):  # w = e_c * s, so grad w has row c = grad s, div w = s_{x_c}
        integrand = rho * nu * (grad[:, c, :] * w_grad).sum(1) + rho * convect[:, c] * w_val - p * w_grad[:, c]
        force[c] = -(integrand * dx).sum()
    return force


def _line_force(field: TaylorHoodField, on: str | Sequence[str], nu: float, rho: float) -> NDArray:
    rows = field.edges_on(on)
    edges = field.boundary_edges[rows]
    cells = field.boundary_cells()[rows]
    a, b = field.points[edges[:, 0]], field.points[edges[:, 1]]
    length = np.hypot(*(b - a).T)
    normal = np.column_stack([(b - a)[:, 1], -(b - a)[:, 0]]) / length[:, None]
    centre = field.points[field.triangles[cells]].mean(axis=1)
    outward = np.sign(((0.5 * (a + b) - centre) * normal).sum(1))  # out of the fluid, into the body
    n_body = -normal * outward[:, None]
    gauss, gw = np.polynomial.legendre.leggauss(4)
    s, w = 0.5 * (gauss + 1), 0.5 * gw
    x = (a[:, None, :] + s[None, :, None] * (b - a)[:, None, :]).reshape(-1, 2)
    tri = np.repeat(cells, len(s))
    lam = field._barycentric(x, tri)
    values = field.evaluate_in(tri, lam, gradients=True)
    p = values[:, 2]
    g = values[:, 3:7].reshape(-1, 2, 2)
    stress = rho * nu * (g + g.transpose(0, 2, 1)) - p[:, None, None] * np.eye(2)
    nn = np.repeat(n_body, len(s), axis=0)
    traction = np.einsum("nij,nj->ni", stress, nn)
    ds = (length[:, None] * w[None, :]).reshape(-1)
    return (traction * ds[:, None]).sum(0)


def dfg_quantities(field: TaylorHoodField, on: str | Sequence[str] = "cylinder", method: str = "volume",
                   nu: float = DFG_NU, rho: float = 1.0, u_mean: float = DFG_U_MEAN,
                   center: Sequence[float] = DFG_CENTER, radius: float = DFG_RADIUS) -> dict[str, float]:
    """Drag and lift coefficients ``c = 2F/(ρ U² D)`` and ``Δp = p(front) − p(back)`` of DFG 2D-1."""
    force = body_force(field, on, nu, rho, method)
    scale = 2.0 / (rho * u_mean**2 * 2 * radius)
    cx, cy = center
    ends = np.array([[cx - radius, cy], [cx + radius, cy]])
    p = field.evaluate(ends)[:, 2]
    return {"c_d": float(scale * force[0]), "c_l": float(scale * force[1]), "delta_p": float(p[0] - p[1])}
