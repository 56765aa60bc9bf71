"""Short runs of the shape benchmarks: configs/lshape.yaml and configs/poisson3d_stl.yaml."""

import importlib.util
from pathlib import Path

import meshio
import numpy as np
import pytest
import torch

import pinnlab as pl

ROOT = Path(__file__).resolve().parents[1]
SHORT = ["train.progress=false", "train.eval_every=2", "train.checkpoint_every=1000", "output.vtk=false",
         "output.plots=false"]

pytestmark = pytest.mark.usefixtures("one_thread")


def test_lshape_short_run_keeps_the_boundary_values_exact(tmp_path):
    solution = pl.solve(ROOT / "configs" / "lshape.yaml", out=tmp_path / "run",
                        overrides=[*SHORT, "solver.steps=2", "sampling.interior=200", "sampling.options.points=100",
                                   "model.width=8", "output.resolution=[20,20]"])
    g = solution.geometry
    xb, _ = g.sample_boundary(200, torch.Generator().manual_seed(0), dtype=torch.float64)
    corner = np.zeros((1, 2))
    xb = np.concatenate([xb.numpy(), corner])
    assert np.abs(solution.predict(xb)[:, 0] - solution.reference(xb)[:, 0]).max() < 1e-12
    assert solution.reference(corner)[0, 0] == 0.0
    assert solution.errors(21)["u"] < 0.5  # an odd grid: the corner is one of its points; two steps only


def test_stl_benchmark_short_run_and_reload(tmp_path):
    overrides = [*SHORT, "solver.steps=1", "sampling.interior=100", "sampling.boundary=50",
                 "output.resolution=[6,6,6]"]
    solution = pl.solve(ROOT / "configs" / "poisson3d_stl.yaml", out=tmp_path / "run", overrides=overrides)
    assert solution.geometry.faces == ["boundary"]
    assert solution.geometry.volume() == pytest.approx(1 - 4 / 3 * np.pi * 0.25**3, rel=2e-2)
    again = pl.load(tmp_path / "run")  # the resolved config names the mesh by its absolute path
    x = solution.geometry.sample_interior(20, torch.Generator().manual_seed(1), dtype=torch.float64).numpy()
    np.testing.assert_allclose(again.predict(x), solution.predict(x), rtol=0, atol=1e-14)


def test_shipped_stl_is_what_the_example_writes(tmp_path):
    spec = importlib.util.spec_from_file_location("box_with_hole_stl", ROOT / "examples" / "box_with_hole_stl.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path / "fresh.stl")
    fresh, shipped = meshio.read(tmp_path / "fresh.stl"), meshio.read(ROOT / "configs" / "meshes" / "box_with_hole.stl")
    np.testing.assert_array_equal(fresh.points, shipped.points)
    np.testing.assert_array_equal(fresh.cells[0].data, shipped.cells[0].data)
