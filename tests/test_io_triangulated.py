"""VTK files and plots on a triangulation of non-box plane domains, a mesh file's cells, and the grid fallback."""

from __future__ import annotations

import copy
import sys

import meshio
import numpy as np
import pytest
import torch

import pinnlab as pl
from pinnlab.geometry import Disk, Rectangle, TimeSpace
from pinnlab.io.plots import plot_field_triangles
from pinnlab.io.vtk import read_pvd, write_cells
from pinnlab.run.export import export_plots, export_vtk
from pinnlab.run.solution import Solution
from pinnlab.spec import PDE, Problem

pytestmark = pytest.mark.usefixtures("one_thread")

HOLE = {"type": "difference", "of": [{"type": "rectangle", "low": [0, 0], "high": [1, 1]},
                                     {"type": "disk", "center": [0.5, 0.5], "radius": 0.2, "name": "hole"}]}
RUN = {
    "problem": {
        "pde": {"coordinates": ["x", "y"], "fields": ["u"], "equations": {"laplace": "lap(u) = 0"}},
        "domain": HOLE,
        "conditions": {"outer": {"type": "dirichlet", "field": "u", "value": "x", "on": ["x", "y", "hole"]}},
        "exact": {"u": "x"},
    },
    "model": {"width": 8, "depth": 1},
    "sampling": {"interior": 32, "boundary": 8},
    "solver": {"name": "adam", "lr": 1e-2},
    "train": {"steps": 2, "dtype": "float64", "progress": False, "eval_every": 2},
    "output": {"resolution": [11, 11], "mesh_size": 0.1},
}


class Affine(torch.nn.Module):
    """u = 1 + x + 2y (+ t), a stand-in for a trained network."""

    def __init__(self, columns: int):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([1.0, 2.0, 1.0][:columns], dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (1 + x @ self.w)[:, None]


def steady_solution(domain, mesh_size: float = 0.1) -> Solution:
    pde = PDE(coordinates=["x", "y"], fields=["u"], equations={"e": "lap(u)"})
    return Solution(Problem(pde, domain, {}, exact={"u": "1 + x + 2*y"}), Affine(2), domain,
                    {"output": {"mesh_size": mesh_size}})


def test_run_on_a_square_minus_a_disk_writes_triangles_outside_the_hole(tmp_path):
    pytest.importorskip("gmsh")
    pl.solve(copy.deepcopy(RUN), out=tmp_path / "run")
    mesh = meshio.read(tmp_path / "run" / "vtk" / "solution.vtu")
    assert [block.type for block in mesh.cells] == ["triangle"] and len(mesh.cells[0].data) > 100
    radius = np.hypot(mesh.points[:, 0] - 0.5, mesh.points[:, 1] - 0.5)
    assert radius.min() >= 0.2 - 1e-9 and np.allclose(mesh.points[:, 2], 0)
    assert np.isclose(radius, 0.2, atol=1e-9).sum() >= 12  # nodes on the hole's circle
    for name in ("u", "u_reference", "u_error"):
        assert np.all(np.isfinite(mesh.point_data[name]))
    assert np.allclose(mesh.point_data["u_reference"], mesh.points[:, 0])
    assert (tmp_path / "run" / "plots" / "u.png").stat().st_size > 1000


def test_steady_and_time_dependent_output_on_triangles(tmp_path):
    pytest.importorskip("gmsh")
    disk = Disk((0.0, 0.0), 1.0)
    solution = steady_solution(disk)
    (vtu,) = export_vtk(solution, tmp_path / "steady")
    mesh = meshio.read(vtu)
    x, y = mesh.points[:, 0], mesh.points[:, 1]
    assert mesh.cells[0].type == "triangle" and np.hypot(x, y).max() <= 1 + 1e-9
    assert np.allclose(mesh.point_data["u"], 1 + x + 2 * y, atol=1e-12)
    plots = export_plots(solution, tmp_path / "plots")
    assert [p.name for p in plots] == ["u.png"]

    pde = PDE(coordinates=["t", "x", "y"], fields=["u"], equations={"e": "u_t - lap(u)"}, time="t")
    space = Rectangle((0, 0), (2, 1)) - Disk((1.0, 0.5), 0.25)
    geometry = TimeSpace("t", 0.0, 1.0, space)
    moving = Solution(Problem(pde, geometry, {}), Affine(3), geometry, {"output": {"mesh_size": 0.2}})
    (pvd,) = export_vtk(moving, tmp_path / "series", frames=3)
    series = read_pvd(pvd)
    assert [t for t, _ in series] == [0.0, 0.5, 1.0]
    for t, file in series:
        frame = meshio.read(file)
        assert frame.cells[0].type == "triangle"
        assert np.hypot(frame.points[:, 0] - 1, frame.points[:, 1] - 0.5).min() >= 0.25 - 1e-9
        assert np.allclose(frame.point_data["u"], 1 + t + 2 * frame.points[:, 0] + frame.points[:, 1], atol=1e-12)
    assert [p.name for p in export_plots(moving, tmp_path / "moving")] == ["u_slice.png"]


def test_without_gmsh_the_masked_grid_is_used_with_a_note(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gmsh", None)  # import gmsh now raises ImportError
    solution = steady_solution(Rectangle((0, 0), (1, 1)) - Disk((0.5, 0.5), 0.2))
    (vtu,) = export_vtk(solution, tmp_path / "vtk", resolution=21)
    note = capsys.readouterr().err.strip().splitlines()
    assert len(note) == 1 and "pip install pinnlab[geometry]" in note[0] and "masked" in note[0]
    mesh = meshio.read(vtu)
    assert mesh.cells[0].type == "quad"
    hole = np.hypot(mesh.points[:, 0] - 0.5, mesh.points[:, 1] - 0.5) < 0.2 - 1e-6
    assert hole.any() and np.all(np.isnan(mesh.point_data["u"][hole]))
    assert export_plots(solution, tmp_path / "plots", resolution=21)[0].exists()


def test_mesh_files_use_their_own_cells(tmp_path):
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]], dtype=float)
    triangles = np.array([[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])
    meshio.write(tmp_path / "square.vtu", meshio.Mesh(np.c_[square, np.zeros(5)], [("triangle", triangles)]))
    domain = pl.geometry.mesh.load_mesh(tmp_path / "square.vtu")
    (vtu,) = export_vtk(steady_solution(domain), tmp_path / "out")
    mesh = meshio.read(vtu)
    assert mesh.cells[0].type == "triangle" and len(mesh.points) == 5 and len(mesh.cells[0].data) == 4
    cube = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=float)
    tets = np.array([[0, 1, 2, 3], [1, 2, 3, 4]])
    meshio.write(tmp_path / "solid.vtu", meshio.Mesh(cube, [("tetra", tets)]))
    solid = pl.geometry.mesh.load_mesh(tmp_path / "solid.vtu")
    pde = PDE(coordinates=["x", "y", "z"], fields=["u"], equations={"e": "lap(u)"})
    three = Solution(Problem(pde, solid, {}), Affine(3), solid, {})
    (vtu,) = export_vtk(three, tmp_path / "solid")
    mesh = meshio.read(vtu)
    assert mesh.cells[0].type == "tetra" and len(mesh.points) == 5
    assert np.allclose(mesh.point_data["u"], 1 + mesh.points @ np.array([1.0, 2.0, 1.0]))


def test_triangle_writers_and_plots_check_their_input(tmp_path):
    pts = np.array([[0, 0], [1, 0], [0, 1]], dtype=float)
    tri = np.array([[0, 1, 2]])
    assert plot_field_triangles(tmp_path / "f.png", pts, tri, np.arange(3.0), "f", "x", "y",
                                reference=np.ones(3)).stat().st_size > 1000
    with pytest.raises(ValueError, match="expected 3 node values"):
        plot_field_triangles(tmp_path / "g.png", pts, tri, np.arange(4.0), "f", "x", "y")
    with pytest.raises(ValueError, match="triangle cells must be"):
        write_cells(tmp_path / "bad.vtu", pts, "triangle", np.array([[0, 1, 3]]), {})
    with pytest.raises(ValueError, match="cell_type must be one of"):
        write_cells(tmp_path / "bad.vtu", pts, "hexagon", tri, {})


def test_velocity_and_vorticity_on_triangles(tmp_path):
    pytest.importorskip("gmsh")

    class Rotation(torch.nn.Module):  # rigid rotation u = −y, v = x: vorticity 2
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(1.0, dtype=torch.float64))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.scale * torch.stack([-x[:, 1], x[:, 0]], -1)

    domain = Disk((0, 0), 1.0) - Disk((0.3, 0), 0.2)
    pde = PDE(coordinates=["x", "y"], fields=["u", "v"], equations={"mass": "u_x + v_y"})
    solution = Solution(Problem(pde, domain, {}), Rotation(), domain,
                        {"output": {"mesh_size": 0.15, "vectors": {"velocity": ["u", "v"]}}})
    (vtu,) = export_vtk(solution, tmp_path)
    mesh = meshio.read(vtu)
    assert mesh.cells[0].type == "triangle" and mesh.point_data["velocity"].shape == (len(mesh.points), 3)
    assert np.allclose(mesh.point_data["vorticity"], 2.0, atol=1e-12)
