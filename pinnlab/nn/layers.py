"""Network building blocks. Every layer maps (N, D_in) -> (N, D_out) row by row.

Each layer pushes Taylor jets (:class:`~pinnlab.autodiff.taylor_value.TaylorValue`,
e.g. :class:`~pinnlab.autodiff.jet.Jet`) as well as tensors: ``forward_jet`` maps
a jet of its input to a jet of its output, and ``forward`` hands jets to it, so
derivatives can be pushed through the layers in Taylor mode.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from pinnlab.autodiff.taylor_value import TaylorValue

ACTIVATIONS = ("tanh", "sin", "cos", "sigmoid", "softplus", "silu", "gelu")


def activation_function(name: str):
    """The elementwise function for an activation name."""
    functions = {
        "tanh": torch.tanh,
        "sin": torch.sin,
        "cos": torch.cos,
        "sigmoid": torch.sigmoid,
        "softplus": nn.functional.softplus,
        "silu": nn.functional.silu,
        "gelu": nn.functional.gelu,
    }
    if name not in functions:
        raise ValueError(f"unknown activation {name!r}; available: {', '.join(ACTIVATIONS)}")
    return functions[name]


class Activation(nn.Module):
    """An elementwise activation by name."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.fn = activation_function(name)

    def forward(self, x: Tensor | TaylorValue) -> Tensor | TaylorValue:
        if isinstance(x, TaylorValue):
            return self.forward_jet(x)
        return self.fn(x)

    def forward_jet(self, jet: TaylorValue) -> TaylorValue:
        """Faà di Bruno through the activation."""
        return jet.apply(self.name)

    def extra_repr(self) -> str:
        return self.name


class InputScaling(nn.Module):
    """Affine map of a bounding box onto [-1, 1] per column (fixed, not trained)."""

    def __init__(self, low: list[float], high: list[float]):
        super().__init__()
        low_t = torch.as_tensor(low, dtype=torch.get_default_dtype())
        high_t = torch.as_tensor(high, dtype=torch.get_default_dtype())
        span = torch.where(high_t > low_t, high_t - low_t, torch.ones_like(high_t))
        self.register_buffer("scale", 2.0 / span)
        self.register_buffer("shift", -(low_t + high_t) / span)

    def forward(self, x: Tensor | TaylorValue) -> Tensor | TaylorValue:
        if isinstance(x, TaylorValue):
            return self.forward_jet(x)
        return x * self.scale + self.shift

    def forward_jet(self, jet: TaylorValue) -> TaylorValue:
        """The affine map acts on the primal; coefficients are only scaled."""
        return jet.scale(self.scale).shift(self.shift)


class FourierFeatures(nn.Module):
    """Random Fourier features [cos(2π B x), sin(2π B x)], B ~ N(0, sigma²) (Tancik et al. 2020).

    ``sigma`` is one scale for every input column or a sequence of one scale per column (anisotropic
    features: a fine scale in one direction, a coarse one in time).
    """

    def __init__(self, in_dim: int, n_features: int, sigma: float | Sequence[float] = 1.0,
                 trainable: bool = False, generator: torch.Generator | None = None):
        super().__init__()
        b = torch.randn(in_dim, n_features, generator=generator, dtype=torch.get_default_dtype())
        scale = torch.as_tensor(sigma, dtype=b.dtype)
        if scale.ndim == 1 and scale.numel() != in_dim:
            raise ValueError(f"FourierFeatures: {scale.numel()} scales for {in_dim} input columns")
        b = b * (scale[:, None] if scale.ndim == 1 else scale)
        if trainable:
            self.B = nn.Parameter(b)
        else:
            self.register_buffer("B", b)
        self.out_dim = 2 * n_features

    def forward(self, x: Tensor | TaylorValue) -> Tensor | TaylorValue:
        if isinstance(x, TaylorValue):
            return self.forward_jet(x)
        z = 2 * math.pi * x @ self.B
        return torch.cat([torch.cos(z), torch.sin(z)], dim=-1)

    def forward_jet(self, jet: TaylorValue) -> TaylorValue:
        """A linear map (2π Bᵀ) followed by cos and sin."""
        z = jet.linear(2 * math.pi * self.B.t())
        return type(jet).cat([z.apply("cos"), z.apply("sin")])


class PeriodicEmbedding(nn.Module):
    """Exact periodicity: column c with period P becomes cos(2πk x_c/P), sin(2πk x_c/P), k = 1..K.

    Other columns pass through unchanged, in front of the embedded ones.
    """

    def __init__(self, in_dim: int, periods: dict[int, float], harmonics: int = 1):
        super().__init__()
        if not periods:
            raise ValueError("PeriodicEmbedding needs at least one periodic column")
        self.in_dim = in_dim
        self.periodic = sorted(periods)
        self.passthrough = [c for c in range(in_dim) if c not in periods]
        freq = [[2 * math.pi * k / periods[c] for k in range(1, harmonics + 1)] for c in self.periodic]
        self.register_buffer("frequencies", torch.as_tensor(freq, dtype=torch.get_default_dtype()))
        self.out_dim = len(self.passthrough) + 2 * harmonics * len(self.periodic)

    def forward(self, x: Tensor | TaylorValue) -> Tensor | TaylorValue:
        if isinstance(x, TaylorValue):
            return self.forward_jet(x)
        z = (x[:, self.periodic, None] * self.frequencies).flatten(1)
        return torch.cat([x[:, self.passthrough], torch.cos(z), torch.sin(z)], dim=-1)

    def forward_jet(self, jet: TaylorValue) -> TaylorValue:
        """The phases are a linear map of the input (one frequency per row), then cos and sin."""
        n_freq = self.frequencies.numel()
        harmonics = self.frequencies.shape[1]
        rows = torch.arange(n_freq, device=self.frequencies.device)
        cols = torch.as_tensor(self.periodic, device=self.frequencies.device).repeat_interleave(harmonics)
        weight = self.frequencies.new_zeros(n_freq, self.in_dim).index_put((rows, cols), self.frequencies.flatten())
        z = jet.linear(weight)
        parts = [z.apply("cos"), z.apply("sin")]
        if self.passthrough:
            parts.insert(0, jet.select(self.passthrough))
        return type(jet).cat(parts)


class MLP(nn.Module):
    """Fully connected network: ``depth`` hidden layers of ``width`` units, Xavier-initialised."""

    def __init__(self, in_dim: int, out_dim: int, width: int = 64, depth: int = 4, activation: str = "tanh",
                 generator: torch.Generator | None = None):
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError("MLP needs depth >= 1 and width >= 1")
        dims = [in_dim] + [width] * depth + [out_dim]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
        self.activation = Activation(activation)
        for layer in self.linears:
            bound = math.sqrt(6.0 / (layer.in_features + layer.out_features))
            with torch.no_grad():
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.zero_()

    def forward(self, x: Tensor | TaylorValue) -> Tensor | TaylorValue:
        if isinstance(x, TaylorValue):
            return self.forward_jet(x)
        for layer in self.linears[:-1]:
            x = self.activation(layer(x))
        return self.linears[-1](x)

    def forward_jet(self, jet: TaylorValue) -> TaylorValue:
        """Linear layers act on every coefficient alike; activations by Faà di Bruno."""
        for layer in self.linears[:-1]:
            jet = self.activation.forward_jet(jet.linear(layer.weight, layer.bias))
        last = self.linears[-1]
        return jet.linear(last.weight, last.bias)
