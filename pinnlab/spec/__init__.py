"""Declarative PDE specifications: expressions, PDEs, conditions, problems (no torch).

Modules import one way: ``record``, ``expr`` and ``parameters`` → ``pde`` → ``conditions`` →
``problem`` → ``evolution``. Every spec object is an immutable dataclass with a
validating ``replace(**changes)``.
"""

from pinnlab.spec.conditions import CONDITION_TYPES, Boundary, Condition, Data, Dirichlet, Initial, Neumann, Periodic
from pinnlab.spec.expr import Namespace, parse, split_equation
from pinnlab.spec.parameters import Parameter
from pinnlab.spec.pde import PDE, Coordinate
from pinnlab.spec.problem import Problem

__all__ = [
    "CONDITION_TYPES", "PDE", "Boundary", "Condition", "Coordinate", "Data", "Dirichlet", "Initial", "Namespace",
    "Neumann", "Parameter", "Periodic", "Problem", "parse", "split_equation",
]
