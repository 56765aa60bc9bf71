"""Taylor jets: a primal value with its derivative coefficients along many directions.

A :class:`Jet` holds the primal ``x0`` (shape ``P``, e.g. (N, F)) and, for every
order ``k = 1..K``, the derivative coefficients ``x_k[s] = d^k/dt^k x(x_in + t v_s)``
at ``t = 0`` for the first ``S_k`` directions ``v_s`` (shape ``(S_k, *P)``, any axis
but the first may broadcast). Directions are sorted by the order they need, so
``S_1 >= S_2 >= ...`` and lower orders of a long jet come for free.

A jet may also carry *collapsed* sums: for a :class:`Family` of order ``k`` over a
set of directions with weights ``w``, only ``sum_s w_s x_k[s]`` is propagated, never
the per-direction top coefficients. Since the top coefficient enters every rule
linearly, the sum can be pushed through the network directly (the forward
Laplacian; collapsed Taylor mode).

Coefficients use the derivative convention (not divided by ``k!``) and are stored
as in :mod:`pinnlab.autodiff.coefficients`: products follow Leibniz' rule,
elementwise functions Faà di Bruno's formula over the towers of
:mod:`pinnlab.autodiff.towers`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from pinnlab.autodiff.coefficients import (
    Coef,
    SparseCoef,
    add_or,
    c_add,
    c_dense,
    c_linear,
    c_mul,
    c_rows,
    c_scale,
    c_select,
    c_take,
)
from pinnlab.autodiff.taylor_value import TaylorValue
from pinnlab.autodiff.towers import partitions


@dataclass(frozen=True, eq=False)
class Family:
    """A collapsed sum ``sum_g weight_g * sum_{s in rows_g} x_order[s]`` over groups of directions.

    ``groups`` pairs direction rows (a slice or an index tensor) with a scalar weight;
    the directions need per-direction coefficients up to ``order - 1``. With several
    groups, ``dense`` holds the weights of directions ``[0, span)`` (zero outside the
    family) and the sum is one contraction.
    """

    order: int
    groups: tuple[tuple[slice | Tensor, float], ...]
    span: int  # directions [0, span) contain the family
    dense: Tensor | None = None

    def reduce(self, c: Coef) -> Tensor | None:
        """The weighted sum over the family's directions of a per-direction quantity."""
        if c is None:
            return None
        if self.dense is not None:
            return torch.tensordot(self.dense, c_dense(c_take(c, self.span)), dims=1)
        total = None
        for rows, weight in self.groups:
            part = c_dense(c_rows(c, rows)).sum(0)
            total = add_or(total, part if weight == 1.0 else part * weight)
        return total


@dataclass(frozen=True, eq=False)
class Layout:
    """Directions per order (``sizes[k-1] = S_k``, non-increasing) and collapsed families.

    ``virtual[k-1]`` (optional) makes the last rows of order ``k`` *virtual*: a matrix
    (S_k - R_k, R_k) expressing them through the first R_k rows, which alone are
    stored and pushed through linear layers. This is exact because the order-k
    coefficient along v is the k-linear form ``D^k h[v, ..., v]`` of every
    intermediate h (input coefficients above order 1 vanish): if
    ``v_r^{⊗k} = Σ_s w_s v_s^{⊗k}`` then ``x_k[r] = Σ_s w_s x_k[s]`` at every layer,
    e.g. ``x_1(e_i + e_j) = x_1(e_i) + x_1(e_j)``.
    """

    sizes: tuple[int, ...]
    families: tuple[Family, ...] = ()
    virtual: tuple[Tensor | None, ...] = ()

    @property
    def order(self) -> int:
        return len(self.sizes)

    def virtual_rows(self, k: int) -> Tensor | None:
        return self.virtual[k - 1] if k <= len(self.virtual) else None

    def stored(self, k: int) -> int:
        """Rows held for order ``k``."""
        m = self.virtual_rows(k)
        return self.sizes[k - 1] if m is None else m.shape[1]


class _Products:
    """Memoised products of coefficients over a multiset of orders (Faà di Bruno monomials)."""

    def __init__(self, jet: Jet):
        self.jet = jet
        self.full: dict[int, Coef] = {}
        self.cache: dict[tuple[int, ...], tuple[int, Coef]] = {}

    def coefficient(self, k: int, n: int) -> Coef:
        """Order ``k`` for the first ``n`` directions (virtual rows rebuilt only when needed)."""
        if n <= self.jet.layout.stored(k):
            return c_take(self.jet.coeffs[k - 1], n)
        if k not in self.full:
            self.full[k] = self.jet.full(k)
        return c_take(self.full[k], n)

    def get(self, parts: tuple[int, ...], n: int) -> Coef:
        hit = self.cache.get(parts)
        if hit is not None and hit[0] >= n:
            return c_take(hit[1], n)
        last = self.coefficient(parts[-1], n)
        value = last if len(parts) == 1 else c_mul(self.get(parts[:-1], n), last)
        self.cache[parts] = (n, value)
        return value


class Jet(TaylorValue):
    """A primal value with derivative coefficients along directions (see the module docstring).

    ``coeffs[k-1]`` holds order ``k`` for the first ``layout.sizes[k-1]`` directions
    (a tensor, a :class:`SparseCoef`, or ``None`` for zero); ``sums[i]`` is the
    collapsed value of ``layout.families[i]`` (shape of the primal, or ``None``).
    """

    __slots__ = ("coeffs", "layout", "primal", "sums")

    def __init__(self, primal: Tensor, coeffs: Sequence[Coef], sums: Sequence[Tensor | None], layout: Layout):
        self.primal = primal
        self.coeffs = list(coeffs)
        self.sums = list(sums)
        self.layout = layout

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def constant(cls, value: Tensor, layout: Layout) -> Jet:
        """A jet that does not depend on the input."""
        return cls(value, [None] * layout.order, [None] * len(layout.families), layout)

    def constant_like(self, value: Tensor) -> Jet:
        return Jet.constant(value, self.layout)

    def compatible(self, other: TaylorValue) -> bool:
        return isinstance(other, Jet) and other.layout is self.layout

    @property
    def order(self) -> int:
        return self.layout.order

    def _like(self, primal: Tensor, coeffs: Sequence[Coef], sums: Sequence[Tensor | None]) -> Jet:
        return Jet(primal, coeffs, sums, self.layout)

    def full(self, k: int) -> Coef:
        """Order ``k`` for all ``S_k`` directions, virtual rows included."""
        c = self.coeffs[k - 1]
        m = self.layout.virtual_rows(k)
        if m is None or c is None:
            return c
        c = c_dense(c)
        return torch.cat([c, torch.tensordot(m, c, dims=1)], 0)

    # -- linear operations ---------------------------------------------------------------------
    def linear(self, weight: Tensor, bias: Tensor | None = None) -> Jet:
        """``x @ weight.T + bias`` on the last axis."""
        primal = torch.nn.functional.linear(self.primal, weight, bias)
        coeffs = [c_linear(c, weight) for c in self.coeffs]
        sums = [None if s is None else torch.matmul(s, weight.t()) for s in self.sums]
        return self._like(primal, coeffs, sums)

    def scale(self, factor: Tensor | float) -> Jet:
        """Multiplication by a factor that does not depend on the input."""
        return self._like(self.primal * factor, [c_scale(factor, c) for c in self.coeffs],
                          [None if s is None else s * factor for s in self.sums])

    def shift(self, offset: Tensor | float) -> Jet:
        return self._like(self.primal + offset, self.coeffs, self.sums)

    def select(self, cols: int | slice | Sequence[int]) -> Jet:
        """Columns of the last axis: an int drops the axis, a slice or list keeps it."""
        index = cols if isinstance(cols, (int, slice)) else list(cols)
        return self._like(self.primal[..., index], [c_select(c, cols) for c in self.coeffs],
                          [None if s is None else s[..., index] for s in self.sums])

    def sum_last(self) -> Jet:
        def reduce(c: Coef) -> Coef:
            if c is None:
                return None
            return c.sum_last() if isinstance(c, SparseCoef) else c.sum(-1)

        return self._like(self.primal.sum(-1), [reduce(c) for c in self.coeffs],
                          [None if s is None else s.sum(-1) for s in self.sums])

    def unsqueeze_last(self) -> Jet:
        return self._like(self.primal.unsqueeze(-1), [None if c is None else c_dense(c).unsqueeze(-1)
                                                      for c in self.coeffs],
                          [None if s is None else s.unsqueeze(-1) for s in self.sums])

    @staticmethod
    def cat(jets: Sequence[Jet]) -> Jet:
        """Concatenate along the last axis."""
        first = jets[0]
        jets = [first._lift(j) for j in jets]
        primal = torch.cat([j.primal for j in jets], -1)

        def join(parts: list[Tensor | None], lead: tuple[int, ...]) -> Tensor | None:
            if all(p is None for p in parts):
                return None
            batch = torch.broadcast_shapes(*[p.shape[len(lead):-1] for p in parts if p is not None])
            full = [p.expand(*lead, *batch, p.shape[-1]) if p is not None else
                    primal.new_zeros(*lead, *batch, j.primal.shape[-1]) for p, j in zip(parts, jets)]
            return torch.cat(full, -1)

        coeffs = [join([c_dense(j.coeffs[k]) for j in jets], (first.layout.stored(k + 1),))
                  for k in range(first.layout.order)]
        sums = [join([j.sums[i] for j in jets], ()) for i in range(len(first.sums))]
        return Jet(primal, coeffs, sums, first.layout)

    @staticmethod
    def stack_last(jets: Sequence[Jet]) -> Jet:
        return Jet.cat([j.unsqueeze_last() for j in jets])

    # -- nonlinear operations ------------------------------------------------------------------
    def compose(self, derivatives: Sequence[Tensor | None]) -> Jet:
        """``f(self)`` given the tower ``[f, f', ..., f^(K)]`` at the primal (Faà di Bruno)."""
        layout = self.layout
        products = _Products(self)
        # widest products first, so narrower uses are slices of them
        for fam in layout.families:
            for m, _, parts in partitions(fam.order):
                if m >= 2:
                    products.get(parts, fam.span)
        coeffs: list[Coef] = []
        for k in range(1, layout.order + 1):
            n = layout.stored(k)
            acc: Coef = None
            if n:
                for m, c, parts in partitions(k):
                    d = derivatives[m]
                    p = None if d is None else products.get(parts, n)
                    if p is None:
                        continue
                    d = d if c == 1 else d * c
                    if isinstance(acc, Tensor) and isinstance(p, Tensor):
                        acc = torch.addcmul(acc, d, p)
                    else:
                        acc = c_add(acc, c_scale(d, p))
            coeffs.append(acc)
        sums: list[Tensor | None] = []
        for fam, top in zip(layout.families, self.sums):
            acc_t = None if top is None or derivatives[1] is None else derivatives[1] * top
            by_m: dict[int, Tensor | None] = {}
            for m, c, parts in partitions(fam.order):
                if m < 2 or derivatives[m] is None:
                    continue
                r = fam.reduce(products.get(parts, fam.span))
                if r is not None:
                    by_m[m] = add_or(by_m.get(m), r if c == 1 else r * c)
            for m, r in by_m.items():
                if r is not None:
                    acc_t = add_or(acc_t, derivatives[m] * r)
            sums.append(acc_t)
        return self._like(derivatives[0], coeffs, sums)

    def _leibniz(self, other: Jet) -> Jet:
        a, b = self, other
        pa, pb = _Products(a), _Products(b)
        coeffs: list[Coef] = []
        for k in range(1, self.layout.order + 1):
            n = self.layout.stored(k)
            acc: Coef = None
            if n:
                acc = c_add(c_scale(a.primal, c_take(b.coeffs[k - 1], n)),
                            c_scale(b.primal, c_take(a.coeffs[k - 1], n)))
                for i in range(1, k):
                    term = c_mul(pa.coefficient(i, n), pb.coefficient(k - i, n))
                    acc = c_add(acc, c_scale(float(math.comb(k, i)), term))
            coeffs.append(acc)
        sums: list[Tensor | None] = []
        for fam, sa, sb in zip(self.layout.families, a.sums, b.sums):
            acc_t = add_or(None if sb is None else a.primal * sb, None if sa is None else b.primal * sa)
            for i in range(1, fam.order):
                ai, bi = pa.coefficient(i, fam.span), pb.coefficient(fam.order - i, fam.span)
                r = fam.reduce(c_mul(ai, bi))
                if r is not None:
                    acc_t = add_or(acc_t, r * math.comb(fam.order, i))
            sums.append(acc_t)
        return self._like(a.primal * b.primal, coeffs, sums)

    def _plus(self, other: Jet) -> Jet:
        return self._like(self.primal + other.primal, [c_add(a, b) for a, b in zip(self.coeffs, other.coeffs)],
                          [add_or(a, b) for a, b in zip(self.sums, other.sums)])

    def _times(self, other: Jet) -> Jet:
        return self._leibniz(other)

    def __repr__(self) -> str:
        return f"Jet(shape={tuple(self.primal.shape)}, sizes={self.layout.sizes}, families={len(self.sums)})"
