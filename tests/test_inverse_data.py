"""Observations for inverse problems: files that name their fields, noise levels, validation splits,
points outside the domain, synthetic data from a reference."""

from __future__ import annotations

import re

import meshio
import numpy as np
import pytest
import torch

import pinnlab as pl
from pinnlab.compile import load_data
from pinnlab.config.build import check_data
from pinnlab.errors import ConfigError, SpecError
from pinnlab.geometry import geometry_from_dict


def plate(**conditions):
    """Poisson on [0, 1]²: u = sin(πx) sin(πy), v = x y (two fields with known values)."""
    pde = pl.PDE(coordinates=["x", "y"], fields=["u", "v"],
                 equations={"pu": "lap(u) + 2*pi**2*sin(pi*x)*sin(pi*y)", "pv": "lap(v)"})
    return pl.Problem(pde, {"x": [0, 1], "y": [0, 1]}, conditions,
                      exact={"u": "sin(pi*x)*sin(pi*y)", "v": "x*y"})


def load(cond, problem=None):
    return load_data("obs", cond, problem or plate())


def test_csv_fields_sigma_column_and_field_subset(tmp_path):
    path = tmp_path / "obs.csv"
    path.write_text("y,x,v,u,sigma\n0.5,0.25,1.0,2.0,0.5\n0.75,0.5,3.0,4.0,0.25\n")
    obs, held_out = load(pl.Data(file=str(path)))
    assert held_out is None and obs.fields == ["u", "v"]  # every field the file names, in PDE order
    assert obs.coords.tolist() == [[0.25, 0.5], [0.5, 0.75]] and obs.values.tolist() == [[2.0, 1.0], [4.0, 3.0]]
    assert obs.weights.tolist() == [4.0, 16.0]  # 1/σ² from the column named sigma
    obs, _ = load(pl.Data(file=str(path), fields=["v"], sigma=2.0))
    assert obs.fields == ["v"] and obs.values.tolist() == [[1.0], [3.0]] and obs.weights.tolist() == [0.25, 0.25]
    path.write_text("x,y,u,noise\n0.5,0.5,1.0,0.1\n")
    obs, _ = load(pl.Data(file=str(path), sigma="noise"))
    assert obs.weights.tolist() == pytest.approx([100.0])


def test_npz_stacked_arrays_name_their_fields(tmp_path):
    path = tmp_path / "obs.npz"
    np.savez(path, points=[[0.1, 0.2], [0.3, 0.4]], values=[[1.0, 2.0], [3.0, 4.0]], fields=["v", "u"],
             sigma=[1.0, 0.5])
    obs, _ = load(pl.Data(file=str(path)))
    assert obs.fields == ["u", "v"] and obs.values.tolist() == [[2.0, 1.0], [4.0, 3.0]]
    assert obs.weights.tolist() == [1.0, 4.0]
    obs, _ = load(pl.Data(file=str(path), fields=["v"]))
    assert obs.values.tolist() == [[1.0], [3.0]]


def test_vtu_point_data(tmp_path):
    points = np.array([[0.25, 0.5, 0.0], [0.5, 0.75, 0.0], [0.75, 0.125, 0.0]])  # exact in float32
    path = tmp_path / "obs.vtu"
    meshio.write(path, meshio.Mesh(points, [("vertex", np.arange(3)[:, None])],
                                   point_data={"u": np.array([1.0, 2.0, 3.0]), "u_error": np.zeros(3),
                                               "sigma": np.array([0.5, 0.5, 1.0])}))
    obs, _ = load(pl.Data(file=str(path)))
    assert obs.fields == ["u"] and obs.coords.tolist() == points[:, :2].tolist()
    assert obs.values[:, 0].tolist() == [1.0, 2.0, 3.0] and obs.weights.tolist() == [4.0, 4.0, 1.0]
    heat = pl.Problem(pl.PDE(coordinates=["t", "x"], time="t", fields=["u"], equations={"h": "u_t - u_xx"}),
                      {"t": [0, 1], "x": [0, 1]})
    with pytest.raises(SpecError, match="has no point-data array 't' for the time coordinate"):
        load(pl.Data(file=str(path)), heat)
    meshio.write(path, meshio.Mesh(points, [("vertex", np.arange(3)[:, None])],
                                   point_data={"u": np.ones(3), "t": np.full(3, 0.5)}))
    obs, _ = load(pl.Data(file=str(path)), heat)  # t from its array, x from the points
    assert obs.coords.tolist() == [[0.5, 0.25], [0.5, 0.5], [0.5, 0.75]]


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("make, message", [
    (lambda d: pl.Data(file=_write(d, "a.csv", "x,y\n0.1,0.2\n")),
     "names no field of the problem (fields: u, v; the file has: x, y); a data file must name the fields"),
    (lambda d: pl.Data(file=_write(d, "a.csv", "x,y,u\n0.1,0.2,1\n"), fields=["v"]), "has no field 'v'"),
    (lambda d: pl.Data(file=_write(d, "a.csv", "x,y,u\n0.1,0.2,nan\n0.2,0.2,1\n")),
     "data values contain NaN or infinite values (1 rows, the first is row 0)"),
    (lambda d: pl.Data(file=_write(d, "a.csv", "x,y,u,sigma\n0.1,0.2,1,0\n")), "sigma must be positive and finite"),
    (lambda d: pl.Data(file=_write(d, "a.csv", "x,y,u\n0.1,0.2,1\n"), sigma="noise"), "has no column 'noise'"),
    (lambda d: pl.Data(file=_write(d, "a.txt", "x,y,u\n")), "unknown kind '.txt' (supported: .csv, .npz, .vtu)"),
    (lambda d: pl.Data(fields=["u"], coords=[[0.1, 0.2], [0.3, 0.4]], values=[1.0, 2.0], sigma=[1.0]),
     "sigma must be one number or one per point (2), got shape (1,)"),
    (lambda d: pl.Data(fields=["u"], coords=[[0.1, 0.2], [0.3, 0.4]], values=[[1.0, 2.0]]),
     "data values must have shape (2, 1) for the fields ['u'], got (1, 2)"),
    (lambda d: pl.Data(fields=["u"], coords=[[0.1, 0.2], [0.3, 0.4]], values=[1.0, 2.0], validation=0.9),
     "validation 0.9 of 2 points leaves only validation points"),
    (lambda d: pl.Data(fields=["u", "v"], from_reference={"points": 5, "noise": 0.1, "relative": True}),
     "relative noise gives each field its own sigma; use one data condition per field"),
])
def test_data_errors_name_the_condition_and_reason(tmp_path, make, message):
    with pytest.raises(SpecError, match=f"condition 'obs': .*{re.escape(message)}"):
        load(make(tmp_path))


def test_npz_without_field_names_is_an_error(tmp_path):
    path = tmp_path / "obs.npz"
    np.savez(path, points=[[0.1, 0.2]], values=[[1.0]])
    with pytest.raises(SpecError, match="holds 'points' and 'values' but no 'fields' array naming the value columns"):
        load(pl.Data(file=str(path)))


@pytest.mark.parametrize("spec, message", [
    ({"coords": [[0.1, 0.2]], "values": [1.0], "file": "x.csv"}, "give one source of data: .*not file and coords"),
    ({"from_reference": {"points": 0}}, "'points' must be a positive integer"),
    ({"from_reference": {"points": 3, "nosie": 0.1}}, "unknown key 'nosie' (did you mean 'noise'?)"),
    ({"from_reference": {"points": 3}, "sigma": 0.1}, "sets sigma from its 'noise'"),
    ({"coords": [[0.1, 0.2]], "values": [1.0], "validation": 1.0}, "'validation' must be a fraction in [0, 1)"),
    ({"coords": [[0.1, 0.2]], "values": [1.0], "sigma": "col"}, "names a file column, but the data come from no file"),
])
def test_data_condition_declarations_are_checked(spec, message):
    pattern = message if ".*" in message else re.escape(message)
    with pytest.raises(SpecError, match=pattern):
        plate(obs=pl.Data(**spec))


def test_points_outside_the_domain_are_a_clear_error():
    problem = plate(obs=pl.Data(fields=["u"], coords=[[0.5, 0.5], [1.5, 0.25], [0.5, -1.0]], values=[1.0, 2.0, 3.0]))
    from pinnlab.compile import ResidualProgram

    program = ResidualProgram(problem)
    geometry = geometry_from_dict(problem.domain, ["x", "y"])
    with pytest.raises(ConfigError, match=re.escape("condition 'obs': 2 data point(s) lie outside the domain; the "
                                                    "first is (x = 1.5, y = 0.25)")):
        check_data(program, geometry, "cfg.yaml")
    inside = plate(obs=pl.Data(fields=["u"], coords=[[0.0, 1.0 + 1e-12]], values=[1.0]))
    check_data(ResidualProgram(inside), geometry)  # round-off on the boundary is inside


def test_validation_split_is_seeded_and_disjoint():
    coords = np.stack([np.linspace(0, 1, 20), np.full(20, 0.5)], -1)
    cond = pl.Data(fields=["u"], coords=coords, values=np.arange(20.0), validation=0.25, seed=3)
    train, held = load(cond)
    _, again_held = load(cond)
    assert len(train) == 15 and len(held) == 5 and torch.equal(held.coords, again_held.coords)
    together = sorted(train.values[:, 0].tolist() + held.values[:, 0].tolist())
    assert together == list(np.arange(20.0))
    _, other = load(cond.replace(seed=4))
    assert not torch.equal(other.coords, held.coords)


def test_synthesize_draws_from_the_reference():
    problem = plate()
    clean = pl.synthesize(problem, 50, seed=1)
    assert clean.fields == ["u", "v"] and clean.sigma is None
    x = np.asarray(clean.coords)
    expected = np.stack([np.sin(np.pi * x[:, 0]) * np.sin(np.pi * x[:, 1]), x[:, 0] * x[:, 1]], -1)
    np.testing.assert_allclose(clean.values, expected, atol=1e-14)
    assert ((x > 0) & (x < 1)).all()
    noisy = pl.synthesize(problem, 4000, noise=0.1, seed=1, fields=["u"])
    residual = np.asarray(noisy.values)[:, 0] - np.sin(np.pi * noisy.coords[:, 0]) * np.sin(np.pi * noisy.coords[:, 1])
    assert noisy.sigma == 0.1 and abs(residual.std() - 0.1) < 0.005 and abs(residual.mean()) < 0.005
    again = pl.synthesize(problem, 4000, noise=0.1, seed=1, fields=["u"])
    np.testing.assert_array_equal(again.values, noisy.values)
    relative = pl.synthesize(problem, 400, noise=0.01, seed=1, fields=["v"], relative=True)
    assert relative.sigma == pytest.approx(0.01 * np.std(np.asarray(relative.coords).prod(axis=1)), rel=0.02)
    no_reference = pl.Problem(problem.pde, problem.domain)
    with pytest.raises(SpecError, match="needs a problem with an exact solution or a reference"):
        pl.synthesize(no_reference, 5)


def test_noise_weights_reach_the_loss():
    """A data term with σ per point: its loss is mean((u - d)² / σ²)."""
    from pinnlab.compile import Batch, Objective, ResidualProgram

    coords = [[0.25, 0.5], [0.5, 0.5]]
    problem = plate(obs=pl.Data(fields=["u"], coords=coords, values=[0.0, 0.0], sigma=[0.5, 2.0]))
    program = ResidualProgram(problem)
    ps = program.point_sets["obs"]
    assert ps.weights.tolist() == [4.0, 0.25]

    class Constant(torch.nn.Module):
        def forward(self, x):
            return torch.ones(x.shape[0], 2, dtype=x.dtype)

    batch = Batch(ps.coords, values=ps.values, weights=ps.weights)
    objective = Objective(program, Constant(), {"obs": batch}, {"pu": 0.0, "pv": 0.0})
    _, losses = objective.loss({})
    assert float(losses["obs"]) == pytest.approx((4.0 + 0.25) / 2)
