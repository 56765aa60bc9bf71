"""Nested reverse-mode derivatives: the reference backend.

Derivatives are taken level by level with :func:`torch.func.vjp`: level 0 holds the
gradients of the requested outputs, level L the gradients of the level-(L-1)
entries that longer derivative chains continue from. All entries of one level
share one forward pass (their cotangents are batched with ``vmap``). Built from
``torch.func`` transforms, the result can itself be differentiated by ``jacrev``,
``jvp`` and ``vmap`` with respect to the parameters (Gauss–Newton needs this) as
well as by ordinary ``backward``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from pinnlab.autodiff.backend import Backend, ModelFunction, Plan, register_backend
from pinnlab.autodiff.requests import Derivative

Chain = tuple[int, tuple[int, ...]]  # (output, ordered columns)


def chains_for(request: Derivative) -> list[tuple[int, ...]]:
    """The ordered partial-derivative chains a request is a sum (or stack) of."""
    if request.kind == "partial":
        return [request.cols]
    if request.kind == "gradient":
        return [(c,) for c in request.cols]
    if request.kind == "laplacian":
        return [(c, c) for c in request.cols]
    return [(i, i, j, j) for i in request.cols for j in request.cols]


class AutogradPlan(Plan):
    """Nested reverse mode, batched per level."""

    def __init__(self, requests: Sequence[Derivative], n_inputs: int, chunk_size: int | None = None):
        self.requests = tuple(dict.fromkeys(requests))
        self.n_inputs = n_inputs
        self.chunk_size = chunk_size
        chains: set[Chain] = set()
        for r in self.requests:
            for cols in chains_for(r):
                if any(c < 0 or c >= n_inputs for c in cols):
                    raise ValueError(f"{r} refers to a column outside 0..{n_inputs - 1}")
                chains.add((r.output, cols))
        self.chains = chains
        depth = max((len(cols) for _, cols in chains), default=0)
        # level L nodes: (output, prefix of length L), for chains longer than L
        self.levels: list[list[Chain]] = []
        for level in range(depth):
            nodes = sorted({(o, cols[:level]) for o, cols in chains if len(cols) > level})
            self.levels.append(nodes)
        self.index = [{node: i for i, node in enumerate(nodes)} for nodes in self.levels]

    def _cotangents(self, level: int, like: Tensor, n_outputs: int) -> Tensor:
        nodes = self.levels[level]
        n = like.shape[0]
        if level == 0:
            cot = like.new_zeros(len(nodes), n, n_outputs)
            for k, (o, _) in enumerate(nodes):
                cot[k, :, o] = 1
            return cot
        parents = self.index[level - 1]
        cot = like.new_zeros(len(nodes), len(parents), n, self.n_inputs)
        for k, (o, prefix) in enumerate(nodes):
            cot[k, parents[(o, prefix[:-1])], :, prefix[-1]] = 1
        return cot

    def __call__(self, f: ModelFunction, x: Tensor, step: int = 0) -> dict[Derivative, Tensor]:
        if not self.levels:
            out = f(x)
            return self._collect(out, [])

        def level_fn(level: int):
            if level == 0:

                def first(z: Tensor):
                    out, pullback = torch.func.vjp(f, z)
                    cot = self._cotangents(0, z, out.shape[-1])
                    grads = torch.func.vmap(pullback, chunk_size=self.chunk_size)(cot)[0]
                    return grads, (out,)

                return first
            below = level_fn(level - 1)

            def deeper(z: Tensor):
                lower, pullback, aux = torch.func.vjp(below, z, has_aux=True)
                cot = self._cotangents(level, z, 0)
                grads = torch.func.vmap(pullback, chunk_size=self.chunk_size)(cot)[0]
                return grads, (*aux, lower)

            return deeper

        top, aux = level_fn(len(self.levels) - 1)(x)
        out, *lower = aux
        return self._collect(out, [*lower, top])

    def _collect(self, out: Tensor, levels: list[Tensor]) -> dict[Derivative, Tensor]:
        def chain_value(o: int, cols: tuple[int, ...]) -> Tensor:
            if not cols:
                return out[:, o]
            level = len(cols) - 1
            return levels[level][self.index[level][(o, cols[:-1])], :, cols[-1]]

        result: dict[Derivative, Tensor] = {}
        for r in self.requests:
            values = [chain_value(r.output, cols) for cols in chains_for(r)]
            if r.kind == "gradient":
                result[r] = torch.stack(values, dim=-1)
            elif r.kind == "partial":
                result[r] = values[0]
            else:
                result[r] = torch.stack(values).sum(0)
        return result


@register_backend("autograd")
class AutogradBackend(Backend):
    """Nested reverse-mode AD (``torch.func.vjp``), the reference for other backends."""

    name = "autograd"

    def __init__(self, chunk_size: int | None = None):
        self.chunk_size = chunk_size

    def plan(self, requests: Sequence[Derivative], n_inputs: int) -> Plan:
        return AutogradPlan(requests, n_inputs, chunk_size=self.chunk_size)
