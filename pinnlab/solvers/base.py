"""The solver protocol: ``init(params) -> state`` and ``step(params, state, objective)``.

Parameters are a flat ``dict[str, Tensor]`` of leaf tensors; an :class:`Objective`
gives the per-term residuals of the current points as a pure function of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from pinnlab.compile import Batch, ResidualProgram
from pinnlab.nn.model import BoundModel

Params = dict[str, Tensor]


class Objective:
    """Weighted least-squares objective on fixed batches: loss = Σ_t w_t · mean(r_t²)."""

    def __init__(self, program: ResidualProgram, model: nn.Module, batches: Mapping[str, Batch],
                 weights: Mapping[str, float] | None = None, step: int = 0):
        self.program = program
        self.model = model
        self.batches = batches
        self.step = step
        self.weights = {name: float((weights or {}).get(name, 1.0)) for name in program.terms}
        self.terms = [t for t in program.terms if self.weights[t] != 0.0]
        #: residuals (detached) at the parameters the step started from, when the solver records
        #: them (first-order solvers do); adaptive samplers may reuse them instead of evaluating again
        self.step_residuals: dict[str, Tensor] | None = None

    def residuals(self, params: Mapping[str, Tensor], terms: list[str] | None = None) -> dict[str, Tensor]:
        """Unweighted residuals per term."""
        return self.program.residuals(BoundModel(self.model, params), self.batches, self.step,
                                      terms=self.terms if terms is None else terms)

    def point_weights(self, name: str, r: Tensor) -> Tensor | None:
        """Per-point weights of term ``name`` shaped to broadcast against its residual, or None."""
        w = self.batches[self.program.terms[name].point_set].weights
        if w is None:
            return None
        return w.reshape(w.shape[0], *([1] * (r.dim() - 1)))

    def term_losses(self, residuals: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Mean squared residual per term (without term weights; with per-point weights if any)."""
        out = {}
        for name, r in residuals.items():
            w = self.point_weights(name, r)
            out[name] = r.pow(2).mean() if w is None else (w * r.pow(2)).mean()
        return out

    def loss(self, params: Mapping[str, Tensor], record: bool = False) -> tuple[Tensor, dict[str, Tensor]]:
        """Total weighted loss and the unweighted per-term losses; ``record`` keeps the residuals
        as :attr:`step_residuals`."""
        residuals = self.residuals(params)
        if record:
            self.step_residuals = {name: r.detach() for name, r in residuals.items()}
        losses = self.term_losses(residuals)
        total = sum(self.weights[name] * value for name, value in losses.items())
        return total, losses

    def residual_vector(self, params: Mapping[str, Tensor]) -> Tensor:
        """All residuals scaled by sqrt(w_t / N_t) and concatenated, so that ‖r‖² = loss."""
        parts = []
        for name, r in self.residuals(params).items():
            scale = (self.weights[name] / r.numel()) ** 0.5
            w = self.point_weights(name, r)
            if w is not None:
                r = r * w.sqrt()
            parts.append(scale * r.reshape(-1))
        return torch.cat(parts)


class Solver(ABC):
    """An optimisation method with explicit state."""

    name = "solver"
    #: whether the solver needs the objective fixed within a step (line searches)
    needs_fixed_points = False

    @abstractmethod
    def init(self, params: Params) -> Any:
        """Initial solver state for these parameters."""

    @abstractmethod
    def step(self, params: Params, state: Any, objective: Objective) -> tuple[Params, Any, dict[str, float]]:
        """One iteration; returns parameters, state and diagnostics (must include ``loss``)."""

    def state_dict(self, state: Any) -> dict[str, Any]:
        """Serializable form of ``state`` (tensors, numbers, lists, dicts)."""
        return {}

    def load_state_dict(self, state: Any, saved: Mapping[str, Any]) -> Any:
        """Restore ``state`` from :meth:`state_dict` output."""
        return state


_SOLVERS: dict[str, Callable[..., Solver]] = {}


def register_solver(name: str):
    """Decorator adding a solver class to the registry."""

    def wrap(cls):
        _SOLVERS[name] = cls
        return cls

    return wrap


def solver_names() -> list[str]:
    return sorted(_SOLVERS)


def make_solver(name: str, **options: Any) -> Solver:
    """Build the solver registered as ``name``."""
    if name not in _SOLVERS:
        raise ValueError(f"unknown solver {name!r}; available: {', '.join(solver_names())}")
    return _SOLVERS[name](**options)
