"""Configuration: the schema with its friendly errors, and the construction of a run's objects from it."""

from pinnlab.config.schema import (
    ModelConfig,
    ProblemConfig,
    RunConfig,
    apply_overrides,
    format_validation_error,
    load_config,
    parse_config,
    read_yaml,
    yaml_load,
)

__all__ = [
    "ModelConfig", "ProblemConfig", "RunConfig", "apply_overrides", "format_validation_error", "load_config",
    "parse_config", "read_yaml", "yaml_load",
]
