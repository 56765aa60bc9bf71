"""PINNacle Poisson2d-C and Poisson2d-CG: definitions, finite-element references, short training runs."""

import math

import numpy as np
import pytest
import torch

import pinnlab as pl
from pinnlab.autodiff import make_backend
from pinnlab.compile import Batch, ResidualProgram
from pinnlab.config.build import geometry_of
from pinnlab.equations import get_equation
from pinnlab.equations.pinnacle_geometry import C_HOLES, CG_HOLES, cg_source, solve_c, solve_cg
from pinnlab.run import default_dtype

pytest.importorskip("gmsh")
pytest.importorskip("skfem")
pytestmark = pytest.mark.usefixtures("one_thread")

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name, half, holes", [("pinnacle_poisson2d_c", 0.5, C_HOLES),
                                               ("pinnacle_poisson2d_cg", 1.0, CG_HOLES)])
def test_domains_and_boundary_parts(name, half, holes):
    problem = get_equation(name)
    geometry = geometry_of(problem)
    exact_area = (2 * half) ** 2 - sum(math.pi * r * r for _, _, r in holes)
    assert geometry.volume() == pytest.approx(exact_area, rel=2e-2)  # quasi-Monte Carlo estimate
    assert {"outer", "holes"} <= set(geometry.faces)
    assert problem.conditions["outer"].on == ["outer"] and problem.conditions["holes"].on == ["holes"]
    x, _ = geometry.sample_boundary(400, gen(), faces=["holes"], dtype=F64)
    d = torch.stack([torch.hypot(x[:, 0] - cx, x[:, 1] - cy) - r for cx, cy, r in holes]).abs().amin(0)
    assert d.max() < 1e-12


def test_poisson2d_cg_equation_text_matches_the_reference_forcing():
    """The spec's residual of a smooth test function equals −Δw + 64 w − f computed by hand."""
    problem = get_equation("pinnacle_poisson2d_cg")
    with default_dtype(F64):
        program = ResidualProgram(problem, make_backend("autograd"), {"interior": 64, "boundary": 8})
        x = torch.rand(64, 2, generator=gen(), dtype=F64) * 2 - 1

        def w(p):
            return (p[:, :1] ** 2 * p[:, 1:] + torch.sin(p[:, 1:])) * 1.0

        r = program.residuals(w, {"interior": Batch(x)}, terms=["helmholtz"])["helmholtz"].reshape(-1).numpy()
    px, py = x[:, 0].numpy(), x[:, 1].numpy()
    w_np = px**2 * py + np.sin(py)
    lap = 2 * py - np.sin(py)
    np.testing.assert_allclose(r, -lap + 64 * w_np - cg_source(px, py), rtol=0, atol=1e-10)


def test_poisson2d_c_reference_boundary_values_symmetry_and_maximum_principle():
    sol = solve_c(0.02)
    t = sol.triangulation
    np.testing.assert_allclose(sol.values[: len(t.points)][t.nodes_on("outer")], 1.0, atol=0)
    np.testing.assert_allclose(sol.values[: len(t.points)][t.nodes_on("holes")], 0.0, atol=0)
    assert sol.values.min() > -1e-3 and sol.values.max() < 1 + 1e-3
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.5, 0.5, (4000, 2))
    x = x[np.min([np.hypot(x[:, 0] - cx, x[:, 1] - cy) for cx, cy, _ in C_HOLES], axis=0) > 0.1]
    u = sol(x)
    for image in (x[:, ::-1], x * [-1, 1], x * [1, -1], -x):  # the domain's symmetries (the mesh has none)
        gap = sol(image) - u
        assert np.abs(gap).max() < 1e-3 and np.sqrt(np.mean(gap**2)) < 1e-4  # measured 3.6e-4, 3.6e-5
    assert 0.2 < sol(np.array([[0.0, 0.0]]))[0] < 0.9


def test_poisson2d_cg_reference_converges_and_agrees_between_element_orders():
    coarse, fine = solve_cg(0.08), solve_cg(0.04)
    d = coarse.difference(fine)
    assert d < 5e-3
    t = fine.triangulation
    vertex = fine.values[: len(t.points)]
    np.testing.assert_allclose(vertex[t.nodes_on("outer")], 0.2, atol=0)
    np.testing.assert_allclose(vertex[t.nodes_on("holes")], 1.0, atol=0)
    p1 = solve_cg(0.04, order=1)
    assert fine.difference(p1) < 10 * d  # P1 is one order less accurate, same limit


def test_bad_reference_options():
    with pytest.raises(ValueError, match="reference_h"):
        get_equation("pinnacle_poisson2d_c", reference_h=0.0)
    with pytest.raises(ValueError, match="reference_order"):
        get_equation("pinnacle_poisson2d_cg", reference_order=3)


@pytest.mark.parametrize("name", ["pinnacle_poisson2d_c", "pinnacle_poisson2d_cg"])
def test_builtins_validate_and_train_a_few_steps(name, tmp_path, write_yaml, cli):
    cfg = {
        "problem": {"equation": name, "options": {"reference_h": 0.1}},
        "model": {"width": 8, "depth": 2},
        "derivatives": {"method": "autograd"},
        "sampling": {"interior": 64, "boundary": 32},
        "solver": {"name": "adam", "lr": 1e-3},
        "train": {"steps": 3, "dtype": "float64", "progress": False, "eval_every": 3, "log_every": 1,
                  "checkpoint_every": 1000},
        "output": {"vtk": False, "plots": False, "resolution": 21},
    }
    code, _, err = cli("validate", write_yaml(cfg))
    assert code == 0, err
    solution = pl.solve(cfg, out=tmp_path / "run")
    error = solution.metrics["rel_l2"]["u"]
    assert math.isfinite(error) and 0 < error < 10
    _, points, mask = solution.evaluation_grid(21)
    assert 0 < mask.sum() < len(points)  # the grid is masked to the domain
    reference = solution.reference(points[mask])
    assert np.all(np.isfinite(reference))


@pytest.mark.slow
@pytest.mark.parametrize("solve, finer", [(solve_c, 0.0035), (solve_cg, 0.005)])
def test_default_references_are_converged_to_1e5(solve, finer):
    """The default mesh (h = 0.007) against a finer one: measured 2.6e-6 (C, h = 0.0035) and 2.9e-6 (CG, h = 0.005)."""
    reference, fine = solve(), solve(finer)
    assert reference.difference(fine) < 1e-5
