"""Evolution form of a PDE: rewrite equations linear in the time derivatives as u_t = F[u].

Each equation is split on its parsed tree into ``sum_j C_ij d_t u_j + G_i[u]`` where the
coefficients ``C_ij`` must be constants (numbers and parameters) and ``G_i`` holds no time
derivative; then ``u_t = F[u] = -C^{-1} G[u]``. Second time derivatives, mixed space–time
derivatives, time derivatives inside nonlinear functions or multiplied by non-constant
factors are rejected with an error naming the equation.

This module is symbolic (no torch); :class:`pinnlab.compile.evolution.EvolutionOperator`
evaluates F at points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pinnlab.errors import SpecError
from pinnlab.spec import expr
from pinnlab.spec.pde import PDE

Coefficients = dict[str, float]


def to_text(node: expr.Node) -> str:
    """A readable (fully parenthesised) expression for a tree."""
    if isinstance(node, expr.Const):
        return f"{node.value:g}"
    if isinstance(node, expr.Symbol):
        return node.name
    if isinstance(node, expr.Partial):
        return f"{node.field}_{''.join(node.wrt)}"
    if isinstance(node, expr.Laplacian):
        return f"lap({node.field})" if node.power == 1 else f"lap(lap({node.field}))"
    if isinstance(node, expr.Gradient):
        return f"grad({node.field})"
    if isinstance(node, expr.NormalDerivative):
        return f"dn({node.field})"
    if isinstance(node, expr.Unary):
        if node.op != "neg":
            return f"{node.op}({to_text(node.arg)})"
        inner = to_text(node.arg)
        return f"-({inner})" if inner.startswith("-") else f"-{inner}"
    if node.op == "dot":
        return f"dot({to_text(node.left)}, {to_text(node.right)})"
    return f"({to_text(node.left)} {node.op} {to_text(node.right)})"


def negate(node: expr.Node) -> expr.Node:
    """``-node``, cancelling a double negation."""
    return node.arg if isinstance(node, expr.Unary) and node.op == "neg" else expr.Unary("neg", node)


class _NotConstant(Exception):
    pass


_FUNCTIONS = {"sin": math.sin, "cos": math.cos, "tan": math.tan, "exp": math.exp, "log": math.log,
              "sqrt": math.sqrt, "tanh": math.tanh, "sinh": math.sinh, "cosh": math.cosh, "abs": abs,
              "arctan": math.atan, "sigmoid": lambda v: 1.0 / (1.0 + math.exp(-v)), "neg": lambda v: -v}
_OPERATORS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
              "/": lambda a, b: a / b, "**": lambda a, b: a ** b}


def constant_value(node: expr.Node, parameters: Mapping[str, float]) -> float | None:
    """The value of a tree made of numbers, parameters and scalar functions only, else None."""

    def value(n: expr.Node) -> float:
        if isinstance(n, expr.Const):
            return float(n.value)
        if isinstance(n, expr.Symbol) and n.name in parameters:
            return float(parameters[n.name])
        if isinstance(n, expr.Unary) and n.op in _FUNCTIONS:
            return float(_FUNCTIONS[n.op](value(n.arg)))
        if isinstance(n, expr.Binary) and n.op in _OPERATORS:
            return float(_OPERATORS[n.op](value(n.left), value(n.right)))
        raise _NotConstant

    try:
        return value(node)
    except (_NotConstant, ValueError, ZeroDivisionError, OverflowError):
        return None


class _Splitter:
    """Splits a tree into (coefficients of the first time derivatives, time-free remainder)."""

    def __init__(self, time: str, parameters: Mapping[str, float], where: str):
        self.time, self.parameters, self.where = time, parameters, where

    def fail(self, message: str) -> SpecError:
        return SpecError(f"{self.where}: {message}; TENG needs equations of the form c*u_t + G[u] = 0 "
                         "with a nonzero constant c and no time derivative in G")

    def has_time_derivative(self, node: expr.Node) -> bool:
        return any(isinstance(n, expr.Partial) and self.time in n.wrt for n in expr.walk(node))

    def split(self, node: expr.Node) -> tuple[Coefficients, expr.Node | None]:
        if not self.has_time_derivative(node):
            return {}, node
        if isinstance(node, expr.Partial):
            name = to_text(node)
            if node.wrt.count(self.time) > 1:
                raise self.fail(f"'{name}' is a second time derivative")
            if len(node.wrt) > 1:
                raise self.fail(f"'{name}' is a mixed space-time derivative")
            return {node.field: 1.0}, None
        if isinstance(node, expr.Unary):
            if node.op != "neg":
                raise self.fail(f"a time derivative appears inside {node.op}(...), which is not linear")
            coefs, rest = self.split(node.arg)
            return {f: -c for f, c in coefs.items()}, None if rest is None else negate(rest)
        assert isinstance(node, expr.Binary)
        if node.op in ("+", "-"):
            lc, lr = self.split(node.left)
            rc, rr = self.split(node.right)
            sign = 1.0 if node.op == "+" else -1.0
            coefs = dict(lc)
            for f, c in rc.items():
                coefs[f] = coefs.get(f, 0.0) + sign * c
            if rr is None:
                return coefs, lr
            if lr is None:
                return coefs, rr if sign > 0 else negate(rr)
            return coefs, expr.Binary(node.op, lr, rr)
        if node.op == "*":
            left_dt, right_dt = self.has_time_derivative(node.left), self.has_time_derivative(node.right)
            if left_dt and right_dt:
                raise self.fail(f"'{to_text(node)}' multiplies time derivatives, which is not linear")
            factor, other = (node.right, node.left) if left_dt else (node.left, node.right)
            return self._scaled(factor, other, divide=False)
        if node.op == "/":
            if self.has_time_derivative(node.right):
                raise self.fail(f"a time derivative appears in the denominator of '{to_text(node)}'")
            return self._scaled(node.right, node.left, divide=True)
        raise self.fail(f"a time derivative appears in '{to_text(node)}' (operator '{node.op}'), "
                        "which is not linear")

    def _scaled(self, factor: expr.Node, other: expr.Node, divide: bool) -> tuple[Coefficients, expr.Node | None]:
        value = constant_value(factor, self.parameters)
        if value is None:
            raise self.fail(f"the time derivative in '{to_text(other)}' is {'divided' if divide else 'multiplied'} "
                            f"by '{to_text(factor)}', which is not a constant")
        if divide and value == 0.0:
            raise self.fail(f"'{to_text(factor)}' divides a time derivative and is zero")
        coefs, rest = self.split(other)
        scale = 1.0 / value if divide else value
        coefs = {f: c * scale for f, c in coefs.items()}
        if rest is None:
            return coefs, None
        return coefs, expr.Binary("/", rest, factor) if divide else expr.Binary("*", factor, rest)


@dataclass(frozen=True)
class EvolutionForm:
    """``sum_j C[i, j] d_t u_j + G_i[u] = 0`` for each equation i, and ``u_t = F[u] = -C^{-1} G[u]``.

    ``equations`` and ``fields`` fix the row and column order of ``coefficients``; ``remainders``
    maps equation names to G_i (None when zero); ``rates`` maps field names to F_j as trees.
    """

    pde: PDE
    equations: tuple[str, ...]
    fields: tuple[str, ...]
    coefficients: np.ndarray
    remainders: dict[str, expr.Node | None]
    rates: dict[str, expr.Node]

    @property
    def rate_matrix(self) -> np.ndarray:
        """``-C^{-1}``: F = rate_matrix @ G."""
        return -np.linalg.inv(self.coefficients)

    def __str__(self) -> str:
        return "; ".join(f"{f}_{self.pde.time} = {to_text(self.rates[f])}" for f in self.fields)


def evolution_form(pde: PDE) -> EvolutionForm:
    """Rewrite ``pde`` as u_t = F[u]; raises :class:`SpecError` when it is not an evolution equation."""
    if pde.time is None:
        raise SpecError("TENG needs a time coordinate (PDE.time), and this PDE has none")
    fields = tuple(pde.fields)
    equations = tuple(pde.parsed)
    if len(equations) != len(fields):
        raise SpecError(f"TENG needs one evolution equation per field: {len(equations)} equation(s) "
                        f"({', '.join(equations)}) for {len(fields)} field(s) ({', '.join(fields)})")
    coefficients = np.zeros((len(equations), len(fields)))
    remainders: dict[str, expr.Node | None] = {}
    for i, name in enumerate(equations):
        splitter = _Splitter(pde.time, pde.parameters, f"equation '{name}'")
        coefs, rest = splitter.split(pde.parsed[name])
        for f, c in coefs.items():
            coefficients[i, fields.index(f)] = c
        if not np.any(coefficients[i]):
            raise SpecError(f"equation '{name}' has no first time derivative of any field (the coefficients "
                            "cancel or it is a constraint); TENG needs u_t = F[u] for every field")
        remainders[name] = rest
    if abs(np.linalg.det(coefficients)) < 1e-12 * max(1.0, np.abs(coefficients).max()) ** len(fields):
        raise SpecError("the time derivatives cannot be solved for: their coefficient matrix "
                        f"{coefficients.tolist()} (equations {list(equations)}, fields {list(fields)}) is singular")
    minus_inverse = -np.linalg.inv(coefficients)
    rates: dict[str, expr.Node] = {}
    for j, f in enumerate(fields):
        total: expr.Node | None = None
        for i, name in enumerate(equations):
            g = remainders[name]
            w = float(minus_inverse[j, i])
            if g is None or w == 0.0:
                continue
            term = g if w == 1.0 else negate(g) if w == -1.0 else expr.Binary("*", expr.Const(w), g)
            total = term if total is None else expr.Binary("+", total, term)
        rates[f] = total if total is not None else expr.Const(0.0)
    return EvolutionForm(pde, equations, fields, coefficients, remainders, rates)


__all__ = ["EvolutionForm", "constant_value", "evolution_form", "negate", "to_text"]
