"""Running a configured solve: the trainer, the solution it returns, and its export."""

from pinnlab.run.solution import Solution, relative_errors
from pinnlab.run.trainer import Trainer, default_dtype, load, resolve_device, solve

__all__ = ["Solution", "Trainer", "default_dtype", "load", "relative_errors", "resolve_device", "solve"]
