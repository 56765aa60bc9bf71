"""``problem.reference``: reference values at scattered points from CSV, DAT (COMSOL export), NPZ and VTU files."""

import json
import math

import meshio
import numpy as np
import pytest
import yaml

import pinnlab as pl
from pinnlab.compile.reference_data import ReferenceData
from pinnlab.config.build import problem_from_config
from pinnlab.config.schema import ProblemConfig, load_config
from pinnlab.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")

HOLED = {"type": "difference", "of": [{"type": "rectangle", "low": [0, 0], "high": [1, 1]},
                                      {"type": "disk", "center": [0.5, 0.5], "radius": 0.2, "name": "hole"}]}


def points_inside(n=50, seed=0):
    x = np.random.default_rng(seed).uniform(0, 1, (4 * n, 2))
    return x[np.hypot(x[:, 0] - 0.5, x[:, 1] - 0.5) > 0.2][:n]


def exact(x):
    return np.sin(np.pi * x[:, 0]) * np.sin(np.pi * x[:, 1])


def config(tmp_path, reference, domain=None):
    cfg = {"problem": {"equation": "poisson2d", "reference": reference, **({"domain": domain} if domain else {})},
           "model": {"width": 8, "depth": 1}, "derivatives": {"method": "autograd"},
           "sampling": {"interior": 32, "boundary": 16}, "solver": {"name": "adam", "lr": 1e-3},
           "train": {"steps": 2, "dtype": "float64", "progress": False, "eval_every": 1, "log_every": 1,
                     "checkpoint_every": 1000},
           "output": {"vtk": False, "plots": False, "resolution": 11}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def problem_of(path):
    cfg = load_config(path)
    return problem_from_config(cfg.problem, str(path))


def write_formats(directory, x, u):
    """The same data as CSV, COMSOL-style DAT, NPZ (columns and stacked) and VTU; returns the file names."""
    np.savetxt(directory / "ref.csv", np.c_[x, u], delimiter=",", header="x,y,u", comments="")
    header = ("% Model:              poisson.mph\n% Version:            COMSOL 6.1\n% Dimension:          2\n"
              f"% Nodes:              {len(x)}\n% Expressions:        1\n% Description:        u\n"
              "% x                       y                        u (1)\n")
    (directory / "ref.dat").write_text(header + "\n".join(f"{a:.17g}   {b:.17g}   {c:.17g}" for a, b, c in
                                                          zip(x[:, 0], x[:, 1], u)) + "\n")
    np.savez(directory / "ref.npz", x=x[:, 0], y=x[:, 1], u=u)
    np.savez(directory / "stacked.npz", points=x, values=u[:, None], fields=np.array(["u"]))
    meshio.write(directory / "ref.vtu", meshio.Mesh(np.c_[x, np.zeros(len(x))], [("vertex", np.arange(len(x))[:, None])],
                                                    point_data={"u": u}))
    return ["ref.csv", "ref.dat", "ref.npz", "stacked.npz", "ref.vtu"]


def test_every_format_gives_the_same_reference_relative_to_the_config(tmp_path):
    x = points_inside()
    u = exact(x)
    (tmp_path / "data").mkdir()
    for name in write_formats(tmp_path / "data", x, u):
        path = config(tmp_path, {"file": f"data/{name}"}, HOLED)
        ref = problem_of(path).reference
        assert isinstance(ref, ReferenceData) and ref.fields == ("u",) and len(ref) == len(x)
        np.testing.assert_allclose(ref.points, x, rtol=0, atol=1e-15)
        np.testing.assert_allclose(ref(x)[:, 0], u, rtol=0, atol=1e-15)
        mixed = ref(np.array([[0.1, 0.1], x[3]]))  # unknown away from its points
        assert np.isnan(mixed[0]).all() and mixed[1, 0] == pytest.approx(u[3], abs=1e-15)


def test_errors_and_history_are_measured_at_the_reference_points(tmp_path):
    x = points_inside(80)
    u = exact(x) + 0.01  # offset: errors must be against the file, not the closed form
    write_formats(tmp_path, x, u)
    solution = pl.solve(str(config(tmp_path, {"file": "ref.dat", "fields": ["u"]}, HOLED)), out=tmp_path / "run")
    prediction = solution.predict(x)[:, 0]
    expected = np.linalg.norm(prediction - u) / np.linalg.norm(u)
    assert solution.metrics["rel_l2"]["u"] == pytest.approx(expected, rel=1e-9)
    assert solution.errors()["u"] == pytest.approx(expected, rel=1e-9)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["error_points"] == {"kind": "reference data", "count": 80}
    resolved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert resolved["problem"]["reference"]["file"] == str((tmp_path / "ref.dat").resolve())
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert any("u" in col for col in history[0].split(",")) and len(history) == 3


def test_fields_the_file_lacks_are_left_out(tmp_path):
    x = points_inside(10)
    np.savetxt(tmp_path / "ref.csv", np.c_[x, exact(x)], delimiter=",", header="x,y,u", comments="")
    cfg = {"problem": {"pde": {"coordinates": ["x", "y"], "fields": ["u", "v"], "equations": {"a": "lap(u)",
                                                                                             "b": "lap(v)"}},
                       "domain": HOLED, "reference": {"file": "ref.csv"}}}
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(cfg))
    problem = problem_from_config(ProblemConfig(**cfg["problem"]), str(path))
    values = problem.reference(x)
    np.testing.assert_allclose(values[:, 0], exact(x))
    assert np.isnan(values[:, 1]).all() and problem.reference.fields == ("u",)


def bad(tmp_path, content, name="ref.csv", **extra):
    (tmp_path / name).write_text(content) if isinstance(content, str) else np.savez(tmp_path / name, **content)
    with pytest.raises(ConfigError) as err:
        problem_of(config(tmp_path, {"file": name, **extra}, HOLED))
    message = str(err.value)
    assert "run.yaml" in message and "problem.reference" in message and name in message
    return message


def test_clear_errors_for_bad_files(tmp_path):
    assert "no coordinate column 'y'" in bad(tmp_path, "x,u\n0.1,1\n")
    assert "NaN" in bad(tmp_path, "x,y,u\n0.1,0.1,1\n0.2,0.1,nan\n") and "row 1" in bad(
        tmp_path, "x,y,u\n0.1,0.1,1\n0.2,0.1,nan\n")
    outside = bad(tmp_path, "x,y,u\n0.1,0.1,1\n0.5,0.5,0\n")  # the centre of the hole
    assert "outside the domain" in outside and "row 1" in outside and "x = 0.5, y = 0.5" in outside
    assert "'w' (for" in bad(tmp_path, "x,y,u\n0.1,0.1,1\n", fields=["w"])
    assert "names no field of the problem" in bad(tmp_path, "x,y,p\n0.1,0.1,1\n")
    with pytest.raises(ConfigError, match=r"run\.yaml: key 'problem\.reference': data file 'missing\.csv' does not"):
        problem_of(config(tmp_path, {"file": "missing.csv"}, HOLED))
    assert "unknown kind '.xlsx'" in bad(tmp_path, "x", name="ref.xlsx") and ".dat" in bad(tmp_path, "x", name="r.txt")
    assert "names no columns" in bad(tmp_path, "0.1 0.1 1\n", name="ref.dat")
    assert "3 columns" in bad(tmp_path, "% x y u\n0.1 0.1\n", name="ref.dat")
    assert "not a row of numbers" in bad(tmp_path, "% x y u\n0.1 0.1 1\nabc def 1\n", name="ref.dat")
    assert "several times" in bad(tmp_path, "% x y u (1) @ t=0\n0.1 0.1 1 2 3\n", name="ref.dat")
    assert "no 'fields' array" in bad(tmp_path, {"points": np.zeros((2, 2)), "values": np.zeros(2)}, name="s.npz")


def test_tolerance_admits_rounded_coordinates(tmp_path):
    rounded = 0.5 + (0.2 - 2e-5) * np.array([math.cos(1.0), math.sin(1.0)])  # 2e-5 inside the hole
    text = f"x,y,u\n{rounded[0]:.10f},{rounded[1]:.10f},0\n0.1,0.1,1\n"
    assert "outside the domain" in bad(tmp_path, text)
    (tmp_path / "ok.csv").write_text(text)
    ref = problem_of(config(tmp_path, {"file": "ok.csv", "tolerance": 1e-4}, HOLED)).reference
    assert len(ref) == 2
    with pytest.raises(ConfigError, match="tolerance"):
        problem_of(config(tmp_path, {"file": "ok.csv", "tolerance": -1}, HOLED))
