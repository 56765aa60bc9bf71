"""High-dimensional problems on the unit ball with the "two-body" exact solution.

u(x) = (1 - |x|^2) s(x),  s = sum_{i<d} c_i sin(psi_i),  psi_i = x_i + cos x_{i+1} + x_{i+1} cos x_i,
with c_i ~ N(0, 1) from a fixed seed.  The source terms are closed forms in O(N d):
lap(u) = (1 - |x|^2) lap(s) - 4 x.grad(s) - 2 d s.
The boundary value u = 0 is meant to be imposed by the output transform ``(1 - norm2(x))*u``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from pinnlab.equations.registry import register_equation
from pinnlab.spec import PDE, Coordinate, Problem

#: elements per row chunk when the source term is evaluated (about 4 MB in float64)
CHUNK_ELEMENTS = 1 << 19


def by_row_chunks(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """``fn`` applied to row chunks of ``x`` of about :data:`CHUNK_ELEMENTS` entries, concatenated.

    Whole (N, d) temporaries at d = 1e5 are fresh pages on every call (page faults cost more
    than the arithmetic); chunks that size are reused by the allocator."""
    rows = max(1, CHUNK_ELEMENTS // max(1, x.shape[1]))
    parts = [fn(chunk) for chunk in x.split(rows)]
    return torch.cat(parts) if parts else fn(x)


def coefficients(dim: int, seed: int = 0) -> np.ndarray:
    """The d - 1 coefficients c_i ~ N(0, 1) of the two-body solution."""
    if dim < 2:
        raise ValueError("dim must be at least 2")
    return np.random.default_rng(seed).standard_normal(dim - 1)


def _parts(x: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(s, lap(s), x.grad(s)) of s = sum c_i sin(psi_i) at the rows of x."""
    a, b = x[:, :-1], x[:, 1:]
    sa, ca, sb, cb = torch.sin(a), torch.cos(a), torch.sin(b), torch.cos(b)
    psi = a + cb + b * ca
    sp, cp = torch.sin(psi), torch.cos(psi)
    da, db = 1 - b * sa, ca - sb                      # d psi / d x_i, d psi / d x_{i+1}
    dda, ddb = -b * ca, -cb                           # second derivatives (the mixed one is not needed)
    s = sp @ c
    lap = (cp * (dda + ddb) - sp * (da * da + db * db)) @ c
    radial = (cp * (a * da + b * db)) @ c
    return s, lap, radial


def value_and_laplacian(x: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """(u, lap(u)) of the two-body solution at the rows of x, from one pass over the columns."""
    s, lap, radial = _parts(x, c.to(x))
    damp = 1 - (x * x).sum(-1)
    return damp * s, damp * lap - 4 * radial - 2 * x.shape[1] * s


def two_body(x: Tensor, c: Tensor) -> Tensor:
    """Exact solution u(x) = (1 - |x|^2) s(x), shape (N,)."""
    s, _, _ = _parts(x, c.to(x))
    return (1 - (x * x).sum(-1)) * s


def two_body_laplacian(x: Tensor, c: Tensor) -> Tensor:
    """Closed-form Laplacian of :func:`two_body`, shape (N,)."""
    return value_and_laplacian(x, c)[1]


_NONLINEAR: dict[str, tuple[str, Callable[[Tensor], Tensor]]] = {
    "poisson": ("", lambda u: torch.zeros_like(u)),
    "allen_cahn": (" + u - u**3", lambda u: u - u**3),
    "sine_gordon": (" + sin(u)", torch.sin),
}


def ball_problem(kind: str, dim: int = 100, seed: int = 0) -> Problem:
    """``lap(u) + N(u) = g`` on the unit ball in ``dim`` dimensions with the two-body solution."""
    if kind not in _NONLINEAR:
        raise ValueError(f"kind must be one of {sorted(_NONLINEAR)}")
    c_np = coefficients(dim, seed)
    c = torch.as_tensor(c_np)
    extra, nonlinear = _NONLINEAR[kind]

    def source_rows(x: Tensor) -> Tensor:
        u, lap = value_and_laplacian(x, c)
        return lap + nonlinear(u)

    def source(x: Tensor) -> Tensor:
        return by_row_chunks(source_rows, x)

    def reference(points: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(points, dtype=np.float64))
        return by_row_chunks(lambda chunk: two_body(chunk, c), x).numpy()[:, None]

    pde = PDE(coordinates=[Coordinate("x", dim=dim)], fields=["u"], functions={"g": source},
              equations={kind: f"lap(u){extra} - g"})
    domain = {"type": "ball", "coordinate": "x", "radius": 1.0}
    return Problem(pde, domain, {}, reference=reference, name=f"{kind}_ball_d{dim}")


@register_equation("poisson_ball", "Poisson lap(u) = g on the unit ball in dim dimensions, two-body solution")
def poisson_ball(dim: int = 100, seed: int = 0) -> Problem:
    return ball_problem("poisson", dim, seed)


@register_equation("allen_cahn_ball", "Allen-Cahn lap(u) + u - u^3 = g on the unit ball in dim dimensions")
def allen_cahn_ball(dim: int = 100, seed: int = 0) -> Problem:
    return ball_problem("allen_cahn", dim, seed)


@register_equation("sine_gordon_ball", "Sine-Gordon lap(u) + sin(u) = g on the unit ball in dim dimensions")
def sine_gordon_ball(dim: int = 100, seed: int = 0) -> Problem:
    return ball_problem("sine_gordon", dim, seed)
