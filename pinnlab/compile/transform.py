"""Hard-constraint output transforms: each field is an expression of the coordinates
and the raw network outputs, e.g. ``u: "(1 - norm2(x)) * u"`` makes u vanish on the
unit sphere exactly, ``u: "t*u + sin(pi*x)"`` imposes an initial condition, and
``u: "g + dist(hole)*u"`` (``dist``: a distance function of the domain) imposes u = g
on the boundary part ``hole`` of any shape; a :class:`~pinnlab.spec.expr.Lift` node is the
transfinite interpolation of values given on several parts."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pinnlab.autodiff.taylor_value import TaylorValue
from pinnlab.compile.evaluate import JET_OPS, TORCH_OPS, evaluate
from pinnlab.geometry.distance import TENSOR_ARITHMETIC, Arithmetic, DistanceFunction
from pinnlab.geometry.lift import transfinite
from pinnlab.spec.expr import Distance, Lift, Node, Symbol


class JetArithmetic(Arithmetic):
    """The operations of :class:`~pinnlab.geometry.distance.Arithmetic` on Taylor jets (and tensors)."""

    def value(self, a: Any) -> torch.Tensor:
        return a.primal.detach() if isinstance(a, TaylorValue) else super().value(a)

    def sqrt(self, a: Any) -> Any:
        if not isinstance(a, TaylorValue):
            return super().sqrt(a)
        # zero jet where the value is exactly 0 (the square root has no derivatives there)
        positive = (a.primal > 0).to(a.primal.dtype)
        return ((a + (1.0 - positive)) ** 0.5) * positive

    def unsqueeze(self, a: Any) -> Any:
        return a.unsqueeze_last() if isinstance(a, TaylorValue) else a.unsqueeze(-1)

    def take(self, a: Any, index: slice) -> Any:
        return a.select(index) if isinstance(a, TaylorValue) else a[..., index]

    def column(self, a: Any, i: int) -> Any:
        return a.select(i) if isinstance(a, TaylorValue) else a[..., i]

    def cat(self, parts: Any) -> Any:
        jets = [p for p in parts if isinstance(p, TaylorValue)]
        if not jets:
            return torch.cat(list(parts), -1)
        first = jets[0]
        return type(first).cat([p if isinstance(p, TaylorValue) else first.constant_like(p) for p in parts])

    def sum_last(self, a: Any) -> Any:
        return a.sum_last() if isinstance(a, TaylorValue) else a.sum(-1)

    def linear(self, a: Any, weight: torch.Tensor, bias: torch.Tensor) -> Any:
        return a.linear(weight, bias) if isinstance(a, TaylorValue) else super().linear(a, weight, bias)


JET_ARITHMETIC = JetArithmetic()


class OutputTransform(nn.Module):
    """Maps (points, raw outputs) to constrained outputs.

    ``expressions`` maps a field index to its expression; fields without one pass
    through. ``columns`` maps coordinate names to a column index (scalar) or a
    ``slice`` (vector coordinate); ``fields`` lists the field names in output order;
    ``distances`` maps the boundary names of each ``dist(...)`` node (a tuple, empty for
    the whole boundary) to the geometry's distance function.
    """

    def __init__(self, expressions: dict[int, Node], columns: dict[str, int | slice], fields: list[str],
                 parameters: dict[str, float], distances: dict[tuple[str, ...], DistanceFunction] | None = None):
        super().__init__()
        self.expressions = expressions
        self.columns = columns
        self.fields = list(fields)
        self.parameters = dict(parameters)
        self.distances = dict(distances or {})

    def _lookup(self, x: Any, raw: Any, select, arithmetic: Arithmetic = TENSOR_ARITHMETIC,
                ops: Any = TORCH_OPS) -> Any:
        def lookup(node: Node) -> Any:
            if isinstance(node, Distance):
                if node.boundary not in self.distances:
                    what = ", ".join(node.boundary) or "the whole boundary"
                    raise KeyError(f"no distance function for {what}")
                fn = self.distances[node.boundary]
                return fn(fn.read(x, select), arithmetic)
            if isinstance(node, Lift):
                values = [evaluate(value, lookup, ops) for _, value in node.pieces]
                return transfinite(values, [lookup(d) for d, _ in node.pieces], arithmetic, node.mu)
            if not isinstance(node, Symbol):
                raise TypeError(f"derivatives are not allowed in an output transform: {node}")
            name = node.name
            if name in self.fields:
                return select(raw, self.fields.index(name))
            if name in self.columns:
                return select(x, self.columns[name])
            return self.parameters[name]

        return lookup

    def apply(self, x: Any, raw: Any, select, stack, ops: Any = TORCH_OPS, broadcast=None,
              arithmetic: Arithmetic = TENSOR_ARITHMETIC) -> Any:
        """Generic evaluation over tensors or jets (``select``/``stack`` pick and join columns)."""
        outputs = []
        for i in range(len(self.fields)):
            node = self.expressions.get(i)
            if node is None:
                outputs.append(select(raw, i))
                continue
            value = evaluate(node, self._lookup(x, raw, select, arithmetic, ops), ops)
            if broadcast is not None:
                value = broadcast(value, raw)
            outputs.append(value)
        return stack(outputs)

    def forward(self, x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        def broadcast(value, like):
            if not isinstance(value, torch.Tensor) or value.dim() == 0:
                return torch.full_like(like[:, 0], float(value))
            return value

        if isinstance(raw, TaylorValue):
            return self.forward_jet(x, raw)
        return self.apply(x, raw, lambda t, c: t[:, c], lambda cols: torch.stack(cols, dim=-1),
                          broadcast=broadcast)

    def forward_jet(self, x: TaylorValue, raw: TaylorValue) -> TaylorValue:
        """The transform on Taylor jets of the points and raw outputs (products by Leibniz' rule)."""

        def select(t: Any, c: int | slice) -> Any:
            return t.select(c) if isinstance(t, TaylorValue) else t[:, c]

        def broadcast(value: Any, like: TaylorValue) -> Any:
            if isinstance(value, TaylorValue):
                return value
            if not isinstance(value, torch.Tensor) or value.dim() == 0:
                value = torch.full_like(like.primal[:, 0], float(value))
            return like.constant_like(value)

        return self.apply(x, raw, select, type(raw).stack_last, ops=JET_OPS, broadcast=broadcast,
                          arithmetic=JET_ARITHMETIC)
