"""F[u] at points: the evolution form u_t = F[u] of a PDE (:mod:`pinnlab.spec.evolution`) evaluated
for a model of the *spatial* coordinates through the compiler's own derivative plans.

The model is presented to the residual program as a function of all columns that ignores time,
so ``d_t u = 0`` there and the residual of equation i is exactly ``G_i[u]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor
from torch.func import functional_call

from pinnlab import distributed
from pinnlab.autodiff import Backend
from pinnlab.compile.program import Batch, ResidualProgram
from pinnlab.nn.model import BoundModel
from pinnlab.spec import Problem
from pinnlab.spec.evolution import evolution_form
from pinnlab.spec.pde import PDE


class EvolutionOperator:
    """F[u] at spatial points for a model of the spatial coordinates, via the compiled residuals."""

    def __init__(self, pde: PDE, backend: Backend | None = None):
        self.form = evolution_form(pde)
        self.pde = pde
        self.program = ResidualProgram(Problem(pde, domain=None, name="evolution"), backend)
        self.n_columns = len(pde.columns)
        self.time_column = pde.column_map()[pde.time]
        self.spatial_columns = list(pde.spatial_columns())
        self._matrix = torch.as_tensor(self.form.rate_matrix)

    def __call__(self, f: Callable[[Tensor], Tensor], x: Tensor, t: float = 0.0, step: int = 0) -> Tensor:
        """F[f] (N, fields) at spatial points ``x`` (N, spatial dims) and time ``t``."""
        full = x.new_empty(x.shape[0], self.n_columns)
        full[:, self.time_column] = t
        full[:, self.spatial_columns] = x
        cols = self.spatial_columns

        def frozen_in_time(z: Tensor) -> Tensor:
            return f(z[:, cols])

        res = self.program.residuals(frozen_in_time, {"interior": Batch(full)}, step, terms=list(self.form.equations))
        g = torch.stack([res[name] for name in self.form.equations], dim=-1)
        return g @ self._matrix.to(g).T



class EvolutionObjective:
    """What a time stepper of u_t = F[u] needs at the current quadrature points.

    ``values(params)`` and ``rate(params, t)`` are (N, fields) at ``points`` (N, spatial dims);
    ``initial()`` is the initial value there; every point has the quadrature weight ``weight``.
    ``module`` is the network of the spatial coordinates the parameters belong to. ``sharded``
    (default: in a process group of more than one rank): the points are this rank's shard of the grid.
    """

    def __init__(self, operator: EvolutionOperator, module: torch.nn.Module, points: Tensor, weight: float,
                 initial: Callable[[Tensor], Tensor] | None = None, step: int = 0, sharded: bool | None = None):
        self.operator, self.module, self.points, self.weight = operator, module, points, float(weight)
        self._initial = initial
        self.step = step
        self.sharded = distributed.is_distributed() if sharded is None else bool(sharded)

    def values(self, params: Mapping[str, Tensor]) -> Tensor:
        with torch.no_grad():
            return functional_call(self.module, dict(params), (self.points,))

    def rate(self, params: Mapping[str, Tensor], t: float) -> Tensor:
        """F[u_θ] at the points and time ``t`` (detached)."""
        frozen = {k: v.detach() for k, v in params.items()}
        return self.operator(BoundModel(self.module, frozen), self.points, t, self.step).detach()

    def initial(self) -> Tensor:
        if self._initial is None:
            raise ValueError("this evolution objective has no initial value")
        return self._initial(self.points)


__all__ = ["EvolutionObjective", "EvolutionOperator"]
