"""Named PDE parameters: constants, or unknowns learned from data (pure description, no torch).

A plain number in ``PDE.parameters`` is a constant. A :class:`Parameter` may be ``trainable``:
its ``value`` is then the initial guess and the solvers train it with the network. ``positive``
keeps it above zero (trained through its logarithm); ``bounds`` keep it inside an open
interval (trained through a logistic map); ``true_value``, when known, gives the run the
relative error of the recovered value.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from pinnlab.errors import SpecError, did_you_mean
from pinnlab.spec.record import Record


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SpecError(f"{what} must be a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise SpecError(f"{what} must be finite, got {value!r}")
    return out


@dataclass(frozen=True)
class Parameter(Record):
    """A named PDE parameter: ``Parameter(0.05, trainable=True, positive=True, true_value=0.03)``.

    ``float(p)`` is its value (the initial guess when trainable).
    """

    value: float
    trainable: bool = False
    positive: bool = False
    bounds: tuple[float, float] | None = None
    true_value: float | None = None

    def __post_init__(self) -> None:
        value = _number(self.value, "value")
        for flag in ("trainable", "positive"):
            if not isinstance(getattr(self, flag), bool):
                raise SpecError(f"'{flag}' must be true or false, got {getattr(self, flag)!r}")
        bounds = None
        if self.bounds is not None:
            if isinstance(self.bounds, (str, bytes)) or len(self.bounds) != 2:
                raise SpecError(f"bounds must be two numbers [low, high], got {self.bounds!r}")
            low, high = (_number(b, "each bound") for b in self.bounds)
            if not low < high:
                raise SpecError(f"bounds [{low}, {high}]: the low bound must be below the high bound")
            if not low < value < high:
                raise SpecError(f"value {value} must lie strictly inside the bounds [{low}, {high}]")
            if self.positive and low < 0:
                raise SpecError(f"positive, but the bounds [{low}, {high}] admit negative values")
            bounds = (low, high)
        if self.positive and value <= 0:
            raise SpecError(f"value {value} must be positive (positive: true)")
        true_value = None if self.true_value is None else _number(self.true_value, "true_value")
        self._set(value=value, bounds=bounds, true_value=true_value)

    def __float__(self) -> float:
        return self.value

    @property
    def reference(self) -> float:
        """The value the problem's exact solution and reference use: the true value when known."""
        return self.value if self.true_value is None else self.true_value

    def relative_error(self, value: float) -> float | None:
        """|value - true| / |true| (the absolute error when the true value is 0), or None when unknown."""
        if self.true_value is None:
            return None
        diff = abs(float(value) - self.true_value)
        return diff / abs(self.true_value) if self.true_value != 0 else diff


PARAMETER_KEYS = tuple(f.name for f in fields(Parameter))


def parameter_from(name: str, spec: Any, previous: Any = None) -> float | Parameter:
    """A parameter from a number, a :class:`Parameter` or a mapping of its keys.

    A mapping updates ``previous`` when that is a :class:`Parameter` (so a configuration can make a
    built-in's parameter trainable by naming only what changes); a number is a constant.
    """
    where = f"parameter '{name}'"
    if isinstance(spec, Parameter):
        return spec
    if isinstance(spec, Mapping):
        unknown = [k for k in spec if k not in PARAMETER_KEYS]
        if unknown:
            raise SpecError(f"{where}: unknown key '{unknown[0]}'{did_you_mean(str(unknown[0]), PARAMETER_KEYS)}; "
                            f"keys: {', '.join(PARAMETER_KEYS)}")
        try:
            if isinstance(previous, Parameter):
                return previous.replace(**dict(spec))
            if "value" not in spec:
                raise SpecError("needs a 'value' (the constant, or the initial guess of a trainable one)")
            return Parameter(**dict(spec))
        except SpecError as exc:
            raise SpecError(f"{where}: {exc}") from None
    if isinstance(spec, bool) or not isinstance(spec, numbers.Real):
        raise SpecError(f"{where}: expected a number, a Parameter or a mapping of {', '.join(PARAMETER_KEYS)}; "
                        f"got {spec!r}")
    return float(spec)  # a constant (a non-finite one is reported when the loss is first evaluated)


__all__ = ["PARAMETER_KEYS", "Parameter", "parameter_from"]
