"""Storage of jet coefficients: dense tensors, sparse input directions, or ``None`` for zero.

A coefficient of order ``k`` holds ``S`` directions over the points: a tensor of shape
``(S, *P)`` (any axis but the first may broadcast), a :class:`SparseCoef` (input
directions with few nonzeros, kept sparse until the first linear layer), or ``None``
(identically zero). The ``c_*`` helpers combine coefficients of any of these kinds.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class SparseCoef:
    """Directions with few nonzeros along the last axis.

    Entry ``(s, n, index[s, j])`` is ``value[s, n, j]``; ``value`` has shape (S, Nv, m)
    with Nv 1 (shared by all points) or N. Indices within a row are distinct except
    for zero-valued padding (elementwise products rely on it). A linear
    layer applied to it gathers columns of the weight: O(m·width), not O(D·width).
    """

    __slots__ = ("dim", "index", "value")

    def __init__(self, index: Tensor, value: Tensor, dim: int):
        self.index = index
        self.value = value
        self.dim = dim

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.value.shape[0], self.value.shape[1], self.dim)

    def take(self, n: int) -> SparseCoef:
        return SparseCoef(self.index[:n], self.value[:n], self.dim)

    def rows(self, index: slice | Tensor) -> SparseCoef:
        if isinstance(index, slice):
            return SparseCoef(self.index[index], self.value[index], self.dim)
        return SparseCoef(self.index.index_select(0, index), self.value.index_select(0, index), self.dim)

    def dense(self) -> Tensor:
        s, nv, m = self.value.shape
        out = self.value.new_zeros(s, nv, self.dim)
        return out.scatter_add(-1, self.index[:, None, :].expand(s, nv, m), self.value)

    def scaled(self, c: float | Tensor) -> SparseCoef:
        return SparseCoef(self.index, self.value * c, self.dim)

    def gather(self, t: Tensor) -> Tensor:
        """Entries of ``t`` (shape (D,), (N, D) or (S, N, D)) at this coefficient's indices, (S, N', m)."""
        if t.dim() == 1:
            return t[self.index][:, None, :]
        if t.dim() == 2:
            return t[:, self.index].permute(1, 0, 2)
        s, m = self.index.shape
        idx = self.index[:, None, :].expand(s, t.shape[1], m)
        return torch.gather(t.expand(s, *t.shape[1:]), -1, idx)

    def times(self, t: Tensor) -> SparseCoef:
        """Elementwise product with a dense tensor broadcasting against (S, N, D)."""
        if t.dim() == 0 or t.shape[-1] == 1:
            return SparseCoef(self.index, self.value * (t if t.dim() == 0 else t[..., :1]), self.dim)
        return SparseCoef(self.index, self.value * self.gather(t), self.dim)

    def linear(self, weight: Tensor) -> Tensor:
        """``coefficient @ weight.T`` for ``weight`` of shape (out, D): (S, Nv, out)."""
        cols = weight[:, self.index]  # (out, S, m)
        return torch.einsum("osm,snm->sno", cols, self.value)

    def select(self, cols: int | slice | Sequence[int]) -> Tensor | SparseCoef:
        if isinstance(cols, int):
            c = cols % self.dim
            return (self.value * (self.index == c)[:, None, :]).sum(-1)
        device = self.index.device
        if isinstance(cols, slice):
            keep = torch.arange(self.dim, device=device)[cols]
        else:
            keep = torch.as_tensor(list(cols), dtype=torch.long, device=device)
        new = torch.full((self.dim,), -1, dtype=torch.long, device=device)
        new[keep] = torch.arange(len(keep), device=device)
        mapped = new[self.index]
        inside = mapped >= 0
        return SparseCoef(mapped.clamp(min=0), self.value * inside[:, None, :], len(keep))

    def sum_last(self) -> Tensor:
        return self.value.sum(-1)


Coef = Tensor | SparseCoef | None


def c_take(c: Coef, n: int) -> Coef:
    """The first ``n`` directions."""
    if c is None or c.shape[0] == n:
        return c
    return c.take(n) if isinstance(c, SparseCoef) else c[:n]


def c_rows(c: Coef, index: slice | Tensor) -> Coef:
    if c is None:
        return None
    if isinstance(index, slice) and index.start in (None, 0) and index.step in (None, 1) and (
            index.stop is None or index.stop >= c.shape[0]):
        return c
    if isinstance(c, SparseCoef):
        return c.rows(index)
    return c[index] if isinstance(index, slice) else c.index_select(0, index)


def c_dense(c: Coef) -> Tensor | None:
    return c.dense() if isinstance(c, SparseCoef) else c


def c_mul(a: Coef, b: Coef) -> Coef:
    """Elementwise product of two coefficients (same directions)."""
    if a is None or b is None:
        return None
    if isinstance(a, SparseCoef) and isinstance(b, SparseCoef):
        if a.index is b.index:
            return SparseCoef(a.index, a.value * b.value, a.dim)
        return a.dense() * b.dense()
    if isinstance(a, SparseCoef):
        return a.times(b)
    if isinstance(b, SparseCoef):
        return b.times(a)
    return a * b


def c_scale(t: Tensor | float | None, c: Coef) -> Coef:
    """A primal-shaped factor (or scalar) times a coefficient."""
    if c is None or t is None:
        return None
    if isinstance(c, SparseCoef):
        return c.scaled(t) if not isinstance(t, Tensor) else c.times(t)
    return t * c


def c_add(a: Coef, b: Coef) -> Coef:
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, SparseCoef) and isinstance(b, SparseCoef):
        if a.index is b.index:
            return SparseCoef(a.index, a.value + b.value, a.dim)
        nv = max(a.value.shape[1], b.value.shape[1])
        va = a.value.expand(-1, nv, -1)
        vb = b.value.expand(-1, nv, -1)
        return SparseCoef(torch.cat([a.index, b.index], 1), torch.cat([va, vb], -1), a.dim)
    return c_dense(a) + c_dense(b)


def c_linear(c: Coef, weight: Tensor) -> Coef:
    if c is None:
        return None
    if isinstance(c, SparseCoef):
        return c.linear(weight)
    return torch.matmul(c, weight.t())


def c_select(c: Coef, cols: int | slice | Sequence[int]) -> Coef:
    if c is None:
        return None
    if isinstance(c, SparseCoef):
        return c.select(cols)
    if isinstance(cols, (int, slice)):
        return c[..., cols]
    return c[..., list(cols)]


def add_or(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b
