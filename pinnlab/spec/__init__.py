"""Declarative PDE specifications: expressions, PDEs, conditions, problems (no torch)."""

from pinnlab.spec.conditions import CONDITION_TYPES, Boundary, Condition, Data, Dirichlet, Initial, Neumann, Periodic
from pinnlab.spec.expr import Namespace, parse
from pinnlab.spec.pde import PDE, Coordinate, Problem

__all__ = [
    "CONDITION_TYPES", "PDE", "Boundary", "Condition", "Coordinate", "Data", "Dirichlet", "Initial", "Namespace",
    "Neumann", "Periodic", "Problem", "parse",
]
