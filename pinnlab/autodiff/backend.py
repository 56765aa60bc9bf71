"""The derivative-engine interface and its registry.

A backend turns a list of :class:`~pinnlab.autodiff.requests.Derivative` requests
into a *plan* once (at compile time); the plan is then called every step with a
model function and a batch of points. A model function maps points (N, D) to
outputs (N, F), acts row by row, and may offer ``jet`` for Taylor-mode backends.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Protocol

from torch import Tensor

from pinnlab.autodiff.requests import Derivative
from pinnlab.registry import Registry


class ModelFunction(Protocol):
    """A function of points, row by row: (N, D) -> (N, F)."""

    def __call__(self, x: Tensor) -> Tensor: ...


class Plan(ABC):
    """Evaluates a fixed set of derivative requests."""

    requests: tuple[Derivative, ...]

    @abstractmethod
    def __call__(self, f: ModelFunction, x: Tensor, step: int = 0) -> dict[Derivative, Tensor]:
        """Return every requested derivative at the points ``x``.

        ``step`` seeds stochastic estimators, so that one optimisation step sees
        one fixed objective and successive steps see fresh samples.
        """


class Backend(ABC):
    """A derivative method (``autograd``, ``taylor``, ``stde``)."""

    name: str

    @abstractmethod
    def plan(self, requests: Sequence[Derivative], n_inputs: int) -> Plan:
        """Plan how to compute ``requests`` for a function of ``n_inputs`` columns."""


_BACKENDS: Registry[Callable[..., Backend]] = Registry("derivative method")


def register_backend(name: str) -> Callable[[Callable[..., Backend]], Callable[..., Backend]]:
    """Class decorator adding a backend to the registry under ``name``."""
    return _BACKENDS.register(name)


def backend_names() -> list[str]:
    """Names of the registered derivative methods."""
    return _BACKENDS.names()


def make_backend(name: str, **options) -> Backend:
    """Build the backend registered as ``name`` with its options."""
    return _BACKENDS.create(name, **options)
