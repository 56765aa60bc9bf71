"""The weighted least-squares objective a solver steps over: residuals of a parameter dict on fixed batches.

Solvers see the problem only through an :class:`Objective`: residuals of the whole batches
(:meth:`~Objective.residuals`, :meth:`~Objective.loss`, :meth:`~Objective.residual_vector`) and,
for per-point Jacobians, the residuals of one point of a term as a pure function of the
parameters (:meth:`~Objective.rows`, :meth:`~Objective.row_residuals`, :meth:`~Objective.row_weights`,
:meth:`~Objective.term_scale`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from pinnlab import distributed
from pinnlab.compile.program import Batch, ResidualProgram
from pinnlab.nn.model import BoundModel


class Objective:
    """Weighted least-squares objective on fixed batches: loss = Σ_t w_t · mean(r_t²).

    ``sharded`` (default: in a process group of more than one rank, see :mod:`pinnlab.distributed`):
    the batches are this rank's shard of point sets of ``totals`` rows in all (default: the program's
    point-set sizes). Term losses are then this rank's share Σ r² / (rows in all) of the global mean,
    and the scaled residuals of :meth:`residual_vector` this rank's rows of the global vector, so
    sums over the ranks give the global loss, gradient and Gramian.
    """

    sharded = False
    totals: dict[str, int] | None = None

    def __init__(self, program: ResidualProgram, model: nn.Module, batches: Mapping[str, Batch],
                 weights: Mapping[str, float] | None = None, step: int = 0, sharded: bool | None = None,
                 totals: Mapping[str, int] | None = None):
        self.program = program
        self.model = model
        self.batches = batches
        self.step = step
        self.weights = {name: float((weights or {}).get(name, 1.0)) for name in program.terms}
        self.terms = [t for t in program.terms if self.weights[t] != 0.0]
        #: residuals (detached) at the parameters the step started from, when the solver records
        #: them (first-order solvers do); adaptive samplers may reuse them instead of evaluating again
        self.step_residuals: dict[str, Tensor] | None = None
        self.sharded = distributed.is_distributed() if sharded is None else bool(sharded)
        if totals is None and self.sharded:
            totals = {name: ps.n for name, ps in program.point_sets.items()}
        #: rows of every point set over all ranks (None: the batches are the whole point sets)
        self.totals = None if totals is None else {name: int(n) for name, n in totals.items()}

    def _bind(self, params: Mapping[str, Tensor]) -> tuple[BoundModel, dict[str, Tensor]]:
        """The network with its entries of ``params``, and the constrained values of the trainable PDE
        parameters (entries ``pde.NAME``, see :mod:`pinnlab.compile.parameters`)."""
        network, values = self.program.unknowns.split(params)
        return BoundModel(self.model, network), values

    def residuals(self, params: Mapping[str, Tensor], terms: list[str] | None = None) -> dict[str, Tensor]:
        """Unweighted residuals per term."""
        f, values = self._bind(params)
        return self.program.residuals(f, self.batches, self.step, terms=self.terms if terms is None else terms,
                                      parameters=values)

    def rows(self, name: str) -> dict[str, Tensor]:
        """The per-point inputs of term ``name``: its points and whatever they carry (normals,
        periodic partners, observed values, weights), each indexed by point along dimension 0.
        One entry of each, taken together, is the ``row`` of :meth:`row_residuals`."""
        batch = self.batches[self.program.terms[name].point_set]
        return {k: v for k, v in vars(batch).items() if v is not None}

    def row_residuals(self, params: Mapping[str, Tensor], row: Mapping[str, Tensor], name: str) -> Tensor:
        """Unweighted residuals of term ``name`` at one point, (1,) or (1, k).

        ``row`` holds one entry of every tensor of :meth:`rows` (without the point dimension).
        A pure function of ``params`` and ``row``, so ``vmap`` over the rows of :meth:`rows`
        with ``jacrev`` inside gives per-point Jacobians; for derivative backends that act row
        by row, the rows stacked equal :meth:`residuals` of the term.
        """
        point_set = self.program.terms[name].point_set
        single = Batch(**{k: v.unsqueeze(0) for k, v in row.items()})
        f, values = self._bind(params)
        return self.program.residuals(f, {point_set: single}, self.step, terms=[name], parameters=values)[name]

    def row_weights(self, name: str) -> Tensor | None:
        """Per-point loss weights (N,) of term ``name`` (they multiply the squared residuals), or None."""
        return self.batches[self.program.terms[name].point_set].weights

    def term_scale(self, name: str, count: int) -> float:
        """sqrt(w_t / N_t): the factor of the residuals of term ``name`` (``count`` entries) in
        :meth:`residual_vector`, so that the squared norm of the scaled residuals is the term's
        share of the loss (with sharded batches: ``count`` entries on this rank, the scale of the global mean)."""
        if self.totals is not None:
            point_set = self.program.terms[name].point_set
            rows = self.batches[point_set].x.shape[0]
            count = self.totals[point_set] * (count // rows) if rows else 1
        return (self.weights[name] / count) ** 0.5

    def point_weights(self, name: str, r: Tensor) -> Tensor | None:
        """Per-point weights of term ``name`` shaped to broadcast against its residual, or None."""
        w = self.row_weights(name)
        if w is None:
            return None
        return w.reshape(w.shape[0], *([1] * (r.dim() - 1)))

    def term_losses(self, residuals: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Mean squared residual per term (without term weights; with per-point weights if any)."""
        out = {}
        for name, r in residuals.items():
            w = self.point_weights(name, r)
            squares = r.pow(2) if w is None else w * r.pow(2)
            if self.totals is None:
                out[name] = squares.mean()
            else:  # this rank's share of the mean over every rank's points
                point_set = self.program.terms[name].point_set
                out[name] = squares.sum() / (self.totals[point_set] * math.prod(r.shape[1:]))
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
            scale = self.term_scale(name, r.numel())
            w = self.point_weights(name, r)
            if w is not None:
                r = r * w.sqrt()
            parts.append(scale * r.reshape(-1))
        return torch.cat(parts)
