"""Trainable PDE parameters in the flat parameter dict, and their constraint maps.

A trainable parameter ``nu`` is the entry ``pde.nu`` of the dict every solver trains, holding its
*raw* (unconstrained) value θ; the PDE sees the constrained value

* θ itself (no constraint),
* exp(θ) (``positive``: the logarithm is trained),
* lo + (hi − lo)·sigmoid(θ) (``bounds``).

So Adam, L-BFGS, Gauss–Newton, ENGD and ConFIG train the parameters like any weight, and
Jacobians get one column per parameter, without knowing what the entries mean.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor

from pinnlab.spec.parameters import Parameter

#: key prefix of the PDE parameters in the flat parameter dict (no network parameter starts so)
PREFIX = "pde."


def is_pde_key(key: str) -> bool:
    """Whether an entry of the flat parameter dict is a PDE parameter."""
    return key.startswith(PREFIX)


class ParameterMap:
    """The trainable parameters of a PDE: raw initial values, constrained values, the split of a dict."""

    def __init__(self, parameters: Mapping[str, Parameter]):
        self.parameters = dict(parameters)

    def __bool__(self) -> bool:
        return bool(self.parameters)

    @property
    def names(self) -> list[str]:
        return list(self.parameters)

    @staticmethod
    def key(name: str) -> str:
        return PREFIX + name

    def raw(self, name: str, value: float) -> float:
        """The raw value θ whose constrained value is ``value``."""
        p = self.parameters[name]
        if p.bounds is not None:
            low, high = p.bounds
            s = (value - low) / (high - low)
            return math.log(s / (1.0 - s))
        if p.positive:
            return math.log(value)
        return float(value)

    def constrain(self, name: str, raw: Tensor) -> Tensor:
        """The constrained value of parameter ``name`` (differentiable in ``raw``)."""
        p = self.parameters[name]
        if p.bounds is not None:
            low, high = p.bounds
            return low + (high - low) * torch.sigmoid(raw)
        if p.positive:
            return torch.exp(raw)
        return raw

    def initial(self, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> dict[str, Tensor]:
        """Raw initial values as 0-dim leaf tensors that require grad, keyed ``pde.NAME``."""
        dtype = dtype or torch.get_default_dtype()
        return {self.key(n): torch.tensor(self.raw(n, p.value), dtype=dtype, device=device).requires_grad_(True)
                for n, p in self.parameters.items()}

    def split(self, params: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """(network entries, constrained PDE values by name). Parameters absent from ``params``
        keep their fixed values (they are simply not in the second dict)."""
        network = {k: v for k, v in params.items() if not is_pde_key(k)}
        values = {n: self.constrain(n, params[self.key(n)]) for n in self.parameters if self.key(n) in params}
        return network, values

    def values(self, params: Mapping[str, Tensor]) -> dict[str, float]:
        """Constrained values as floats (for reports)."""
        with torch.no_grad():
            return {n: float(v) for n, v in self.split(params)[1].items()}

    def report(self, params: Mapping[str, Tensor]) -> dict[str, dict[str, float]]:
        """Per parameter: the recovered value, the initial guess and, when known, the true value
        and the relative error."""
        out: dict[str, dict[str, float]] = {}
        for name, value in self.values(params).items():
            p = self.parameters[name]
            entry = {"value": value, "initial": p.value}
            if p.true_value is not None:
                entry["true_value"] = p.true_value
                entry["rel_error"] = float(p.relative_error(value))  # type: ignore[arg-type]
            out[name] = entry
        return out


def pde_entries(params: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The PDE-parameter entries of a flat parameter dict."""
    return {k: v for k, v in params.items() if is_pde_key(k)}


__all__ = ["PREFIX", "ParameterMap", "is_pde_key", "pde_entries"]
