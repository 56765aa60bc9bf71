"""The jet program: requested directions ordered into one input jet, evaluated and read off.

A :class:`JetProgram` takes the planner's directions and collapsed families
(:mod:`pinnlab.autodiff.plan`), sorts the directions by the order they need,
builds the jet :class:`~pinnlab.autodiff.jet.Layout` and the input jet (sparse
directions stay sparse, so the first layer gathers weight columns) and pushes it
through the model once; coefficients that follow linearly from others (e.g. the
first order along ``e_i + e_j``) are rebuilt instead of pushed. Functions that take
no jets get the same directional derivatives by nested ``torch.func.jvp``. Points
are processed in chunks (``chunk_rows``) to keep coefficient blocks cache-sized.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from pinnlab.autodiff.backend import ModelFunction
from pinnlab.autodiff.coefficients import Coef, SparseCoef, c_dense, c_take
from pinnlab.autodiff.jet import Family, Jet, Layout
from pinnlab.autodiff.module_jets import directional_tower, jet_function
from pinnlab.autodiff.plan import ExactPlan, Key, Reader, virtual_rows
from pinnlab.autodiff.requests import Derivative

#: Default jet rows (directions x points) per chunk of points: keeps the coefficient blocks of a
#: 128-wide layer near 8 MB in float32, small enough for the allocator to reuse and for caches.
CHUNK_ROWS = 16384


@dataclass
class RandomFamily:
    """A collapsed family whose directions are drawn at call time."""

    order: int
    count: int
    weight: float


@dataclass
class _Block:
    order: int  # per-direction order of its rows
    keys: list[Key] | None  # fixed directions, or None for a random family
    family: int = -1  # random family index (into the program's families)


@dataclass
class JetResult:
    primal: Tensor
    coeffs: list[Tensor | None]
    sums: list[Tensor | None]


class JetProgram:
    """Directions sorted by the order they need, collapsed families, and how to evaluate them.

    ``exact`` supplies fixed directions and families; ``random`` adds families whose
    directions (``count`` rows each) are given at call time as ``(index, value)``
    sparse rows or dense ``(count, D)`` tensors.
    """

    def __init__(self, exact: ExactPlan, random: Sequence[RandomFamily] = ()):
        self.exact = exact
        self.n_inputs = exact.n_inputs
        self.random = list(random)
        by_order: dict[int, list[Key]] = {}
        for key, p in exact.directions.items():
            by_order.setdefault(p, []).append(key)
        n_exact = len(exact.families)
        blocks = [_Block(p, sorted(keys, key=lambda k: (len(k), k))) for p, keys in by_order.items()]
        blocks += [_Block(fam.order - 1, None, n_exact + i) for i, fam in enumerate(self.random)]
        blocks.sort(key=lambda b: -b.order)  # stable: fixed rows before random rows of the same order
        self.blocks = blocks
        self._assign_rows()
        # rows whose coefficient of some order follows from others go last within their block
        flags = virtual_rows(self._keys(), self.sizes)
        for b in blocks:
            if b.keys is not None:
                b.keys.sort(key=lambda key: tuple(self.row[key] in v for v in flags))
        self._assign_rows()
        self.virtual: list[list[tuple[int, list[tuple[int, float]]]] | None] = []
        for n, v in zip(self.sizes, virtual_rows(self._keys(), self.sizes)):
            tail = sorted(v)
            if not tail or tail != list(range(n - len(tail), n)):
                self.virtual.append(None)  # virtual rows must be the last ones of their order
            else:
                self.virtual.append([(r, v[r]) for r in tail])
        # families: (order, [(rows, weight)]) with rows grouped by weight, as slices where contiguous
        self.family_rows: list[tuple[int, list[tuple[list[int] | slice, float]]]] = []
        for fam in exact.families:
            by_weight: dict[float, list[int]] = {}
            for key, w in fam.terms:
                by_weight.setdefault(w, []).append(self.row[key])
            groups = []
            for w, rows in by_weight.items():
                rows = sorted(rows)
                if rows == list(range(rows[0], rows[-1] + 1)):
                    rows = slice(rows[0], rows[-1] + 1)
                groups.append((rows, float(w)))
            self.family_rows.append((fam.order, groups))
        for i, fam in enumerate(self.random):
            self.family_rows.append((fam.order, [(self.random_rows[n_exact + i], float(fam.weight))]))
        # the fixed directions as sparse rows
        self._fixed: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for bi, b in enumerate(blocks):
            if b.keys is not None:
                m = max(len(k) for k in b.keys)
                index = np.zeros((len(b.keys), m), dtype=np.int64)
                value = np.zeros((len(b.keys), m))
                for r, key in enumerate(b.keys):
                    for j, (c, e) in enumerate(key):
                        index[r, j], value[r, j] = c, e
                self._fixed[bi] = (index, value)
        self._cache: dict[tuple, object] = {}

    def _assign_rows(self) -> None:
        n_exact = len(self.exact.families)
        self.row: dict[Key, int] = {}
        self.random_rows: dict[int, slice] = {}
        orders: list[int] = []
        for b in self.blocks:
            if b.keys is None:
                count = self.random[b.family - n_exact].count
                self.random_rows[b.family] = slice(len(orders), len(orders) + count)
                orders += [b.order] * count
            else:
                for key in b.keys:
                    self.row[key] = len(orders)
                    orders.append(b.order)
        self.orders = orders
        fam_orders = [f.order for f in self.exact.families] + [f.order for f in self.random]
        top = max(orders + fam_orders + [0])
        self.sizes = tuple(sum(1 for p in orders if p >= k) for k in range(1, top + 1))

    def _keys(self) -> list[Key | None]:
        keys: list[Key | None] = [None] * len(self.orders)
        for key, r in self.row.items():
            keys[r] = key
        return keys

    def stored(self, k: int) -> int:
        """Rows of order ``k`` pushed through the network (the rest are virtual)."""
        v = self.virtual[k - 1]
        return self.sizes[k - 1] - (len(v) if v else 0)

    @property
    def n_directions(self) -> int:
        return len(self.orders)

    @property
    def order(self) -> int:
        return len(self.sizes)

    def layout(self, like: Tensor) -> Layout:
        key = ("layout", like.dtype, like.device)
        if key not in self._cache:
            families = []
            for order, groups in self.family_rows:
                parts, span = [], 0
                for rows, w in groups:
                    if isinstance(rows, slice):
                        parts.append((rows, w))
                        span = max(span, rows.stop)
                    else:
                        parts.append((torch.as_tensor(rows, dtype=torch.long, device=like.device), w))
                        span = max(span, max(rows) + 1)
                dense = None
                if len(parts) > 1 or not isinstance(parts[0][0], slice):
                    dense = torch.zeros(span, dtype=like.dtype, device=like.device)
                    for rows, w in parts:
                        dense[rows] += w
                families.append(Family(order, tuple(parts), span, dense))
            virtual = []
            for k, rows in enumerate(self.virtual, start=1):
                if rows is None:
                    virtual.append(None)
                    continue
                m = torch.zeros(len(rows), self.stored(k), dtype=like.dtype, device=like.device)
                for i, (_, terms) in enumerate(rows):
                    for s, w in terms:
                        m[i, s] = w
                virtual.append(m)
            self._cache[key] = Layout(self.sizes, tuple(families), tuple(virtual))
        return self._cache[key]

    def input_directions(self, like: Tensor, random: Sequence[object] = ()) -> SparseCoef | Tensor:
        """The first-order input coefficient: (S, 1, D) dense or a :class:`SparseCoef`."""
        parts: list[tuple[Tensor, Tensor] | Tensor] = []
        n_exact = len(self.exact.families)
        for bi, b in enumerate(self.blocks):
            if b.keys is not None:
                key = ("fixed", bi, like.dtype, like.device)
                if key not in self._cache:
                    index, value = self._fixed[bi]
                    self._cache[key] = (torch.as_tensor(index, device=like.device),
                                        torch.as_tensor(value, dtype=like.dtype, device=like.device))
                parts.append(self._cache[key])
            else:
                parts.append(random[b.family - n_exact])
        d = self.n_inputs
        if any(isinstance(p, Tensor) for p in parts):
            dense = []
            for p in parts:
                if isinstance(p, Tensor):
                    dense.append(p.to(like))
                else:
                    index, value = p
                    dense.append(like.new_zeros(index.shape[0], d).scatter_add(1, index, value.to(like)))
            return torch.cat(dense, 0)[:, None, :]
        m = max(p[0].shape[1] for p in parts)
        index = torch.cat([torch.nn.functional.pad(p[0], (0, m - p[0].shape[1])) for p in parts], 0)
        value = torch.cat([torch.nn.functional.pad(p[1].to(like), (0, m - p[1].shape[1])) for p in parts], 0)
        return SparseCoef(index, value[:, None, :], d)

    def chunk_points(self, n: int, rows: int | None) -> int:
        """Points per chunk so that one jet coefficient block holds about ``rows`` rows (None: all)."""
        if not rows:
            return n
        per_point = 1 + sum(self.stored(k) for k in range(1, self.order + 1)) + len(self.family_rows)
        return max(1, min(n, rows // per_point))

    def evaluate(self, f: ModelFunction, x: Tensor, readers: Sequence[dict[Derivative, Reader]],
                 random: Sequence[object] = (), chunk_rows: int | None = None) -> list[dict[Derivative, Tensor]]:
        """Run the program on chunks of points and read every table of readers off the results."""
        size = self.chunk_points(x.shape[0], chunk_rows)
        parts = [self.run(f, xc, random) for xc in x.split(size)] if x.shape[0] else [self.run(f, x, random)]
        out = []
        for table in readers:
            values = {}
            for r, reader in table.items():
                pieces = [self.read(reader, res, xc.shape[0]) for res, xc in zip(parts, x.split(size))]
                values[r] = pieces[0] if len(pieces) == 1 else torch.cat(pieces, 0)
            out.append(values)
        return out

    def run(self, f: ModelFunction, x: Tensor, random: Sequence[object] = ()) -> JetResult:
        """Evaluate all directions and families at the points ``x``."""
        if self.n_directions == 0:
            return JetResult(f(x), [], [])
        push = jet_function(f)
        directions = self.input_directions(x, random)
        if push is None:
            return self._run_nested(f, x, c_dense(directions)[:, 0, :])
        layout = self.layout(x)
        coeffs: list[Coef] = [c_take(directions, self.stored(1))] + [None] * (layout.order - 1)
        out = push(Jet(x, coeffs, [None] * len(layout.families), layout))
        coeffs_out = [c_dense(out.full(k)) for k in range(1, layout.order + 1)]
        return JetResult(out.primal, coeffs_out, list(out.sums))

    def _run_nested(self, f: ModelFunction, x: Tensor, v: Tensor) -> JetResult:
        """Per-direction towers by nested jvp; families summed afterwards."""
        need = list(self.orders)
        for order, groups in self.family_rows:
            for rows, _ in groups:
                for r in range(self.n_directions)[rows] if isinstance(rows, slice) else rows:
                    need[r] = max(need[r], order)
        groups: dict[int, list[int]] = {}
        for r, q in enumerate(need):
            groups.setdefault(q, []).append(r)
        per_order: list[list[Tensor | None]] = [[None] * self.n_directions for _ in range(self.order)]
        primal = None
        for q, rows in groups.items():
            vs = v[rows][:, None, :].expand(len(rows), *x.shape)
            towers = torch.func.vmap(lambda d, q=q: tuple(directional_tower(f, x, d, q)))(vs)
            if primal is None:
                primal = towers[0][0]
            for k in range(1, q + 1):
                for i, r in enumerate(rows):
                    per_order[k - 1][r] = towers[k][i]
        coeffs: list[Tensor | None] = []
        for k, n in enumerate(self.sizes, start=1):
            coeffs.append(torch.stack(per_order[k - 1][:n]) if n else None)
        sums = []
        layout = self.layout(x)
        for fam in layout.families:
            stacked = torch.stack([t if t is not None else torch.zeros_like(primal)
                                   for t in per_order[fam.order - 1][:fam.span]])
            sums.append(fam.reduce(stacked))
        return JetResult(primal, coeffs, sums)

    # -- read-off ------------------------------------------------------------------------------
    def read(self, reader: Reader, result: JetResult, n: int) -> Tensor:
        o = reader.output
        primal = result.primal
        if reader.kind == "value":
            return primal[:, o]
        if reader.kind == "family":
            s = result.sums[reader.family]
            out = primal.new_zeros(n) if s is None else s[..., o].expand(n)
            return out * reader.scale if reader.scale != 1.0 else out
        c = result.coeffs[reader.order - 1] if reader.order <= len(result.coeffs) else None
        rows = [self.row[key] for key, _ in reader.terms]
        if reader.kind == "gradient":
            if c is None:
                return primal.new_zeros(n, len(rows))
            idx = torch.as_tensor(rows, dtype=torch.long, device=primal.device)
            return c.index_select(0, idx)[..., o].expand(len(rows), n).t()
        if c is None or not rows:
            return primal.new_zeros(n)
        if len(rows) == 1:
            out = c[rows[0], ..., o]
            w = reader.terms[0][1]
            out = out if w == 1.0 else out * w
        else:
            idx = torch.as_tensor(rows, dtype=torch.long, device=primal.device)
            w = torch.as_tensor([w for _, w in reader.terms], dtype=primal.dtype, device=primal.device)
            out = torch.tensordot(w, c.index_select(0, idx)[..., o], dims=1)
        return out.expand(n)
