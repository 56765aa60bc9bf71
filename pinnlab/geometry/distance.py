"""Approximate distance functions (ADFs) and R-functions, after Sukumar & Srivastava (CMAME 2022).

An ADF is a smooth function that vanishes exactly on a part of a boundary, is positive
elsewhere near it and has unit normal derivative there (normalised to first order). The
building blocks here are written with ``+ - * /`` and the few operations of an
:class:`Arithmetic` object, so the same code runs on tensors and, through an arithmetic
that the compiler supplies, on Taylor jets:

* :func:`trimmed`: the ADF of a piece ``{f = 0, t >= 0}`` of a level set (a segment, a
  face, a cylinder's side), ``sqrt(f² + ((sqrt(t² + f⁴) − t)/2)²)``;
* :func:`join`: the R-equivalence ``(Σ φ_i⁻¹)⁻¹`` of several ADFs, zero on each of their
  zero sets (pairwise, ``φ_a φ_b / (φ_a + φ_b)``, so exact zeros stay exact);
* :func:`conjunction`, :func:`disjunction`: R₀ intersection and union of signed functions
  (positive inside), which keep first-order normalisation at regular boundary points.

Values are ``(N,)`` or ``(N, K)`` (K pieces at once, reduced over the last axis).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor


class Arithmetic:
    """The operations distance functions need beyond Python's operators, here for tensors.

    ``value`` gives the plain values of an argument (no derivative information: signs and
    inside tests are taken from it), ``sqrt`` a square root, and ``unsqueeze``, ``take``,
    ``column``, ``cat``, ``sum_last``, ``linear`` work on the last axis.
    """

    def value(self, a: Any) -> Tensor:
        return a.detach() if isinstance(a, Tensor) else torch.as_tensor(a)

    def sqrt(self, a: Any) -> Any:
        """``sqrt(a)`` whose derivatives are zero, not inf/NaN, where ``a`` is exactly 0 (an ADF's zero set)."""
        positive = a > 0
        root = torch.sqrt(torch.where(positive, a, torch.ones_like(a)))
        return torch.where(positive, root, torch.zeros_like(root))

    def unsqueeze(self, a: Any) -> Any:
        return a.unsqueeze(-1)

    def take(self, a: Any, index: slice) -> Any:
        return a[..., index]

    def column(self, a: Any, i: int) -> Any:
        return a[..., i]

    def cat(self, parts: Sequence[Any]) -> Any:
        return torch.cat(list(parts), -1)

    def sum_last(self, a: Any) -> Any:
        return a.sum(-1)

    def linear(self, a: Any, weight: Tensor, bias: Tensor) -> Any:
        """``a @ weight.T + bias`` on the last axis."""
        return torch.nn.functional.linear(a, weight, bias)

    def stack_columns(self, columns: Sequence[Any]) -> Any:
        """``(N,)`` columns as one ``(N, d)`` block."""
        return self.cat([self.unsqueeze(c) for c in columns])


TENSOR_ARITHMETIC = Arithmetic()

Columns = Sequence[Any]
"""The coordinate columns a distance function reads, each ``(N,)`` (tensors or jets)."""


class DistanceFunction:
    """A distance function of some columns of the points: ``fn(columns, arithmetic)``.

    ``columns`` are the indices, in the geometry's columns, of the coordinates ``fn`` reads:
    a list (``fn`` gets one ``(N,)`` value per column) or a slice (``fn`` gets the one
    ``(N, d)`` block, for domains of many dimensions). ``boundary`` names what it vanishes
    on (``None``: the whole boundary).
    """

    def __init__(self, columns: Sequence[int] | slice, fn: Callable[[Any, Arithmetic], Any],
                 boundary: tuple[str, ...] | None = None):
        self.columns: list[int] | slice = columns if isinstance(columns, slice) else [int(c) for c in columns]
        self.fn = fn
        self.boundary = boundary

    def __repr__(self) -> str:
        what = "the whole boundary" if not self.boundary else ", ".join(self.boundary)
        return f"DistanceFunction({what}; columns {self.columns})"

    def __call__(self, columns: Any, arithmetic: Arithmetic = TENSOR_ARITHMETIC) -> Any:
        return self.fn(columns, arithmetic)

    def read(self, x: Any, select: Callable[[Any, int | slice], Any]) -> Any:
        """The argument of ``fn`` taken from points ``x`` with ``select(x, column_or_slice)``."""
        if isinstance(self.columns, slice):
            return select(x, self.columns)
        return [select(x, c) for c in self.columns]

    def inserted(self, column: int) -> DistanceFunction:
        """The same function on points with one more column inserted at ``column`` (time)."""
        cols = self.columns
        if isinstance(cols, slice):
            if cols.stop <= column:
                return self
            if cols.start >= column:
                return DistanceFunction(slice(cols.start + 1, cols.stop + 1), self.fn, self.boundary)
            cols = list(range(cols.start, cols.stop))
            return DistanceFunction(cols, lambda c, ar: self.fn(ar.stack_columns(c), ar), self.boundary)
        return DistanceFunction([c + (c >= column) for c in cols], self.fn, self.boundary)

    def evaluate(self, x: Tensor) -> Tensor:
        """Values at the rows of an ``(N, D)`` tensor."""
        return self.fn(self.read(x, lambda t, c: t[:, c]), TENSOR_ARITHMETIC)


# -- constants and signs ---------------------------------------------------------------------
def const(values: Any, like: Any, ar: Arithmetic) -> Tensor:
    """``values`` as a tensor with the dtype and device of ``like``'s values."""
    v = ar.value(like)
    return torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=v.dtype, device=v.device)


def sign_of(a: Any, ar: Arithmetic) -> Tensor:
    """+1 where ``a >= 0``, −1 elsewhere (a constant: no derivative information)."""
    v = ar.value(a)
    return torch.where(v >= 0, torch.ones_like(v), -torch.ones_like(v))


def unsigned(a: Any, ar: Arithmetic) -> Any:
    """``|a|`` as ``a`` times its sign, exact at zero."""
    return a * sign_of(a, ar)


# -- R-functions -----------------------------------------------------------------------------
def conjunction(a: Any, b: Any, ar: Arithmetic) -> Any:
    """R₀ intersection: positive where both are, zero on the boundary of the intersection."""
    return a + b - ar.sqrt(a * a + b * b)


def disjunction(a: Any, b: Any, ar: Arithmetic) -> Any:
    """R₀ union: positive where either is."""
    return a + b + ar.sqrt(a * a + b * b)


def equivalence(a: Any, b: Any, ar: Arithmetic) -> Any:
    """R-equivalence of two ADFs (m = 1): zero on either zero set, ``≈ min(a, b)`` near them.

    The smallest normal number of the dtype is added to the denominator, so two zeros (a
    corner) give 0 instead of 0/0.
    """
    return a * b / (a + b + torch.finfo(ar.value(a).dtype).tiny)


def reduce_last(values: Any, width: int, op: Callable[[Any, Any], Any], ar: Arithmetic) -> Any:
    """Combine the ``width`` entries of the last axis pairwise with ``op``; returns ``(N,)``."""
    while width > 1:
        half = width // 2
        combined = op(ar.take(values, slice(0, half)), ar.take(values, slice(half, 2 * half)))
        if width % 2:
            combined = ar.cat([combined, ar.take(values, slice(2 * half, width))])
        values, width = combined, half + width % 2
    return ar.column(values, 0)


def join(values: Any, width: int, ar: Arithmetic) -> Any:
    """R-equivalence of the ``width`` ADFs on the last axis: zero on each of their zero sets."""
    return reduce_last(values, width, lambda a, b: equivalence(a, b, ar), ar)


def conjoin(values: Any, width: int, ar: Arithmetic) -> Any:
    """R₀ intersection of the ``width`` signed functions on the last axis."""
    return reduce_last(values, width, lambda a, b: conjunction(a, b, ar), ar)


def trimmed(f: Any, t: Any, ar: Arithmetic) -> Any:
    """The ADF of the piece ``{f = 0, t >= 0}``: zero there, positive elsewhere.

    ``f`` is a normalised signed distance to the carrier (a line, plane, circle) and ``t``
    a trimming function, positive on the piece; first-order normalised on the piece.
    """
    f2 = f * f
    q = (ar.sqrt(t * t + f2 * f2) - t) * 0.5
    return ar.sqrt(f2 + q * q)


def slab(x: Any, center: Any, width: Any) -> Any:
    """``((w/2)² − (x − c)²)/w``: positive for |x − c| < w/2, unit slope at the walls."""
    d = x - center
    return (width * width * 0.25 - d * d) / width


def segment_adf(x: Any, y: Any, a: np.ndarray, b: np.ndarray, ar: Arithmetic) -> Any:
    """Trimmed ADFs ``(N, K)`` of K segments ``a[k] → b[k]`` (arrays ``(K, 2)``) at columns ``(N,)``.

    ``f`` is the signed distance to the segment's line and ``t = (L²/4 − |x − c|²)/L``,
    positive on the disc whose diameter is the segment (the paper's trimming).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d = b - a
    length = np.hypot(d[:, 0], d[:, 1])
    mid = 0.5 * (a + b)
    X, Y = ar.unsqueeze(x), ar.unsqueeze(y)
    f = ((X - const(a[:, 0], x, ar)) * const(d[:, 1] / length, x, ar)
         - (Y - const(a[:, 1], x, ar)) * const(d[:, 0] / length, x, ar))
    dx, dy = X - const(mid[:, 0], x, ar), Y - const(mid[:, 1], x, ar)
    t = (const(length * length * 0.25, x, ar) - dx * dx - dy * dy) * const(1.0 / length, x, ar)
    return trimmed(f, t, ar)


def triangle_adf(cols: Columns, a: np.ndarray, b: np.ndarray, c: np.ndarray, ar: Arithmetic) -> Any:
    """Trimmed ADFs ``(N, K)`` of K triangles in 3-D (vertex arrays ``(K, 3)``).

    ``f`` is the signed distance to the triangle's plane and ``t`` the R₀ intersection of
    the three in-plane half-planes bounded by its edges (positive inside the triangle);
    the four linear functions come from one matrix product.
    """
    a, b, c = (np.asarray(v, dtype=np.float64) for v in (a, b, c))
    k = len(a)
    normal = np.cross(b - a, c - a)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    directions, origins = [normal], [a]
    for p, q, r in ((a, b, c), (b, c, a), (c, a, b)):
        inward = np.cross(normal, q - p)
        inward /= np.linalg.norm(inward, axis=1, keepdims=True)
        inward *= np.sign(np.einsum("ij,ij->i", inward, r - p))[:, None]
        directions.append(inward)
        origins.append(p)
    weight = np.concatenate(directions)
    bias = -np.einsum("ij,ij->i", weight, np.concatenate(origins))
    like = cols[0]
    values = ar.linear(ar.stack_columns(cols), const(weight, like, ar), const(bias, like, ar))
    f, s1, s2, s3 = (ar.take(values, slice(i * k, (i + 1) * k)) for i in range(4))
    t = conjunction(conjunction(s1, s2, ar), s3, ar)
    return trimmed(f, t, ar)
