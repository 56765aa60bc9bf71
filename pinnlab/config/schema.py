"""Run configuration: schema, defaults, validation with errors that name file, key and reason.

A configuration is YAML (or a dict) with the sections ``problem``, ``model``,
``derivatives``, ``sampling``, ``loss``, ``solver``, ``train`` and ``output``;
every key and default is listed in ``docs/configuration.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pinnlab.config.messages import check_integers, key_path, quoted, shown_value, validation_reason
from pinnlab.config.quantities import QuantityConfig
from pinnlab.config.yaml_io import apply_overrides, read_yaml
from pinnlab.errors import ConfigError, did_you_mean
from pinnlab.solvers.teng.integrators import get_tableau


def check_resolution(v: list[int] | int | None) -> list[int] | int | None:
    """A grid needs at least the two end points on every axis."""
    values = [] if v is None else (v if isinstance(v, list) else [v])
    if not values and isinstance(v, list):
        raise ValueError("give one number of points per axis, or one for all axes")
    if any(n < 2 for n in values):
        raise ValueError(f"every axis needs at least 2 points (the two ends), got {v}")
    return v


#: a number that is neither NaN nor infinite (a parameter's value)
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParameterConfig(Section):
    """A PDE parameter that is more than a constant (see :class:`pinnlab.spec.Parameter`); keys left out
    keep a built-in's declaration."""

    value: float | None = None
    trainable: bool | None = None
    positive: bool | None = None
    bounds: list[float] | None = Field(None, min_length=2, max_length=2)
    true_value: float | None = None


class ReferenceConfig(Section):
    """Reference values at scattered points from a file (CSV, DAT, NPZ, VTU) naming its columns and fields;
    the run's errors are measured at these points. ``tolerance``: how far outside the domain a point may lie,
    relative to the domain's size."""

    file: str = Field(min_length=1)
    fields: list[str] | None = None
    tolerance: float = Field(1e-6, ge=0, allow_inf_nan=False)


class ProblemConfig(Section):
    """Either a built-in ``equation`` (with ``options``/``parameters`` overrides) or an inline ``pde``."""

    equation: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, FiniteFloat | ParameterConfig] = Field(default_factory=dict)
    pde: dict[str, Any] | None = None
    domain: Any = None
    conditions: dict[str, dict[str, Any]] | None = None
    exact: dict[str, str] | None = None
    reference: ReferenceConfig | None = None

    @model_validator(mode="after")
    def one_source(self) -> ProblemConfig:
        if (self.equation is None) == (self.pde is None):
            raise ValueError("give either 'equation' (a built-in name) or 'pde' (an inline PDE)")
        if self.pde is not None and self.domain is None:
            raise ValueError("an inline 'pde' needs a 'domain'")
        return self


class FourierConfig(Section):
    """Random Fourier features; ``sigma`` is one scale or one per coordinate (``{x: 5, t: 0.5}``)."""

    features: int = Field(64, ge=1)
    sigma: float | dict[str, float] = 1.0
    trainable: bool = False

    @field_validator("sigma")
    @classmethod
    def positive_scales(cls, v: float | dict[str, float]) -> float | dict[str, float]:
        scales = v.values() if isinstance(v, dict) else [v]
        if not scales or any(not s >= 0 for s in scales) or not any(s > 0 for s in scales):
            raise ValueError("the scales must be >= 0, at least one of them > 0")
        return v


class FieldConfig(Section):
    """How one field is represented: an output of the shared network or its own network, optionally positive."""

    network: Literal["own", "shared"] = "own"
    width: int | None = Field(None, ge=1)
    depth: int | None = Field(None, ge=1)
    activation: str | None = None
    positive: bool | Literal["softplus", "exp"] = False


class ModelConfig(Section):
    type: Literal["mlp"] = "mlp"
    width: int = Field(64, ge=1)
    depth: int = Field(4, ge=1)
    activation: str = "tanh"
    fourier: FourierConfig | None = None
    periodic: dict[str, float] | bool = False
    harmonics: int = Field(1, ge=1)
    output: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, FieldConfig] = Field(default_factory=dict)
    exact_boundary: bool | list[str] = False
    lift_exponent: int = Field(1, ge=1, le=4)


class DerivativesConfig(Section):
    method: str = "taylor"
    samples: int = Field(16, ge=1)
    kind: Literal["sparse", "rademacher", "gaussian"] = "sparse"
    seed: int = 0
    collapsed: bool = True


class SamplingConfig(Section):
    method: str = "uniform"
    interior: int = Field(2000, ge=1)
    boundary: int = Field(200, ge=1)
    initial: int = Field(200, ge=1)
    points: dict[str, int] = Field(default_factory=dict)
    resample_every: int = Field(0, ge=0)
    options: dict[str, Any] = Field(default_factory=dict)
    snapshots: int = Field(0, ge=0)


class LossConfig(Section):
    weights: dict[str, float] = Field(default_factory=dict)


class StageConfig(BaseModel):
    """One solver stage: ``name``, ``steps`` and the solver's own options."""

    model_config = ConfigDict(extra="allow")
    name: str
    steps: int = Field(ge=1)


class SolverConfig(BaseModel):
    """A single solver (``name`` + options) or ``stages``, run in order."""

    model_config = ConfigDict(extra="allow")
    name: str | None = None
    stages: list[StageConfig] | None = None

    @model_validator(mode="after")
    def one_form(self) -> SolverConfig:
        if (self.name is None) == (self.stages is None):
            raise ValueError("give either 'name' (one solver) or 'stages' (a list of solvers)")
        if self.stages is not None and self.model_extra:
            raise ValueError(f"with 'stages', put solver options inside each stage, not {list(self.model_extra)}")
        return self

    def stage_list(self, default_steps: int | None) -> list[dict[str, Any]]:
        if self.stages is not None:
            return [s.model_dump() for s in self.stages]
        options = dict(self.model_extra or {})
        steps = options.pop("steps", default_steps)
        if steps is None:
            raise ValueError("the number of steps is missing: set train.steps or solver.steps")
        whole = isinstance(steps, int) or (isinstance(steps, float) and steps.is_integer())
        if isinstance(steps, bool) or not whole or steps < 1:
            raise ValueError(f"key 'solver.steps': must be a whole number >= 1, got {steps!r}")
        return [{"name": self.name, "steps": int(steps), **options}]


class StallConfig(Section):
    """``train.stop_stalled``: stop once the objective in units of the χ² of ``term`` (a data term weighted by
    1/σ²; the total loss × N/w of the term) fell by less than ``below`` over the last ``steps`` steps."""

    term: str
    steps: int = Field(10, ge=1)
    below: float = Field(1.0, gt=0, allow_inf_nan=False)


class TrainConfig(Section):
    steps: int | None = Field(None, ge=1)
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float32"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    eval_every: int = Field(500, ge=1)
    checkpoint_every: int = Field(1000, ge=1)
    log_every: int = Field(10, ge=1)
    progress: bool = True
    #: seconds a collective of a data-parallel run waits for the other ranks before the job fails
    timeout_s: float = Field(600.0, gt=0)
    #: stop at the first step after which every named term's loss is at most its level (the
    #: discrepancy principle: level 1 on a data term weighted by 1/σ², whose loss is χ²/N)
    stop_below: dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(default_factory=dict)
    stop_stalled: StallConfig | None = None
    #: stop at the first logging step (train.log_every) after this many seconds of training in this
    #: invocation; the run is saved as at its end, and --resume continues with a fresh budget
    time_limit_s: float | None = Field(None, gt=0)


class OutputConfig(Section):
    dir: str | None = None
    resolution: list[int] | int | None = None
    eval_points: int | None = Field(None, ge=1)
    frames: int = Field(11, ge=2)
    vtk: bool = True
    plots: bool = True
    vectors: dict[str, list[str]] = {}
    up_to_constant: list[str] = Field(default_factory=list)
    #: engineering quantities written to metrics.json (see docs/configuration.md, pinnlab.compile.quantities)
    quantities: dict[str, QuantityConfig] = Field(default_factory=dict)
    #: target triangle edge length of the output triangulation of non-box 2-D domains and of domain integrals
    mesh_size: float | None = Field(None, gt=0)

    @field_validator("resolution")
    @classmethod
    def two_points_per_axis(cls, v: list[int] | int | None) -> list[int] | int | None:
        return check_resolution(v)


class RunBase(Section):
    """What every run has: a name, the problem, training settings and output."""

    name: str | None = None
    problem: ProblemConfig
    train: TrainConfig = Field(default_factory=TrainConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @field_validator("name")
    @classmethod
    def plain_name(cls, v: str | None) -> str | None:
        if v is not None and (not v or any(c in v for c in "/\\")):
            raise ValueError("name must be a plain, non-empty name without slashes")
        return v


class RunConfig(RunBase):
    """A PINN run (the default; ``mode: pinn`` may be written): a network of all coordinates trained on the
    residuals of every term."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    derivatives: DerivativesConfig = Field(default_factory=DerivativesConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    solver: SolverConfig = Field(default_factory=lambda: SolverConfig(name="adam"))

    @model_validator(mode="after")
    def steps_known(self) -> RunConfig:
        self.stages()  # a ValueError here (no number of steps) becomes a validation error
        return self

    def stages(self) -> list[dict[str, Any]]:
        return self.solver.stage_list(self.train.steps)


class FitStageConfig(Section):
    """Least-squares iterations on random parameter subsets (see :func:`pinnlab.solvers.teng.fit_subset`)."""

    iterations: int = Field(5, ge=0)
    subset: int | None = Field(1024, ge=1)
    damping: float = Field(0.0, ge=0)
    rcond: float | None = Field(1e-6, gt=0)
    tol: float = Field(0.0, ge=0)


def _default_initial_stages() -> list[FitStageConfig]:
    return [FitStageConfig(iterations=200, damping=1e-3, rcond=None), FitStageConfig(iterations=400)]


class InitialFitConfig(Section):
    """Fit of the network to the initial condition: stages run in order, each on a freshly shifted grid."""

    stages: list[FitStageConfig] = Field(default_factory=_default_initial_stages, min_length=1)


class TengModelConfig(Section):
    """MLP of the spatial coordinates behind an exact periodic embedding (cos, sin of each coordinate)."""

    width: int = Field(40, ge=1)
    depth: int = Field(6, ge=1)
    activation: str = "tanh"
    harmonics: int = Field(1, ge=1)


class TengConfig(Section):
    """Time stepping: the integrator, step size, quadrature grid and least-squares projections."""

    integrator: str = "heun"
    dt: float = Field(gt=0)
    t_end: float | None = None
    points: int | list[int] = 64
    random_offset: bool = True
    projection: FitStageConfig = Field(default_factory=FitStageConfig)
    initial_fit: InitialFitConfig = Field(default_factory=InitialFitConfig)
    derivatives: Literal["autograd", "taylor"] = "autograd"


class TengTrainConfig(TrainConfig):
    """TENG's least-squares projections run in float64; errors are measured every 10 steps by default."""

    dtype: Literal["float64"] = "float64"
    eval_every: int = Field(10, ge=1)


class TengOutputConfig(OutputConfig):
    resolution: list[int] | int | None = 128


class TengRunConfig(RunBase):
    """A TENG run (``mode: teng``): a network of the spatial coordinates advanced in time."""

    mode: Literal["teng"] = "teng"
    model: TengModelConfig = Field(default_factory=TengModelConfig)
    teng: TengConfig
    train: TengTrainConfig = Field(default_factory=TengTrainConfig)
    output: TengOutputConfig = Field(default_factory=TengOutputConfig)

    @model_validator(mode="after")
    def known_integrator(self) -> TengRunConfig:
        get_tableau(self.teng.integrator)  # a ValueError with a hint becomes a validation error
        return self


AnyRunConfig = RunConfig | TengRunConfig


def is_teng_config(data: Mapping[str, Any]) -> bool:
    """Whether a configuration mapping asks for a TENG run (``mode: teng`` or a ``teng:`` section)."""
    return data.get("mode") == "teng" or ("teng" in data and data.get("mode") is None)


def _valid_keys(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """The keys allowed at ``path`` (for 'did you mean' hints)."""
    current: Any = model
    for part in path:
        if isinstance(part, int) or current is None:
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        nested = None
        for candidate in getattr(annotation, "__args__", (annotation,)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                nested = candidate
            for inner in getattr(candidate, "__args__", ()):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    nested = inner
        current = nested
    return list(getattr(current, "model_fields", {}) or [])


def format_validation_error(exc: ValidationError, source: str, schema: type[BaseModel] = RunConfig) -> str:
    """One paragraph per problem: file, key path, reason (the alternatives of a union together) and a hint."""
    lines: list[str] = []
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for err in exc.errors():
        loc = key_path(tuple(err["loc"]))
        if err["type"] == "extra_forbidden":
            path = ".".join(str(p) for p in loc)
            valid = _valid_keys(schema, loc[:-1])
            lines.append(f"{source}: unknown key {quoted(path)}{did_you_mean(loc[-1], valid, listing='valid keys')}")
            continue
        if loc not in groups:
            groups[loc] = []
            lines.append(loc)  # type: ignore[arg-type]  (filled in below, in order)
        groups[loc].append(err)
    out = []
    for line in lines:
        if isinstance(line, str):
            out.append(line)
            continue
        errs = groups[line]
        reasons = [validation_reason(e) for e in errs]
        text = reasons[0] + "".join(f"; or {r.removeprefix('Input should be ')}" for r in reasons[1:])
        got = shown_value(errs[0].get("input")) if errs[0]["type"] != "missing" else None
        if got is not None and "got " not in text:
            text += f" (got {got})"
        path = ".".join(str(p) for p in line)
        out.append(f"{source}: key {quoted(path)}: {text}" if line else f"{source}: {text}")
    return "\n".join(out)


def parse_config(data: Any, source: str = "<config>") -> AnyRunConfig:
    """Validate a config dict (a PINN run, or a TENG run with ``mode: teng``); raise :class:`ConfigError`
    naming ``source``, key and reason."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping of sections, got {type(data).__name__}")
    schema: type[RunBase] = RunConfig
    if data.get("mode", "pinn") == "pinn" and "mode" in data:
        data = {k: v for k, v in data.items() if k != "mode"}
    elif data.get("mode") not in (None, "teng"):
        raise ConfigError(f"{source}: key 'mode': unknown mode {data['mode']!r} (modes: pinn, teng)")
    check_integers(data, source)
    if is_teng_config(data):
        if "teng" not in data:
            raise ConfigError(f"{source}: key 'teng': 'mode: teng' needs a 'teng' section (with at least 'dt')")
        schema = TengRunConfig
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, schema)) from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> AnyRunConfig:
    """Read, override and validate a YAML configuration file."""
    data = apply_overrides(read_yaml(path), overrides or [])
    return parse_config(data, str(path))
