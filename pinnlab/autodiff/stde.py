"""Stochastic Taylor derivative estimators (STDE; Shi, Hu, Lin, Kawaguchi, NeurIPS 2024).

Laplacian and bilaplacian requests are replaced by unbiased estimates from a few
random directions, pushed through the network as one collapsed Taylor jet:

- ``sparse`` (Laplacian): coordinates J drawn without replacement,
  ``Δu ≈ d/|J| Σ_{j∈J} ∂_j² u``; a one-hot input direction makes the first layer a
  column gather, so the cost does not grow with the dimension d;
- ``rademacher`` / ``gaussian`` (Laplacian): ``Δu ≈ 1/S Σ_s D_{v_s}² u`` with
  ``E[v vᵀ] = I``;
- ``gaussian`` (bilaplacian): ``Δ²u ≈ 1/(3S) Σ_s D_{v_s}⁴ u``, from
  ``E[(v·ξ)⁴] = 3|ξ|⁴`` for ``v ~ N(0, I)``.

All other requests (values, partials, gradients) are exact Taylor mode, computed
only for the columns requested. Directions are shared by all points of a batch and
drawn from a generator seeded by ``(seed, step)``: one optimisation step sees one
fixed objective, successive steps see fresh samples.

The squared residual of an estimate is biased (``E[r̂²] = r² + Var r̂``). For an
unbiased loss use two independent estimates, ``E[r̂₁ r̂₂] = r²``: :func:`stde_pair`
(or :meth:`StdePlan.pair`) returns both from a single forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from pinnlab.autodiff.backend import Backend, ModelFunction, Plan, register_backend
from pinnlab.autodiff.jet_program import CHUNK_ROWS, JetProgram, RandomFamily
from pinnlab.autodiff.plan import Reader, check_columns, plan_exact
from pinnlab.autodiff.requests import Derivative

KINDS = ("sparse", "rademacher", "gaussian")


@dataclass(frozen=True)
class _Estimator:
    """One random family: an operator over columns, drawn for one stream."""

    kind: str  # request kind: laplacian | bilaplacian
    cols: tuple[int, ...]
    stream: int


class StdePlan(Plan):
    """Unbiased estimates of Laplacians and bilaplacians; exact Taylor mode for the rest."""

    def __init__(self, requests: Sequence[Derivative], n_inputs: int, samples: int = 16, kind: str = "sparse",
                 seed: int = 0, chunk_rows: int | None = CHUNK_ROWS):
        if kind not in KINDS:
            raise ValueError(f"unknown STDE kind {kind!r}; expected one of {KINDS}")
        if samples < 1:
            raise ValueError("STDE needs samples >= 1")
        self.requests = tuple(dict.fromkeys(requests))
        self.n_inputs = n_inputs
        self.samples = samples
        self.kind = kind
        self.seed = seed
        self.chunk_rows = chunk_rows
        estimated = []
        for r in self.requests:
            check_columns(r, n_inputs)
            if r.kind == "bilaplacian" and kind != "gaussian":
                raise ValueError(f"STDE estimates the bilaplacian only with kind='gaussian', not {kind!r}")
            if r.kind in ("laplacian", "bilaplacian") and r.cols:
                estimated.append(r)
        self.estimated = tuple(estimated)
        self.groups = list(dict.fromkeys((r.kind, tuple(sorted(set(r.cols)))) for r in estimated))
        self._columns = [np.asarray(cols) for _, cols in self.groups]
        self._programs: dict[int, tuple[JetProgram, list[dict[Derivative, Reader]], list[_Estimator]]] = {}

    # -- program per number of streams ---------------------------------------------------------
    def _program(self, streams: int) -> tuple[JetProgram, list[dict[Derivative, Reader]], list[_Estimator]]:
        if streams not in self._programs:
            exact = plan_exact(self.requests, self.n_inputs, collapsed=True, skip=self.estimated)
            estimators: list[_Estimator] = []
            families: list[RandomFamily] = []
            for stream in range(streams):
                for op, cols in self.groups:
                    estimators.append(_Estimator(op, cols, stream))
                    families.append(self._family(op, cols))
            program = JetProgram(exact, families)
            n_exact = len(exact.families)
            readers = []
            for stream in range(streams):
                table = dict(exact.readers)
                for r in self.estimated:
                    i = estimators.index(_Estimator(r.kind, tuple(sorted(set(r.cols))), stream))
                    table[r] = Reader("family", r.output, family=n_exact + i)
                readers.append(table)
            self._programs[streams] = (program, readers, estimators)
        return self._programs[streams]

    def _family(self, op: str, cols: tuple[int, ...]) -> RandomFamily:
        d = len(cols)
        order = 2 if op == "laplacian" else 4
        if self.kind == "sparse":
            count = min(self.samples, d)
            return RandomFamily(order, count, d / count)
        return RandomFamily(order, self.samples, 1.0 / self.samples if order == 2 else 1.0 / (3 * self.samples))

    def directions(self, estimator: _Estimator, step: int, group: int) -> tuple[Tensor, Tensor] | Tensor:
        """The random directions of one family: sparse ``(index, value)`` rows or dense (S, D)."""
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, step, estimator.stream, group]))
        cols = self._columns[group]
        d = len(cols)
        if self.kind == "sparse":
            picked = cols[rng.choice(d, size=min(self.samples, d), replace=False)]
            index = torch.as_tensor(picked, dtype=torch.long)[:, None]
            return index, torch.ones(index.shape, dtype=torch.float64)
        if self.kind == "rademacher":
            v = rng.integers(0, 2, size=(self.samples, d)) * 2.0 - 1.0
        else:
            v = rng.standard_normal((self.samples, d))
        dense = np.zeros((self.samples, self.n_inputs))
        dense[:, cols] = v
        return torch.as_tensor(dense)

    def _run(self, f: ModelFunction, x: Tensor, step: int, streams: int) -> list[dict[Derivative, Tensor]]:
        program, readers, estimators = self._program(streams)
        random = []
        for e in estimators:
            d = self.directions(e, step, self.groups.index((e.kind, e.cols)))
            random.append(tuple(t.to(x.device) for t in d) if isinstance(d, tuple) else d.to(x.device))
        tables = [{r: table[r] for r in self.requests} for table in readers]
        return program.evaluate(f, x, tables, random, chunk_rows=self.chunk_rows)

    def __call__(self, f: ModelFunction, x: Tensor, step: int = 0) -> dict[Derivative, Tensor]:
        """Estimates for ``step`` (the same directions every time this step is evaluated)."""
        return self._run(f, x, step, 1)[0]

    def pair(self, f: ModelFunction, x: Tensor, step: int = 0) -> tuple[dict[Derivative, Tensor],
                                                                         dict[Derivative, Tensor]]:
        """Two independent estimates (one jet pass); exact requests are identical in both.

        The first equals ``self(f, x, step)``; ``mean(r1 * r2)`` is an unbiased
        estimate of the mean squared residual.
        """
        first, second = self._run(f, x, step, 2)
        return first, second


def stde_pair(plan: Plan, f: ModelFunction, x: Tensor, step: int = 0) -> tuple[dict[Derivative, Tensor],
                                                                               dict[Derivative, Tensor]]:
    """Two independent derivative estimates for an unbiased squared-residual loss.

    For a deterministic plan (``taylor``, ``autograd``) both are the same exact values.
    """
    if isinstance(plan, StdePlan):
        return plan.pair(f, x, step)
    values = plan(f, x, step)
    return values, values


@register_backend("stde")
class StdeBackend(Backend):
    """Stochastic Taylor derivative estimators; options ``samples``, ``kind``, ``seed``."""

    name = "stde"

    def __init__(self, samples: int = 16, kind: str = "sparse", seed: int = 0, chunk_rows: int | None = CHUNK_ROWS):
        if kind not in KINDS:
            raise ValueError(f"unknown STDE kind {kind!r}; expected one of {KINDS}")
        self.samples = samples
        self.kind = kind
        self.seed = seed
        self.chunk_rows = chunk_rows

    def plan(self, requests: Sequence[Derivative], n_inputs: int) -> Plan:
        return StdePlan(requests, n_inputs, samples=self.samples, kind=self.kind, seed=self.seed,
                        chunk_rows=self.chunk_rows)
