"""The one Registry class and the one did-you-mean helper, and the registries built on them."""

from __future__ import annotations

import re

import pytest

from pinnlab.autodiff import backend_names, make_backend
from pinnlab.equations import equation_entries, equation_names, get_equation
from pinnlab.errors import SpecError, closest, did_you_mean
from pinnlab.registry import Registry
from pinnlab.sampling import make_sampler, sampler_names
from pinnlab.solvers import make_solver, solver_names

# -- did_you_mean -----------------------------------------------------------------------------------------


def test_did_you_mean_names_the_nearest_choice():
    assert did_you_mean("nuu", ["nu", "k"]) == " (did you mean 'nu'?)"
    assert did_you_mean("heat1dd", ["heat", "heat1d", "heat2d"]) == " (did you mean 'heat1d'?)"
    assert closest("lbgfs", ["adam", "lbfgs"]) == "lbfgs"


def test_did_you_mean_without_a_near_choice():
    assert did_you_mean("zzz", ["interior", "boundary"]) == ""
    assert closest("zzz", ["interior", "boundary"]) is None
    assert did_you_mean("zzz", ["interior", "boundary"], listing="valid keys") == " (valid keys: interior, boundary)"
    assert did_you_mean("zzz", [], listing="valid keys") == ""
    assert did_you_mean("x", []) == ""


def test_did_you_mean_accepts_any_name_and_iterables():
    assert did_you_mean(3, ["3d", "x"]) == " (did you mean '3d'?)"
    assert did_you_mean("dirchlet", {"initial": 1, "dirichlet": 2}) == " (did you mean 'dirichlet'?)"
    assert did_you_mean("sigm", (s for s in ["sigma", "features"])) == " (did you mean 'sigma'?)"


# -- Registry ---------------------------------------------------------------------------------------------


def fresh() -> Registry:
    reg: Registry = Registry("widget")

    @reg.register("square")
    def square(x, scale=1):
        return scale * x * x

    reg.add("cube", lambda x: x ** 3)
    return reg


def test_register_get_create_and_names():
    reg = fresh()
    assert reg.names() == ["cube", "square"] and list(reg) == ["cube", "square"] and len(reg) == 2
    assert "square" in reg and "circle" not in reg and 3 not in reg
    assert reg.create("square", 3, scale=2) == 18 and reg.get("cube")(2) == 8
    assert [name for name, _ in reg.items()] == ["cube", "square"]
    assert "widget" in repr(reg) and "square" in repr(reg)


def test_decorator_returns_the_object():
    reg: Registry = Registry("widget")

    class Thing:
        pass

    assert reg.register("thing")(Thing) is Thing and reg.get("thing") is Thing


def test_duplicate_and_bad_names_are_refused():
    reg = fresh()
    with pytest.raises(ValueError, match="widget 'square' is already registered"):
        reg.add("square", print)
    with pytest.raises(ValueError, match="widget 'cube' is already registered"):
        reg.register("cube")(print)
    assert reg.get("square") is not print
    with pytest.raises(ValueError, match="non-empty string"):
        reg.add("", print)


def test_unknown_name_names_it_the_choices_and_the_nearest():
    reg = fresh()
    with pytest.raises(ValueError, match=re.escape("unknown widget 'squre'; available: cube, square "
                                                   "(did you mean 'square'?)")):
        reg.get("squre")
    with pytest.raises(ValueError, match=re.escape("unknown widget 'zzz'; available: cube, square")) as info:
        reg.create("zzz")
    assert "did you mean" not in str(info.value)
    with pytest.raises(ValueError, match="unknown widget"):
        reg.get(["not", "hashable"])


def test_error_class_and_label():
    reg: Registry = Registry("gadget", label="built-in", error=SpecError)
    with pytest.raises(SpecError, match=re.escape("unknown gadget 'x'; built-in: none")):
        reg.get("x")


# -- the registries of the package ------------------------------------------------------------------------


def test_solver_registry():
    assert {"adam", "lbfgs", "gauss_newton"} <= set(solver_names())
    with pytest.raises(ValueError, match=r"unknown solver 'lbgfs'; available: .*adam.* \(did you mean 'lbfgs'\?\)"):
        make_solver("lbgfs")


def test_backend_registry():
    assert {"autograd", "taylor", "stde"} <= set(backend_names())
    with pytest.raises(ValueError, match=r"unknown derivative method 'taylr'; available: .* \(did you mean 'taylor'\?\)"):
        make_backend("taylr")


def test_sampler_registry():
    assert {"fixed", "r3", "causal_r3"} <= set(sampler_names())
    with pytest.raises(ValueError, match=r"unknown sampler 'causal_r4'; available: .* \(did you mean 'causal_r3'\?\)"):
        make_sampler("causal_r4", {}, None)


def test_equation_registry():
    names = equation_names()
    assert names == sorted(names) and [e.name for e in equation_entries()] == names
    assert all(e.summary for e in equation_entries())
    with pytest.raises(SpecError, match=r"unknown equation 'poison2d'; built-in: .* \(did you mean 'poisson2d'\?\)"):
        get_equation("poison2d")
