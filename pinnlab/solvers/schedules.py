"""Learning-rate schedules as pure functions of the step."""

from __future__ import annotations

import math
from collections.abc import Callable


def make_schedule(lr: float, steps: int, kind: str | None = None, final_lr: float | None = None,
                  gamma: float = 0.9, every: int = 1000, warmup: int = 0) -> Callable[[int], float]:
    """Learning rate at step k.

    ``cosine``: lr -> final_lr (default lr/100) over ``steps``; ``exponential``: lr·gamma^(k/every);
    ``step``: lr·gamma^floor(k/every); ``None``/``constant``: lr. ``warmup`` steps ramp linearly.
    """
    if kind in (None, "constant"):
        base = lambda k: lr
    elif kind == "cosine":
        end = lr / 100 if final_lr is None else final_lr
        horizon = max(steps - warmup, 1)
        base = lambda k: end + 0.5 * (lr - end) * (1 + math.cos(math.pi * min(k - warmup, horizon) / horizon))
    elif kind == "exponential":
        base = lambda k: lr * gamma ** (k / every)
    elif kind == "step":
        base = lambda k: lr * gamma ** (k // every)
    else:
        raise ValueError(f"unknown schedule {kind!r}; available: constant, cosine, exponential, step")
    if warmup <= 0:
        return base
    return lambda k: lr * (k + 1) / warmup if k < warmup else base(k)
