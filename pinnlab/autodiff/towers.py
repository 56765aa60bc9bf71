"""Derivative towers ``f, f', ..., f^(K)`` of elementwise functions and Faà di Bruno's partitions.

:func:`tower` evaluates the derivatives of a named function at a tensor, in closed
form or by recurrence (e.g. ``f' = Q(f)`` for tanh and sigmoid); :func:`partitions`
lists the terms of Faà di Bruno's formula that combine a tower with the jet's
coefficients.
"""

from __future__ import annotations

import math
from functools import cache

import torch
from torch import Tensor


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
