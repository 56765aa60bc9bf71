"""Engineering quantities: quadrature rules with closed forms, drag and lift signs, YAML errors, a tiny run."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch

import pinnlab as pl
from pinnlab.compile.quantities import compile_quantities
from pinnlab.config import parse_config
from pinnlab.config.quantities import quantities_from_config
from pinnlab.errors import ConfigError, SpecError
from pinnlab.geometry import Disk, Ellipse, Polygon, Rectangle, Sphere, TimeSpace
from pinnlab.geometry.quadrature import boundary_quadrature, domain_quadrature, triangle_rule
from pinnlab.spec import PDE, Problem

pytestmark = pytest.mark.usefixtures("one_thread")

R, XC, YC = 0.1, 0.5, 0.5
RHO, NU = 2.0, 0.3
CHANNEL = Rectangle((0, 0), (1, 1)) - Disk((XC, YC), R, name="cylinder")
FLOW = PDE(coordinates=["x", "y"], fields=["u", "v", "p"], equations={"mass": "u_x + v_y"},
           parameters={"rho": RHO, "nu": NU})
#: Schäfer & Turek's drag and lift with pinnlab's normals (n points out of the fluid, into the cylinder):
#: their formulas use the normal out of the cylinder, −n, and both are odd in the normal.
DRAG = "p*nx - rho*nu*(ny*dn(u) - nx*dn(v))*ny"
LIFT = "rho*nu*(ny*dn(u) - nx*dn(v))*nx + p*ny"
#: the same forces as the traction −σ·n of σ = −pI + ρν(∇u + ∇uᵀ), integrated over the cylinder
TRACTION_X = "p*nx - rho*nu*(2*u_x*nx + (u_y + v_x)*ny)"
TRACTION_Y = "p*ny - rho*nu*((u_y + v_x)*nx + 2*v_y*ny)"


def no_slip_flow(a: float, b: float, c: float, alpha: float, beta: float):
    """u = ψ_y, v = −ψ_x with ψ = (r² − R²)² (a + b x' + c y') (zero velocity on the cylinder,
    divergence free) and p = αx + βy. On the cylinder ∇u = 8g [[x'y', y'²], [−x'², −x'y']] with
    g = a + b x' + c y', so the force on the body is F = (−απR² + 8πρν c R⁴, −βπR² − 8πρν b R⁴)."""

    def f(points: torch.Tensor) -> torch.Tensor:
        xp, yp = points[:, 0] - XC, points[:, 1] - YC
        s = xp**2 + yp**2 - R**2
        g = a + b * xp + c * yp
        u = 4 * s * yp * g + s**2 * c
        v = -(4 * s * xp * g + s**2 * b)
        return torch.stack([u, v, alpha * points[:, 0] + beta * points[:, 1]], -1)

    mu = RHO * NU
    return f, (-alpha * math.pi * R**2 + 8 * math.pi * mu * c * R**4,
               -beta * math.pi * R**2 - 8 * math.pi * mu * b * R**4)


# ---------------------------------------------------------------------------- quadrature
def test_boundary_rules_with_closed_forms():
    disk = Disk((0.3, -0.2), 0.7)
    q = boundary_quadrature(disk)
    assert q.measure == pytest.approx(2 * math.pi * 0.7, rel=1e-14)
    # ∮ x² ds on the circle = 2πR cx² + πR³
    assert q.integrate(q.points[:, 0] ** 2) == pytest.approx(2 * math.pi * 0.7 * 0.09 + math.pi * 0.7**3, rel=1e-13)
    assert np.allclose(np.linalg.norm(q.normals, axis=1), 1) and np.all(
        np.einsum("ij,ij->i", q.normals, q.points - disk.center) > 0)
    e = Ellipse((0, 0), (2, 1), 30)
    assert boundary_quadrature(e).measure == pytest.approx(9.688448220547675, rel=1e-13)  # perimeter, E(k)
    square = Polygon([[0, 0], [1, 0], [1, 1], [0, 1]])
    assert boundary_quadrature(square, ["edge1"]).measure == pytest.approx(1.0, rel=1e-15)
    sphere = boundary_quadrature(Sphere((0, 0, 0), 2.0), points=8)
    assert sphere.measure == pytest.approx(16 * math.pi, rel=1e-13)
    assert sphere.integrate(sphere.points[:, 2] ** 2) == pytest.approx(4 * math.pi * 2.0**4 / 3, rel=1e-13)


def test_csg_boundaries_keep_only_their_own_parts():
    # two unit disks 1 apart: each keeps 240° of its circle (arc ends found to ~1e-12 of the size)
    lens = Disk((0, 0), 1) | Disk((1, 0), 1)
    assert boundary_quadrature(lens).measure == pytest.approx(4 * math.pi * 2 / 3, rel=1e-10)
    # a disk cut by the edge y = 0 of a square: the half circle inside plus the square minus its diameter
    notch = Rectangle((-1, 0), (1, 1)) - Disk((0, 0), 0.5, name="notch")
    q = boundary_quadrature(notch, ["notch"])
    assert q.measure == pytest.approx(0.5 * math.pi, rel=1e-10)
    assert np.all(q.points[:, 1] >= -1e-12) and np.all(np.einsum("ij,ij->i", q.normals, q.points) < 0)
    assert boundary_quadrature(notch).measure == pytest.approx(0.5 * math.pi + 2 + 2 * 1 + 1, rel=1e-10)
    # the rule is spectral on each kept arc: ∮ y² over the kept half circle = R³ π/2
    assert q.integrate(q.points[:, 1] ** 2) == pytest.approx(0.5**3 * math.pi / 2, rel=1e-10)


def test_domain_rules_with_closed_forms():
    q = domain_quadrature(Rectangle((0, 0), (2, 1)), points=6)
    assert q.integrate(q.points[:, 0] ** 3 * q.points[:, 1]) == pytest.approx(2.0, rel=1e-14)  # ∫x³y = 4·½
    q = domain_quadrature(Disk((1, 0), 0.5), points=12)
    assert q.integrate(q.points[:, 0] ** 2) == pytest.approx(math.pi * 0.25 * (1 + 0.25 / 4), rel=1e-13)
    bary, w = triangle_rule()
    assert w.sum() == pytest.approx(1.0) and np.allclose(bary.sum(1), 1)
    # degree 5 exactness on the reference triangle: ∫ x^i y^j = i! j! / (i + j + 2)!
    pts = bary[:, 1:]
    for i, j in [(5, 0), (2, 3), (1, 1), (4, 1)]:
        exact = math.factorial(i) * math.factorial(j) / math.factorial(i + j + 2)
        assert 0.5 * np.dot(w, pts[:, 0] ** i * pts[:, 1] ** j) == pytest.approx(exact, rel=1e-13)


def test_domain_integral_on_a_triangulation():
    pytest.importorskip("gmsh")
    """Quadratic triangles along the hole: the area error falls like h³ or faster (straight ones: 1e-3 at h = 0.05)."""
    exact = 1 - math.pi * R**2
    coarse, fine = (abs(domain_quadrature(CHANNEL, mesh_size=h).measure - exact) for h in (0.1, 0.05))
    assert fine < 1e-5 * exact and coarse / fine > 2**3
    q = domain_quadrature(CHANNEL, mesh_size=0.05)
    moment = 1 / 3 - math.pi * R**2 * (XC**2 + R**2 / 4)  # ∫ x² over the square minus the disk
    assert q.integrate(q.points[:, 0] ** 2) == pytest.approx(moment, rel=1e-5)


# ---------------------------------------------------------------------------- quantities
def test_drag_and_lift_of_a_hand_made_flow():
    """Schäfer–Turek's formulas (normals flipped to pinnlab's) equal the traction integral and the closed form;
    p = x alone pushes the body upstream: F_D = −πR²."""
    f, (fd, fl) = no_slip_flow(0.7, 1.3, -2.1, 1.5, -0.4)
    specs = {"drag": {"integral": DRAG, "over": "cylinder"}, "lift": {"integral": LIFT, "over": "cylinder"},
             "fx": {"integral": TRACTION_X, "over": "cylinder"}, "fy": {"integral": TRACTION_Y, "over": "cylinder"},
             "cd": {"combine": "2*drag/(rho*1.5**2*0.2)"}}
    specs = {"cd": specs.pop("cd"), **specs}  # a combination may come before what it uses
    out = compile_quantities(specs, Problem(FLOW, CHANNEL, {}), CHANNEL).evaluate(f)
    assert out["drag"] == pytest.approx(fd, rel=1e-12) and out["fx"] == pytest.approx(fd, rel=1e-12)
    assert out["lift"] == pytest.approx(fl, rel=1e-12) and out["fy"] == pytest.approx(fl, rel=1e-12)
    assert out["cd"] == pytest.approx(2 * fd / (RHO * 1.5**2 * 0.2), rel=1e-12)
    pressure_only, (fd0, _) = no_slip_flow(0.0, 0.0, 0.0, 1.0, 0.0)
    drag = compile_quantities({"d": {"integral": DRAG, "over": "cylinder"}}, Problem(FLOW, CHANNEL, {}), CHANNEL)
    assert drag.evaluate(pressure_only)["d"] == pytest.approx(-math.pi * R**2, rel=1e-12) == fd0


def test_flux_equals_divergence_integral_and_point_values():
    disk = Disk((0, 0), 1.0, name="rim")
    pde = PDE(coordinates=["x", "y"], fields=["u", "v", "w"], equations={"e": "u"})

    def f(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x[:, 0] ** 3, x[:, 1] ** 3, x[:, 0] ** 2 * x[:, 1] + x[:, 1] ** 4], -1)

    specs = {"flux": {"integral": "u*nx + v*ny", "over": "rim"}, "source": {"integral": "u_x + v_y", "over": "domain"},
             "dnw": {"integral": "dn(w)", "over": "boundary"}, "lapw": {"integral": "lap(w)", "over": "domain"},
             "dw": {"value": "w", "at": [0.5, 0.5], "minus_at": [0.0, -0.5], "scale": 2.0},
             "gap": {"combine": "flux - source"}}
    out = compile_quantities(specs, Problem(pde, disk, {}), disk).evaluate(f)
    assert out["flux"] == pytest.approx(1.5 * math.pi, rel=1e-13) and out["source"] == pytest.approx(1.5 * math.pi, rel=1e-13)
    assert out["dnw"] == pytest.approx(out["lapw"], rel=1e-12) and out["lapw"] == pytest.approx(3 * math.pi, rel=1e-12)
    assert out["dw"] == pytest.approx(2 * ((0.125 + 0.0625) - 0.0625), rel=1e-14)
    assert abs(out["gap"]) < 1e-12


def test_time_dependent_values_default_to_the_final_time():
    pde = PDE(coordinates=["t", "x"], fields=["u"], equations={"e": "u_t"}, time="t")
    geometry = TimeSpace("t", 0.0, 2.0, pl.geometry.Box(["x"], [0], [1]))
    problem = Problem(pde, geometry, {})

    def f(x: torch.Tensor) -> torch.Tensor:
        return (x[:, 0] * x[:, 1])[:, None]

    specs = {"end": {"integral": "u", "over": "domain"}, "mid": {"value": "u", "at": [1.0], "time": 0.5},
             "right": {"integral": "u", "over": "x_max", "time": 1.0}}
    out = compile_quantities(specs, problem, geometry).evaluate(f)
    assert out == pytest.approx({"end": 1.0, "mid": 0.5, "right": 1.0}, rel=1e-14)


ERRORS = [
    ({"d": {"integral": "p", "over": "cylindr"}},
     "key 'output.quantities.d.over': unknown boundary part 'cylindr' (did you mean 'cylinder'?)"),
    ({"d": {"integral": "pp*nx", "over": "cylinder"}}, "unknown symbol 'pp'"),
    ({"d": {"value": "p", "at": [0.5, 0.5]}}, "key 'output.quantities.d.at': the point [0.5, 0.5] is outside the domain"),
    ({"d": {"value": "p", "at": [0.5]}}, "key 'output.quantities.d.at': must be a list of 2 finite numbers (x, y)"),
    ({"d": {"integral": "p*nx", "over": "domain"}}, "normal components are known in boundary integrals only"),
    ({"d": {"value": "dn(u)", "at": [0.1, 0.1]}}, "dn() (normal derivative) is only allowed"),
    ({"d": {"combine": "f2 + 1"}, "f2": {"combine": "2*d"}}, "the combinations d, f2 refer to each other in a cycle"),
    ({"d": {"combine": "1 + d"}}, "key 'output.quantities.d.combine': 'd' refers to itself"),
    ({"pi": {"value": "p", "at": [0.1, 0.1]}}, "key 'output.quantities.pi': 'pi' is a constant or function name"),
    ({"d": {"combine": "dragg"}}, "unknown symbol 'dragg'"),
    ({"d": {"value": "p", "at": [0.1, 0.1], "time": 1.0}}, "key 'output.quantities.d.time': the problem has no time"),
    ({"rho": {"value": "p", "at": [0.1, 0.1]}}, "key 'output.quantities.rho': 'rho' is a parameter of the problem"),
]


@pytest.mark.parametrize(("specs", "message"), ERRORS)
def test_declaration_errors_name_the_key(specs, message):
    f, _ = no_slip_flow(1, 1, 1, 1, 1)
    with pytest.raises(ConfigError) as err:
        quantities_from_config(specs, Problem(FLOW, CHANNEL, {}), CHANNEL, "run.yaml").evaluate(f)
    assert message in str(err.value) and str(err.value).startswith("run.yaml: ")


def test_vector_integrands_are_refused():
    f, _ = no_slip_flow(1, 1, 1, 1, 1)
    quantities = compile_quantities({"g": {"integral": "grad(u)", "over": "cylinder"}}, Problem(FLOW, CHANNEL, {}),
                                    CHANNEL)
    with pytest.raises(SpecError, match="quantity 'g': the expression is a vector"):
        quantities.evaluate(f)


SCHEMA_ERRORS = [
    ({"d": {"integrl": "p"}}, "key 'output.quantities.d': unknown key 'integrl' (did you mean 'integral'?)"),
    ({"d": {"integral": "p", "value": "p", "over": "x"}}, "give exactly one of 'integral', 'value' or 'combine'"),
    ({"d": {"integral": "p"}}, "an integral needs 'over'"),
    ({"d": {"value": "p"}}, "a value needs 'at'"),
    ({"d": {"value": "p", "at": [0, 0], "over": "x"}}, "'over' is not a key of a 'value' quantity"),
    ({"d": {"integral": "p", "over": "x", "points": 0}}, "key 'output.quantities.d.points'"),
]


@pytest.mark.parametrize(("quantities", "message"), SCHEMA_ERRORS)
def test_schema_errors(quantities, message):
    with pytest.raises(ConfigError, match="run.yaml") as err:
        parse_config({"problem": {"equation": "heat1d"}, "train": {"steps": 1},
                      "output": {"quantities": quantities}}, "run.yaml")
    assert message in str(err.value)


RUN = {
    "problem": {
        "pde": {"coordinates": ["x", "y"], "fields": ["u"], "equations": {"laplace": "lap(u) = 0"}},
        "domain": {"type": "difference", "of": [{"type": "rectangle", "low": [0, 0], "high": [1, 1]},
                                                {"type": "disk", "center": [0.5, 0.5], "radius": 0.2, "name": "hole"}]},
        "conditions": {"outer": {"type": "dirichlet", "field": "u", "value": "x", "on": ["x", "y"]}},
    },
    "model": {"width": 8, "depth": 1, "output": {"u": "x + x*(1 - x)*y*(1 - y)*u"}},  # dist() has no derivative on x_max
    "sampling": {"interior": 32, "boundary": 8},
    "solver": {"name": "adam", "lr": 1e-2},
    "train": {"steps": 2, "dtype": "float64", "progress": False, "eval_every": 2},
    "output": {"vtk": False, "plots": False, "resolution": [6, 6], "quantities": {
        "outflow": {"integral": "dn(u)", "over": "x_max"},
        "wall": {"integral": "u", "over": ["x_min", "x_max"], "points": 8},
        "du": {"value": "u", "at": [0.9, 0.5], "minus_at": [0.1, 0.5]},
        "ratio": {"combine": "du/0.8", "scale": 1.0}}},
}


def test_quantities_of_a_tiny_run_reach_metrics_and_load(tmp_path):
    solution = pl.solve(copy.deepcopy(RUN), out=tmp_path / "run")
    assert solution.quantities() == pytest.approx(solution.metrics["quantities"], rel=1e-14)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    q = metrics["quantities"]
    assert set(q) == {"outflow", "wall", "du", "ratio"}
    # the hard constraint makes u = x on the outer walls exactly: ∫ u over x_min ∪ x_max = 0 + 1
    assert q["wall"] == pytest.approx(1.0, rel=1e-12)
    assert q["ratio"] == pytest.approx(q["du"] / 0.8, rel=1e-14) and math.isfinite(q["outflow"])
    assert pl.load(tmp_path / "run").quantities() == pytest.approx(q, rel=1e-12)
    bad = copy.deepcopy(RUN)
    bad["output"]["quantities"]["du"]["at"] = [0.5, 0.55]
    with pytest.raises(ConfigError, match="outside the domain"):
        pl.solve(bad, out=tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_region_integrals():
    box = Rectangle((0, 0), (2, 1))
    pde = PDE(coordinates=["x", "y"], fields=["u"], equations={"e": "u"})
    region = {"type": "rectangle", "low": [0.5, -1], "high": [1, 2]}
    q = compile_quantities({"m": {"integral": "x", "over": "domain", "region": region}}, Problem(pde, box, {}), box)
    assert q.evaluate(lambda x: x[:, :1])["m"] == pytest.approx(0.375, rel=1e-14)
    pytest.importorskip("gmsh")
    ring = {"type": "disk", "center": [XC, YC], "radius": 2 * R}  # the annulus around the cylinder
    q = compile_quantities({"a": {"integral": 1, "over": "domain", "region": ring, "mesh_size": 0.02}},
                           Problem(FLOW, CHANNEL, {}), CHANNEL)
    assert q.evaluate(lambda x: x)["a"] == pytest.approx(3 * math.pi * R**2, rel=1e-5)


def test_torque_on_the_inner_cylinder_of_couette_flow():
    """Circular Couette flow u_θ = A r + B/r between r = 1/2 and 1 (an exact Navier–Stokes solution,
    inner wall rotating): the fluid's torque on the inner cylinder is −4πρνB, its force zero."""
    a_coef, b_coef = -1.0 / 3.0, 1.0 / 3.0  # inner wall speed 1/2, outer wall at rest
    annulus = Disk((0, 0), 1.0, name="outer") - Disk((0, 0), 0.5, name="inner")

    def f(x: torch.Tensor) -> torch.Tensor:
        r2 = (x * x).sum(-1)
        omega = a_coef + b_coef / r2  # u_θ / r
        p = RHO * (a_coef**2 * r2 / 2 + a_coef * b_coef * torch.log(r2) - b_coef**2 / (2 * r2))
        return torch.stack([-x[:, 1] * omega, x[:, 0] * omega, p], -1)

    specs = {"fx": {"integral": TRACTION_X, "over": "inner"}, "fy": {"integral": TRACTION_Y, "over": "inner"},
             "torque": {"integral": f"x*({TRACTION_Y}) - y*({TRACTION_X})", "over": "inner"}}
    out = compile_quantities(specs, Problem(FLOW, annulus, {}), annulus).evaluate(f)
    assert abs(out["fx"]) < 1e-13 and abs(out["fy"]) < 1e-13
    assert out["torque"] == pytest.approx(-4 * math.pi * RHO * NU * b_coef, rel=1e-12)


def test_vector_coordinates_and_unsupported_domains():
    """Normals of a vector coordinate x are nx1, nx2, nx3; a ball in five dimensions has no rule."""
    from pinnlab.spec.pde import Coordinate

    ball = pl.geometry.Ball("x", 3, radius=2.0)
    pde = PDE(coordinates=[Coordinate("x", 3)], fields=["u"], equations={"e": "lap(u)"})
    q = compile_quantities({"flux": {"integral": "u*(nx1 + nx2 + nx3)", "over": "boundary", "points": 10},
                            "r2": {"integral": "norm2(x)", "over": "boundary", "points": 10}}, Problem(pde, ball, {}), ball)
    out = q.evaluate(lambda x: x.sum(-1, keepdim=True))  # u = x1 + x2 + x3: the flux of (u, u, u) is 3·|B|
    assert out["flux"] == pytest.approx(3 * 4 / 3 * math.pi * 8, rel=1e-12)
    assert out["r2"] == pytest.approx(4 * math.pi * 4 * 4, rel=1e-12)
    big = pl.geometry.Ball("x", 5)
    pde5 = PDE(coordinates=[Coordinate("x", 5)], fields=["u"], equations={"e": "lap(u)"})
    with pytest.raises(ConfigError, match="integrals are taken on boxes, 2-D and 3-D shapes .* this domain is a Ball"):
        quantities_from_config({"m": {"integral": "u", "over": "domain"}}, Problem(pde5, big, {}), big, "run.yaml")


def test_boundary_integrals_take_the_trace_from_inside():
    """A field with a distance-function factor has one-sided derivatives on the part where it vanishes
    (the function behaves as |distance| there): the flux of u = dist(hole) through the hole is -|hole|."""
    domain = Rectangle((0, 0), (1, 1)) - Disk((0.5, 0.5), 0.2, name="hole")
    phi = domain.distance_function("hole")
    pde = PDE(coordinates=["x", "y"], fields=["u"], equations={"e": "u"})

    def f(x: torch.Tensor) -> torch.Tensor:
        return phi(phi.read(x, lambda a, c: a[:, c]))[:, None]

    out = compile_quantities({"flux": {"integral": "dn(u)", "over": "hole"}}, Problem(pde, domain, {}), domain).evaluate(f)
    assert out["flux"] == pytest.approx(-2 * math.pi * 0.2, rel=1e-10)
