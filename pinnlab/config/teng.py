"""The pieces of a TENG run built from its configuration: the periodic set-up and the spatial network."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from pinnlab.autodiff import make_backend
from pinnlab.compile import EvolutionOperator, exact_function
from pinnlab.config.build import geometry_of
from pinnlab.config.schema import TengModelConfig, TengRunConfig
from pinnlab.errors import ConfigError, SpecError
from pinnlab.geometry import Geometry, TimeSpace
from pinnlab.nn import ACTIVATIONS, MLP, InputScaling, PeriodicEmbedding, PINNModel
from pinnlab.spec import Initial, Periodic, Problem


@dataclass(frozen=True)
class PeriodicSetup:
    """What TENG takes from a problem: the spatial box, the time interval and the initial value u0."""

    low: list[float]
    high: list[float]
    t0: float
    t_end: float
    spatial_names: list[str]
    u0: Callable[[Tensor], Tensor]
    geometry: Geometry

    def solution_geometry(self, t_end: float) -> TimeSpace:
        """The space–time domain a TENG solution covers: the spatial box over [t0, t_end]."""
        geometry = self.geometry
        assert isinstance(geometry, TimeSpace)
        return TimeSpace(geometry.time_name, self.t0, t_end, geometry.space, time_column=geometry.time_column)


def periodic_setup(problem: Problem, source: str = "<config>") -> PeriodicSetup:
    """Check that ``problem`` is a periodic initial value problem on a box and extract its pieces."""
    pde = problem.pde
    where = f"{source}: problem"
    spatial = pde.spatial
    if any(c.dim is not None for c in spatial):
        raise ConfigError(f"{where}: TENG needs scalar spatial coordinates, not vector ones")
    names = [c.name for c in spatial]
    periodic = {c.coordinate for c in problem.conditions.values() if isinstance(c, Periodic)}
    initial = {c.field: c for c in problem.conditions.values() if isinstance(c, Initial) and c.field}
    others = [n for n, c in problem.conditions.items() if not isinstance(c, (Initial, Periodic))]
    if others:
        raise ConfigError(f"{where}: TENG solves periodic initial value problems; condition(s) {others} are "
                          "neither initial nor periodic")
    missing = [n for n in names if n not in periodic]
    if missing:
        raise ConfigError(f"{where}: TENG needs every spatial coordinate periodic; {missing} have no periodic "
                          "condition")
    lacking = [f for f in pde.fields if f not in initial]
    if lacking:
        raise ConfigError(f"{where}: field(s) {lacking} need an initial condition with 'field' and 'value'")
    geometry = geometry_of(problem, source)
    if not isinstance(geometry, TimeSpace):
        raise ConfigError(f"{where}: TENG needs a time interval and a spatial box as the domain")
    low, high = geometry.bounding_box()
    columns = [geometry.names.index(c) for c in pde.columns]
    low, high = [low[i] for i in columns], [high[i] for i in columns]
    spans = [h - lo for lo, h in zip(low, high)]
    if min(spans) <= 0 or abs(geometry.log_volume() - sum(math.log(s) for s in spans)) > 1e-9:
        raise ConfigError(f"{where}: TENG needs a box domain (a range per coordinate)")
    t_col = pde.column_map()[pde.time]
    exact_u0 = exact_function(Problem(pde, None, exact={f: str(initial[f].value) for f in pde.fields}))
    assert exact_u0 is not None
    spatial_cols = pde.spatial_columns()
    n_cols = len(pde.columns)
    t0 = low[t_col]

    def u0(x: Tensor) -> Tensor:
        pts = x.new_empty(x.shape[0], n_cols)
        pts[:, t_col] = t0
        pts[:, spatial_cols] = x
        return exact_u0(pts)

    return PeriodicSetup([low[i] for i in spatial_cols], [high[i] for i in spatial_cols], t0, high[t_col], names,
                         u0, geometry)


def spatial_model(cfg: TengModelConfig, low: Sequence[float], high: Sequence[float], n_fields: int,
                  generator: torch.Generator | None = None, source: str = "<config>") -> PINNModel:
    """x (N, d) -> fields: scaling onto [-1, 1], exact periodic embedding of every axis, MLP."""
    if cfg.activation not in ACTIVATIONS:
        raise ConfigError(f"{source}: key 'model.activation': unknown activation '{cfg.activation}' "
                          f"(available: {', '.join(ACTIVATIONS)})")
    d = len(low)
    periodic = PeriodicEmbedding(d, {c: 2.0 for c in range(d)}, harmonics=cfg.harmonics)  # the box maps to [-1, 1]
    body = MLP(periodic.out_dim, n_fields, cfg.width, cfg.depth, cfg.activation, generator=generator)
    return PINNModel(InputScaling(list(low), list(high)), body, periodic=periodic)


@dataclass(frozen=True)
class TengPlan:
    """A validated TENG run: operator, periodic set-up, end time and number of time steps."""

    operator: EvolutionOperator
    setup: PeriodicSetup
    t_end: float
    steps: int
    points: list[int]
    resolution: list[int]


def teng_plan(cfg: TengRunConfig, problem: Problem, source: str = "<config>") -> TengPlan:
    """Check a TENG configuration against its problem (evolution form, periodic box, whole steps)."""
    learned = list(problem.pde.trainable_parameters)
    if learned:
        raise ConfigError(f"{source}: problem: parameter '{learned[0]}' is trainable, but TENG steps a forward "
                          "problem in time; learn parameters with a PINN run (mode: pinn)")
    try:
        operator = EvolutionOperator(problem.pde, make_backend(cfg.teng.derivatives))
    except SpecError as exc:
        raise ConfigError(f"{source}: problem: {exc}") from None
    setup = periodic_setup(problem, source)
    t_end = cfg.teng.t_end if cfg.teng.t_end is not None else setup.t_end
    if not setup.t0 < t_end <= setup.t_end + 1e-12:
        raise ConfigError(f"{source}: key 'teng.t_end': {t_end} is outside the problem's time interval "
                          f"({setup.t0}, {setup.t_end}]")
    steps = round((t_end - setup.t0) / cfg.teng.dt)
    if steps < 1 or abs(setup.t0 + steps * cfg.teng.dt - t_end) > 1e-9 * max(1.0, abs(t_end)):
        raise ConfigError(f"{source}: key 'teng.dt': {cfg.teng.dt} does not divide the interval "
                          f"[{setup.t0}, {t_end}] into whole steps")
    d = len(setup.low)
    points = _per_axis(cfg.teng.points, d, "teng.points", source)
    resolution = _per_axis(cfg.output.resolution if cfg.output.resolution is not None else 128, d,
                           "output.resolution", source)
    return TengPlan(operator, setup, float(t_end), int(steps), points, resolution)


def _per_axis(value: int | list[int], d: int, key: str, source: str) -> list[int]:
    values = list(value) if isinstance(value, list) else [value] * d
    if len(values) != d or any(int(v) < 1 for v in values):
        raise ConfigError(f"{source}: key '{key}': give one positive number or {d} (one per spatial axis), "
                          f"got {value}")
    return [int(v) for v in values]


__all__ = ["PeriodicSetup", "TengPlan", "periodic_setup", "spatial_model", "teng_plan"]
