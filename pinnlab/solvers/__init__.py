"""Optimisers over residual programs; one registry maps YAML names to classes."""

from pinnlab.compile import Objective
from pinnlab.solvers import conflict_free as _conflict_free  # noqa: F401  (registers config, mconfig)
from pinnlab.solvers import first_order as _first_order  # noqa: F401  (registers adam, lbfgs)
from pinnlab.solvers import gauss_newton as _gauss_newton  # noqa: F401  (registers gauss_newton, engd)
from pinnlab.solvers import teng as _teng  # noqa: F401  (registers teng_fit, teng)
from pinnlab.solvers.base import Params, Solver, make_solver, register_solver, solver_names

__all__ = ["Objective", "Params", "Solver", "make_solver", "register_solver", "solver_names"]
