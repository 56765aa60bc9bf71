"""Incompressible Navier–Stokes: operator, exact solutions, Ghia data, vorticity, configs end to end."""

from __future__ import annotations

from pathlib import Path

import meshio
import numpy as np
import pytest
import torch

from pinnlab.autodiff import make_backend
from pinnlab.compile import Batch, ResidualProgram, exact_function
from pinnlab.config.build import geometry_of
from pinnlab.equations import get_equation
from pinnlab.equations.navier_stokes import (
    navier_stokes_equations,
    navier_stokes_pde,
    pressure_gauge,
)
from pinnlab.errors import SpecError
from pinnlab.io.vtk import read_pvd
from pinnlab.nn import MLP
from pinnlab.references.ghia import (
    TABLE_I_POINTS,
    TABLE_I_Y,
    TABLE_II_POINTS,
    TABLE_II_X,
    centreline_errors,
    ghia_centrelines,
)
from pinnlab.run import load, solve
from pinnlab.run.vorticity import curl, vorticity
from pinnlab.sampling import PointDrawer
from pinnlab.spec import Dirichlet, Problem

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny problems: a thread pool only adds overhead


@pytest.fixture
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _batches(program: ResidualProgram, problem: Problem, seed: int = 0, n: int = 300):
    geometry = geometry_of(problem)
    drawer = PointDrawer(geometry, torch.Generator().manual_seed(seed), "uniform", torch.float64)
    for ps in program.point_sets.values():
        if ps.kind != "data":
            ps.n = n
    return {name: drawer.draw(ps) for name, ps in program.point_sets.items()}


def _max_residuals(problem: Problem, solution=None, backend: str = "autograd") -> dict[str, float]:
    """Max |residual| per term of ``solution`` (default: the problem's exact one)."""
    program = ResidualProgram(problem, make_backend(backend))
    f = solution or exact_function(problem)
    residuals = program.residuals(f, _batches(program, problem))
    return {k: float(v.abs().max()) for k, v in residuals.items()}


# -- the operator and the exact solutions ----------------------------------------------------------

def test_equation_text_2d_unsteady_with_force():
    eqs = navier_stokes_equations(2, steady=False, force=["fx", 0])
    assert eqs["momentum_x"] == "u_t + u*u_x + v*u_y + p_x/rho - nu*lap(u) - (fx)"
    assert eqs["momentum_y"] == "v_t + u*v_x + v*v_y + p_y/rho - nu*lap(v) - (0)"
    assert eqs["continuity"] == "u_x + v_y"
    eqs3 = navier_stokes_equations(3)
    assert set(eqs3) == {"momentum_x", "momentum_y", "momentum_z", "continuity"}
    assert eqs3["momentum_z"] == "u*w_x + v*w_y + w*w_z + p_z/rho - nu*lap(w)"


@pytest.mark.parametrize("bad", [{"dim": 1}, {"dim": 2, "force": ["1"]}])
def test_equation_options_are_checked(bad):
    with pytest.raises(SpecError):
        navier_stokes_equations(**bad)


@pytest.mark.parametrize("name, options", [
    ("kovasznay", {}),
    ("kovasznay", {"re": 20.0, "rho": 2.0}),
    ("taylor_green2d", {}),
    ("taylor_green2d", {"nu": 0.01, "rho": 1.5, "t_end": 2.0}),
    ("beltrami3d", {}),
    ("beltrami3d", {"a": 1.0, "d": 1.0, "nu": 0.5}),
])
def test_exact_solutions_have_zero_residuals(float64, name, options):
    worst = _max_residuals(get_equation(name, **options))
    assert max(worst.values()) <= 1e-10, worst


def test_residuals_detect_a_wrong_viscosity(float64):
    problem = get_equation("kovasznay")
    wrong = exact_function(get_equation("kovasznay", re=30.0))
    worst = _max_residuals(problem, wrong)
    assert worst["momentum_x"] > 1e-2 and worst["boundary_u"] > 1e-2
    assert worst["continuity"] <= 1e-10  # any Kovasznay field is divergence-free


def test_body_force_and_parameters(float64):
    # steady u = sin x cos y, v = -cos x sin y, p = 0 needs the force below
    force = ["0.5*sin(2*x) + 2*nu*sin(x)*cos(y)", "0.5*sin(2*y) - 2*nu*cos(x)*sin(y)"]
    pde = navier_stokes_pde(2, steady=True, nu=0.3, force=force)
    exact = {"u": "sin(x)*cos(y)", "v": "-cos(x)*sin(y)", "p": "0*x"}
    problem = Problem(pde, {"x": [0.0, 3.0], "y": [0.0, 3.0]}, {"wall": Dirichlet(field="u", value=exact["u"])},
                      exact=exact)
    assert max(_max_residuals(problem).values()) <= 1e-10
    unforced = Problem(navier_stokes_pde(2, nu=0.3), problem.domain, {}, exact=exact)
    assert _max_residuals(unforced)["momentum_x"] > 0.1


def test_generic_navier_stokes_from_a_config(float64):
    # plane Poiseuille flow driven by a pressure gradient G: u = G y (1 - y) / (2 nu), p = -G x
    from pinnlab.config import ProblemConfig
    from pinnlab.config.build import problem_from_config

    cfg = ProblemConfig(
        equation="navier_stokes", options={"nu": 0.1, "gauge_point": [0.0, 0.5]},
        domain={"x": [0.0, 2.0], "y": [0.0, 1.0]},
        conditions={
            "walls_u": {"type": "dirichlet", "field": "u", "value": 0, "on": ["y"]},
            "walls_v": {"type": "dirichlet", "field": "v", "value": 0, "on": ["y"]},
            "inlet": {"type": "dirichlet", "field": "u", "value": "0.3*y*(1 - y)/(2*nu)", "on": ["x_min"]},
            "gauge": {"type": "data", "fields": ["p"], "points": [[0.0, 0.5]], "values": [[0.0]]},
        },
        exact={"u": "0.3*y*(1 - y)/(2*nu)", "v": "0*x", "p": "-0.3*x"},
    )
    problem = problem_from_config(cfg)
    assert problem.pde.parameters["nu"] == 0.1 and problem.pde.columns == ["x", "y"]
    assert max(_max_residuals(problem).values()) <= 1e-10


@pytest.mark.parametrize("name", ["kovasznay", "beltrami3d"])
def test_taylor_and_autograd_agree_on_ns_residuals(float64, name):
    problem = get_equation(name)
    n_in, n_out = len(problem.pde.columns), len(problem.pde.fields)
    net = MLP(n_in, n_out, 16, 2, "tanh", generator=torch.Generator().manual_seed(1))
    auto = ResidualProgram(problem, make_backend("autograd"))
    taylor = ResidualProgram(problem, make_backend("taylor"))
    batches = _batches(auto, problem, n=64)
    a, t = auto.residuals(net, batches), taylor.residuals(net, batches)
    for k in a:
        assert torch.allclose(a[k], t[k], rtol=1e-10, atol=1e-12), k


# -- pressure gauge --------------------------------------------------------------------------------

def test_pressure_gauge_shapes():
    steady = pressure_gauge((0.1, 0.2), 3.0)
    assert steady.coords.shape == (1, 2) and steady.values.tolist() == [[3.0]]
    unsteady = pressure_gauge((0.1, 0.2, 0.3), [1.0, 2.0, 3.0], times=[0.0, 0.5, 1.0])
    assert unsteady.coords.shape == (3, 4) and unsteady.values[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert np.allclose(unsteady.coords[:, 0], [0.0, 0.5, 1.0]) and np.allclose(unsteady.coords[:, 1:], [0.1, 0.2, 0.3])
    with pytest.raises(SpecError):
        pressure_gauge((0.1, 0.2), [1.0, 2.0])


@pytest.mark.parametrize("name", ["kovasznay", "taylor_green2d", "beltrami3d"])
def test_gauge_matches_exact_pressure_and_can_be_dropped(float64, name):
    problem = get_equation(name)
    gauge = problem.conditions["gauge"]
    p = exact_function(problem)(torch.as_tensor(gauge.coords))[:, -1].numpy()
    assert np.allclose(gauge.values[:, 0], p, atol=1e-14)
    assert "gauge" not in get_equation(name, gauge="none").conditions
    with pytest.raises(SpecError):
        get_equation(name, gauge="mean")


def test_viscosity_options():
    assert get_equation("kovasznay", re=50).pde.parameters["nu"] == pytest.approx(0.02)
    assert get_equation("lid_driven_cavity", re=1000).pde.parameters["nu"] == pytest.approx(1e-3)
    assert get_equation("navier_stokes", dim=3, steady=False, nu=0.2).pde.columns == ["t", "x", "y", "z"]
    with pytest.raises(SpecError):
        get_equation("navier_stokes", nu=0.1, re=10)


@pytest.mark.parametrize("lid, inner", [("squared", 0.15), ("polynomial", 0.13)])
def test_cavity_lid_is_smooth_at_the_corners(float64, lid, inner):
    problem = get_equation("lid_driven_cavity", lid=lid, lid_exponent=8)
    program = ResidualProgram(problem)
    x = torch.tensor([[0.0, 1.0], [1.0, 1.0], [0.5, 1.0], [inner, 1.0], [1.0 - inner, 1.0]])

    def zero(points):
        return torch.zeros(len(points), 3)

    batch = Batch(x, normals=torch.zeros_like(x))
    lid_u = -program.residuals(zero, {"lid_u": batch}, terms=["lid_u"])["lid_u"]  # residual is u - lid
    assert lid_u[0] == 0.0 and lid_u[1] == 0.0 and lid_u[2] == 1.0
    assert torch.all((lid_u[3:] > 0.99) & (lid_u[3:] < 1.0))
    # slope at the corners: 0 for the squared profile, -4k for the plain polynomial
    xs = torch.tensor([[1.0 - 1e-8, 1.0]])
    slope = -program.residuals(zero, {"lid_u": Batch(xs, normals=torch.zeros_like(xs))},
                               terms=["lid_u"])["lid_u"] / 1e-8
    assert float(slope) == pytest.approx(0.0 if lid == "squared" else 32.0, abs=1e-3)
    assert get_equation("lid_driven_cavity", lid="sharp").conditions["lid_u"].value == "1"
    with pytest.raises(SpecError):
        get_equation("lid_driven_cavity", lid="cosine")


# -- Ghia, Ghia & Shin (1982) ----------------------------------------------------------------------

def test_ghia_coordinates_are_the_129_grid_lines():
    for points, coords in ((TABLE_I_POINTS, TABLE_I_Y), (TABLE_II_POINTS, TABLE_II_X)):
        assert len(points) == len(coords) == 17
        grid = (np.array(points) - 1) / 128
        assert np.max(np.abs(grid - np.array(coords))) <= 5e-5 + 1e-12  # rounded to four digits


@pytest.mark.parametrize("re", [100, 1000])
def test_ghia_profiles_are_plausible(re):
    g = ghia_centrelines(re)
    assert np.all(np.diff(g.y) > 0) and np.all(np.diff(g.x) > 0)
    assert g.u[0] == 0.0 and g.u[-1] == 1.0 and g.v[0] == 0.0 and g.v[-1] == 0.0  # walls and lid
    # no net flux through either centreline (trapezoid rule on the 17 table rows)
    assert abs(np.trapezoid(g.u, g.y)) < 0.01 and abs(np.trapezoid(g.v, g.x)) < 0.01
    # the flow turns: u < 0 below the vortex centre, v > 0 on the left and < 0 on the right
    assert g.u[1:8].max() < 0 and g.v[1:8].min() > 0 and g.v[-8:-1].max() < 0


def test_ghia_known_extremes_and_errors():
    g100, g1000 = ghia_centrelines(100), ghia_centrelines(1000)
    assert g100.u.min() == -0.21090 and g100.v.max() == 0.17527 and g100.v.min() == -0.24533
    assert g1000.u.min() == -0.38289 and g1000.v.max() == 0.37095 and g1000.v.min() == -0.51550

    def perfect(points):
        u = np.interp(points[:, 1], g100.y, g100.u)
        v = np.interp(points[:, 0], g100.x, g100.v)
        return np.column_stack([u, v])

    assert centreline_errors(perfect, 100) == {"u_max_error": 0.0, "v_max_error": 0.0}
    errors = centreline_errors(lambda pts: perfect(pts) + 0.01, 100)
    assert errors["u_max_error"] == pytest.approx(0.01) and errors["v_max_error"] == pytest.approx(0.01)
    with pytest.raises(ValueError):
        ghia_centrelines(400)


# -- vorticity -------------------------------------------------------------------------------------

def test_vorticity_of_exact_flows(float64):
    tg = exact_function(get_equation("taylor_green2d", nu=0.1))
    pts = np.random.default_rng(0).uniform(0, 6, (64, 3))
    omega = vorticity(tg, pts, [0, 1], [1, 2])
    expected = -2 * np.cos(pts[:, 1]) * np.cos(pts[:, 2]) * np.exp(-0.2 * pts[:, 0])
    assert np.allclose(omega, expected, atol=1e-13)
    # the Ethier–Steinman flow is a Beltrami field: curl u = d u
    bel = exact_function(get_equation("beltrami3d"))
    pts = np.random.default_rng(1).uniform(-1, 1, (64, 4))
    omega = vorticity(bel, pts, [0, 1, 2], [1, 2, 3])
    u = bel(torch.as_tensor(pts))[:, :3].numpy()
    assert np.allclose(omega, np.pi / 2 * u, atol=1e-12)
    with pytest.raises(ValueError):
        curl(torch.zeros(3, 2, 3))


# -- the shipped configurations, shortened (Gauss–Newton on a 16 x 2 network) -------------------

QUICK = ["train.progress=false", "train.eval_every=1000", "train.checkpoint_every=1000", "output.plots=false",
         "model.width=16", "model.depth=2"]


def _quick_solve(tmp_path: Path, config: str, steps: int, extra: list[str]):
    overrides = [*QUICK, f"solver.stages=[{{name: gauss_newton, steps: {steps}}}]", *extra]
    return solve(CONFIGS / config, out=tmp_path / "run", overrides=overrides)


def test_kovasznay_config_short_run(tmp_path):
    sol = _quick_solve(tmp_path, "kovasznay.yaml", 30, ["sampling.interior=300", "sampling.boundary=100",
                                                         "output.resolution=[16, 21]"])
    assert sol.metrics["rel_l2"]["u"] < 0.02  # 0.0056 when calibrated
    mesh = meshio.read(tmp_path / "run" / "vtk" / "solution.vtu")
    assert mesh.point_data["velocity"].shape == (16 * 21, 3)  # 2-vectors padded to 3
    for name in ("u", "v", "p", "vorticity", "vorticity_reference", "vorticity_error"):
        assert name in mesh.point_data
    omega = mesh.point_data["vorticity_reference"]
    assert np.linalg.norm(mesh.point_data["vorticity_error"]) < 0.2 * np.linalg.norm(omega)


def test_taylor_green_config_short_run_writes_a_series(tmp_path):
    sol = _quick_solve(tmp_path, "taylor_green2d.yaml", 25, ["sampling.interior=300", "sampling.initial=100",
                                                             "output.resolution=[3, 9, 9]", "output.frames=3"])
    assert max(sol.metrics["rel_l2"][f] for f in ("u", "v")) < 0.03  # 0.0082 when calibrated
    frames = read_pvd(tmp_path / "run" / "vtk" / "solution.pvd")
    assert [t for t, _ in frames] == [0.0, 0.5, 1.0]
    mesh = meshio.read(frames[-1][1])
    assert mesh.point_data["velocity"].shape == (81, 3) and mesh.point_data["vorticity"].shape == (81,)


def test_cavity_re100_config_short_run(tmp_path):
    sol = _quick_solve(tmp_path, "cavity_re100.yaml", 60, ["sampling.interior=400", "output.vtk=false"])
    errors = centreline_errors(sol.predict, 100)
    # 0.042 when calibrated; the lid and walls alone (zero network) give 0.21 and 0.25
    assert max(errors.values()) < 0.1, errors
    reloaded = load(tmp_path / "run")
    assert np.allclose(reloaded.predict([[0.5, 0.5], [0.5, 1.0]]), sol.predict([[0.5, 0.5], [0.5, 1.0]]))
    assert reloaded.predict([[0.5, 1.0]])[0, 0] == pytest.approx(1.0)  # the lid, imposed exactly


def test_cavity_re1000_config_short_run(tmp_path):
    sol = _quick_solve(tmp_path, "cavity_re1000.yaml", 20, ["sampling.interior=400", "output.vtk=false"])
    assert sol.problem.pde.parameters["nu"] == pytest.approx(1e-3)
    history = np.genfromtxt(tmp_path / "run" / "history.csv", delimiter=",", names=True)
    assert history["loss"][-1] < 0.5 * history["loss"][0]  # 1.52 -> 0.39 when calibrated
    # a short run does not resolve Re = 1000 (see the benchmark); only check the figures are sane
    assert max(centreline_errors(sol.predict, 1000).values()) < 0.6


def test_beltrami_config_short_run(tmp_path):
    sol = _quick_solve(tmp_path, "beltrami3d.yaml", 30, ["sampling.interior=300", "sampling.boundary=200",
                                                         "sampling.initial=100", "output.resolution=[2, 5, 5, 5]",
                                                         "output.frames=2"])
    assert max(sol.metrics["rel_l2"][f] for f in ("u", "v", "w")) < 0.1  # 0.040 when calibrated
    mesh = meshio.read(read_pvd(tmp_path / "run" / "vtk" / "solution.pvd")[0][1])
    assert mesh.point_data["velocity"].shape == (125, 3) and mesh.point_data["vorticity"].shape == (125, 3)
    assert np.allclose(mesh.point_data["vorticity_magnitude"], np.linalg.norm(mesh.point_data["vorticity"], axis=1))
    assert "vorticity_magnitude_reference" in mesh.point_data
