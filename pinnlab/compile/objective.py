"""The weighted least-squares objective a solver steps over: residuals of a parameter dict on fixed batches."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from pinnlab.compile.program import Batch, ResidualProgram
from pinnlab.nn.model import BoundModel


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
