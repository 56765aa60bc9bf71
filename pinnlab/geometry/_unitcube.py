"""Point sets in the unit cube [0, 1)^d: uniform random, scrambled Sobol, Latin hypercube."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.quasirandom import SobolEngine

SOBOL_MAX_DIM = SobolEngine.MAXDIM


def unit_cube(n: int, d: int, generator: torch.Generator | None, method: str, dtype: torch.dtype) -> Tensor:
    """``(n, d)`` points in [0, 1]^d on the generator's device.

    ``"sobol"`` draws a scrambled Sobol sequence whose seed is taken from ``generator``;
    ``"lhs"`` stratifies every column into ``n`` equal cells, one point per cell, with
    independent random permutations per column.  Values may round to 1.0 in float32.
    """
    device = generator_device(generator)
    if method == "uniform":
        return torch.rand(n, d, generator=generator, dtype=dtype, device=device)
    if method == "sobol":
        if d > SOBOL_MAX_DIM:
            raise ValueError(
                f"Sobol sampling supports at most {SOBOL_MAX_DIM} dimensions, got {d}; use method='uniform' or 'lhs'"
            )
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=device))
        if n == 0 or d == 0:
            return torch.empty(n, d, dtype=dtype, device=device)
        engine = SobolEngine(d, scramble=True, seed=seed)
        return engine.draw(n, dtype=torch.float64).to(device=device, dtype=dtype)
    if method == "lhs":
        keys = torch.rand(d, n, generator=generator, device=device)
        cells = torch.argsort(keys, dim=1).to(dtype)
        jitter = torch.rand(d, n, generator=generator, dtype=dtype, device=device)
        return ((cells + jitter) / max(n, 1)).T.contiguous()
    raise ValueError(f"unknown sampling method {method!r}")


def generator_device(generator: torch.Generator | None) -> torch.device:
    """The device a generator draws on (the CPU for torch's global generator)."""
    return generator.device if generator is not None else torch.device("cpu")
