"""Learning-rate schedules as pure functions of the step, and the checks of numeric solver options."""

from __future__ import annotations

import math
from collections.abc import Callable


def check_number(name: str, value: object, low: float = 0.0, below: float | None = None) -> float:
    """``value`` as a float if it is a real number in [low, below) (or [low, ∞)); a ValueError naming ``name`` if not."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= low
    if ok and below is not None:
        ok = value < below
    if not ok:
        where = f"in [{low:g}, {below:g})" if below is not None else f">= {low:g}"
        raise ValueError(f"{name} must be a number {where}, got {value!r}")
    return float(value)


def make_schedule(lr: float, steps: int, kind: str | None = None, final_lr: float | None = None,
                  gamma: float = 0.9, every: int = 1000, warmup: int = 0) -> Callable[[int], float]:
    """Learning rate at step k.

    ``cosine``: lr -> final_lr (default lr/100) over ``steps``; ``exponential``: lr·gamma^(k/every);
    ``step``: lr·gamma^floor(k/every); ``None``/``constant``: lr. ``warmup`` steps ramp linearly.
    """
    lr, gamma = check_number("lr", lr), check_number("gamma", gamma)
    every, warmup, steps = int(check_number("every", every, 1)), int(check_number("warmup", warmup)), int(steps)
    if kind in (None, "constant"):
        base = lambda k: lr
    elif kind == "cosine":
        end = lr / 100 if final_lr is None else check_number("final_lr", final_lr)
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
