"""The solver protocol: ``init(params) -> state`` and ``step(params, state, objective)``.

Parameters are a flat ``dict[str, Tensor]`` of leaf tensors; an :class:`Objective`
gives the per-term residuals of the current points as a pure function of them. A *sharded*
objective (a data-parallel run, see :mod:`pinnlab.distributed`) holds this rank's points:
its losses are the rank's shares, and solvers sum over the ranks what the mathematics sums.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor

from pinnlab.compile import Objective
from pinnlab.registry import Registry

Params = dict[str, Tensor]


class Solver(ABC):
    """An optimisation method with explicit state."""

    name = "solver"
    #: whether the solver needs the objective fixed within a step (line searches)
    needs_fixed_points = False

    @abstractmethod
    def init(self, params: Params) -> Any:
        """Initial solver state for these parameters."""

    @abstractmethod
    def step(self, params: Params, state: Any, objective: Objective) -> tuple[Params, Any, dict[str, Any]]:
        """One iteration; returns parameters, state and diagnostics (must include ``loss``): numbers, or
        0-d tensors that the trainer reads only when it logs (no device synchronisation every step)."""

    def state_dict(self, state: Any) -> dict[str, Any]:
        """Serializable form of ``state`` (tensors, numbers, lists, dicts)."""
        return {}

    def load_state_dict(self, state: Any, saved: Mapping[str, Any]) -> Any:
        """Restore ``state`` from :meth:`state_dict` output."""
        return state


def is_sharded(objective: Any) -> bool:
    """Whether ``objective`` holds this rank's shard of the points (its sums are added up over the ranks)."""
    return bool(getattr(objective, "sharded", False))


_SOLVERS: Registry[Callable[..., Solver]] = Registry("solver")


def register_solver(name: str):
    """Decorator adding a solver class to the registry."""
    return _SOLVERS.register(name)


def solver_names() -> list[str]:
    return _SOLVERS.names()


def make_solver(name: str, **options: Any) -> Solver:
    """Build the solver registered as ``name``."""
    return _SOLVERS.create(name, **options)


def solver_class(name: str) -> Callable[..., Solver]:
    """The class (or factory) registered as ``name``; an unknown name is a ValueError with a hint."""
    return _SOLVERS.get(name)
