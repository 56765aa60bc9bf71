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
from functools import cache
from typing import Any

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


# ---------------------------------------------------------------------------------------------
# Layout: which directions need which order, and the collapsed families
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Combinatorics
# ---------------------------------------------------------------------------------------------


@cache
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
    while len(coefficients) > 1 and coefficients[-1] == 0:
        coefficients = coefficients[:-1]
    if len(coefficients) == 1:
        return torch.full_like(y, coefficients[0])
    acc = y * coefficients[-1] + coefficients[-2]
    for c in reversed(coefficients[:-2]):
        acc = acc * y + c if c else acc * y
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


class TaylorValue:
    """Arithmetic shared by the jet types: operators built from a few primitives.

    Subclasses provide ``primal``, ``order`` (highest derivative order carried),
    ``constant_like``, ``compatible``, ``_plus``, ``_times``, ``scale``, ``shift``
    and ``compose`` (an elementwise function given its derivative tower).
    """

    __slots__ = ()
    __array_priority__ = 1000
    primal: Tensor
    order: int

    def constant_like(self, value: Tensor) -> TaylorValue:
        raise NotImplementedError

    def compatible(self, other: TaylorValue) -> bool:
        raise NotImplementedError

    def _plus(self, other: TaylorValue) -> TaylorValue:
        raise NotImplementedError

    def _times(self, other: TaylorValue) -> TaylorValue:
        raise NotImplementedError

    def scale(self, factor: Tensor | float) -> TaylorValue:
        raise NotImplementedError

    def shift(self, offset: Tensor | float) -> TaylorValue:
        raise NotImplementedError

    def compose(self, derivatives: Sequence[Tensor | None]) -> TaylorValue:
        raise NotImplementedError

    def _lift(self, other: Any) -> TaylorValue:
        if isinstance(other, TaylorValue):
            if not self.compatible(other):
                raise ValueError("jets with different layouts cannot be combined")
            return other
        return self.constant_like(torch.as_tensor(other, dtype=self.primal.dtype, device=self.primal.device))

    @property
    def shape(self) -> torch.Size:
        return self.primal.shape

    def dim(self) -> int:
        return self.primal.dim()

    def apply(self, name: str) -> TaylorValue:
        """An elementwise function by name (see :data:`ELEMENTWISE`)."""
        return self.compose(tower(name, self.primal, self.order))

    def power(self, p: float) -> TaylorValue:
        if float(p).is_integer() and 0 <= p <= 8:
            return self._integer_power(int(p))
        return self.compose(tower("pow", self.primal, self.order, exponent=float(p)))

    def _integer_power(self, p: int) -> TaylorValue:
        if p == 0:
            return self.constant_like(torch.ones_like(self.primal))
        result, base = None, self
        while p:
            if p & 1:
                result = base if result is None else result * base
            p >>= 1
            if p:
                base = base * base
        return result

    def reciprocal(self) -> TaylorValue:
        return self.compose(tower("pow", self.primal, self.order, exponent=-1.0))

    def __add__(self, other: Any) -> TaylorValue:
        if not isinstance(other, TaylorValue):
            return self.shift(other)
        return self._plus(self._lift(other))

    __radd__ = __add__

    def __neg__(self) -> TaylorValue:
        return self.scale(-1.0)

    def __sub__(self, other: Any) -> TaylorValue:
        return self + (-other)

    def __rsub__(self, other: Any) -> TaylorValue:
        return (-self) + other

    def __mul__(self, other: Any) -> TaylorValue:
        if not isinstance(other, TaylorValue):
            return self.scale(other)
        return self._times(self._lift(other))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> TaylorValue:
        if isinstance(other, TaylorValue):
            return self * self._lift(other).reciprocal()
        return self.scale(1.0 / other)

    def __rtruediv__(self, other: Any) -> TaylorValue:
        return self.reciprocal() * other

    def __pow__(self, other: Any) -> TaylorValue:
        if isinstance(other, TaylorValue):
            return (other * self.apply("log")).apply("exp")
        if isinstance(other, Tensor) and other.dim() > 0:
            return (self.apply("log") * other).apply("exp")
        return self.power(float(other))

    def __rpow__(self, other: Any) -> TaylorValue:
        base = torch.as_tensor(other, dtype=self.primal.dtype, device=self.primal.device)
        return (self * torch.log(base)).apply("exp")


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
                acc = c_add(c_scale(a.primal, c_take(b.coeffs[k - 1], n)), c_scale(b.primal, c_take(a.coeffs[k - 1], n)))
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


@cache
def _pairs(d: int) -> tuple[list[int], list[int], list[int], list[float]]:
    """Packed symmetric d x d storage: rows (i, j), i <= j; the full index; Frobenius weights."""
    pairs = [(i, j) for i in range(d) for j in range(i, d)]
    where = {p: k for k, p in enumerate(pairs)}
    full = [where[(min(i, j), max(i, j))] for i in range(d) for j in range(d)]
    return [i for i, _ in pairs], [j for _, j in pairs], full, [1.0 if i == j else 2.0 for i, j in pairs]


def _prod(*factors: Any) -> Any:
    """The product of the factors, or ``None`` if one of them is ``None`` (zero)."""
    out = factors[0]
    for f in factors[1:]:
        if out is None or f is None:
            return None
        out = out * f
    return out


def _total(*terms: Any) -> Any:
    out = None
    for t in terms:
        out = add_or(out, t)
    return out


class BiharmonicJet(TaylorValue):
    """Gradient, Hessian, ∇Δ, Δ and Δ² over ``d`` input columns, pushed forward together.

    The collapsed fourth-order Taylor mode for the bilaplacian: instead of d² fourth-order
    directional jets, each value carries its gradient ``grad`` (d rows), packed Hessian
    ``hess`` (d(d+1)/2 rows), ``glap = ∇Δ`` (d rows), ``lap = Δ`` and ``bilap = Δ²``.
    An elementwise f maps them by the chain rule summed over directions, e.g.
    ``Δ²f(g) = f1 Δ²g + f2 (2|H|² + (Δg)² + 4∇g·∇Δg) + f3 (2|∇g|²Δg + 4∇gᵀH∇g) + f4 |∇g|⁴``
    (``fk`` the k-th derivative of f), and products by
    ``Δ²(ab) = aΔ²b + bΔ²a + 2ΔaΔb + 4∇a·∇Δb + 4∇b·∇Δa + 4 Ha:Hb``.
    Linear layers act on every part alike. ``None`` parts are zero.
    """

    __slots__ = ("bilap", "d", "glap", "grad", "hess", "lap", "primal")
    order = 4

    def __init__(self, primal: Tensor, grad: Coef, hess: Tensor | None, glap: Tensor | None, lap: Tensor | None,
                 bilap: Tensor | None, d: int):
        self.primal, self.grad, self.hess, self.glap, self.lap, self.bilap, self.d = (
            primal, grad, hess, glap, lap, bilap, d)

    @classmethod
    def seed(cls, x: Tensor, cols: Sequence[int]) -> BiharmonicJet:
        """The input points with unit gradients along ``cols`` (sparse rows)."""
        index = torch.as_tensor(list(cols), dtype=torch.long, device=x.device)[:, None]
        value = torch.ones(len(cols), 1, 1, dtype=x.dtype, device=x.device)
        return cls(x, SparseCoef(index, value, x.shape[-1]), None, None, None, None, len(cols))

    def constant_like(self, value: Tensor) -> BiharmonicJet:
        return BiharmonicJet(value, None, None, None, None, None, self.d)

    def compatible(self, other: TaylorValue) -> bool:
        return isinstance(other, BiharmonicJet) and other.d == self.d

    def _map(self, primal: Tensor, fn) -> BiharmonicJet:
        """Apply a linear map ``fn`` to every part (``None`` stays ``None``)."""
        parts = [None if p is None else fn(p) for p in (self.grad, self.hess, self.glap, self.lap, self.bilap)]
        return BiharmonicJet(primal, *parts, self.d)

    def _index(self, values: list, dtype: torch.dtype = torch.long) -> Tensor:
        return torch.as_tensor(values, dtype=dtype, device=self.primal.device)

    def _hvec(self, hess: Tensor | None, grad: Tensor | None) -> Tensor | None:
        """Rows of ``H ∇g`` (d rows) from the packed Hessian."""
        if hess is None or grad is None:
            return None
        full = hess.index_select(0, self._index(_pairs(self.d)[2]))
        full = full.reshape(self.d, self.d, *hess.shape[1:])
        return (full * grad.unsqueeze(0)).sum(1)

    def _outer(self, a: Tensor | None, b: Tensor | None) -> Tensor | None:
        """Packed rows of ``∇a ∇bᵀ``."""
        if a is None or b is None:
            return None
        pi, pj, _, _ = _pairs(self.d)
        return a.index_select(0, self._index(pi)) * b.index_select(0, self._index(pj))

    def _frobenius(self, a: Tensor | None, b: Tensor | None) -> Tensor | None:
        """``Ha : Hb`` from packed rows."""
        if a is None or b is None:
            return None
        w = self._index(_pairs(self.d)[3], dtype=a.dtype)
        return torch.tensordot(w, a * b, dims=1)

    @staticmethod
    def _dot(a: Tensor | None, b: Tensor | None) -> Tensor | None:
        return None if a is None or b is None else (a * b).sum(0)

    # -- linear operations ---------------------------------------------------------------------
    def linear(self, weight: Tensor, bias: Tensor | None = None) -> BiharmonicJet:
        return self._map(torch.nn.functional.linear(self.primal, weight, bias), lambda p: c_linear(p, weight))

    def scale(self, factor: Tensor | float) -> BiharmonicJet:
        return self._map(self.primal * factor, lambda p: c_scale(factor, p))

    def shift(self, offset: Tensor | float) -> BiharmonicJet:
        return BiharmonicJet(self.primal + offset, self.grad, self.hess, self.glap, self.lap, self.bilap, self.d)

    def select(self, cols: int | slice | Sequence[int]) -> BiharmonicJet:
        index = cols if isinstance(cols, (int, slice)) else list(cols)
        return self._map(self.primal[..., index], lambda p: c_select(p, cols))

    def sum_last(self) -> BiharmonicJet:
        return self._map(self.primal.sum(-1), lambda p: p.sum_last() if isinstance(p, SparseCoef) else p.sum(-1))

    def unsqueeze_last(self) -> BiharmonicJet:
        return self._map(self.primal.unsqueeze(-1), lambda p: c_dense(p).unsqueeze(-1))

    @staticmethod
    def cat(jets: Sequence[BiharmonicJet]) -> BiharmonicJet:
        first = jets[0]
        jets = [first._lift(j) for j in jets]
        primal = torch.cat([j.primal for j in jets], -1)
        rows = {"grad": first.d, "hess": first.d * (first.d + 1) // 2, "glap": first.d}

        def join(name: str) -> Tensor | None:
            parts = [c_dense(getattr(j, name)) for j in jets]
            if all(p is None for p in parts):
                return None
            lead = (rows[name],) if name in rows else ()
            batch = torch.broadcast_shapes(*[p.shape[len(lead):-1] for p in parts if p is not None])
            full = [p.expand(*lead, *batch, p.shape[-1]) if p is not None else
                    primal.new_zeros(*lead, *batch, j.primal.shape[-1]) for p, j in zip(parts, jets)]
            return torch.cat(full, -1)

        return BiharmonicJet(primal, *(join(n) for n in ("grad", "hess", "glap", "lap", "bilap")), first.d)

    @staticmethod
    def stack_last(jets: Sequence[BiharmonicJet]) -> BiharmonicJet:
        return BiharmonicJet.cat([j.unsqueeze_last() for j in jets])

    # -- nonlinear operations ------------------------------------------------------------------
    def compose(self, derivatives: Sequence[Tensor | None]) -> BiharmonicJet:
        f1, f2, f3, f4 = derivatives[1:5]
        g = c_dense(self.grad)
        h, glap, lap, bilap = self.hess, self.glap, self.lap, self.bilap
        q = self._dot(g, g)  # |∇g|²
        hg = self._hvec(h, g)
        grad = c_scale(f1, self.grad)
        hess = _total(_prod(f1, h), _prod(f2, self._outer(g, g)))
        new_lap = _total(_prod(f1, lap), _prod(f2, q))
        new_glap = _total(_prod(f1, glap), _prod(f2, _total(_prod(lap, g), _prod(hg, 2.0))), _prod(f3, q, g))
        inner2 = _total(_prod(self._frobenius(h, h), 2.0), _prod(lap, lap), _prod(self._dot(g, glap), 4.0))
        inner3 = _total(_prod(q, lap, 2.0), _prod(self._dot(g, hg), 4.0))
        new_bilap = _total(_prod(f1, bilap), _prod(f2, inner2), _prod(f3, inner3), _prod(f4, q, q))
        return BiharmonicJet(derivatives[0], grad, hess, new_glap, new_lap, new_bilap, self.d)

    def _plus(self, other: BiharmonicJet) -> BiharmonicJet:
        return BiharmonicJet(self.primal + other.primal, c_add(self.grad, other.grad), add_or(self.hess, other.hess),
                             add_or(self.glap, other.glap), add_or(self.lap, other.lap),
                             add_or(self.bilap, other.bilap), self.d)

    def _times(self, other: BiharmonicJet) -> BiharmonicJet:
        a, b = self, other
        a0, b0 = a.primal, b.primal
        ga, gb = c_dense(a.grad), c_dense(b.grad)
        grad = c_add(c_scale(a0, b.grad), c_scale(b0, a.grad))
        hess = _total(_prod(a0, b.hess), _prod(b0, a.hess), self._outer(ga, gb), self._outer(gb, ga))
        lap = _total(_prod(a0, b.lap), _prod(b0, a.lap), _prod(self._dot(ga, gb), 2.0))
        glap = _total(_prod(a0, b.glap), _prod(b0, a.glap), _prod(b.lap, ga), _prod(a.lap, gb),
                      _prod(_total(self._hvec(a.hess, gb), self._hvec(b.hess, ga)), 2.0))
        bilap = _total(_prod(a0, b.bilap), _prod(b0, a.bilap), _prod(a.lap, b.lap, 2.0),
                       _prod(self._dot(ga, b.glap), 4.0), _prod(self._dot(gb, a.glap), 4.0),
                       _prod(self._frobenius(a.hess, b.hess), 4.0))
        return BiharmonicJet(a0 * b0, grad, hess, glap, lap, bilap, self.d)

    def __repr__(self) -> str:
        return f"BiharmonicJet(shape={tuple(self.primal.shape)}, d={self.d})"


class JetOps:
    """Arithmetic over jets, tensors and numbers with the interface of :class:`pinnlab.evaluate.TorchOps`.

    Used to evaluate output-transform expressions on jets; products follow Leibniz'
    rule, functions Faà di Bruno's formula.
    """

    def __init__(self) -> None:
        from pinnlab.compile.evaluate import TORCH_OPS

        self.tensor_ops = TORCH_OPS

    @staticmethod
    def _rank(a: Any) -> int:
        if isinstance(a, (TaylorValue, Tensor)):
            return a.dim()
        return 0

    def _align(self, a: Any, b: Any) -> tuple[Any, Any]:
        ra, rb = self._rank(a), self._rank(b)
        if ra and rb and ra != rb:
            if ra < rb:
                a = a.unsqueeze_last() if isinstance(a, TaylorValue) else a.unsqueeze(-1)
            else:
                b = b.unsqueeze_last() if isinstance(b, TaylorValue) else b.unsqueeze(-1)
        return a, b

    def const(self, value: float, like: Any) -> Any:
        return value

    def binary(self, op: str, a: Any, b: Any) -> Any:
        if not isinstance(a, TaylorValue) and not isinstance(b, TaylorValue):
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
        if not isinstance(a, TaylorValue):
            return self.tensor_ops.unary(op, a)
        if op == "neg":
            return -a
        if op == "sum":
            return a.sum_last()
        if op == "norm2":
            return (a * a).sum_last()
        return a.apply(op)


JET_OPS = JetOps()
