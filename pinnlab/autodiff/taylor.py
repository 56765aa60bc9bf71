"""Taylor-mode derivatives: requests -> directional jets -> one forward pass.

The planner (:mod:`pinnlab.autodiff.plan`) turns the requests into integer
directions with the order each needs and collapsed families (Laplacian,
bilaplacian); a :class:`~pinnlab.autodiff.jet_program.JetProgram` pushes them
through the model as one jet, via the layers' ``forward_jet`` methods. In
collapsed mode bilaplacians of jet-capable models use
:class:`~pinnlab.autodiff.biharmonic.BiharmonicJet` (gradient, Hessian, ∇Δ, Δ, Δ²
pushed together: O(d²) rows instead of 3d² per layer).

For arbitrary callables the same directional derivatives are taken by nested
``torch.func.jvp`` instead. Everything is plain torch, so results can be
differentiated by ``torch.func`` transforms and ``backward`` over the parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from pinnlab.autodiff.backend import Backend, ModelFunction, Plan, register_backend
from pinnlab.autodiff.biharmonic import BiharmonicJet
from pinnlab.autodiff.jet_program import CHUNK_ROWS, JetProgram
from pinnlab.autodiff.module_jets import jet_function
from pinnlab.autodiff.plan import ExactPlan, plan_exact
from pinnlab.autodiff.requests import Derivative


class TaylorPlan(Plan):
    """Exact Taylor-mode evaluation of a fixed set of requests.

    With ``collapsed`` and ``bilaplacian="forward"``, bilaplacians of jet-capable
    models are pushed as :class:`~pinnlab.autodiff.biharmonic.BiharmonicJet` (gradient,
    Hessian, ∇Δ, Δ, Δ² per value); otherwise (and for arbitrary callables) they are
    collapsed sums of d² fourth-order directional derivatives (``"interpolation"``).
    """

    def __init__(self, requests: Sequence[Derivative], n_inputs: int, collapsed: bool = True,
                 chunk_rows: int | None = CHUNK_ROWS, bilaplacian: str = "forward"):
        if bilaplacian not in ("forward", "interpolation"):
            raise ValueError(f"bilaplacian must be 'forward' or 'interpolation', not {bilaplacian!r}")
        self.requests = tuple(dict.fromkeys(requests))
        self.n_inputs = n_inputs
        self.collapsed = collapsed
        self.chunk_rows = chunk_rows
        self.exact = plan_exact(self.requests, n_inputs, collapsed=collapsed)
        self.program = JetProgram(self.exact)
        self.forward = [r for r in self.requests if r.kind == "bilaplacian" and r.cols
                        and collapsed and bilaplacian == "forward"]
        self.rest: tuple[ExactPlan, JetProgram] | None = None
        if self.forward:
            rest = plan_exact(self.requests, n_inputs, collapsed=collapsed, skip=self.forward)
            self.rest = (rest, JetProgram(rest))

    def __call__(self, f: ModelFunction, x: Tensor, step: int = 0) -> dict[Derivative, Tensor]:
        push = jet_function(f) if self.forward else None
        if push is None:
            table = {r: self.exact.readers[r] for r in self.requests}
            return self.program.evaluate(f, x, [table], chunk_rows=self.chunk_rows)[0]
        rest, program = self.rest
        table = {r: rest.readers[r] for r in self.requests if r not in self.forward}
        out = program.evaluate(f, x, [table], chunk_rows=self.chunk_rows)[0] if table else {}
        groups: dict[tuple[int, ...], list[Derivative]] = {}
        for r in self.forward:
            groups.setdefault(tuple(sorted(set(r.cols))), []).append(r)
        for cols, reqs in groups.items():
            d = len(cols)
            size = x.shape[0]
            if self.chunk_rows:
                size = max(1, min(size, self.chunk_rows // (3 + 2 * d + d * (d + 1) // 2)))
            pieces: dict[Derivative, list[Tensor]] = {r: [] for r in reqs}
            for xc in x.split(size) if x.shape[0] else [x]:
                jet = push(BiharmonicJet.seed(xc, cols))
                for r in reqs:
                    value = jet.bilap[..., r.output] if jet.bilap is not None else xc.new_zeros(())
                    pieces[r].append(value.expand(xc.shape[0]))
            out.update({r: torch.cat(p) if len(p) > 1 else p[0] for r, p in pieces.items()})
        return {r: out[r] for r in self.requests}

    def describe(self) -> str:
        """A one-line summary (for jet-capable models): directions per order, collapsed sums."""
        program = self.rest[1] if self.rest else self.program
        n = program.n_directions
        fams = [f"order {o} over {sum(len(range(n)[r]) if isinstance(r, slice) else len(r) for r, _ in g)}"
                for o, g in program.family_rows]
        fams += [f"forward bilaplacian over {len(r.cols)} columns" for r in self.forward]
        stored = tuple(program.stored(k) for k in range(1, program.order + 1))
        return f"{n} directions, S_k = {program.sizes} (pushed: {stored}); collapsed: {', '.join(fams) or 'none'}"


@register_backend("taylor")
class TaylorBackend(Backend):
    """Univariate Taylor mode with shared jets; Laplacians and bilaplacians collapsed by default."""

    name = "taylor"

    def __init__(self, collapsed: bool = True, chunk_rows: int | None = CHUNK_ROWS, bilaplacian: str = "forward"):
        self.collapsed = collapsed
        self.chunk_rows = chunk_rows
        self.bilaplacian = bilaplacian

    def plan(self, requests: Sequence[Derivative], n_inputs: int) -> Plan:
        return TaylorPlan(requests, n_inputs, collapsed=self.collapsed, chunk_rows=self.chunk_rows,
                          bilaplacian=self.bilaplacian)
