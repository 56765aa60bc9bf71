"""TENG: time-evolving natural gradient, with the Runge–Kutta tableaux it integrates by."""

from pinnlab.solvers.teng.integrators import EULER, HEUN, RK4, TABLEAUS, ButcherTableau, get_tableau, rk_step
from pinnlab.solvers.teng.stepper import (
    TENG,
    FitResult,
    FitStage,
    PeriodicGrid,
    SubsetJacobian,
    TengOptions,
    fit_subset,
)

__all__ = [
    "EULER", "HEUN", "RK4", "TABLEAUS", "TENG", "ButcherTableau", "FitResult", "FitStage", "PeriodicGrid",
    "SubsetJacobian", "TengOptions", "fit_subset", "get_tableau", "rk_step",
]
