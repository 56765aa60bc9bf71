"""Transfinite interpolation of boundary values (Sukumar & Srivastava, CMAME 2022, after Rvachev).

Given boundary parts Γ_1..Γ_K with approximate distance functions φ_i (zero on Γ_i, positive
elsewhere) and values g_i (functions of the points, used on Γ_i), the lift

    g = Σ_i w_i g_i,   w_i = φ_i^-μ / Σ_j φ_j^-μ = Π_{j≠i} φ_j^μ / Σ_k Π_{j≠k} φ_j^μ,

equals g_i on Γ_i (away from the other parts) and is smooth wherever the φ_i are; with
``u = g + φ N`` (φ vanishing on every Γ_i) the values are imposed exactly for any N. The
product form is used: no division by a vanishing φ. The weights are invariant under a
common scaling of the φ_i, so the φ_i are divided by their largest value per point (a
constant of the point: no derivative information) to keep the products from underflowing.
Where two or more φ_i vanish together (a vertex where parts meet) every product vanishes;
there the value is the mean of the g_i of the vanishing parts, the limit for continuous
data.

Written over an :class:`~pinnlab.geometry.distance.Arithmetic`, like the distance
functions, so the same code runs on tensors and Taylor jets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .distance import TENSOR_ARITHMETIC, Arithmetic

MAX_EXPONENT = 4
"""Largest exponent μ of the weights accepted."""


def check_exponent(mu: Any) -> int:
    """``mu`` if it is a whole number in 1..:data:`MAX_EXPONENT`; a ValueError otherwise."""
    if isinstance(mu, bool) or not isinstance(mu, int) or not 1 <= mu <= MAX_EXPONENT:
        raise ValueError(f"the exponent of the transfinite weights must be a whole number from 1 to "
                         f"{MAX_EXPONENT}, got {mu!r}")
    return mu


def _values_of(g: Any, like: Tensor, ar: Arithmetic) -> Tensor:
    """The plain values of ``g`` (a number, tensor or jet) as an ``(N,)`` tensor like ``like``."""
    if isinstance(g, (int, float)):
        return torch.full_like(like, float(g))
    return ar.value(g).to(like.dtype).expand_as(like)


def transfinite(values: Sequence[Any], phis: Sequence[Any], ar: Arithmetic = TENSOR_ARITHMETIC,
                mu: int = 1) -> Any:
    """The lift ``Σ_i w_i g_i`` of values ``g_i`` on parts with distance functions ``φ_i`` (each ``(N,)``).

    ``values`` may hold numbers, tensors or jets; ``phis`` tensors or jets, non-negative.
    """
    if len(values) != len(phis) or not values:
        raise ValueError(f"transfinite interpolation needs one value per part, got {len(values)} values "
                         f"and {len(phis)} distance functions")
    mu = check_exponent(mu)
    if len(values) == 1:
        return values[0]
    plain = torch.stack([ar.value(p) for p in phis])  # (K, N)
    scale = plain.amax(0)
    inverse = torch.where(scale > 0, 1.0 / scale, torch.ones_like(scale))
    powers = []
    for phi in phis:
        q = phi * inverse
        p = q
        for _ in range(mu - 1):
            p = p * q
        powers.append(p)
    k = len(powers)
    left: list[Any] = [None] * k  # Π_{j<i} p_j
    right: list[Any] = [None] * k  # Π_{j>i} p_j
    for i in range(1, k):
        left[i] = powers[i - 1] if left[i - 1] is None else left[i - 1] * powers[i - 1]
    for i in range(k - 2, -1, -1):
        right[i] = powers[i + 1] if right[i + 1] is None else right[i + 1] * powers[i + 1]
    numerator = denominator = None
    for i in range(k):
        product = right[i] if left[i] is None else (left[i] if right[i] is None else left[i] * right[i])
        term = values[i] * product
        numerator = term if numerator is None else numerator + term
        denominator = product if denominator is None else denominator + product
    tiny = torch.finfo(plain.dtype).tiny
    lift = numerator / (denominator + tiny)
    corner = ar.value(denominator) == 0  # no data-dependent branch: the same operations under vmap
    vanishing = (plain == plain.amin(0)) & corner  # (K, N): the parts that meet at the point
    g = torch.stack([_values_of(v, scale, ar) for v in values])
    mean = (g * vanishing).sum(0) / vanishing.sum(0).clamp(min=1)
    return lift + torch.where(corner, mean, torch.zeros_like(mean))
