"""Reference solutions (closed forms, Cole–Hopf, spectral solvers) for error metrics and tests."""

from pinnlab.references.allen_cahn import AllenCahn1DReference, allen_cahn_1d
from pinnlab.references.burgers import burgers_cole_hopf, burgers_reference_grid
from pinnlab.references.fem import FESolution, solve_elliptic
from pinnlab.references.fem_forces import body_force, dfg_quantities
from pinnlab.references.fem_navier_stokes import NavierStokesSolution, solve_navier_stokes
from pinnlab.references.spectral2d import PeriodicSpectral2DReference, solve_periodic_2d
from pinnlab.references.taylor_hood import TaylorHoodField

__all__ = [
    "AllenCahn1DReference",
    "FESolution",
    "NavierStokesSolution",
    "PeriodicSpectral2DReference",
    "TaylorHoodField",
    "allen_cahn_1d",
    "body_force",
    "burgers_cole_hopf",
    "burgers_reference_grid",
    "dfg_quantities",
    "solve_elliptic",
    "solve_navier_stokes",
    "solve_periodic_2d",
]
