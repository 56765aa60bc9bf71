"""Property-based tests of the expression parser: any text gives a tree or a SpecError naming the place,
nothing is ever executed, and generated expressions survive a round trip through text.

The number of cases each property tried is recorded and printed in the test summary.
"""

from __future__ import annotations

import math
import sys

import pytest
from fuzzing import run_cases
from hypothesis import strategies as st

from pinnlab.errors import SpecError
from pinnlab.spec import Namespace, parse
from pinnlab.spec import expr as ex

NS = Namespace(fields=("u", "v"), scalar_coords=("t", "x", "y"), parameters=("nu",), functions=("f",),
               spatial=("x", "y"))
WHERE = "equation 'fuzz'"

#: characters of expressions, of Python syntax the whitelist refuses, and some that are neither
ALPHABET = "uvtxynuf_()+-*/%@.,=<>!&|^~'\"[]{}:;#\\ 0123456789eEjJ\t\n\x00λé"
WORDS = ["u", "v", "t", "x", "y", "nu", "f", "u_t", "u_xx", "v_xy", "lap", "grad", "div", "dn", "sin", "exp",
         "log", "sqrt", "dot", "sum", "pi", "e", "lambda", "for", "in", "if", "else", "not", "and", "or", "is",
         "__import__", "__class__", "__builtins__", "eval", "exec", "open", "import", "os", "system", "getattr",
         "1e999", "1j", "0x1f", "1_000", "None", "True", "...", "await", "yield", ":=", "**", "//", "()", "(", ")"]

#: Python constructs that run code or reach objects; each must be refused, none executed
DANGEROUS = [
    "__import__('os').system('echo pwned')",
    "u.__class__.__bases__[0].__subclasses__()",
    "(lambda: 1)()",
    "[c for c in 'abc']",
    "{k: 1 for k in 'ab'}",
    "(c for c in 'ab')",
    "open('/etc/passwd').read()",
    "eval('1+1')",
    "exec('x = 1')",
    "getattr(u, 'real')",
    "globals()",
    "compile('1', 'f', 'eval')",
    "sin.__call__(x)",
    "u if x else v",
    "u[0]",
    "(y := 2)",
    "f'{u}'",
    "'abc'",
    "b'abc'",
    "u < v",
    "not u",
    "u and v",
    "~u",
    "u @ v",
    "u // v",
    "u % v",
    "{1, 2}",
    "[u, v]",
    "(u, v)",
    "...",
    "await u",
    "sin(x=1)",
    "sin(*u)",
    "lap(u.real)",
    "__builtins__",
    "u; import os",
    "1j",
    "True",
    "None",
]

#: audit events that would mean the parser ran something (``compile`` is ast.parse itself)
FORBIDDEN_EVENTS = ("exec", "import", "open", "os.system", "os.exec", "os.spawn", "os.posix_spawn",
                    "subprocess.Popen", "builtins.input", "socket.connect", "ctypes.dlopen", "os.remove")


class _Audit:
    """Records forbidden audit events while ``active`` (an audit hook cannot be removed, so it is switched)."""

    def __init__(self) -> None:
        self.active = False
        self.events: list[str] = []
        sys.addaudithook(self)

    def __call__(self, event: str, args: tuple) -> None:
        if self.active and event.startswith(FORBIDDEN_EVENTS):
            self.events.append(event)


_AUDIT = _Audit()


def parse_or_spec_error(text: str, ns: Namespace = NS) -> ex.Node | None:
    """Parse ``text``; a SpecError must name the place, any other exception or executed code fails the test."""
    _AUDIT.events.clear()
    _AUDIT.active = True
    try:
        node = parse(text, ns, WHERE)
    except SpecError as exc:
        message = str(exc)
        assert message.startswith(f"{WHERE}: ") and len(message) > len(WHERE) + 10, message
        return None
    finally:
        _AUDIT.active = False
        assert not _AUDIT.events, f"parsing {text!r} ran {_AUDIT.events}"
    assert not isinstance(node, (str, bytes)) and node is not None
    for sub in ex.walk(node):
        if isinstance(sub, ex.Const):
            assert math.isfinite(sub.value), (text, sub)
    return node


# -- generated trees, printed as text ---------------------------------------------------------------

_leaves = st.one_of(
    st.floats(min_value=0, max_value=1e300, allow_nan=False, allow_infinity=False).map(ex.Const),
    st.integers(min_value=0, max_value=10**6).map(lambda k: ex.Const(float(k))),
    st.sampled_from(["u", "v", "t", "x", "y", "nu", "f"]).map(ex.Symbol),
    st.builds(ex.Partial, st.sampled_from(["u", "v"]),
              st.lists(st.sampled_from(["t", "x", "y"]), min_size=1, max_size=4).map(tuple)),
    st.builds(ex.Laplacian, st.sampled_from(["u", "v"]), st.sampled_from([1, 2])),
)


def _extend(children: st.SearchStrategy[ex.Node]) -> st.SearchStrategy[ex.Node]:
    return st.one_of(
        st.builds(ex.Unary, st.sampled_from(["neg", *ex.UNARY_FUNCTIONS]), children),
        st.builds(ex.Binary, st.sampled_from(["+", "-", "*", "/", "**"]), children, children),
    )


TREES = st.recursive(_leaves, _extend, max_leaves=12)


def to_text(node: ex.Node) -> str:
    """Fully parenthesised text of a tree (the inverse of ``parse`` for the nodes generated here)."""
    if isinstance(node, ex.Const):
        return repr(node.value)
    if isinstance(node, ex.Symbol):
        return node.name
    if isinstance(node, ex.Partial):
        return f"{node.field}_{''.join(node.wrt)}"
    if isinstance(node, ex.Laplacian):
        return f"lap({node.field})" if node.power == 1 else f"lap(lap({node.field}))"
    if isinstance(node, ex.Unary):
        return f"(-{to_text(node.arg)})" if node.op == "neg" else f"{node.op}({to_text(node.arg)})"
    assert isinstance(node, ex.Binary)
    return f"({to_text(node.left)} {node.op} {to_text(node.right)})"


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid expression's text with characters deleted, inserted, replaced or repeated."""
    text = to_text(draw(TREES))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "repeat", "word"]))
        if kind == "delete":
            text = text[:i] + text[i + 1:]
        elif kind == "insert":
            text = text[:i] + draw(st.sampled_from(ALPHABET)) + text[i:]
        elif kind == "replace":
            text = text[:i] + draw(st.sampled_from(ALPHABET)) + text[i + 1:]
        elif kind == "repeat":
            j = draw(st.integers(i, len(text)))
            text = text[:j] + text[i:j] + text[j:]
        else:
            text = text[:i] + draw(st.sampled_from(WORDS)) + text[i:]
    return text


RANDOM_TEXT = st.one_of(
    st.text(alphabet=ALPHABET, max_size=40),
    st.lists(st.sampled_from(WORDS + list("()+-*/,. ")), max_size=12).map("".join),
    st.text(max_size=20),  # any unicode
)


# -- properties --------------------------------------------------------------------------------------


def test_random_text_gives_a_tree_or_a_spec_error(request):
    run_cases(request, RANDOM_TEXT, parse_or_spec_error, examples=400)


def test_mutated_expressions_give_a_tree_or_a_spec_error(request):
    run_cases(request, mutated(), parse_or_spec_error, examples=400)


def test_generated_expressions_round_trip(request):
    def round_trip(tree: ex.Node) -> None:
        assert parse(to_text(tree), NS, WHERE) == tree

    run_cases(request, TREES, round_trip, examples=300)


@pytest.mark.parametrize("text", DANGEROUS)
def test_code_is_refused_and_never_run(text):
    assert parse_or_spec_error(text) is None


def test_dangerous_pieces_inside_valid_expressions_are_refused(request):
    def check(case: tuple[ex.Node, str, int]) -> None:
        tree, piece, where = case
        text = to_text(tree)
        where = where % (len(text) + 1)
        combined = f"({text}) + ({piece})" if where % 2 else f"sin({piece}) * ({text})"
        assert parse_or_spec_error(combined) is None

    run_cases(request, st.tuples(TREES, st.sampled_from(DANGEROUS), st.integers(0, 1000)), check, examples=200)


@pytest.mark.parametrize("text", [
    "(" * 200 + "u" + ")" * 200,
    "-" * 5000 + "u",
    "+".join(["u"] * 20000),
    "sin(" * 300 + "x" + ")" * 300,
    "u" + "**u" * 3000,
    "1e999",
    "9" * 400,
    "u\x00",
])
def test_pathological_text_gives_a_tree_or_a_spec_error(text):
    """Deep nesting, huge numbers and NUL bytes: a tree or a SpecError, never a RecursionError or ValueError."""
    parse_or_spec_error(text)
