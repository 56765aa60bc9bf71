"""Run configuration: schema, defaults, validation with errors that name file, key and reason.

A configuration is YAML (or a dict) with the sections ``problem``, ``model``,
``derivatives``, ``sampling``, ``loss``, ``solver``, ``train`` and ``output``;
every key and default is listed in ``docs/configuration.md``.
"""

from __future__ import annotations

import copy
import difflib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pinnlab.errors import ConfigError


class _YAMLLoader(yaml.SafeLoader):
    """Safe YAML with YAML 1.2 booleans and floats: a condition's ``on:`` key stays a string, ``1e-3`` is a number."""


_YAMLLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YAMLLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                  list("tTfF"))
_YAMLLoader.add_implicit_resolver(  # tried after the int resolver, so plain integers stay ints
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)


def yaml_load(text: str) -> Any:
    """Parse YAML text safely (no tags that build objects; YAML 1.2 booleans and floats)."""
    return yaml.load(text, Loader=_YAMLLoader)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProblemConfig(Section):
    """Either a built-in ``equation`` (with ``options``/``parameters`` overrides) or an inline ``pde``."""

    equation: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, float] = Field(default_factory=dict)
    pde: dict[str, Any] | None = None
    domain: Any = None
    conditions: dict[str, dict[str, Any]] | None = None
    exact: dict[str, str] | None = None

    @model_validator(mode="after")
    def one_source(self) -> ProblemConfig:
        if (self.equation is None) == (self.pde is None):
            raise ValueError("give either 'equation' (a built-in name) or 'pde' (an inline PDE)")
        if self.pde is not None and self.domain is None:
            raise ValueError("an inline 'pde' needs a 'domain'")
        return self


class FourierConfig(Section):
    features: int = Field(64, ge=1)
    sigma: float = Field(1.0, gt=0)
    trainable: bool = False


class ModelConfig(Section):
    type: Literal["mlp"] = "mlp"
    width: int = Field(64, ge=1)
    depth: int = Field(4, ge=1)
    activation: str = "tanh"
    fourier: FourierConfig | None = None
    periodic: dict[str, float] | bool = False
    harmonics: int = Field(1, ge=1)
    output: dict[str, str] = Field(default_factory=dict)


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
    steps: int = Field(ge=0)


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
        return [{"name": self.name, "steps": int(steps), **options}]


class TrainConfig(Section):
    steps: int | None = Field(None, ge=0)
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float32"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    eval_every: int = Field(500, ge=1)
    checkpoint_every: int = Field(1000, ge=1)
    log_every: int = Field(10, ge=1)
    progress: bool = True


class OutputConfig(Section):
    dir: str | None = None
    resolution: list[int] | int | None = None
    eval_points: int | None = Field(None, ge=1)
    frames: int = Field(11, ge=2)
    vtk: bool = True
    plots: bool = True
    vectors: dict[str, list[str]] = {}


class RunConfig(Section):
    name: str | None = None
    problem: ProblemConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    derivatives: DerivativesConfig = Field(default_factory=DerivativesConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    solver: SolverConfig = Field(default_factory=lambda: SolverConfig(name="adam"))
    train: TrainConfig = Field(default_factory=TrainConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @field_validator("name")
    @classmethod
    def plain_name(cls, v: str | None) -> str | None:
        if v is not None and (not v or any(c in v for c in "/\\")):
            raise ValueError("name must be a plain, non-empty name without slashes")
        return v

    @model_validator(mode="after")
    def steps_known(self) -> RunConfig:
        self.stages()  # a ValueError here (no number of steps) becomes a validation error
        return self

    def stages(self) -> list[dict[str, Any]]:
        return self.solver.stage_list(self.train.steps)


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


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One paragraph per problem: file, key path, reason and a hint."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = ".".join(str(p) for p in loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            valid = _valid_keys(RunConfig, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else (f" (valid keys: {', '.join(valid)})" if valid else "")
            lines.append(f"{source}: unknown key '{path}'{hint}")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{source}: key '{path}': {msg}" if loc else f"{source}: {msg}")
    return "\n".join(lines)


def parse_config(data: Any, source: str = "<config>") -> RunConfig:
    """Validate a config dict; raise :class:`ConfigError` naming ``source``, key and reason."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping of sections, got {type(data).__name__}")
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML file into a dict (ConfigError on a missing file or malformed YAML)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: malformed YAML{where}: {problem}") from None
    if data is None:
        raise ConfigError(f"{path}: the file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str], source: str = "--set") -> dict[str, Any]:
    """Apply ``KEY.PATH=VALUE`` overrides (values parsed as YAML scalars/lists)."""
    data = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{source}: '{item}' is not of the form key.path=value")
        key, raw = item.split("=", 1)
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise ConfigError(f"{source}: empty key in '{item}'")
        try:
            value = yaml_load(raw)
        except yaml.YAMLError:
            value = raw
        node = data
        for part in parts[:-1]:
            if isinstance(node, list):
                try:
                    node = node[int(part)]
                except (ValueError, IndexError):
                    raise ConfigError(f"{source}: '{key}': '{part}' is not a valid list index") from None
                continue
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, (dict, list)):
                raise ConfigError(f"{source}: '{key}': '{part}' is a value, not a section")
            node = nxt
        last = parts[-1]
        if isinstance(node, list):
            try:
                node[int(last)] = value
            except (ValueError, IndexError):
                raise ConfigError(f"{source}: '{key}': '{last}' is not a valid list index") from None
        else:
            node[last] = value
    return data


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read, override and validate a YAML configuration file."""
    data = apply_overrides(read_yaml(path), overrides or [])
    return parse_config(data, str(path))
