"""Generalised winding numbers: robust inside tests for closed curves and surfaces given as facets.

The winding number of a point is the total signed angle (2-D, over 2π) or solid angle
(3-D, over 4π, Van Oosterom & Strackee's formula) its boundary facets subtend, with the
facets oriented so that their normals point out of the domain: 1 inside, 0 outside,
and for a surface with small holes or overlaps a value that degrades gracefully
(Jacobson et al., SIGGRAPH 2013). Work is chunked to bound memory at ``CHUNK`` pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

CHUNK = 2**22
"""Point–facet pairs evaluated at once."""


def chunked(x: Tensor, facets: int, fn: Callable[[Tensor], Tensor]) -> Tensor:
    """``fn`` over row blocks of ``x`` sized so that a block times ``facets`` stays below :data:`CHUNK`."""
    rows = max(1, CHUNK // max(facets, 1))
    if x.shape[0] <= rows:
        return fn(x)
    return torch.cat([fn(x[i:i + rows]) for i in range(0, x.shape[0], rows)])


def winding_2d(x: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Winding numbers ``(N,)`` of points ``(N, 2)`` for edges ``a[k] → b[k]`` with outward normal ``(dy, −dx)``.

    An edge traversed with the outside on its right winds counter-clockwise around the
    domain, so inside points get 1.
    """

    def block(p: Tensor) -> Tensor:
        u, v = a - p[:, None, :], b - p[:, None, :]
        cross = u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]
        dot = (u * v).sum(-1)
        return torch.atan2(cross, dot).sum(-1) / (2 * math.pi)

    return chunked(x, a.shape[0], block)


def winding_3d(x: Tensor, a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """Generalised winding numbers ``(N,)`` of points ``(N, 3)`` for triangles whose normals
    ``(b − a) × (c − a)`` point outward (1 inside)."""

    def block(p: Tensor) -> Tensor:
        u, v, w = a - p[:, None, :], b - p[:, None, :], c - p[:, None, :]
        lu, lv, lw = u.norm(dim=-1), v.norm(dim=-1), w.norm(dim=-1)
        det = (u * torch.linalg.cross(v, w)).sum(-1)
        denom = lu * lv * lw + (u * v).sum(-1) * lw + (u * w).sum(-1) * lv + (v * w).sum(-1) * lu
        return 2 * torch.atan2(det, denom).sum(-1) / (4 * math.pi)

    return chunked(x, a.shape[0], block)
