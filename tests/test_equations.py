"""Built-in problems: consistent specs, exact solutions that satisfy them, and small solves that reach a
stated accuracy (heat1d, poisson2d) or run cleanly (Burgers, Allen–Cahn)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

import pinnlab as pl
from pinnlab.autodiff import backend_names, make_backend
from pinnlab.compile import ResidualProgram, exact_function
from pinnlab.config.build import geometry_of
from pinnlab.equations import equation_names, get_equation
from pinnlab.errors import SpecError
from pinnlab.run import default_dtype
from pinnlab.sampling import PointDrawer

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.one_thread
METHOD = "taylor" if "taylor" in backend_names() else "autograd"
NAMES = equation_names()
WITH_EXACT = [n for n in NAMES if get_equation(n).exact is not None and not get_equation(n).exact_missing]


@pytest.mark.parametrize("name", NAMES)
def test_every_builtin_builds_and_compiles(name):
    problem = get_equation(name)
    assert isinstance(problem, pl.Problem)
    program = ResidualProgram(problem, make_backend("autograd"))
    assert set(problem.pde.equations) <= set(program.terms)
    low, high = geometry_of(problem).bounding_box()
    assert len(low) == len(problem.pde.columns) and all(a < b for a, b in zip(low, high))


def test_unknown_equation_and_options():
    with pytest.raises(SpecError, match=r"unknown equation 'burger1d'; built-in: .*burgers1d.* \(did you mean 'burgers1d'\?\)$"):
        get_equation("burger1d")
    with pytest.raises(SpecError, match=r"equation 'heat': bad option"):
        get_equation("heat", dims=2)
    with pytest.raises(ValueError, match="dim must be 1, 2 or 3"):
        get_equation("poisson", dim=4)


@pytest.mark.parametrize("name", WITH_EXACT)
def test_exact_solution_satisfies_every_term(name):
    """The closed-form solution makes every residual vanish at random points of each point set."""
    with default_dtype(torch.float64):
        problem = get_equation(name)
        program = ResidualProgram(problem, make_backend("autograd"), {"interior": 64, "boundary": 32, "initial": 32})
        drawer = PointDrawer(geometry_of(problem), torch.Generator().manual_seed(0), "uniform", torch.float64)
        batches = {key: drawer.draw(ps) for key, ps in program.point_sets.items()}
        truth = {k: torch.tensor(problem.pde.reference_values[k]) for k in problem.pde.trainable_parameters}
        residuals = program.residuals(exact_function(problem), batches, parameters=truth)  # unknowns at true values
    for term, r in residuals.items():
        assert r.abs().max().item() < 1e-10, term


@pytest.mark.parametrize("name, initial", [
    ("burgers1d", lambda x: -np.sin(np.pi * x)),
    ("allen_cahn1d", lambda x: x**2 * np.cos(np.pi * x)),
])
def test_numerical_references_start_from_the_initial_condition(name, initial):
    problem = get_equation(name)
    x = np.linspace(-1, 1, 9)
    np.testing.assert_allclose(problem.reference(np.c_[np.zeros(9), x])[:, 0], initial(x), atol=1e-12)
    later = problem.reference(np.c_[np.full(9, 0.5), x])[:, 0]
    assert np.all(np.isfinite(later)) and np.abs(later).max() <= 1.0 + 1e-9  # maximum principle


# -- small solves -------------------------------------------------------------------------------------------------


def lbfgs_run(equation, tmp_path, steps, width, depth, interior, boundary, **extra):
    cfg = {
        "problem": {"equation": equation},
        "model": {"width": width, "depth": depth},
        "derivatives": {"method": METHOD},
        "sampling": {"method": "sobol", "interior": interior, "boundary": boundary, "initial": boundary},
        "solver": {"name": "lbfgs"},
        "train": {"steps": steps, "dtype": "float64", "progress": False, "eval_every": 10**6,
                  "checkpoint_every": 10**6},
        "output": {"vtk": False, "plots": False, "resolution": 41},
        **extra,
    }
    return pl.solve(cfg, out=tmp_path / equation)


def test_heat1d_reaches_one_percent(tmp_path):
    """16x2 tanh network, 128 + 2x32 Sobol points, 150 L-BFGS steps: rel. L2 about 2e-3 (seeds 0-2)."""
    solution = lbfgs_run("heat1d", tmp_path, 150, 16, 2, 128, 32)
    assert solution.metrics["rel_l2"]["u"] < 1e-2
    assert solution.errors(resolution=[21, 21])["u"] < 1e-2


def test_poisson2d_reaches_one_percent(tmp_path):
    """20x2 tanh network, 200 + 80 Sobol points, boundary weight 10, 300 L-BFGS steps: rel. L2 about 2.5e-3."""
    solution = lbfgs_run("poisson2d", tmp_path, 300, 20, 2, 200, 80, loss={"weights": {"boundary": 10.0}})
    assert solution.metrics["rel_l2"]["u"] < 1e-2


@pytest.mark.parametrize("name", ["burgers1d", "allen_cahn1d"])
def test_time_dependent_builtins_smoke(tmp_path, name):
    cfg = {
        "problem": {"equation": name},
        "model": {"width": 16, "depth": 2},
        "derivatives": {"method": METHOD},
        "sampling": {"interior": 128, "boundary": 32, "initial": 32},
        "solver": {"name": "adam", "lr": 5e-3},
        "train": {"steps": 40, "dtype": "float64", "progress": False, "eval_every": 20, "log_every": 1},
        "output": {"vtk": False, "plots": False, "resolution": [11, 21]},
    }
    solution = pl.solve(cfg, out=tmp_path / "run")
    with (tmp_path / "run" / "history.csv").open() as fh:
        losses = [float(row["loss"]) for row in csv.DictReader(fh)]
    assert len(losses) == 40 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.5 * losses[0]
    assert 0 < solution.metrics["rel_l2"]["u"] < 2
