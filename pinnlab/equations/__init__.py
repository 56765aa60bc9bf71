"""Built-in problems, each a short declarative file registered by name."""

from pinnlab.equations import (  # noqa: F401  (register)
    allen_cahn,
    biharmonic,
    burgers,
    heat,
    high_dim,
    inverse,
    kdv,
    navier_stokes,
    periodic2d,
    pinnacle,
    pinnacle_flows,
    pinnacle_geometry,
    poisson,
)
from pinnlab.equations.registry import equation_entries, equation_names, get_equation, register_equation

__all__ = ["equation_entries", "equation_names", "get_equation", "register_equation"]
