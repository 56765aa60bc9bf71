"""Reference solutions (closed forms, Cole–Hopf, spectral solvers) for error metrics and tests."""

from pinnlab.references.allen_cahn import AllenCahn1DReference, allen_cahn_1d
from pinnlab.references.burgers import burgers_cole_hopf, burgers_reference_grid
from pinnlab.references.spectral2d import PeriodicSpectral2DReference, solve_periodic_2d

__all__ = [
    "AllenCahn1DReference",
    "PeriodicSpectral2DReference",
    "allen_cahn_1d",
    "burgers_cole_hopf",
    "burgers_reference_grid",
    "solve_periodic_2d",
]
