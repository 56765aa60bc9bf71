"""Explicit Runge–Kutta time integrators that know nothing of the PDE.

An integrator advances a *state* (for TENG: the network parameters) through three
callbacks supplied by the caller:

- ``values(state) -> Tensor``: the solution represented by ``state`` at fixed points;
- ``rate(state, t) -> Tensor``: the right-hand side F[u](t) at the same points;
- ``project(target, start, stage) -> (state, info)``: a state whose values match
  ``target`` (for TENG a least-squares fit of the network, warm-started at ``start``;
  for a plain ODE the identity).

A method is a Butcher tableau; stage ``i`` has the target
``u_n + dt * sum_j a[i][j] k_j`` and the step ends with ``u_n + dt * sum_j b[j] k_j``.
Stages whose row of ``a`` is zero reuse ``u_n`` and need no projection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from pinnlab.errors import did_you_mean

State = Any
ProjectFn = Callable[[Tensor, State, int], tuple[State, dict[str, float]]]


@dataclass(frozen=True)
class ButcherTableau:
    """An explicit Runge–Kutta method: strictly lower-triangular ``a``, weights ``b``, nodes ``c``."""

    name: str
    order: int
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    c: tuple[float, ...]

    def __post_init__(self) -> None:
        s = len(self.b)
        if len(self.c) != s or len(self.a) != s:
            raise ValueError(f"tableau '{self.name}': a, b and c must describe {s} stages")
        for i, row in enumerate(self.a):
            if len(row) != s or any(row[j] != 0.0 for j in range(i, s)):
                raise ValueError(f"tableau '{self.name}': row {i} of a must have {s} entries, zero from column {i}")
            if abs(sum(row) - self.c[i]) > 1e-12:
                raise ValueError(f"tableau '{self.name}': c[{i}] must equal the sum of row {i} of a")
        if abs(sum(self.b) - 1.0) > 1e-12:
            raise ValueError(f"tableau '{self.name}': the weights b must sum to 1")

    @property
    def stages(self) -> int:
        return len(self.b)

    def projections(self) -> int:
        """Projections per step: one per stage with a nonzero row of ``a``, plus the final one."""
        return sum(any(row) for row in self.a) + 1


EULER = ButcherTableau("euler", 1, ((0.0,),), (1.0,), (0.0,))
HEUN = ButcherTableau("heun", 2, ((0.0, 0.0), (1.0, 0.0)), (0.5, 0.5), (0.0, 1.0))
MIDPOINT = ButcherTableau("midpoint", 2, ((0.0, 0.0), (0.5, 0.0)), (0.0, 1.0), (0.0, 0.5))
RK3 = ButcherTableau("rk3", 3, ((0.0, 0.0, 0.0), (0.5, 0.0, 0.0), (-1.0, 2.0, 0.0)),
                     (1 / 6, 2 / 3, 1 / 6), (0.0, 0.5, 1.0))
RK4 = ButcherTableau("rk4", 4, ((0.0, 0.0, 0.0, 0.0), (0.5, 0.0, 0.0, 0.0), (0.0, 0.5, 0.0, 0.0),
                                (0.0, 0.0, 1.0, 0.0)), (1 / 6, 1 / 3, 1 / 3, 1 / 6), (0.0, 0.5, 0.5, 1.0))

TABLEAUS: dict[str, ButcherTableau] = {t.name: t for t in (EULER, HEUN, MIDPOINT, RK3, RK4)}


def get_tableau(name: str) -> ButcherTableau:
    """The built-in tableau called ``name`` (euler, heun, midpoint, rk3, rk4)."""
    if name not in TABLEAUS:
        raise ValueError(f"unknown integrator '{name}'{did_you_mean(name, TABLEAUS)}; available: {', '.join(TABLEAUS)}")
    return TABLEAUS[name]


def _combine(base: Tensor, dt: float, weights: Sequence[float], rates: Sequence[Tensor]) -> Tensor:
    out = base
    for w, k in zip(weights, rates):
        if w != 0.0:
            out = out + (dt * w) * k
    return out


def rk_step(tableau: ButcherTableau, state: State, t: float, dt: float,
            values: Callable[[State], Tensor], rate: Callable[[State, float], Tensor],
            project: ProjectFn) -> tuple[State, list[dict[str, float]]]:
    """One explicit RK step from ``state`` at time ``t``; returns the new state and each projection's info.

    Every projection is warm-started at the most recent projected state.
    """
    u0 = values(state)
    rates: list[Tensor] = []
    infos: list[dict[str, float]] = []
    latest = state
    for i in range(tableau.stages):
        row = tableau.a[i][:i]
        if any(row):
            stage_state, info = project(_combine(u0, dt, row, rates), latest, len(infos))
            infos.append(info)
            latest = stage_state
        else:
            stage_state = state
        rates.append(rate(stage_state, t + tableau.c[i] * dt))
    new_state, info = project(_combine(u0, dt, tableau.b, rates), latest, len(infos))
    infos.append(info)
    return new_state, infos


__all__ = ["EULER", "HEUN", "MIDPOINT", "RK3", "RK4", "TABLEAUS", "ButcherTableau", "get_tableau", "rk_step"]
