"""The network a PINN trains: input scaling, embeddings, MLP, output transform."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn
from torch.func import functional_call

from pinnlab.autodiff.module_jets import module_jet
from pinnlab.autodiff.taylor_value import TaylorValue
from pinnlab.nn.layers import MLP, FourierFeatures, InputScaling, PeriodicEmbedding


class PINNModel(nn.Module):
    """x (N, D) -> fields (N, F): scaling -> [periodic embedding] -> [Fourier features] -> MLP -> [transform]."""

    def __init__(self, scaling: InputScaling, body: MLP, periodic: PeriodicEmbedding | None = None,
                 fourier: FourierFeatures | None = None, transform: nn.Module | None = None):
        super().__init__()
        self.scaling = scaling
        self.periodic = periodic
        self.fourier = fourier
        self.body = body
        self.transform = transform

    def forward(self, x: Tensor | TaylorValue) -> Tensor | TaylorValue:
        if isinstance(x, TaylorValue):
            return self.forward_jet(x)
        h = self.scaling(x)
        if self.periodic is not None:
            h = self.periodic(h)
        if self.fourier is not None:
            h = self.fourier(h)
        out = self.body(h)
        if self.transform is not None:
            out = self.transform(x, out)
        return out

    def forward_jet(self, jet: TaylorValue) -> TaylorValue:
        """Push a Taylor jet of the points through every stage; the transform sees the points' jet too."""
        h = module_jet(self.scaling, jet)
        if self.periodic is not None:
            h = module_jet(self.periodic, h)
        if self.fourier is not None:
            h = module_jet(self.fourier, h)
        out = module_jet(self.body, h)
        if self.transform is not None:
            out = self.transform.forward_jet(jet, out)
        return out


class BoundModel:
    """A module with a fixed parameter dict, callable on points (and jets) via ``functional_call``."""

    def __init__(self, module: nn.Module, params: Mapping[str, Tensor]):
        self.module = module
        self.params = params

    def __call__(self, x: Tensor) -> Tensor:
        return functional_call(self.module, self.params, (x,))

    def jet(self, jet: TaylorValue) -> TaylorValue:
        """Taylor-mode push of ``jet`` through the module with these parameters."""
        return functional_call(self.module, self.params, (jet,))


def parameters_of(module: nn.Module) -> dict[str, Tensor]:
    """The trainable parameters as a flat dict of detached leaf tensors that require grad."""
    return {name: p.detach().clone().requires_grad_(True) for name, p in module.named_parameters()}


def count_parameters(params: Mapping[str, Tensor]) -> int:
    """Total number of scalar parameters."""
    return sum(p.numel() for p in params.values())


__all__ = ["BoundModel", "PINNModel", "count_parameters", "parameters_of"]
