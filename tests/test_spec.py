"""Expression parser, PDE and condition specs: valid input, and errors that point at the mistake."""

from __future__ import annotations

import ast
import builtins
import dataclasses
import re
from pathlib import Path

import pytest

import pinnlab as pl
from pinnlab.errors import SpecError
from pinnlab.spec import Namespace, parse
from pinnlab.spec import expr as ex
from pinnlab.spec.expr import split_equation

NS = Namespace(fields=("u", "v"), scalar_coords=("t", "x", "y"), parameters=("nu",), functions=("f",),
               spatial=("x", "y"))
NS_BOUNDARY = Namespace(fields=("u",), scalar_coords=("x", "y"), spatial=("x", "y"), allow_normal=True)
NS_VECTOR = Namespace(fields=("u",), scalar_coords=("t",), vector_coords=(("x", 3),), spatial=("x",))


def p(text, ns=NS):
    return parse(text, ns, "equation 'eq'")


# -- valid input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("u_t", ex.Partial("u", ("t",))),
    ("u_xx", ex.Partial("u", ("x", "x"))),
    ("u_tx", ex.Partial("u", ("t", "x"))),
    ("v_xyy", ex.Partial("v", ("x", "y", "y"))),
    ("lap(u)", ex.Laplacian("u", 1)),
    ("lap(lap(u))", ex.Laplacian("u", 2)),
    ("div(grad(u))", ex.Laplacian("u", 1)),
    ("grad(v)", ex.Gradient("v")),
    ("u", ex.Symbol("u")),
    ("nu", ex.Symbol("nu")),
    ("f", ex.Symbol("f")),
    ("f()", ex.Symbol("f")),
    ("pi", ex.Const(3.141592653589793)),
    ("e", ex.Const(2.718281828459045)),
    ("2.5e-3", ex.Const(0.0025)),
    ("+u", ex.Symbol("u")),
    ("-u", ex.Unary("neg", ex.Symbol("u"))),
    ("sin(x)", ex.Unary("sin", ex.Symbol("x"))),
    ("u**2", ex.Binary("**", ex.Symbol("u"), ex.Const(2.0))),
    ("div(u, v)", ex.Binary("+", ex.Partial("u", ("x",)), ex.Partial("v", ("y",)))),
])
def test_parse_nodes(text, expected):
    assert p(text) == expected


def test_parse_burgers_tree_and_helpers():
    node = p("u_t + u*u_x - nu*u_xx")
    assert node == ex.Binary(
        "-",
        ex.Binary("+", ex.Partial("u", ("t",)), ex.Binary("*", ex.Symbol("u"), ex.Partial("u", ("x",)))),
        ex.Binary("*", ex.Symbol("nu"), ex.Partial("u", ("x", "x"))),
    )
    assert ex.symbols(node) == {"u", "nu"}
    assert ex.max_derivative_order(node) == 2
    assert ex.max_derivative_order(p("lap(lap(u)) + u_t")) == 4
    assert ex.max_derivative_order(p("sin(x)*nu")) == 0


@pytest.mark.parametrize("name", ["sin", "cos", "tan", "exp", "log", "tanh", "sinh", "cosh", "sqrt", "abs",
                                  "arctan", "sigmoid"])
def test_every_unary_function_parses(name):
    assert p(f"{name}(u + 1)") == ex.Unary(name, ex.Binary("+", ex.Symbol("u"), ex.Const(1.0)))


def test_numbers_and_vector_functions():
    assert parse(3, NS) == ex.Const(3.0)
    assert parse(0.5, NS) == ex.Const(0.5)
    assert p("dot(grad(u), grad(v))") == ex.Binary("dot", ex.Gradient("u"), ex.Gradient("v"))
    assert p("norm2(grad(u))") == ex.Unary("norm2", ex.Gradient("u"))
    assert p("sum(grad(u))") == ex.Unary("sum", ex.Gradient("u"))


def test_vector_coordinates_use_operators():
    assert parse("u_t - lap(u) + norm2(x)", NS_VECTOR) == ex.Binary(
        "+", ex.Binary("-", ex.Partial("u", ("t",)), ex.Laplacian("u")), ex.Unary("norm2", ex.Symbol("x")))
    with pytest.raises(SpecError, match=r"only for scalar coordinates; use lap\(\), grad\(\) or div\(\)"):
        parse("u_x1", NS_VECTOR)


def test_longer_coordinate_names_and_ambiguity():
    ns = Namespace(fields=("u",), scalar_coords=("r", "theta"), spatial=("r", "theta"))
    assert parse("u_rtheta", ns) == ex.Partial("u", ("r", "theta"))
    ambiguous = Namespace(fields=("u",), scalar_coords=("x", "xx"), spatial=("x", "xx"))
    with pytest.raises(SpecError, match="ambiguous"):
        parse("u_xx", ambiguous)


def test_normal_derivative_only_on_boundaries():
    assert parse("dn(u) + u", NS_BOUNDARY) == ex.Binary("+", ex.NormalDerivative("u"), ex.Symbol("u"))
    with pytest.raises(SpecError, match=r"dn\(\) \(normal derivative\) is only allowed in boundary conditions"):
        p("dn(u)")


def test_split_equation():
    assert split_equation("u_t = nu*u_xx") == "(u_t) - (nu*u_xx)"
    assert split_equation("u_t - nu*u_xx") == "u_t - nu*u_xx"
    assert split_equation(2.0) == 2.0
    pde = pl.PDE(coordinates=["x"], fields=["u"], equations={"eq": "u_xx = -1"})
    assert pde.parsed["eq"] == ex.Binary("-", ex.Partial("u", ("x", "x")), ex.Unary("neg", ex.Const(1.0)))


# -- invalid input: named place, symbol, position, suggestion ------------------------------------------------


@pytest.mark.parametrize("text, pieces", [
    ("u_t + nuu*u_xx", ["equation 'eq'", "unknown symbol 'nuu'", "at column 7", "did you mean 'nu'?"]),
    ("u_t - u_zz", ["equation 'eq'", "'u_zz' differentiates 'u' by 'zz'", "not a coordinate", "at column 7",
                    "coordinates: t, x, y"]),
    ("u_t - v_z", ["'v_z' differentiates 'v' by 'z'", "at column 7", "did you mean 'v_"]),
    ("u_t + sinn(x)", ["unknown function 'sinn'", "at column 7", "did you mean 'sin'?"]),
    ("u_t + w", ["unknown symbol 'w'", "at column 7"]),
    ("lap(x)", ["lap() takes a field name (u, v)", "at column 5"]),
    ("grad(u, v)", ["grad() takes exactly one field"]),
    ("sin + u", ["'sin' is a function and needs an argument"]),
    ("u_t +", ["equation 'eq'", "syntax error", "'u_t +'"]),
    ("u_t + (u", ["syntax error at column 7", "'(' was never closed"]),
    ("sin(x, y)", ["sin() takes one argument"]),
    ("dot(u)", ["dot() takes two arguments"]),
    ("f(x)", ["'f' is a function of the coordinates; write it as 'f' or 'f()'"]),
    ("div(u)", ["div() takes grad(field), or one field per spatial scalar coordinate (x, y)"]),
])
def test_errors_name_equation_symbol_position_and_hint(text, pieces):
    with pytest.raises(SpecError) as info:
        p(text)
    message = str(info.value)
    for piece in pieces:
        assert piece in message, (piece, message)


@pytest.mark.parametrize("text, construct", [
    ("__import__('os').system('echo hacked')", "only plain function calls"),
    ("__import__('os')", "unknown function '__import__'"),
    ("u.real", "'Attribute' is not allowed"),
    ("(lambda: 1)()", "only plain function calls"),
    ("lambda: u", "'Lambda' is not allowed"),
    ("u[0]", "'Subscript' is not allowed"),
    ("[u, v]", "'List' is not allowed"),
    ("{'a': u}", "'Dict' is not allowed"),
    ("u if x else v", "'IfExp' is not allowed"),
    ("u == v", "'Compare' is not allowed"),
    ("u and v", "'BoolOp' is not allowed"),
    ("not u", "operator 'Not' is not allowed"),
    ("u // 2", "operator 'FloorDiv' is not allowed"),
    ("u @ v", "operator 'MatMult' is not allowed"),
    ("u % 2", "operator 'Mod' is not allowed"),
    ("'text'", "only numbers are allowed as constants"),
    ("True", "only numbers are allowed as constants"),
    ("open('/etc/passwd')", "unknown function 'open'"),
    ("eval('1')", "unknown function 'eval'"),
    ("sin(x=u)", "takes no keyword arguments"),
    ("[x for x in u]", "'ListComp' is not allowed"),
    ("(u := 1)", "'NamedExpr' is not allowed"),
    ("f'{u}'", "'JoinedStr' is not allowed"),
])
def test_dangerous_or_foreign_syntax_is_rejected(text, construct):
    with pytest.raises(SpecError, match=re.escape(construct)):
        p(text)


@pytest.mark.parametrize("bad", [True, None, "", "   ", ["u"]])
def test_non_expressions_are_rejected(bad):
    with pytest.raises(SpecError, match="equation 'eq': expected"):
        p(bad)


def test_config_text_never_reaches_eval(monkeypatch):
    """Parsing, compiling and evaluating residuals never hand text to eval/exec/compile-to-code."""
    import torch

    from pinnlab.compile import Batch, ResidualProgram

    seen: list[str] = []

    def guard(name, original):
        def wrapped(source, *args, **kwargs):
            flags = args[2] if len(args) > 2 else kwargs.get("flags", 0)
            to_code = name != "compile" or not flags & ast.PyCF_ONLY_AST
            if isinstance(source, str) and "sin(pi*x)" in source and to_code:
                seen.append(f"{name}: {source}")
            return original(source, *args, **kwargs)

        return wrapped

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, guard(name, getattr(builtins, name)))
    pde = pl.PDE(coordinates=["x"], fields=["u"], parameters={"k": 2.0},
                 equations={"eq": "u_xx + k*sin(pi*x) = exp(-x)**2"})
    problem = pl.Problem(pde, {"x": [0.0, 1.0]}, {"ends": pl.Dirichlet(field="u", value="cos(x)")})
    program = ResidualProgram(problem)
    x = torch.linspace(0, 1, 5, dtype=torch.float64)[:, None]
    res = program.residuals(lambda z: z**2, {"interior": Batch(x), "ends": Batch(x, normals=torch.ones_like(x))})
    expected = 2 + 2 * torch.sin(torch.pi * x[:, 0]) - torch.exp(-x[:, 0]) ** 2
    torch.testing.assert_close(res["eq"], expected)
    torch.testing.assert_close(res["ends"], x[:, 0] ** 2 - torch.cos(x[:, 0]))
    assert seen == []


# -- PDE ----------------------------------------------------------------------------------------------------


def test_pde_columns_and_namespace():
    pde = pl.PDE(coordinates=["t", pl.Coordinate("x", 2), {"name": "z"}], time="t", fields=["u"],
                 equations={"eq": "u_t - lap(u) - u_z"})
    assert pde.columns == ["t", "x1", "x2", "z"]
    assert pde.column_map() == {"t": 0, "x": slice(1, 3), "z": 3}
    assert pde.spatial_columns() == [1, 2, 3]
    assert [c.name for c in pde.spatial] == ["x", "z"]


@pytest.mark.parametrize("kwargs, message", [
    ({"coordinates": [], "fields": ["u"], "equations": {"e": "u"}}, "at least one coordinate"),
    ({"coordinates": ["x"], "fields": [], "equations": {"e": "u"}}, "at least one field"),
    ({"coordinates": ["x"], "fields": ["u"], "equations": {}}, "at least one equation"),
    ({"coordinates": ["x_1"], "fields": ["u"], "equations": {"e": "u"}}, "may not contain '_'"),
    ({"coordinates": ["x"], "fields": ["sin"], "equations": {"e": "u"}}, "'sin' is reserved"),
    ({"coordinates": ["x"], "fields": ["1u"], "equations": {"e": "u"}}, "not a valid identifier"),
    ({"coordinates": ["x"], "fields": ["lambda"], "equations": {"e": "u"}}, "not a valid identifier"),
    ({"coordinates": ["x"], "fields": ["x"], "equations": {"e": "x"}}, "the name 'x' is used twice"),
    ({"coordinates": ["x"], "fields": ["u"], "parameters": {"u": 1}, "equations": {"e": "u"}}, "used twice"),
    ({"coordinates": ["x"], "fields": ["u"], "time": "t", "equations": {"e": "u"}},
     "time coordinate 't' is not one of the scalar coordinates"),
    ({"coordinates": [pl.Coordinate("x", 0)], "fields": ["u"], "equations": {"e": "u"}}, "dim must be a positive"),
    ({"coordinates": [pl.Coordinate("x", 2)], "fields": ["x1"], "equations": {"e": "x1"}}, "clash"),
    ({"coordinates": ["x"], "fields": ["u"], "equations": {"heat": "u_t - u_xx"}},
     "equation 'heat': 'u_t' differentiates 'u' by 't'"),
])
def test_pde_errors(kwargs, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        pl.PDE(**kwargs)


def test_with_parameters():
    pde = pl.PDE(coordinates=["x"], fields=["u"], parameters={"nu": 1.0}, equations={"e": "nu*u_xx"})
    assert pde.with_parameters(nu=3.0).parameters == {"nu": 3.0}
    assert pde.parameters == {"nu": 1.0}
    with pytest.raises(SpecError, match=r"unknown parameter 'nuu' \(did you mean 'nu'\?\)"):
        pde.with_parameters(nuu=2.0)


def test_time_derivative_of_a_steady_problem_is_refused():
    with pytest.raises(SpecError, match="lap\\(\\) needs spatial coordinates"):
        pl.PDE(coordinates=["t"], time="t", fields=["u"], equations={"ode": "u_t + lap(u)"})


# -- conditions and problems ---------------------------------------------------------------------------------


HEAT = {"coordinates": ["t", "x"], "time": "t", "fields": ["u"], "parameters": {"k": 0.1},
        "equations": {"heat": "u_t - k*u_xx"}}


def test_conditions_parse_to_residuals():
    pde = pl.PDE(**HEAT)
    conditions = {
        "ic": pl.Initial(field="u", value="sin(pi*x)"),
        "left": pl.Dirichlet(field="u", value=0, on="x_min"),
        "right": pl.Neumann(field="u", value="k", on=["x_max"]),
        "robin": pl.Boundary(equation="dn(u) + u = 1"),
    }
    problem = pl.Problem(pde, {"t": [0, 1], "x": [0, 1]}, conditions)
    assert problem.conditions["ic"].parsed == ex.Binary("-", ex.Symbol("u"), ex.Unary("sin", ex.Binary(
        "*", ex.Const(3.141592653589793), ex.Symbol("x"))))
    assert problem.conditions["left"].on == ["x_min"]
    assert problem.conditions["right"].parsed == ex.Binary("-", ex.NormalDerivative("u"), ex.Symbol("k"))
    assert problem.conditions["robin"].parsed == ex.Binary(
        "-", ex.Binary("+", ex.NormalDerivative("u"), ex.Symbol("u")), ex.Const(1.0))


@pytest.mark.parametrize("condition, message", [
    (pl.Dirichlet(field="w", value=0), "condition 'c': 'w' is not a field (fields: u)"),
    (pl.Dirichlet(value=0), "give either 'field' (with 'value') or 'equation'"),
    (pl.Dirichlet(field="u", equation="u = 0"), "give either 'field' (with 'value') or 'equation'"),
    (pl.Dirichlet(field="u", value="sin(q)"), "condition 'c': unknown symbol 'q'"),
    (pl.Initial(field="u", value="dn(u)"), "only allowed in boundary conditions"),
    (pl.Periodic(coordinate="t"), "periodic coordinate 't' must be a spatial scalar coordinate (x)"),
    (pl.Periodic(coordinate="x", fields=["w"]), "'w' is not a field"),
    (pl.Periodic(coordinate="x", derivatives=-1), "derivatives must be a non-negative integer"),
    (pl.Data(fields=["w"], coords=[[0, 0]], values=[0]), "'w' is not a field"),
    (pl.Data(), "give one source of data: 'file', 'points' with 'values' ('coords' in Python) or 'from_reference'"),
    (pl.Data(coords=[[0.0, 0.5]]), "'coords' needs 'values'"),
])
def test_condition_errors(condition, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        pl.Problem(pl.PDE(**HEAT), {"t": [0, 1], "x": [0, 1]}, {"c": condition})


def test_initial_condition_needs_time():
    pde = pl.PDE(coordinates=["x"], fields=["u"], equations={"e": "u_xx"})
    with pytest.raises(SpecError, match="condition 'ic': an initial condition needs a time coordinate"):
        pl.Problem(pde, {"x": [0, 1]}, {"ic": pl.Initial(field="u", value=0)})


def test_problem_errors_and_exact_solution():
    pde = pl.PDE(**HEAT)
    with pytest.raises(SpecError, match="condition 'heat' has the same name as an equation"):
        pl.Problem(pde, {}, {"heat": pl.Initial(field="u", value=0)})
    with pytest.raises(SpecError, match="is not a Condition object"):
        pl.Problem(pde, {}, {"ic": {"type": "initial"}})
    with pytest.raises(SpecError, match="exact solution: 'w' is not a field"):
        pl.Problem(pde, {}, exact={"w": "0"})
    with pytest.raises(SpecError, match="exact solution of 'u': unknown symbol 'u'"):
        pl.Problem(pde, {}, exact={"u": "u*t"})
    problem = pl.Problem(pde, {}, exact={"u": "exp(-k*pi**2*t)*sin(pi*x)"})
    assert problem.has_reference() and problem.exact_missing == []
    assert not pl.Problem(pde, {}).has_reference()


# -- immutability -------------------------------------------------------------------------------------------


def heat_problem() -> pl.Problem:
    return pl.Problem(pl.PDE(**HEAT), {"t": [0, 1], "x": [0, 1]}, {
        "ic": pl.Initial(field="u", value="sin(pi*x)"),
        "walls": pl.Dirichlet(field="u", value=0, on="x"),
        "ring": pl.Periodic(coordinate="x"),
    }, exact={"u": "exp(-k*pi**2*t)*sin(pi*x)"})


@pytest.mark.parametrize("target, attribute, value", [
    ("problem", "pde", None),
    ("problem", "domain", {"x": [0, 2]}),
    ("problem", "conditions", {}),
    ("problem", "exact", None),
    ("problem", "exact_parsed", {}),
    ("pde", "parameters", {"k": 2.0}),
    ("pde", "equations", {}),
    ("pde", "parsed", {}),
    ("condition", "points", 10),
    ("condition", "parsed", None),
    ("coordinate", "dim", 3),
])
def test_spec_objects_are_frozen(target, attribute, value):
    problem = heat_problem()
    obj = {"problem": problem, "pde": problem.pde, "condition": problem.conditions["ic"],
           "coordinate": problem.pde.coordinates[0]}[target]
    before = getattr(obj, attribute)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, attribute, value)
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.extra = 1
    assert getattr(obj, attribute) == before


def test_replace_builds_a_validated_copy():
    problem = heat_problem()
    pde = problem.pde.replace(parameters={"k": 2.0})
    assert pde.parameters == {"k": 2.0} and problem.pde.parameters == {"k": 0.1}
    assert pde.parsed == problem.pde.parsed
    moved = problem.replace(pde=pde, name="faster")
    assert moved.pde is pde and moved.name == "faster" and problem.name == "problem"
    assert moved.conditions["ic"].parsed == problem.conditions["ic"].parsed
    assert moved.exact_parsed == problem.exact_parsed
    other = problem.replace(conditions={**problem.conditions, "ic": problem.conditions["ic"].replace(value="x")})
    assert other.conditions["ic"].parsed == ex.Binary("-", ex.Symbol("u"), ex.Symbol("x"))
    assert problem.conditions["ic"].value == "sin(pi*x)"
    assert set(other.conditions) == {"ic", "walls", "ring"} and set(problem.conditions) == {"ic", "walls", "ring"}


def test_replace_reports_bad_changes():
    problem = heat_problem()
    with pytest.raises(SpecError, match=re.escape("Problem.replace: unknown field 'conditons' "
                                                  "(did you mean 'conditions'?); fields: pde, domain, conditions")):
        problem.replace(conditons={})
    with pytest.raises(SpecError, match=re.escape("PDE.replace: unknown field 'parsed'")):
        problem.pde.replace(parsed={})
    with pytest.raises(SpecError, match="condition 'ic': 'w' is not a field"):
        problem.replace(conditions={"ic": pl.Initial(field="w", value=0)})
    with pytest.raises(SpecError, match="condition 'ic': unknown symbol 'q'"):
        problem.replace(conditions={**problem.conditions, "ic": problem.conditions["ic"].replace(value="q")})
    with pytest.raises(SpecError, match="equation 'heat': unknown symbol 'k'"):
        problem.pde.replace(parameters={"kappa": 1.0})
    with pytest.raises(SpecError, match="time coordinate 'tau' is not one of the scalar coordinates"):
        problem.replace(pde=problem.pde.replace(time="tau"))
    with pytest.raises(SpecError, match="condition 'ring': periodic coordinate 'y'"):
        problem.replace(conditions={"ring": pl.Periodic(coordinate="y")})
    with pytest.raises(SpecError, match="exact solution of 'u': unknown symbol 'q'"):
        problem.replace(exact={"u": "q"})
    assert problem.conditions["ic"].field == "u" and problem.exact == {"u": "exp(-k*pi**2*t)*sin(pi*x)"}


def test_bound_conditions_fill_defaults_without_changing_the_given_ones():
    ring, walls = pl.Periodic(coordinate="x"), pl.Dirichlet(field="u", value=0, on="x")
    data = pl.Data(coords=[[0.0, 0.5]], values=[[1.0]])
    problem = pl.Problem(pl.PDE(**HEAT), {}, {"ring": ring, "walls": walls, "obs": data})
    assert problem.conditions["ring"].fields == ["u"] and ring.fields is None
    assert problem.conditions["obs"].fields == ["u"] and data.fields is None
    assert walls.on == ["x"] and walls.parsed is None
    assert problem.conditions["walls"].parsed == ex.Binary("-", ex.Symbol("u"), ex.Const(0.0))
    assert problem.conditions["walls"].replace(points=7).parsed is None  # a copy is bound again by a Problem
    assert problem.replace(conditions={"walls": problem.conditions["walls"].replace(points=7)}).conditions[
        "walls"].parsed == problem.conditions["walls"].parsed


def test_spec_takes_copies_of_given_containers():
    parameters, conditions = {"k": 0.1}, {"ic": pl.Initial(field="u", value=0)}
    pde = pl.PDE(**{**HEAT, "parameters": parameters})
    problem = pl.Problem(pde, {}, conditions)
    parameters["k"] = 5.0
    conditions["other"] = pl.Initial(field="u", value=1)
    assert pde.parameters == {"k": 0.1} and list(problem.conditions) == ["ic"]


def test_spec_modules_import_one_way():
    """Inside pinnlab.spec each module imports only the modules before it (function-local and
    TYPE_CHECKING imports included), and nothing in spec imports torch."""
    order = ["record", "expr", "parameters", "pde", "conditions", "problem", "evolution"]
    folder = Path(pl.__file__).parent / "spec"
    assert sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__") == sorted(order)
    for index, stem in enumerate(order):
        tree = ast.parse((folder / f"{stem}.py").read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            assert not any(n == "torch" or n.startswith("torch.") for n in names), f"spec/{stem}.py imports torch"
            imported |= {n.split(".")[2] for n in names if n.startswith("pinnlab.spec.") and n.count(".") >= 2}
        later = imported & set(order[index:])
        assert not later, f"spec/{stem}.py imports {sorted(later)}, which come after it"
