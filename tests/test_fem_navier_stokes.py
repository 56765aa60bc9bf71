"""Taylor–Hood Navier–Stokes references: Kovasznay convergence orders, DFG 2D-1, the Ghia cavity, files."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("skfem")

from pinnlab.errors import SpecError
from pinnlab.references.fem_forces import DFG_2D1, dfg_quantities
from pinnlab.references.fem_meshes import rectangle_triangulation
from pinnlab.references.fem_navier_stokes import solve_navier_stokes
from pinnlab.references.ghia import centreline_errors
from pinnlab.references.taylor_hood import TaylorHoodField, triangle_rule

RE = 40.0
LAM = RE / 2 - np.sqrt(RE**2 / 4 + 4 * np.pi**2)
SIDES = ("x_min", "x_max", "y_min", "y_max")


def kovasznay_velocity(x, y):
    e = np.exp(LAM * x)
    return 1 - e * np.cos(2 * np.pi * y), LAM / (2 * np.pi) * e * np.sin(2 * np.pi * y)


def kovasznay(points):
    x, y = points[:, 0], points[:, 1]
    u, v = kovasznay_velocity(x, y)
    return np.column_stack([u, v, 0.5 * (1 - np.exp(2 * LAM * x))])


def solve_kovasznay(n):
    mesh = rectangle_triangulation((-0.5, -0.5), (1.0, 1.5), (n, n * 4 // 3))
    return solve_navier_stokes(mesh, 1 / RE, {SIDES: kovasznay_velocity}, pressure=((0.0, 0.5), 0.0))


def test_triangle_rule_is_exact_to_degree_six():
    bary, w = triangle_rule(6)
    assert abs(w.sum() - 1) < 1e-14
    # on the reference triangle: mean of x^a y^b = 2 a! b! / (a + b + 2)!
    from math import factorial
    for a in range(7):
        for b in range(7 - a):
            exact = 2 * factorial(a) * factorial(b) / factorial(a + b + 2)
            assert abs((w * bary[:, 1] ** a * bary[:, 2] ** b).sum() - exact) < 1e-13


def test_field_reproduces_quadratics_and_their_gradients():
    mesh = rectangle_triangulation((0.0, 0.0), (1.0, 2.0), (4, 6))
    from pinnlab.references.taylor_hood import mesh_edges

    edges, _ = mesh_edges(np.asarray(mesh.triangles))
    nodes = np.vstack([mesh.points, 0.5 * (mesh.points[edges[:, 0]] + mesh.points[edges[:, 1]])])
    u = lambda x, y: 1 + 2 * x - y + 3 * x * y - x**2 + 0.5 * y**2
    v = lambda x, y: x**2 - 2 * y**2
    field = TaylorHoodField(mesh.points, mesh.triangles, np.column_stack([u(*nodes.T), v(*nodes.T)]),
                            2 * mesh.points[:, 0] - mesh.points[:, 1])
    x = np.random.default_rng(0).uniform([0, 0], [1, 2], (200, 2))
    out = field.evaluate(x, gradients=True)
    X, Y = x.T
    expected = np.column_stack([u(X, Y), v(X, Y), 2 * X - Y, 2 + 3 * Y - 2 * X, -1 + 3 * X + Y, 2 * X, -4 * Y])
    np.testing.assert_allclose(out, expected, atol=1e-12)
    with pytest.raises(ValueError, match="outside the mesh"):
        field.evaluate([[3.0, 1.0]])


def test_kovasznay_newton_converges_quadratically_and_is_accurate():
    sol = solve_kovasznay(12)
    res = np.array(sol.report.residuals)
    assert sol.report.iterations[0] <= 6
    assert res[-1] < 1e-12 * res[0]
    assert res[3] < 1e-3 * res[2]  # quadratic convergence near the solution
    err = sol.l2_errors(kovasznay)
    assert err["u"] < 2e-3 and err["v"] < 6e-3 and err["p"] < 2e-2


@pytest.mark.slow
def test_kovasznay_convergence_orders():
    errors = [solve_kovasznay(n).l2_errors(kovasznay) for n in (6, 12, 24, 48)]
    for coarse, fine in itertools.pairwise(errors):
        assert np.log2(coarse["u"] / fine["u"]) > 2.8  # P2 velocity: O(h^3) in L2
        assert np.log2(coarse["v"] / fine["v"]) > 2.8
        assert np.log2(coarse["p"] / fine["p"]) > 1.8  # P1 pressure: O(h^2)


def test_cavity_re100_against_ghia():
    mesh = rectangle_triangulation((0.0, 0.0), (1.0, 1.0), (32, 32), grading=0.5)
    walls = {("x_min", "x_max", "y_min"): lambda x, y: (0.0, 0.0), "y_max": lambda x, y: (1.0, 0.0)}
    sol = solve_navier_stokes(mesh, 0.01, walls, pressure=((0.0, 0.0), 0.0))
    err = centreline_errors(sol, 100)
    # Ghia et al.'s tables (second order on a 129^2 grid) carry errors of a few 1e-3 themselves
    assert err["u_max_error"] < 1e-2 and err["v_max_error"] < 1e-2
    assert abs(sol.evaluate([[0.0, 0.0]])[0, 2]) < 1e-12


def test_mean_pressure_gauge_and_errors():
    mesh = rectangle_triangulation((-0.5, -0.5), (1.0, 1.5), (6, 8))
    sol = solve_navier_stokes(mesh, 1 / RE, {SIDES: kovasznay_velocity})
    assert abs(sol.pressure_mean()) < 1e-12
    with pytest.raises(SpecError, match="no such part"):
        solve_navier_stokes(mesh, 1 / RE, {"x_mni": kovasznay_velocity})
    with pytest.raises(SpecError, match="positive"):
        solve_navier_stokes(mesh, -1.0, {SIDES: kovasznay_velocity})
    with pytest.raises(SpecError, match="only when"):
        solve_navier_stokes(mesh, 1 / RE, {"x_min": kovasznay_velocity}, pressure="mean")


def _dfg(h, local):
    from pinnlab.equations.pinnacle_flows import dfg_domain, dfg_inflow
    from pinnlab.geometry.meshing import triangulate

    mesh = triangulate(dfg_domain(), h, refine=(((0.2, 0.2), local, 0.06),))
    return solve_navier_stokes(mesh, 1e-3, {"x_min": dfg_inflow,
                                            ("y_min", "y_max", "cylinder"): lambda x, y: (0.0, 0.0)})


def test_dfg_coarse_drag_lift_and_pressure_difference():
    pytest.importorskip("gmsh")
    sol = _dfg(0.04, 0.01)
    vol, line = dfg_quantities(sol), dfg_quantities(sol, method="line")
    # about 8,000 unknowns: the volume integral is already within 0.4 % (drag) and 1 % (lift)
    assert abs(vol["c_d"] / DFG_2D1["c_d"] - 1) < 5e-3
    assert abs(vol["c_l"] / DFG_2D1["c_l"] - 1) < 2e-2
    assert abs(vol["delta_p"] / DFG_2D1["delta_p"] - 1) < 3e-3
    assert abs(vol["c_d"] - DFG_2D1["c_d"]) < abs(line["c_d"] - DFG_2D1["c_d"])
    outlet = np.column_stack([np.full(5, 2.2), np.linspace(0.05, 0.36, 5)])
    assert np.all(np.isfinite(sol(outlet)))


@pytest.mark.slow
def test_dfg_mesh_convergence_meets_the_benchmark():
    pytest.importorskip("gmsh")
    sol = _dfg(0.015, 0.0015)
    q = dfg_quantities(sol)
    assert abs(q["c_d"] / DFG_2D1["c_d"] - 1) < 1e-3
    assert abs(q["c_l"] / DFG_2D1["c_l"] - 1) < 1e-2
    assert abs(q["delta_p"] / DFG_2D1["delta_p"] - 1) < 1e-3


def test_files_round_trip(tmp_path):
    pytest.importorskip("meshio")
    sol = solve_kovasznay(6)
    path = sol.save(tmp_path / "k.npz")
    back = TaylorHoodField.load(path)
    x = np.random.default_rng(1).uniform([-0.5, -0.5], [1.0, 1.5], (50, 2))
    np.testing.assert_array_equal(back.evaluate(x, gradients=True), sol.evaluate(x, gradients=True))
    assert back.labels == sol.labels and back.metadata["nu"] == 1 / RE
    import meshio

    mesh = meshio.read(sol.write_vtu(tmp_path / "k.vtu"))
    assert mesh.cells[0].type == "triangle6" and mesh.point_data["u"].shape == (len(sol.velocity),)
    (tmp_path / "bad.npz").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="cannot read"):
        TaylorHoodField.load(tmp_path / "bad.npz")
