"""pinnlab: physics-informed neural networks from declarative PDE specs."""

from pinnlab import geometry
from pinnlab.compile.synthetic import synthesize
from pinnlab.errors import ConfigError, PinnlabError, SolverError, SpecError
from pinnlab.run import load, solve
from pinnlab.run.solution import Solution
from pinnlab.spec import PDE, Boundary, Coordinate, Data, Dirichlet, Initial, Neumann, Parameter, Periodic, Problem
from pinnlab.version import __version__

__all__ = [
    "PDE", "Boundary", "ConfigError", "Coordinate", "Data", "Dirichlet", "Initial", "Neumann", "Parameter", "Periodic",
    "PinnlabError", "Problem", "Solution", "SolverError", "SpecError", "__version__", "geometry", "load", "solve",
    "synthesize",
]
