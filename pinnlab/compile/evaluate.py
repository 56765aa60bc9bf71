"""Evaluate a parsed expression tree over tensors or Taylor jets.

Leaves (symbols, derivatives) are looked up by a caller-supplied function, so the
same tree is evaluated for residuals (tensors of derivative values) and for
hard-constraint output transforms (plain tensors or Taylor jets). The arithmetic
comes from an ``ops`` object: :class:`TorchOps` for tensors, :class:`JetOps` for
jets mixed with tensors and numbers.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from pinnlab.autodiff.taylor_value import TaylorValue
from pinnlab.spec.expr import Binary, Const, Node, Unary

_ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


class _Ops:
    """Binary operators shared by the tensor and jet evaluators; subclasses say how to align ranks,
    sum over the last axis and raise to a power."""

    def const(self, value: float, like: Any) -> Any:
        return value

    def _align(self, a: Any, b: Any) -> tuple[Any, Any]:
        return a, b

    def _sum_last(self, a: Any) -> Any:
        raise NotImplementedError

    def _power(self, a: Any, b: Any) -> Any:
        return a ** b

    def _binary(self, op: str, a: Any, b: Any) -> Any:
        a, b = self._align(a, b)
        if op in _ARITHMETIC:
            return _ARITHMETIC[op](a, b)
        if op == "**":
            return self._power(a, b)
        if op == "dot":
            return self._sum_last(a * b)
        raise ValueError(f"unknown operator {op}")

    def binary(self, op: str, a: Any, b: Any) -> Any:
        return self._binary(op, a, b)


class TorchOps(_Ops):
    """Elementwise arithmetic on tensors; scalars are (N,), vectors (N, d)."""

    def _align(self, a: Any, b: Any) -> tuple[Any, Any]:
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dim() != b.dim():
            if a.dim() < b.dim():
                a = a.unsqueeze(-1)
            else:
                b = b.unsqueeze(-1)
        return a, b

    def _sum_last(self, a: Any) -> Any:
        return a.sum(-1)

    def _power(self, a: Any, b: Any) -> Any:
        if isinstance(b, (int, float)) and float(b).is_integer() and 0 <= b <= 8:
            return a ** int(b)
        return a ** b

    def unary(self, op: str, a: Any) -> Any:
        if op == "neg":
            return -a
        if op == "sum":
            return a.sum(-1)
        if op == "norm2":
            return (a * a).sum(-1)
        name = {"arctan": "atan"}.get(op, op)
        if not isinstance(a, torch.Tensor):  # a constant: evaluated in double precision, kept a number
            return float(getattr(torch, name)(torch.as_tensor(a, dtype=torch.float64)))
        return getattr(torch, name)(a)


TORCH_OPS = TorchOps()


class JetOps(_Ops):
    """Arithmetic over jets, tensors and numbers with the interface of :class:`TorchOps`.

    Used to evaluate output-transform expressions on jets; products follow Leibniz'
    rule, functions Faà di Bruno's formula. Operations without a jet fall back to
    :data:`TORCH_OPS`.
    """

    def __init__(self) -> None:
        self.tensor_ops = TORCH_OPS

    @staticmethod
    def _rank(a: Any) -> int:
        if isinstance(a, (TaylorValue, Tensor)):
            return a.dim()
        return 0

    def _align(self, a: Any, b: Any) -> tuple[Any, Any]:
        ra, rb = self._rank(a), self._rank(b)
        if ra and rb and ra != rb:
            if ra < rb:
                a = a.unsqueeze_last() if isinstance(a, TaylorValue) else a.unsqueeze(-1)
            else:
                b = b.unsqueeze_last() if isinstance(b, TaylorValue) else b.unsqueeze(-1)
        return a, b

    def _sum_last(self, a: Any) -> Any:
        return a.sum_last()

    def binary(self, op: str, a: Any, b: Any) -> Any:
        if not isinstance(a, TaylorValue) and not isinstance(b, TaylorValue):
            return self.tensor_ops.binary(op, a, b)
        return self._binary(op, a, b)

    def unary(self, op: str, a: Any) -> Any:
        if not isinstance(a, TaylorValue):
            return self.tensor_ops.unary(op, a)
        if op == "neg":
            return -a
        if op == "sum":
            return a.sum_last()
        if op == "norm2":
            return (a * a).sum_last()
        return a.apply(op)


JET_OPS = JetOps()


def evaluate(node: Node, lookup: Callable[[Node], Any], ops: Any = TORCH_OPS) -> Any:
    """Evaluate ``node``; ``lookup`` returns the value of every other leaf."""
    if isinstance(node, Const):
        return node.value
    if isinstance(node, Binary):
        return ops.binary(node.op, evaluate(node.left, lookup, ops), evaluate(node.right, lookup, ops))
    if isinstance(node, Unary):
        return ops.unary(node.op, evaluate(node.arg, lookup, ops))
    return lookup(node)
