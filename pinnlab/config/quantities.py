"""``output.quantities``: the schema of one declared quantity and its check against the problem."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pinnlab.compile.quantities import KEYS, KINDS, Quantities, compile_quantities
from pinnlab.errors import ConfigError, SpecError, did_you_mean
from pinnlab.geometry import Geometry
from pinnlab.spec import Problem

_ALL_KEYS = sorted(set().union(*KEYS.values()))


class QuantityConfig(BaseModel):
    """One quantity: exactly one of ``integral``, ``value``, ``combine`` and the keys of its kind
    (see :mod:`pinnlab.compile.quantities`)."""

    model_config = ConfigDict(extra="forbid")

    integral: str | float | None = None
    over: str | list[str] | None = None
    region: dict[str, Any] | None = None
    value: str | None = None
    at: list[float] | None = None
    minus_at: list[float] | None = None
    combine: str | None = None
    scale: float = Field(1.0, allow_inf_nan=False)
    time: float | None = Field(None, allow_inf_nan=False)
    points: int | None = Field(None, ge=1, le=4096)
    mesh_size: float | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def known_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = [k for k in data if k not in _ALL_KEYS]
            if unknown:
                raise ValueError(f"unknown key '{unknown[0]}'{did_you_mean(unknown[0], _ALL_KEYS, listing='keys')}")
        return data

    @model_validator(mode="after")
    def one_kind(self) -> QuantityConfig:
        given = [k for k in KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'integral', 'value' or 'combine'"
                             + (f" (got {', '.join(given)})" if given else ""))
        kind = given[0]
        extra = [k for k in _ALL_KEYS if k not in KEYS[kind] and k != "scale" and getattr(self, k) is not None]
        if extra:
            raise ValueError(f"'{extra[0]}' is not a key of a '{kind}' quantity (its keys: "
                             f"{', '.join(sorted(KEYS[kind]))})")
        if kind == "integral" and self.over is None:
            raise ValueError("an integral needs 'over': boundary part names, 'boundary' or 'domain'")
        if kind == "value" and self.at is None:
            raise ValueError("a value needs 'at', the point where it is taken")
        return self


def quantities_from_config(quantities: Mapping[str, Any], problem: Problem, geometry: Geometry,
                           source: str = "<config>", mesh_size: float | None = None) -> Quantities:
    """Compile ``output.quantities`` (parsed models or the plain mappings of a resolved
    configuration) for the problem; a bad declaration is a :class:`ConfigError` naming the key."""
    plain = {name: spec.model_dump(exclude_none=True) if isinstance(spec, BaseModel) else
             {k: v for k, v in dict(spec).items() if v is not None}
             for name, spec in (quantities or {}).items()}
    try:
        return compile_quantities(plain, problem, geometry, mesh_size=mesh_size)
    except SpecError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except ValueError as exc:  # e.g. a region shape the geometry refuses
        raise ConfigError(f"{source}: key 'output.quantities': {exc}") from None


__all__ = ["QuantityConfig", "quantities_from_config"]
