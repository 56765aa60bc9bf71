"""Exact point counts from rejection: draw candidates in rounds, keep the first n accepted."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

MAX_ROUNDS = 200
MIN_RATE = 1e-4


def collect(
    n: int,
    draw: Callable[[int], tuple[Tensor, ...]],
    accept: Callable[[tuple[Tensor, ...]], Tensor | None],
    rate: float | None,
) -> tuple[Tensor, ...]:
    """``n`` rows of ``draw``'s tensors that ``accept`` keeps, in the order drawn.

    ``rate`` is the expected fraction accepted (``None``: every candidate is, and one draw
    of ``n`` is returned as is). Rounds are sized from the rate seen so far; taking the
    first ``n`` accepted candidates of a design keeps a Sobol sequence's prefix property.
    """
    if rate is None:
        batch = draw(n)
        mask = accept(batch)
        if mask is not None and not bool(mask.all()):
            raise AssertionError("a geometry without rejection rejected a point")  # pragma: no cover
        return batch
    kept: list[tuple[Tensor, ...]] = []
    have = drawn = accepted = 0
    estimate = min(max(float(rate), MIN_RATE), 1.0)
    for _ in range(MAX_ROUNDS):
        need = n - have
        if need <= 0 and kept:
            break
        m = math.ceil(max(need, 1) / estimate * 1.15) + 16
        batch = draw(m)
        mask = accept(batch)
        batch = batch if mask is None else tuple(b[mask] for b in batch)
        kept.append(batch)
        count = batch[0].shape[0]
        have, drawn, accepted = have + count, drawn + m, accepted + count
        estimate = max(accepted / drawn, MIN_RATE)
    else:
        raise ValueError(f"could not draw {n} points: only {accepted} of {drawn} candidates fell in the domain "
                         "(is the domain empty or very thin?)")
    return tuple(torch.cat(parts)[:n] for parts in zip(*kept))
