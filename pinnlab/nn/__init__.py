"""Networks whose layers push values and Taylor jets."""

from pinnlab.nn.layers import ACTIVATIONS, MLP, Activation, FourierFeatures, InputScaling, PeriodicEmbedding
from pinnlab.nn.model import BoundModel, PINNModel, count_parameters, parameters_of

__all__ = [
    "ACTIVATIONS", "MLP", "Activation", "BoundModel", "FourierFeatures", "InputScaling", "PINNModel",
    "PeriodicEmbedding", "count_parameters", "parameters_of",
]
