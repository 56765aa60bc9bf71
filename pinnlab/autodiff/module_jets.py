"""Jets through modules, and nested forward mode for functions that take no jets.

:func:`module_jet` knows the torch built-ins (``nn.Linear``, ``nn.Sequential``,
``nn.Identity``, elementwise activations such as ``nn.Tanh``) and otherwise defers to
the module's own ``forward_jet(jet)``; :func:`supports_jets` says whether that
covers a module. Arbitrary callables get their directional derivatives from
:func:`directional_tower` (nested ``torch.func.jvp``) instead.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from pinnlab.autodiff.backend import ModelFunction
from pinnlab.autodiff.taylor_value import TaylorValue

_ELEMENTWISE_MODULES: dict[type, str] = {
    nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.SiLU: "silu",
}


def _elementwise_name(module: nn.Module) -> str | None:
    for cls, name in _ELEMENTWISE_MODULES.items():
        if isinstance(module, cls):
            return name
    if isinstance(module, nn.Softplus) and module.beta == 1:
        return "softplus"
    if isinstance(module, nn.GELU) and module.approximate == "none":
        return "gelu"
    return None


def supports_jets(module: object) -> bool:
    """Whether :func:`module_jet` can push a jet through ``module``."""
    if not isinstance(module, nn.Module):
        return False
    if hasattr(module, "forward_jet") or isinstance(module, (nn.Linear, nn.Identity)):
        return True
    if isinstance(module, nn.Sequential):
        return all(supports_jets(m) for m in module)
    return _elementwise_name(module) is not None


def module_jet(module: nn.Module, jet: TaylorValue) -> TaylorValue:
    """Push ``jet`` through ``module``: its own ``forward_jet`` if it has one, else a torch built-in."""
    if hasattr(module, "forward_jet"):
        return module.forward_jet(jet)
    if isinstance(module, nn.Sequential):
        for m in module:
            jet = module_jet(m, jet)
        return jet
    if isinstance(module, nn.Linear):
        return jet.linear(module.weight, module.bias)
    if isinstance(module, nn.Identity):
        return jet
    name = _elementwise_name(module)
    if name is None:
        raise TypeError(f"no Taylor rule for the module {type(module).__name__}")
    return jet.apply(name)


class _JetCall(nn.Module):
    """Calls :func:`module_jet` on ``inner`` (under ``functional_call``, with the bound parameters)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, jet: TaylorValue) -> TaylorValue:
        return module_jet(self.inner, jet)


def jet_function(f: ModelFunction) -> Callable[[TaylorValue], TaylorValue] | None:
    """A jet-pushing version of the model function, or ``None`` if it has none.

    ``f`` is either a module or a bound model offering ``jet`` with its ``module`` and
    ``params`` (a module bound to a parameter dict); the module is pushed through by
    :func:`module_jet` with those parameters, so a custom layer needs only ``forward_jet``.
    """
    module = getattr(f, "module", None)
    params = getattr(f, "params", None)
    if module is not None and params is not None and hasattr(f, "jet"):
        if not supports_jets(module):
            return None
        wrapper = _JetCall(module)
        named = {f"inner.{k}": v for k, v in params.items()}
        return lambda jet: torch.func.functional_call(wrapper, named, (jet,), strict=False)
    if isinstance(f, nn.Module) and supports_jets(f):
        return lambda jet: module_jet(f, jet)
    return None


def directional_tower(f: ModelFunction, x: Tensor, v: Tensor, order: int) -> list[Tensor]:
    """``[f(x), D_v f(x), ..., D_v^order f(x)]`` by nested :func:`torch.func.jvp` (v shaped like x)."""
    if order == 0:
        return [f(x)]

    def lower(y: Tensor) -> tuple[Tensor, ...]:
        return tuple(directional_tower(f, y, v, order - 1))

    primals, tangents = torch.func.jvp(lower, (x,), (v,))
    return [primals[0], *tangents]
