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

Coefficients use the derivative convention (not divided by ``k!``): products
follow Leibniz' rule, elementwise functions Faà di Bruno's formula, whose
derivative towers are computed in closed form or by recurrence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Union

import torch
from torch import Tensor

# ---------------------------------------------------------------------------------------------
# Sparse input directions
# ---------------------------------------------------------------------------------------------


class SparseCoef:
    """Directions with few nonzeros along the last axis.

    Entry ``(s, n, index[s, j])`` is ``value[s, n, j]``; ``value`` has shape (S, Nv, m)
    with Nv 1 (shared by all points) or N. Indices within a row are distinct except
    for zero-valued padding (elementwise products rely on it). A linear
    layer applied to it gathers columns of the weight: O(m·width), not O(D·width).
    """

    __slots__ = ("index", "value", "dim")

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


Coef = Union[Tensor, SparseCoef, None]


def c_take(c: Coef, n: int) -> Coef:
    """The first ``n`` directions."""
    if c is None or c.shape[0] == n:
        return c
    return c.take(n) if isinstance(c, SparseCoef) else c[:n]


def c_rows(c: Coef, index: slice | Tensor) -> Coef:
    if c is None:
        return None
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
    return a.square() if a is b else a * b


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


# ---------------------------------------------------------------------------------------------
# Layout: which directions need which order, and the collapsed families
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Family:
    """A collapsed sum ``sum_g weight_g * sum_{s in rows_g} x_order[s]`` over groups of directions.

    ``groups`` pairs direction rows (a slice or an index tensor) with a scalar weight;
    the directions need per-direction coefficients up to ``order - 1``.
    """

    order: int
    groups: tuple[tuple[slice | Tensor, float], ...]
    span: int  # directions [0, span) contain the family

    def reduce(self, c: Coef) -> Tensor | None:
        """The weighted sum over the family's directions of a per-direction quantity."""
        if c is None:
            return None
        total = None
        for rows, weight in self.groups:
            part = c_dense(c_rows(c, rows)).sum(0)
            total = add_or(total, part if weight == 1.0 else part * weight)
        return total


@dataclass(frozen=True, eq=False)
class Layout:
    """Directions per order (``sizes[k-1] = S_k``, non-increasing) and collapsed families."""

    sizes: tuple[int, ...]
    families: tuple[Family, ...] = ()

    @property
    def order(self) -> int:
        return len(self.sizes)


# ---------------------------------------------------------------------------------------------
# Combinatorics
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def partitions(k: int) -> tuple[tuple[int, float, tuple[int, ...]], ...]:
    """Faà di Bruno terms of order ``k``: (number of parts m, coefficient, parts ascending).

    ``d^k/dt^k f(x(t)) = sum over partitions of f^(m)(x) * coefficient * prod_{p in parts} x_p``
    with coefficient ``k! / prod_j (m_j! (j!)^m_j)``, ``m_j`` the multiplicity of part ``j``.
    """

    def gen(n: int, largest: int):
        if n == 0:
            yield ()
            return
        for p in range(min(n, largest), 0, -1):
            for rest in gen(n - p, p):
                yield (p, *rest)

    out = []
    for parts in gen(k, k):
        parts = tuple(sorted(parts))
        denom = 1
        for j in set(parts):
            mj = parts.count(j)
            denom *= math.factorial(mj) * math.factorial(j) ** mj
        out.append((len(parts), math.factorial(k) / denom, parts))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Derivative towers f, f', ..., f^(K) of elementwise functions
# ---------------------------------------------------------------------------------------------


def _poly_tower(y: Tensor, q: list[float], order: int) -> list[Tensor]:
    """Towers of f with f' = Q(f), Q a polynomial: f^(k) = P_k(f), P_{k+1} = P_k' Q."""
    out = [y]
    p = [0.0, 1.0]  # P_0(y) = y
    for _ in range(order):
        dp = [i * p[i] for i in range(1, len(p))]
        prod = [0.0] * (len(dp) + len(q) - 1)
        for i, a in enumerate(dp):
            for j, b in enumerate(q):
                prod[i + j] += a * b
        p = prod
        out.append(_horner(p, y))
    return out


def _horner(coefficients: list[float], y: Tensor) -> Tensor:
    acc = None
    for c in reversed(coefficients):
        acc = torch.full_like(y, c) if acc is None else acc * y + c
    return acc


def _cyclic(values: list[Tensor], order: int) -> list[Tensor]:
    return [values[k % len(values)] for k in range(order + 1)]


def _power_tower(x: Tensor, p: float, order: int, y: Tensor | None = None) -> list[Tensor]:
    out = [x ** p if y is None else y]
    falling = 1.0
    for k in range(1, order + 1):
        falling *= p - k + 1
        out.append(falling * x ** (p - k) if falling != 0 else None)
    return out


def _hermite(x: Tensor, n: int) -> Tensor:
    """Probabilists' Hermite polynomial He_n."""
    a, b = torch.ones_like(x), x
    if n == 0:
        return a
    for j in range(1, n):
        a, b = b, x * b - j * a
    return b


def tower(name: str, x: Tensor, order: int, exponent: float | None = None) -> list[Tensor | None]:
    """``[f(x), f'(x), ..., f^(order)(x)]`` for an elementwise function; ``None`` marks zeros."""
    if name == "tanh":
        return _poly_tower(torch.tanh(x), [1.0, 0.0, -1.0], order)
    if name == "sigmoid":
        return _poly_tower(torch.sigmoid(x), [0.0, 1.0, -1.0], order)
    if name == "tan":
        return _poly_tower(torch.tan(x), [1.0, 0.0, 1.0], order)
    if name == "exp":
        e = torch.exp(x)
        return [e] * (order + 1)
    if name == "sin":
        s, c = torch.sin(x), torch.cos(x)
        return _cyclic([s, c, -s, -c], order)
    if name == "cos":
        s, c = torch.sin(x), torch.cos(x)
        return _cyclic([c, -s, -c, s], order)
    if name == "sinh":
        return _cyclic([torch.sinh(x), torch.cosh(x)], order)
    if name == "cosh":
        return _cyclic([torch.cosh(x), torch.sinh(x)], order)
    if name == "log":
        out: list[Tensor | None] = [torch.log(x)]
        inv = 1 / x
        power = inv
        for k in range(1, order + 1):
            out.append((-1) ** (k - 1) * math.factorial(k - 1) * power)
            power = power * inv
        return out
    if name == "sqrt":
        return _power_tower(x, 0.5, order, torch.sqrt(x))
    if name == "pow":
        assert exponent is not None
        return _power_tower(x, exponent, order)
    if name == "abs":
        return [torch.abs(x), torch.sign(x)] + [None] * (order - 1)
    if name == "arctan":
        out = [torch.atan(x)]
        p = [1.0]  # f^(k) = P_k(x) / (1 + x^2)^k
        inv = 1 / (1 + x * x)
        power = inv
        for k in range(1, order + 1):
            out.append(_horner(p, x) * power)
            dp = [i * p[i] for i in range(1, len(p))]
            nxt = [0.0] * (len(p) + 1)
            for i, a in enumerate(dp):  # P' (1 + x^2)
                nxt[i] += a
                nxt[i + 2] += a
            for i, a in enumerate(p):  # - 2 k x P
                nxt[i + 1] -= 2 * k * a
            p = nxt
            power = power * inv
        return out
    if name == "softplus":
        return [torch.nn.functional.softplus(x)] + tower("sigmoid", x, order - 1)
    if name == "silu":
        s = tower("sigmoid", x, order)
        return [torch.nn.functional.silu(x)] + [x * s[k] + k * s[k - 1] for k in range(1, order + 1)]
    if name == "gelu":
        pdf = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        cdf = [0.5 * (1 + torch.erf(x / math.sqrt(2)))]  # Phi^(j), Phi^(j) = (-1)^(j-1) He_{j-1} pdf
        for j in range(1, order + 1):
            cdf.append((-1) ** (j - 1) * _hermite(x, j - 1) * pdf)
        return [torch.nn.functional.gelu(x)] + [x * cdf[k] + k * cdf[k - 1] for k in range(1, order + 1)]
    raise ValueError(f"no Taylor rule for the function {name!r}")


ELEMENTWISE = ("tanh", "sigmoid", "tan", "exp", "sin", "cos", "sinh", "cosh", "log", "sqrt", "abs", "arctan",
               "softplus", "silu", "gelu")


# ---------------------------------------------------------------------------------------------
# The jet
# ---------------------------------------------------------------------------------------------


class _Products:
    """Memoised products of coefficients over a multiset of orders (Faà di Bruno monomials)."""

    def __init__(self, coeffs: Sequence[Coef]):
        self.coeffs = coeffs
        self.cache: dict[tuple[int, ...], tuple[int, Coef]] = {}

    def get(self, parts: tuple[int, ...], n: int) -> Coef:
        hit = self.cache.get(parts)
        if hit is not None and hit[0] >= n:
            return c_take(hit[1], n)
        last = c_take(self.coeffs[parts[-1] - 1], n)
        value = last if len(parts) == 1 else c_mul(self.get(parts[:-1], n), last)
        self.cache[parts] = (n, value)
        return value


class Jet:
    """A primal value with derivative coefficients along directions (see the module docstring).

    ``coeffs[k-1]`` holds order ``k`` for the first ``layout.sizes[k-1]`` directions
    (a tensor, a :class:`SparseCoef`, or ``None`` for zero); ``sums[i]`` is the
    collapsed value of ``layout.families[i]`` (shape of the primal, or ``None``).
    """

    __slots__ = ("primal", "coeffs", "sums", "layout")
    __array_priority__ = 1000

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

    def _like(self, primal: Tensor, coeffs: Sequence[Coef], sums: Sequence[Tensor | None]) -> Jet:
        return Jet(primal, coeffs, sums, self.layout)

    def _lift(self, other: Any) -> Jet:
        if isinstance(other, Jet):
            if other.layout is not self.layout:
                raise ValueError("jets with different layouts cannot be combined")
            return other
        return Jet.constant(torch.as_tensor(other, dtype=self.primal.dtype, device=self.primal.device), self.layout)

    @property
    def shape(self) -> torch.Size:
        return self.primal.shape

    def dim(self) -> int:
        return self.primal.dim()

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

        coeffs = [join([c_dense(j.coeffs[k]) for j in jets], (n,)) for k, n in enumerate(first.layout.sizes)]
        sums = [join([j.sums[i] for j in jets], ()) for i in range(len(first.sums))]
        return Jet(primal, coeffs, sums, first.layout)

    @staticmethod
    def stack_last(jets: Sequence[Jet]) -> Jet:
        return Jet.cat([j.unsqueeze_last() for j in jets])

    # -- nonlinear operations ------------------------------------------------------------------
    def compose(self, derivatives: Sequence[Tensor | None]) -> Jet:
        """``f(self)`` given the tower ``[f, f', ..., f^(K)]`` at the primal (Faà di Bruno)."""
        layout = self.layout
        products = _Products(self.coeffs)
        # widest products first, so narrower uses are slices of them
        for fam in layout.families:
            for m, _, parts in partitions(fam.order):
                if m >= 2:
                    products.get(parts, fam.span)
        coeffs: list[Coef] = []
        for k in range(1, layout.order + 1):
            n = layout.sizes[k - 1]
            acc: Coef = None
            if n:
                for m, c, parts in partitions(k):
                    d = derivatives[m]
                    if d is None:
                        continue
                    acc = c_add(acc, c_scale(d if c == 1 else d * c, products.get(parts, n)))
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

    def apply(self, name: str) -> Jet:
        """An elementwise function by name (see :data:`ELEMENTWISE`)."""
        return self.compose(tower(name, self.primal, self.layout.order))

    def power(self, p: float) -> Jet:
        if float(p).is_integer() and 0 <= p <= 8:
            return self._integer_power(int(p))
        return self.compose(tower("pow", self.primal, self.layout.order, exponent=float(p)))

    def _integer_power(self, p: int) -> Jet:
        if p == 0:
            return Jet.constant(torch.ones_like(self.primal), self.layout)
        result, base = None, self
        while p:
            if p & 1:
                result = base if result is None else result * base
            p >>= 1
            if p:
                base = base * base
        return result

    def reciprocal(self) -> Jet:
        return self.compose(tower("pow", self.primal, self.layout.order, exponent=-1.0))

    def _leibniz(self, other: Jet) -> Jet:
        a, b = self, other
        coeffs: list[Coef] = []
        for k in range(1, self.layout.order + 1):
            n = self.layout.sizes[k - 1]
            acc: Coef = None
            if n:
                acc = c_add(c_scale(a.primal, c_take(b.coeffs[k - 1], n)), c_scale(b.primal, c_take(a.coeffs[k - 1], n)))
                for i in range(1, k):
                    term = c_mul(c_take(a.coeffs[i - 1], n), c_take(b.coeffs[k - i - 1], n))
                    acc = c_add(acc, c_scale(float(math.comb(k, i)), term))
            coeffs.append(acc)
        sums: list[Tensor | None] = []
        for fam, sa, sb in zip(self.layout.families, a.sums, b.sums):
            acc_t = add_or(None if sb is None else a.primal * sb, None if sa is None else b.primal * sa)
            for i in range(1, fam.order):
                ai, bi = c_take(a.coeffs[i - 1], fam.span), c_take(b.coeffs[fam.order - i - 1], fam.span)
                r = fam.reduce(c_mul(ai, bi))
                if r is not None:
                    acc_t = add_or(acc_t, r * math.comb(fam.order, i))
            sums.append(acc_t)
        return self._like(a.primal * b.primal, coeffs, sums)

    # -- operators -----------------------------------------------------------------------------
    def __add__(self, other: Any) -> Jet:
        if not isinstance(other, Jet):
            return self.shift(other)
        other = self._lift(other)
        return self._like(self.primal + other.primal, [c_add(a, b) for a, b in zip(self.coeffs, other.coeffs)],
                          [add_or(a, b) for a, b in zip(self.sums, other.sums)])

    __radd__ = __add__

    def __neg__(self) -> Jet:
        return self.scale(-1.0)

    def __sub__(self, other: Any) -> Jet:
        return self + (-other)

    def __rsub__(self, other: Any) -> Jet:
        return (-self) + other

    def __mul__(self, other: Any) -> Jet:
        if not isinstance(other, Jet):
            return self.scale(other)
        return self._leibniz(self._lift(other))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Jet:
        if isinstance(other, Jet):
            return self * self._lift(other).reciprocal()
        return self.scale(1.0 / other)

    def __rtruediv__(self, other: Any) -> Jet:
        return self.reciprocal() * other

    def __pow__(self, other: Any) -> Jet:
        if isinstance(other, Jet):
            return (other * self.apply("log")).apply("exp")
        if isinstance(other, Tensor) and other.dim() > 0:
            return (self.apply("log") * other).apply("exp")
        return self.power(float(other))

    def __rpow__(self, other: Any) -> Jet:
        base = torch.as_tensor(other, dtype=self.primal.dtype, device=self.primal.device)
        return (self * torch.log(base)).apply("exp")

    def __repr__(self) -> str:
        return f"Jet(shape={tuple(self.primal.shape)}, sizes={self.layout.sizes}, families={len(self.sums)})"


class JetOps:
    """Arithmetic over jets, tensors and numbers with the interface of :class:`pinnlab.evaluate.TorchOps`.

    Used to evaluate output-transform expressions on jets; products follow Leibniz'
    rule, functions Faà di Bruno's formula.
    """

    def __init__(self) -> None:
        from pinnlab.evaluate import TORCH_OPS

        self.tensor_ops = TORCH_OPS

    @staticmethod
    def _rank(a: Any) -> int:
        if isinstance(a, (Jet, Tensor)):
            return a.dim()
        return 0

    def _align(self, a: Any, b: Any) -> tuple[Any, Any]:
        ra, rb = self._rank(a), self._rank(b)
        if ra and rb and ra != rb:
            if ra < rb:
                a = a.unsqueeze_last() if isinstance(a, Jet) else a.unsqueeze(-1)
            else:
                b = b.unsqueeze_last() if isinstance(b, Jet) else b.unsqueeze(-1)
        return a, b

    def const(self, value: float, like: Any) -> Any:
        return value

    def binary(self, op: str, a: Any, b: Any) -> Any:
        if not isinstance(a, Jet) and not isinstance(b, Jet):
            return self.tensor_ops.binary(op, a, b)
        a, b = self._align(a, b)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        if op == "**":
            return a ** b
        if op == "dot":
            return (a * b).sum_last()
        raise ValueError(f"unknown operator {op}")

    def unary(self, op: str, a: Any) -> Any:
        if not isinstance(a, Jet):
            return self.tensor_ops.unary(op, a)
        if op == "neg":
            return -a
        if op == "sum":
            return a.sum_last()
        if op == "norm2":
            return (a * a).sum_last()
        return a.apply(op)


JET_OPS = JetOps()
