"""Configuration: the schema with its friendly errors, and the construction of a run's objects from it."""

from pinnlab.config.schema import (
    AnyRunConfig,
    ModelConfig,
    ProblemConfig,
    RunConfig,
    TengRunConfig,
    format_validation_error,
    is_teng_config,
    load_config,
    parse_config,
)
from pinnlab.config.yaml_io import apply_overrides, read_yaml, yaml_load

__all__ = [
    "AnyRunConfig", "ModelConfig", "ProblemConfig", "RunConfig", "TengRunConfig", "apply_overrides",
    "format_validation_error", "is_teng_config", "load_config", "parse_config", "read_yaml", "yaml_load",
]
