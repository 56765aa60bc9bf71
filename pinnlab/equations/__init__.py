"""Built-in problems, each a short declarative file registered by name."""

from pinnlab.equations import allen_cahn, burgers, heat, navier_stokes, periodic2d, poisson  # noqa: F401  (register)
from pinnlab.equations.registry import equation_entries, equation_names, get_equation, register_equation

__all__ = ["equation_entries", "equation_names", "get_equation", "register_equation"]
