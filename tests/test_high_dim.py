"""Built-in high-dimensional (unit ball) and high-order (KdV, biharmonic) problems: sources and exact residuals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pinnlab.autodiff import make_backend
from pinnlab.compile import Batch, ResidualProgram, exact_function
from pinnlab.equations import get_equation
from pinnlab.equations.high_dim import coefficients, two_body, two_body_laplacian
from pinnlab.run import solve


def ball_points(n: int, d: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    r = torch.rand(n, 1, generator=g, dtype=torch.float64) ** (1 / d)
    return x / x.norm(dim=1, keepdim=True) * r


@pytest.mark.parametrize("d", [3, 5])
def test_closed_form_laplacian_matches_autograd(d):
    c = torch.as_tensor(coefficients(d, seed=3))
    x = ball_points(40, d).requires_grad_(True)
    u = two_body(x, c)
    (grad,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    lap = sum(torch.autograd.grad(grad[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(d))
    torch.testing.assert_close(two_body_laplacian(x.detach(), c), lap.detach(), rtol=0, atol=1e-10)


def test_two_body_by_hand_in_two_dimensions():
    c = torch.as_tensor(coefficients(2, seed=0))
    x = torch.tensor([[0.3, -0.4]], dtype=torch.float64)
    psi = 0.3 + np.cos(-0.4) - 0.4 * np.cos(0.3)
    assert two_body(x, c).item() == pytest.approx((1 - 0.25) * c[0].item() * np.sin(psi), abs=1e-14)


@pytest.mark.parametrize("name", ["poisson_ball", "allen_cahn_ball", "sine_gordon_ball"])
@pytest.mark.parametrize("method", ["taylor", "autograd"])
def test_exact_solution_has_zero_residual(name, method):
    problem = get_equation(name, dim=5, seed=1)
    assert problem.conditions == {} and problem.has_reference()
    program = ResidualProgram(problem, make_backend(method))
    assert list(program.terms) == [name.removesuffix("_ball")]
    c = torch.as_tensor(coefficients(5, seed=1))
    x = ball_points(64, 5, seed=2)
    res = program.residuals(lambda z: two_body(z, c)[:, None], {"interior": Batch(x)})
    (r,) = res.values()
    assert r.shape == (64,)
    assert r.abs().max().item() < 1e-9
    ref = problem.reference(x.numpy())
    assert ref.shape == (64, 1)
    np.testing.assert_allclose(ref[:, 0], two_body(x, c).numpy(), atol=1e-15)


def test_stde_residual_of_exact_solution_is_unbiased_in_high_dimension():
    d = 200
    problem = get_equation("poisson_ball", dim=d)
    c = torch.as_tensor(coefficients(d))
    x = ball_points(8, d)
    program = ResidualProgram(problem, make_backend("stde", samples=d, kind="sparse"))
    (r,) = program.residuals(lambda z: two_body(z, c)[:, None], {"interior": Batch(x)}).values()
    assert r.abs().max().item() < 1e-9   # all d coordinate directions: the estimate is exact


def test_options_are_checked():
    with pytest.raises(ValueError):
        get_equation("poisson_ball", dim=1)
    a, b = get_equation("poisson_ball", dim=4, seed=0), get_equation("poisson_ball", dim=4, seed=1)
    x = ball_points(5, 4).numpy()
    assert not np.allclose(a.reference(x), b.reference(x))


def exact_residuals(problem, batches, method="taylor"):
    program = ResidualProgram(problem, make_backend(method))
    return program.residuals(exact_function(problem), batches)


@pytest.mark.parametrize("method", ["taylor", "autograd"])
def test_kdv_soliton_is_exact(method):
    problem = get_equation("kdv1d")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(50, 2, generator=g, dtype=torch.float64) * torch.tensor([1.0, 12.0]) - torch.tensor([0.0, 6.0])
    x0 = x.clone()
    x0[:, 0] = 0
    xb = x.clone()
    xb[:, 1] = torch.where(xb[:, 1] > 0, 6.0, -6.0)
    normals = torch.zeros_like(xb)
    normals[:, 1] = torch.sign(xb[:, 1])
    res = exact_residuals(problem, {"interior": Batch(x), "initial": Batch(x0), "boundary": Batch(xb, normals=normals)},
                          method)
    assert set(res) == {"kdv", "initial", "boundary"}
    for name, r in res.items():
        assert r.abs().max().item() < 1e-12, name
    assert exact_function(problem)(x0).max().item() <= 0.5 + 1e-15


@pytest.mark.parametrize("method", ["taylor", "autograd"])
def test_biharmonic_clamped_plate_is_exact(method):
    problem = get_equation("biharmonic2d")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(50, 2, generator=g, dtype=torch.float64)
    xb = x.clone()
    xb[:25, 0] = (xb[:25, 0] > 0.5).double()
    xb[25:, 1] = (xb[25:, 1] > 0.5).double()
    normals = torch.zeros_like(xb)
    normals[:25, 0] = 2 * xb[:25, 0] - 1
    normals[25:, 1] = 2 * xb[25:, 1] - 1
    bb = Batch(xb, normals=normals)
    res = exact_residuals(problem, {"interior": Batch(x), "boundary": bb, "clamp": bb}, method)
    assert res["biharmonic"].abs().max().item() < 1e-9
    assert res["boundary"].abs().max().item() < 1e-14
    assert res["clamp"].abs().max().item() < 1e-12


# -- the shipped configurations, shortened ----------------------------------------------------------------------

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
QUICK = ["train.progress=false", "train.checkpoint_every=1000", "output.plots=false", "output.vtk=false"]


def _quick_solve(tmp_path: Path, config: str, overrides: list[str]):
    return solve(CONFIGS / config, out=tmp_path / "run", overrides=[*QUICK, *overrides])


def test_kdv_config_short_run(tmp_path):
    sol = _quick_solve(tmp_path, "kdv1d.yaml", [
        "model.width=16", "sampling.interior=400", "sampling.initial=64", "sampling.boundary=64",
        "output.resolution=[11, 41]", "train.eval_every=1000",
        "solver.stages=[{name: adam, steps: 200, lr: 3.0e-3}, {name: gauss_newton, steps: 15}]"])
    assert sol.metrics["rel_l2"]["u"] < 5e-3  # 7.7e-4 when calibrated


def test_biharmonic_config_short_run(tmp_path):
    sol = _quick_solve(tmp_path, "biharmonic2d.yaml", [
        "model.width=16", "sampling.interior=300", "sampling.boundary=100",
        "output.resolution=[21, 21]", "train.eval_every=1000",
        "solver.stages=[{name: adam, steps: 200, lr: 3.0e-3}, {name: gauss_newton, steps: 15}]"])
    assert sol.metrics["rel_l2"]["u"] < 5e-4  # 2.5e-5 when calibrated


def test_poisson_ball_config_short_run(tmp_path):
    sol = _quick_solve(tmp_path, "poisson_ball_d1000.yaml", [
        "solver.stages=[{name: adam, steps: 300, lr: 1.0e-3}]", "train.eval_every=1000", "output.eval_points=500"])
    assert sol.metrics["error_points"] == {"kind": "random", "count": 500}
    assert sol.metrics["rel_l2"]["u"] < 0.1  # 0.034 when calibrated (random points in the 1000-dimensional ball)


@pytest.mark.parametrize("kind", ["poisson", "allen_cahn", "sine_gordon"])
def test_source_in_row_chunks_matches_closed_form(monkeypatch, kind):
    from pinnlab.equations import high_dim

    problem = high_dim.ball_problem(kind, dim=7, seed=2)
    c = torch.as_tensor(coefficients(7, seed=2))
    x = ball_points(23, 7)
    nonlinear = {"poisson": lambda u: 0 * u, "allen_cahn": lambda u: u - u**3, "sine_gordon": torch.sin}[kind]
    expected = two_body_laplacian(x, c) + nonlinear(two_body(x, c))
    monkeypatch.setattr(high_dim, "CHUNK_ELEMENTS", 3 * 7)  # chunks of 3 rows, the last one shorter
    torch.testing.assert_close(problem.pde.functions["g"](x), expected, rtol=1e-12, atol=1e-12)
