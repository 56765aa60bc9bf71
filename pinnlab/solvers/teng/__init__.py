"""TENG: time-evolving natural gradient, with the Runge–Kutta tableaux it integrates by."""

from pinnlab.solvers.teng.fit import FitResult, FitStage, SubsetJacobian, fit_subset
from pinnlab.solvers.teng.integrators import EULER, HEUN, RK4, TABLEAUS, ButcherTableau, get_tableau, rk_step
from pinnlab.solvers.teng.stepper import TengInitialFit, TengStepper

__all__ = [
    "EULER", "HEUN", "RK4", "TABLEAUS", "ButcherTableau", "FitResult", "FitStage", "SubsetJacobian",
    "TengInitialFit", "TengStepper", "fit_subset", "get_tableau", "rk_step",
]
