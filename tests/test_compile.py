"""Problem -> ResidualProgram: terms, point sets, derivative requests and residual values against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import pinnlab as pl
from pinnlab.autodiff import Derivative, backend_names, make_backend
from pinnlab.compile import Batch, ResidualProgram, exact_function, load_data
from pinnlab.errors import SpecError

#: deterministic derivative methods (stde is a stochastic estimator with its own tests)
EXACT = [name for name in backend_names() if name != "stde"]
PI = math.pi


def program_for(problem, method="autograd", **defaults):
    return ResidualProgram(problem, make_backend(method), defaults)


def grid(n, *ranges, seed=0):
    g = torch.Generator().manual_seed(seed)
    cols = [lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64) for lo, hi in ranges]
    return torch.stack(cols, -1)


def heat_problem(**conditions):
    pde = pl.PDE(coordinates=["t", "x"], time="t", fields=["u"], parameters={"k": 0.1},
                 equations={"heat": "u_t - k*u_xx"})
    return pl.Problem(pde, {"t": [0, 1], "x": [0, 1]}, conditions, exact={"u": "exp(-k*pi**2*t)*sin(pi*x)"})


def heat_exact(x):
    return (torch.exp(-0.1 * PI**2 * x[:, 0]) * torch.sin(PI * x[:, 1]))[:, None]


# -- structure -------------------------------------------------------------------------------------------------


def test_terms_point_sets_and_requests():
    problem = heat_problem(
        initial=pl.Initial(field="u", value="sin(pi*x)", points=17),
        left=pl.Dirichlet(field="u", value=0, on=["x_min"]),
        flux=pl.Neumann(field="u", value=0, on="x"),
    )
    program = program_for(problem, interior=50, boundary=9, initial=4)
    assert list(program.terms) == ["heat", "initial", "left", "flux"]
    assert {n: (ps.kind, ps.n) for n, ps in program.point_sets.items()} == {
        "interior": ("interior", 50), "initial": ("initial", 17), "left": ("boundary", 9), "flux": ("boundary", 9)}
    assert program.point_sets["left"].faces == ["x_min"]
    assert program.point_sets["flux"].faces == ["x_min", "x_max"]
    assert program.terms["heat"].point_set == "interior"
    assert program.requests["interior"] == {Derivative(0, "partial", (0,)), Derivative(0, "partial", (1, 1))}
    assert program.requests["initial"] == {Derivative(0, "partial", ())}
    assert program.requests["flux"] == {Derivative(0, "gradient", (1,))}


def test_laplacian_request_uses_spatial_columns_only():
    pde = pl.PDE(coordinates=["t", "x", "y"], time="t", fields=["u", "v"],
                 equations={"a": "u_t - lap(u)", "b": "lap(lap(v)) + v_xy"})
    program = program_for(pl.Problem(pde, {"t": [0, 1], "x": [0, 1], "y": [0, 1]}))
    assert program.requests["interior"] == {
        Derivative(0, "partial", (0,)), Derivative(0, "laplacian", (1, 2)),
        Derivative(1, "bilaplacian", (1, 2)), Derivative(1, "partial", (1, 2))}


def test_compile_errors():
    problem = heat_problem(walls=pl.Dirichlet(field="u", value=0, on=["t"]))
    with pytest.raises(SpecError, match="condition 'walls': 'on: t' names the time coordinate"):
        program_for(problem)
    pde = pl.PDE(coordinates=["x"], fields=["u"], equations={"e": "u_xx"})
    program = program_for(pl.Problem(pde, {"x": [0, 1]}, {"c": pl.Boundary(equation="pi = 1")}))
    x = grid(4, (0, 1))
    with pytest.raises(SpecError, match="term 'c' does not depend on the solution"):
        program.residuals(lambda z: z, {"interior": Batch(x), "c": Batch(x, normals=torch.ones_like(x))})


def test_batch_to():
    b = Batch(torch.zeros(3, 2), normals=torch.ones(3, 2)).to(dtype=torch.float64)
    assert b.x.dtype == torch.float64 and b.normals.dtype == torch.float64 and b.pair is None


# -- residual values against closed forms ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", EXACT)
def test_exact_solution_has_zero_residual(method):
    problem = heat_problem(initial=pl.Initial(field="u", value="sin(pi*x)"),
                           walls=pl.Dirichlet(field="u", value=0, on=["x"]))
    program = program_for(problem, method)
    x = grid(64, (0, 1), (0, 1))
    x0 = x.clone()
    x0[:, 0] = 0
    xb = x.clone()
    xb[:, 1] = (xb[:, 1] > 0.5).double()
    res = program.residuals(heat_exact, {"interior": Batch(x), "initial": Batch(x0),
                                         "walls": Batch(xb, normals=torch.zeros_like(xb))})
    for name, r in res.items():
        assert r.shape == (64,), name
        assert r.abs().max() < 1e-12, name


@pytest.mark.parametrize("method", EXACT)
def test_residual_values_of_a_polynomial(method):
    """u = t²x³ + xy, v = sin(x)·y: every operator checked against hand derivatives."""
    pde = pl.PDE(coordinates=["t", "x", "y"], time="t", fields=["u", "v"], parameters={"c": 3.0},
                 equations={"a": "u_t + u*u_x - c*u_xx", "b": "u_tx + v_xy", "c1": "lap(u) + lap(lap(u))",
                            "d": "norm2(grad(u)) - dot(grad(u), grad(v)) + sum(grad(v))", "e": "div(u, v)"})
    program = program_for(pl.Problem(pde, {"t": [0, 1], "x": [0, 1], "y": [0, 1]}), method)

    def f(z):
        t, x, y = z[:, 0], z[:, 1], z[:, 2]
        return torch.stack([t**2 * x**3 + x * y, torch.sin(x) * y], -1)

    z = grid(20, (0, 1), (-1, 1), (0, 2))
    t, x, y = z.unbind(-1)
    u, ux, uy = t**2 * x**3 + x * y, 3 * t**2 * x**2 + y, x
    vx, vy = torch.cos(x) * y, torch.sin(x)
    res = program.residuals(f, {"interior": Batch(z)})
    expected = {
        "a": 2 * t * x**3 + u * ux - 3.0 * 6 * t**2 * x,
        "b": 6 * t * x**2 + torch.cos(x),
        "c1": 6 * t**2 * x + 0.0,
        "d": ux**2 + uy**2 - (ux * vx + uy * vy) + vx + vy,
        "e": ux + vy,
    }
    for name, value in expected.items():
        torch.testing.assert_close(res[name], value, rtol=1e-10, atol=1e-10, msg=name)


@pytest.mark.parametrize("method", EXACT)
def test_bilaplacian_and_vector_coordinates(method):
    pde = pl.PDE(coordinates=[pl.Coordinate("x", 3)], fields=["u"], equations={"plate": "lap(lap(u)) - 24*3",
                                                                                "lap": "lap(u) - 12*norm2(x)"})
    program = program_for(pl.Problem(pde, {"type": "ball", "coordinate": "x"}), method)
    x = grid(16, (-1, 1), (-1, 1), (-1, 1))
    res = program.residuals(lambda z: (z**4).sum(-1, keepdim=True), {"interior": Batch(x)})
    assert res["plate"].abs().max() < 1e-9
    torch.testing.assert_close(res["lap"], 12 * (x**2).sum(-1) - 12 * (x**2).sum(-1))


@pytest.mark.parametrize("method", EXACT)
def test_boundary_conditions_use_outward_normals(method):
    pde = pl.PDE(coordinates=["x", "y"], fields=["u"], parameters={"h": 2.0}, equations={"e": "lap(u)"})
    conditions = {"d": pl.Dirichlet(field="u", value="x*y"), "n": pl.Neumann(field="u", value="h"),
                  "r": pl.Boundary(equation="dn(u) + h*u = 1")}
    program = program_for(pl.Problem(pde, {"x": [0, 1], "y": [0, 1]}, conditions), method)
    # points on the four faces with their outward normals
    s = torch.linspace(0.1, 0.9, 5, dtype=torch.float64)
    pts = torch.cat([torch.stack([torch.zeros_like(s), s], -1), torch.stack([torch.ones_like(s), s], -1),
                     torch.stack([s, torch.zeros_like(s)], -1), torch.stack([s, torch.ones_like(s)], -1)])
    normals = torch.cat([torch.tensor([[-1.0, 0.0]]).expand(5, 2), torch.tensor([[1.0, 0.0]]).expand(5, 2),
                         torch.tensor([[0.0, -1.0]]).expand(5, 2), torch.tensor([[0.0, 1.0]]).expand(5, 2)]).double()

    def f(z):  # u = x² + 3y, grad = (2x, 3)
        return (z[:, 0] ** 2 + 3 * z[:, 1])[:, None]

    batch = Batch(pts, normals=normals)
    res = program.residuals(f, {"interior": Batch(pts), "d": batch, "n": batch, "r": batch})
    u = pts[:, 0] ** 2 + 3 * pts[:, 1]
    du_dn = (torch.stack([2 * pts[:, 0], torch.full_like(s.repeat(4), 3.0)], -1) * normals).sum(-1)
    torch.testing.assert_close(res["d"], u - pts[:, 0] * pts[:, 1])
    torch.testing.assert_close(res["n"], du_dn - 2.0)
    torch.testing.assert_close(res["r"], du_dn + 2.0 * u - 1.0)
    torch.testing.assert_close(res["e"], torch.full_like(u, 2.0))


@pytest.mark.parametrize("method", EXACT)
def test_periodic_term_compares_values_and_derivatives(method):
    pde = pl.PDE(coordinates=["t", "x"], time="t", fields=["u", "v"], equations={"e": "u_t + v_t"})
    problem = pl.Problem(pde, {"t": [0, 1], "x": [-1, 1]},
                         {"p": pl.Periodic(coordinate="x", derivatives=2, fields=["u"])})
    program = program_for(problem, method)
    assert program.requests["p"] == {Derivative(0, "partial", ()), Derivative(0, "partial", (1,)),
                                     Derivative(0, "partial", (1, 1))}
    t = torch.linspace(0, 1, 6, dtype=torch.float64)
    left = torch.stack([t, -torch.ones_like(t)], -1)
    right = torch.stack([t, torch.ones_like(t)], -1)

    def f(z):  # u periodic in x with period 2 plus a t-dependent part; v is not periodic (ignored)
        return torch.stack([torch.sin(PI * z[:, 1]) * z[:, 0] + z[:, 0] ** 2, z[:, 1]], -1)

    res = program.residuals(f, {"interior": Batch(left), "p": Batch(left, pair=right)}, terms=["p"])
    assert list(res) == ["p"] and res["p"].shape == (6, 3)
    assert res["p"].abs().max() < 1e-12

    def g(z):  # u = x³: values differ by -2, slopes by 0, curvatures by -12
        return torch.stack([z[:, 1] ** 3, z[:, 1]], -1)

    res = program.residuals(g, {"interior": Batch(left), "p": Batch(left, pair=right)}, terms=["p"])
    expected = torch.tensor([-2.0, 0.0, -12.0], dtype=torch.float64).expand(6, 3)
    torch.testing.assert_close(res["p"], expected)


def test_data_term_and_python_functions():
    pde = pl.PDE(coordinates=["x", "y"], fields=["u", "v"], equations={"e": "u - src"},
                 functions={"src": lambda z: torch.cos(z[:, 0]) * z[:, 1]})
    coords = [[0.0, 1.0], [0.5, 2.0], [1.0, 3.0]]
    data = pl.Data(fields=["v"], coords=coords, values=[1.0, 2.0, 3.0])
    program = program_for(pl.Problem(pde, {"x": [0, 1], "y": [0, 3]}, {"obs": data}))
    ps = program.point_sets["obs"]
    assert ps.kind == "data" and ps.n == 3 and ps.values.shape == (3, 1)
    x = torch.tensor(coords, dtype=torch.float64)

    def f(z):
        return torch.stack([z[:, 0] + z[:, 1], 2 * z[:, 1]], -1)

    res = program.residuals(f, {"interior": Batch(x), "obs": Batch(ps.coords.double(), values=ps.values.double())})
    torch.testing.assert_close(res["obs"], (2 * x[:, 1] - torch.tensor([1.0, 2.0, 3.0]).double())[:, None])
    torch.testing.assert_close(res["e"], x[:, 0] + x[:, 1] - torch.cos(x[:, 0]) * x[:, 1])


def test_exact_function():
    fn = exact_function(heat_problem())
    x = grid(10, (0, 1), (0, 1))
    torch.testing.assert_close(fn(x), heat_exact(x))
    pde = pl.PDE(coordinates=["x"], fields=["u", "p"], parameters={"a": 2.0}, equations={"e": "u_x", "f": "p"})
    fn = exact_function(pl.Problem(pde, {"x": [0, 1]}, exact={"u": "a*x"}))
    out = fn(torch.tensor([[0.5], [1.0]], dtype=torch.float64))
    assert out[:, 0].tolist() == [1.0, 2.0] and torch.isnan(out[:, 1]).all()
    assert exact_function(pl.Problem(pde, {"x": [0, 1]})) is None


# -- data files --------------------------------------------------------------------------------------------------


def load_obs(cond):
    """(coords, values) of a data condition of the heat problem (its training points, as lists)."""
    obs, held_out = load_data("obs", cond, heat_problem())
    assert held_out is None
    return obs.coords.tolist(), obs.values.tolist()


def test_load_data_csv_and_npz(tmp_path):
    csv = tmp_path / "obs.csv"
    csv.write_text("t,x,u\n0.0,0.5,1.0\n0.5,0.25,2.0\n")
    assert load_obs(pl.Data(fields=["u"], file=str(csv))) == ([[0.0, 0.5], [0.5, 0.25]], [[1.0], [2.0]])
    npz = tmp_path / "obs.npz"
    np.savez(npz, points=np.array([[0.0, 1.0]]), values=np.array([[3.0]]), fields=["u"])
    assert load_obs(pl.Data(fields=["u"], file=str(npz))) == ([[0.0, 1.0]], [[3.0]])
    cols = tmp_path / "cols.npz"
    np.savez(cols, t=np.array([0.0, 1.0]), x=np.array([2.0, 3.0]), u=np.array([4.0, 5.0]))
    assert load_obs(pl.Data(fields=["u"], file=str(cols))) == ([[0.0, 2.0], [1.0, 3.0]], [[4.0], [5.0]])


@pytest.mark.parametrize("data, message", [
    (pl.Data(fields=["u"], file="missing.csv"), "condition 'obs': data file 'missing.csv' does not exist"),
    (pl.Data(fields=["u"], file="{tmp}/bad.csv"), "has no coordinate column 'x' (the file has: t, u)"),
    (pl.Data(fields=["u"], file="{tmp}/bad.npz"), "has no coordinate column 'x'"),
    (pl.Data(fields=["u"], coords=[[0.0, 1.0, 2.0]], values=[1.0]), "data points must have 2 columns (['t', 'x'])"),
    (pl.Data(fields=["u"], coords=[[0.0, 1.0], [1.0, 1.0]], values=[1.0]), "data values must have shape (2, 1)"),
    (pl.Data(fields=["u"], coords=[[0.0, 1.0]], values=[float("nan")]), "data values contain NaN or infinite values"),
])
def test_load_data_errors(tmp_path, data, message):
    (tmp_path / "bad.csv").write_text("t,u\n0,1\n")
    np.savez(tmp_path / "bad.npz", t=np.zeros(2), u=np.zeros(2))
    if data.file is not None:
        data = data.replace(file=data.file.format(tmp=tmp_path))
    with pytest.raises(SpecError, match=__import__("re").escape(message)):
        load_data("obs", data, heat_problem())
