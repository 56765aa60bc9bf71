"""The derivative engine: requests in, derivative values out."""

from pinnlab.autodiff import autograd as _autograd  # noqa: F401  (registers the backend)
from pinnlab.autodiff import stde as _stde  # noqa: F401  (registers the backend)
from pinnlab.autodiff import taylor as _taylor  # noqa: F401  (registers the backend)
from pinnlab.autodiff.backend import Backend, ModelFunction, Plan, backend_names, make_backend, register_backend
from pinnlab.autodiff.requests import Derivative, partial, value
from pinnlab.autodiff.stde import stde_pair

__all__ = [
    "Backend", "Derivative", "ModelFunction", "Plan", "backend_names", "make_backend",
    "partial", "register_backend", "stde_pair", "value",
]
