"""Safe parser for PDE expressions such as ``u_t + u*u_x - nu*u_xx``.

Text is parsed with Python's :mod:`ast` and every node is checked against a
whitelist; nothing is ever passed to ``eval``. The result is a small tree of
frozen dataclasses that the compiler walks to find derivative requests and to
build evaluation functions.
"""

from __future__ import annotations

import ast
import math
import warnings
from dataclasses import dataclass
from typing import Any

from pinnlab.errors import SpecError, did_you_mean

#: Elementwise functions allowed in expressions (name -> arity 1).
UNARY_FUNCTIONS = (
    "sin", "cos", "tan", "exp", "log", "tanh", "sinh", "cosh", "sqrt", "abs",
    "arctan", "sigmoid",
)
#: Functions that reduce or combine vectors (over vector coordinates).
VECTOR_FUNCTIONS = ("sum", "norm2", "dot")
#: Differential operators written as calls, and ``dist`` (a distance function of the domain).
OPERATORS = ("lap", "grad", "div", "dn", "dist")
CONSTANTS = {"pi": 3.141592653589793, "e": 2.718281828459045}
#: deepest nesting of operations an expression may have (deeper trees would exhaust the recursion of every walker)
MAX_DEPTH = 250


@dataclass(frozen=True)
class Const:
    value: float


@dataclass(frozen=True)
class Symbol:
    """A coordinate, parameter, field value, constant or user function of the points."""

    name: str


@dataclass(frozen=True)
class Partial:
    """Partial derivative of a field, ``wrt`` lists coordinate names in order (``u_tx``)."""

    field: str
    wrt: tuple[str, ...]


@dataclass(frozen=True)
class Laplacian:
    """``lap(u)`` (power 1) or ``lap(lap(u))`` (power 2) over the spatial coordinates."""

    field: str
    power: int = 1


@dataclass(frozen=True)
class Gradient:
    """``grad(u)``: the spatial gradient, a vector expression."""

    field: str


@dataclass(frozen=True)
class NormalDerivative:
    """``dn(u)``: derivative along the outward normal (boundary terms only)."""

    field: str


@dataclass(frozen=True)
class Distance:
    """``dist()`` / ``dist(hole, inlet)``: a distance function of the domain, zero on the named
    boundary parts (all of them when ``boundary`` is empty), positive inside."""

    boundary: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lift:
    """Transfinite interpolation of boundary values (output transforms only): ``Σ_i w_i g_i`` with
    ``w_i = φ_i^-μ / Σ_j φ_j^-μ``; ``pieces`` pairs each part's distance function with its value g_i."""

    pieces: tuple[tuple[Distance, Node], ...]
    mu: int = 1


@dataclass(frozen=True)
class Unary:
    op: str  # "neg" or a name in UNARY_FUNCTIONS / VECTOR_FUNCTIONS with one argument
    arg: Node


@dataclass(frozen=True)
class Binary:
    op: str  # "+", "-", "*", "/", "**", "dot"
    left: Node
    right: Node


Node = Const | Symbol | Partial | Laplacian | Gradient | NormalDerivative | Distance | Lift | Unary | Binary

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


@dataclass(frozen=True)
class Namespace:
    """Names an expression may use.

    ``scalar_coords`` are named scalar coordinates (``t``, ``x``); ``vector_coords``
    maps a vector coordinate name to its dimension; ``spatial`` lists the
    coordinates that ``lap``/``grad``/``div`` act on; ``boundaries`` the boundary names
    ``dist(...)`` may use (``None``: ``dist`` is not allowed here).
    """

    fields: tuple[str, ...]
    scalar_coords: tuple[str, ...] = ()
    vector_coords: tuple[tuple[str, int], ...] = ()
    parameters: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    spatial: tuple[str, ...] = ()
    allow_normal: bool = False
    boundaries: tuple[str, ...] | None = None

    @property
    def coordinates(self) -> tuple[str, ...]:
        return self.scalar_coords + tuple(name for name, _ in self.vector_coords)

    def known_names(self) -> list[str]:
        return [
            *self.fields, *self.coordinates, *self.parameters, *self.functions,
            *CONSTANTS, *UNARY_FUNCTIONS, *VECTOR_FUNCTIONS, *OPERATORS,
        ]


class _Parser:
    def __init__(self, text: str, ns: Namespace, where: str):
        self.text = text
        self.shown = text if len(text) <= 120 else text[:100] + " ... " + text[-15:]  # what messages quote
        self.ns = ns
        self.where = where

    # -- errors -----------------------------------------------------------------
    def fail(self, node: ast.AST | None, message: str, name: str | None = None) -> SpecError:
        position = ""
        if node is not None and hasattr(node, "col_offset"):
            position = f" at column {node.col_offset + 1}"
        hint = "" if name is None else did_you_mean(name, self.ns.known_names() + self._derivative_names())
        return SpecError(f"{self.where}: {message}{position} in '{self.shown}'{hint}")

    def _derivative_names(self) -> list[str]:
        names = []
        for f in self.ns.fields:
            for c in self.ns.scalar_coords:
                names += [f"{f}_{c}", f"{f}_{c}{c}"]
        return names

    # -- entry ------------------------------------------------------------------
    def parse(self) -> Node:
        if "\x00" in self.text:
            raise SpecError(f"{self.where}: the expression {self.text!r} contains a NUL character")
        too_deep = SpecError(f"{self.where}: the expression '{self.shown}' is nested more than {MAX_DEPTH} "
                             "levels deep")
        try:
            with warnings.catch_warnings():  # e.g. '1if': the syntax error below says what is wrong
                warnings.simplefilter("ignore", SyntaxWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                tree = ast.parse(self.text.strip(), mode="eval")
        except SyntaxError as exc:
            col = f" at column {exc.offset}" if exc.offset else ""
            raise SpecError(f"{self.where}: syntax error{col} in '{self.shown}': {exc.msg}") from None
        except (RecursionError, MemoryError):
            raise too_deep from None
        self.depth = 0
        try:
            return self.visit(tree.body)
        except RecursionError:
            raise too_deep from None

    def visit(self, node: ast.AST) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(node, f"the expression is nested more than {MAX_DEPTH} levels deep")
        try:
            return self.visit_node(node)
        finally:
            self.depth -= 1

    def visit_node(self, node: ast.AST) -> Node:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise self.fail(node, f"only numbers are allowed as constants, got {node.value!r}")
            try:
                value = float(node.value)
            except OverflowError:
                value = math.inf
            if not math.isfinite(value):
                raise self.fail(node, "a number too large for floating point")
            return Const(value)
        if isinstance(node, ast.Name):
            return self.visit_name(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return Unary("neg", self.visit(node.operand))
            if isinstance(node.op, ast.UAdd):
                return self.visit(node.operand)
            raise self.fail(node, f"operator '{type(node.op).__name__}' is not allowed")
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                raise self.fail(node, f"operator '{type(node.op).__name__}' is not allowed")
            return Binary(op, self.visit(node.left), self.visit(node.right))
        if isinstance(node, ast.Call):
            return self.visit_call(node)
        raise self.fail(node, f"'{type(node).__name__}' is not allowed in an expression")

    def visit_name(self, node: ast.Name) -> Node:
        name = node.id
        ns = self.ns
        if name in ns.fields or name in ns.parameters or name in ns.functions or name in ns.coordinates:
            return Symbol(name)
        if name in CONSTANTS:
            return Const(CONSTANTS[name])
        if name in UNARY_FUNCTIONS or name in VECTOR_FUNCTIONS or name in OPERATORS:
            raise self.fail(node, f"'{name}' is a function and needs an argument, e.g. {name}(...)")
        partial = self.split_derivative(name, node)
        if partial is not None:
            return partial
        raise self.fail(node, f"unknown symbol '{name}'", name=name)

    def split_derivative(self, name: str, node: ast.AST) -> Partial | None:
        """Read ``u_tx`` as d^2u/(dt dx); coordinate names may be longer than one letter."""
        for field in sorted(self.ns.fields, key=len, reverse=True):
            prefix = field + "_"
            if not name.startswith(prefix):
                continue
            suffix = name[len(prefix):]
            splits = _split_coordinates(suffix, self.ns.scalar_coords)
            if len(splits) == 1:
                return Partial(field, tuple(splits[0]))
            if len(splits) > 1:
                options = ", ".join("·".join(s) for s in splits)
                raise self.fail(node, f"derivative '{name}' is ambiguous ({options}); rename a coordinate")
            vector_names = [v for v, _ in self.ns.vector_coords]
            if any(v in suffix for v in vector_names):
                raise self.fail(
                    node,
                    f"'{name}': partial derivatives by subscript are only for scalar coordinates; "
                    "use lap(), grad() or div() for vector coordinates",
                )
            raise self.fail(
                node,
                f"'{name}' differentiates '{field}' by '{suffix}', which is not a coordinate "
                f"(coordinates: {', '.join(self.ns.scalar_coords) or 'none'})",
                name=name,
            )
        return None

    def field_argument(self, call: ast.Call, fn: str) -> str:
        if len(call.args) != 1 or call.keywords:
            raise self.fail(call, f"{fn}() takes exactly one field, e.g. {fn}(u)")
        arg = call.args[0]
        if not isinstance(arg, ast.Name) or arg.id not in self.ns.fields:
            name = arg.id if isinstance(arg, ast.Name) else None
            raise self.fail(arg, f"{fn}() takes a field name ({', '.join(self.ns.fields)})", name=name)
        return arg.id

    def visit_call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, "only plain function calls like sin(x) are allowed")
        fn = node.func.id
        if node.keywords:
            raise self.fail(node, f"{fn}() takes no keyword arguments")
        if fn == "dist":
            return self.visit_dist(node)
        if fn in ("lap", "grad", "dn", "div") and not self.ns.spatial:
            raise self.fail(node, f"{fn}() needs spatial coordinates, and this problem has none")
        if fn == "lap":
            if (
                len(node.args) == 1
                and isinstance(node.args[0], ast.Call)
                and isinstance(node.args[0].func, ast.Name)
                and node.args[0].func.id == "lap"
            ):
                return Laplacian(self.field_argument(node.args[0], "lap"), power=2)
            return Laplacian(self.field_argument(node, "lap"))
        if fn == "grad":
            return Gradient(self.field_argument(node, "grad"))
        if fn == "dn":
            if not self.ns.allow_normal:
                raise self.fail(node, "dn() (normal derivative) is only allowed in boundary conditions")
            return NormalDerivative(self.field_argument(node, "dn"))
        if fn == "div":
            return self.visit_div(node)
        if fn in UNARY_FUNCTIONS or fn in ("sum", "norm2"):
            if len(node.args) != 1:
                raise self.fail(node, f"{fn}() takes one argument")
            return Unary(fn, self.visit(node.args[0]))
        if fn == "dot":
            if len(node.args) != 2:
                raise self.fail(node, "dot() takes two arguments")
            return Binary("dot", self.visit(node.args[0]), self.visit(node.args[1]))
        if fn in self.ns.functions:
            if node.args:
                raise self.fail(node, f"'{fn}' is a function of the coordinates; write it as '{fn}' or '{fn}()'")
            return Symbol(fn)
        raise self.fail(node, f"unknown function '{fn}'", name=fn)

    def visit_dist(self, node: ast.Call) -> Distance:
        """``dist()`` or ``dist(name, ...)``: boundary names, or scalar coordinates (``x``: ``x_min``, ``x_max``)."""
        known = self.ns.boundaries
        if known is None:
            raise self.fail(node, "dist() (a distance function of the domain) is only allowed in output transforms")
        names: list[str] = []
        for arg in node.args:
            if isinstance(arg, ast.Name):
                name = arg.id
            elif isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                name = arg.value
            else:
                raise self.fail(arg, "dist() takes boundary names, e.g. dist(hole) or dist(x_min, inlet)")
            if name in self.ns.scalar_coords and f"{name}_min" in known:
                names += [f"{name}_min", f"{name}_max"]
            elif name in known:
                names.append(name)
            else:
                hint = did_you_mean(name, list(known))
                shown = ", ".join(known) if known else "none"
                raise SpecError(f"{self.where}: dist(): unknown boundary '{name}' at column {arg.col_offset + 1} "
                                f"in '{self.text}'{hint}; boundaries of this domain: {shown}")
        return Distance(tuple(dict.fromkeys(names)))

    def visit_div(self, node: ast.Call) -> Node:
        args = node.args
        if len(args) == 1 and isinstance(args[0], ast.Call) and getattr(args[0].func, "id", None) == "grad":
            return Laplacian(self.field_argument(args[0], "grad"))
        spatial_scalars = [c for c in self.ns.spatial if c in self.ns.scalar_coords]
        if len(args) != len(spatial_scalars) or len(spatial_scalars) != len(self.ns.spatial):
            raise self.fail(
                node,
                "div() takes grad(field), or one field per spatial scalar coordinate "
                f"({', '.join(spatial_scalars) or 'none'})",
            )
        terms: list[Node] = []
        for arg, coord in zip(args, spatial_scalars):
            if not isinstance(arg, ast.Name) or arg.id not in self.ns.fields:
                raise self.fail(arg, "div(...) over scalar coordinates takes field names")
            terms.append(Partial(arg.id, (coord,)))
        total = terms[0]
        for term in terms[1:]:
            total = Binary("+", total, term)
        return total


def _split_coordinates(suffix: str, coords: tuple[str, ...]) -> list[list[str]]:
    """All ways to write ``suffix`` as a concatenation of coordinate names."""
    if not suffix:
        return [[]]
    results = []
    for c in coords:
        if suffix.startswith(c):
            for rest in _split_coordinates(suffix[len(c):], coords):
                results.append([c, *rest])
    return results


def split_equation(text: Any) -> Any:
    """``"lhs = rhs"`` becomes ``"(lhs) - (rhs)"``; other text is returned unchanged."""
    if isinstance(text, str) and text.count("=") == 1 and "==" not in text:
        lhs, rhs = text.split("=")
        return f"({lhs.strip()}) - ({rhs.strip()})"
    return text


def parse(text: str | float, ns: Namespace, where: str = "expression") -> Node:
    """Parse an expression (or a plain number) into a tree, checking every name.

    ``where`` names the place for error messages, e.g. ``"equation 'burgers'"``.
    """
    if isinstance(text, bool):
        raise SpecError(f"{where}: expected an expression or a number, got {text!r}")
    if isinstance(text, (int, float)):
        try:
            value = float(text)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value):
            raise SpecError(f"{where}: expected a finite number, got {text!r}")
        return Const(value)
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"{where}: expected an expression string, got {text!r}")
    return _Parser(text, ns, where).parse()


def walk(node: Node):
    """Yield every node of a tree (pre-order)."""
    yield node
    if isinstance(node, Unary):
        yield from walk(node.arg)
    elif isinstance(node, Binary):
        yield from walk(node.left)
        yield from walk(node.right)
    elif isinstance(node, Lift):
        for distance, value in node.pieces:
            yield distance
            yield from walk(value)


def symbols(node: Node) -> set[str]:
    """Names of all symbols used in a tree."""
    return {n.name for n in walk(node) if isinstance(n, Symbol)}


def max_derivative_order(node: Node) -> int:
    """Highest derivative order appearing in a tree."""
    order = 0
    for n in walk(node):
        if isinstance(n, Partial):
            order = max(order, len(n.wrt))
        elif isinstance(n, Laplacian):
            order = max(order, 2 * n.power)
        elif isinstance(n, (Gradient, NormalDerivative)):
            order = max(order, 1)
    return order
