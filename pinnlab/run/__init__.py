"""Running a configured solve: the trainer, the solution it returns, and its export."""

from pinnlab.run.api import default_dtype, load, make_setup, resolve_device, run_directory, solve
from pinnlab.run.solution import Solution, relative_errors
from pinnlab.run.trainer import Trainer

__all__ = ["Solution", "Trainer", "default_dtype", "load", "make_setup", "relative_errors", "resolve_device",
           "run_directory", "solve"]
