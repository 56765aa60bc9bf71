"""Closed-form solutions of a problem as functions of points."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from pinnlab.compile.evaluate import evaluate
from pinnlab.spec import expr
from pinnlab.spec.problem import Problem


def exact_function(problem: Problem) -> Callable[[Tensor], Tensor] | None:
    """The closed-form solution as a function of points (N, D) -> (N, F), if the problem has one.

    Fields without a closed form are NaN. Parameters take their reference values (a trainable
    parameter's true value when known, see :attr:`pinnlab.spec.PDE.reference_values`).
    """
    if problem.exact is None:
        return None
    pde = problem.pde
    cmap = pde.column_map()
    nodes = problem.exact_parsed
    parameters = pde.reference_values

    def solution(x: Tensor) -> Tensor:
        def lookup(node: expr.Node) -> Any:
            name = node.name  # type: ignore[union-attr]
            if name in cmap:
                return x[:, cmap[name]]
            if name in parameters:
                return parameters[name]
            return pde.functions[name](x)

        cols = []
        for f in pde.fields:
            v = evaluate(nodes[f], lookup) if f in nodes else float("nan")
            cols.append(v if isinstance(v, Tensor) else torch.full_like(x[:, 0], float(v)))
        return torch.stack(cols, dim=-1)

    return solution
