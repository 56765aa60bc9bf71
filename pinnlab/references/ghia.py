"""Lid-driven cavity centreline velocities of Ghia, Ghia & Shin (1982).

U. Ghia, K. N. Ghia and C. T. Shin, "High-Re solutions for incompressible flow
using the Navier-Stokes equations and a multigrid method", J. Comput. Phys. 48
(1982) 387-411: Table I (u along the vertical line x = 0.5 through the cavity
centre) and Table II (v along the horizontal line y = 0.5), computed on a uniform
129 x 129 grid of the unit square with the lid u = 1 at y = 1. Each table row sits
on a grid line: the coordinate is (n - 1)/128 rounded to four digits, n the grid
point number listed in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: grid point numbers (1..129) of the Table I rows, top to bottom
TABLE_I_POINTS = (129, 126, 125, 124, 123, 110, 95, 80, 65, 59, 37, 23, 14, 10, 9, 8, 1)
#: y of the Table I rows
TABLE_I_Y = (1.0000, 0.9766, 0.9688, 0.9609, 0.9531, 0.8516, 0.7344, 0.6172, 0.5000,
             0.4531, 0.2813, 0.1719, 0.1016, 0.0703, 0.0625, 0.0547, 0.0000)
#: u(0.5, y) by Reynolds number
TABLE_I_U = {
    100: (1.00000, 0.84123, 0.78871, 0.73722, 0.68717, 0.23151, 0.00332, -0.13641, -0.20581,
          -0.21090, -0.15662, -0.10150, -0.06434, -0.04775, -0.04192, -0.03717, 0.00000),
    1000: (1.00000, 0.65928, 0.57492, 0.51117, 0.46604, 0.33304, 0.18719, 0.05702, -0.06080,
           -0.10648, -0.27805, -0.38289, -0.29730, -0.22220, -0.20196, -0.18109, 0.00000),
}

#: grid point numbers of the Table II rows, right to left
TABLE_II_POINTS = (129, 125, 124, 123, 122, 117, 111, 104, 65, 31, 30, 21, 13, 11, 10, 9, 1)
#: x of the Table II rows
TABLE_II_X = (1.0000, 0.9688, 0.9609, 0.9531, 0.9453, 0.9063, 0.8594, 0.8047, 0.5000,
              0.2344, 0.2266, 0.1563, 0.0938, 0.0781, 0.0703, 0.0625, 0.0000)
#: v(x, 0.5) by Reynolds number
TABLE_II_V = {
    100: (0.00000, -0.05906, -0.07391, -0.08864, -0.10313, -0.16914, -0.22445, -0.24533, 0.05454,
          0.17527, 0.17507, 0.16077, 0.12317, 0.10890, 0.10091, 0.09233, 0.00000),
    1000: (0.00000, -0.21388, -0.27669, -0.33714, -0.39188, -0.51550, -0.42665, -0.31966, 0.02526,
           0.32235, 0.33075, 0.37095, 0.32627, 0.30353, 0.29012, 0.27485, 0.00000),
}

REYNOLDS = tuple(sorted(TABLE_I_U))


@dataclass(frozen=True)
class GhiaCentrelines:
    """The two centreline profiles at one Reynolds number, sorted by increasing coordinate."""

    re: int
    y: np.ndarray  # vertical centreline x = 0.5
    u: np.ndarray
    x: np.ndarray  # horizontal centreline y = 0.5
    v: np.ndarray

    def u_points(self) -> np.ndarray:
        """(N, 2) points (x = 0.5, y) of the u profile."""
        return np.column_stack([np.full_like(self.y, 0.5), self.y])

    def v_points(self) -> np.ndarray:
        """(N, 2) points (x, y = 0.5) of the v profile."""
        return np.column_stack([self.x, np.full_like(self.x, 0.5)])


def ghia_centrelines(re: float) -> GhiaCentrelines:
    """Ghia et al. (1982) centreline data for ``re`` (100 or 1000)."""
    key = round(re)
    if key not in TABLE_I_U or abs(re - key) > 1e-9:
        raise ValueError(f"Ghia et al. centreline data are typed in for Re = {', '.join(map(str, REYNOLDS))}; "
                         f"got {re}")
    y, u = np.array(TABLE_I_Y)[::-1], np.array(TABLE_I_U[key])[::-1]
    x, v = np.array(TABLE_II_X)[::-1], np.array(TABLE_II_V[key])[::-1]
    return GhiaCentrelines(key, y, u, x, v)


def centreline_errors(predict, re: float) -> dict[str, float]:
    """Max |u - u_Ghia| on x = 0.5 and max |v - v_Ghia| on y = 0.5.

    ``predict`` maps (N, 2) points (x, y) to (N, >=2) values whose first two columns are u, v.
    """
    ref = ghia_centrelines(re)
    u = np.asarray(predict(ref.u_points()))[:, 0]
    v = np.asarray(predict(ref.v_points()))[:, 1]
    return {"u_max_error": float(np.max(np.abs(u - ref.u))), "v_max_error": float(np.max(np.abs(v - ref.v)))}
