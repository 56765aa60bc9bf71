"""VTK writers: files read back with meshio and pyvista reproduce points, cells and data;
the export of a solution writes its fields, references and vorticity."""

import xml.etree.ElementTree as ET

import meshio
import numpy as np
import pytest
import pyvista as pv
import torch

from pinnlab.compile import exact_function
from pinnlab.config import parse_config
from pinnlab.config.build import geometry_of, model_from_config, problem_from_config
from pinnlab.io.vtk import (
    read_pvd,
    write_grid,
    write_point_cloud_series,
    write_time_series,
)
from pinnlab.run.export import export_vtk
from pinnlab.run.solution import Solution

pv.OFF_SCREEN = True


def _ij_points(axes):
    mesh = np.meshgrid(*axes, indexing="ij")
    pts = np.zeros((mesh[0].size, 3))
    for i, m in enumerate(mesh):
        pts[:, i] = m.ravel()
    return pts


def _roundtrip(path, axes, cell_type, vtk_type, n_cells, data):
    """Read ``path`` with meshio and pyvista; check geometry, cells and data arrays."""
    pts = _ij_points(axes)
    m = meshio.read(path)
    np.testing.assert_allclose(m.points, pts, rtol=0, atol=1e-14)
    assert [c.type for c in m.cells] == [cell_type]
    assert len(m.cells[0].data) == n_cells
    g = pv.read(path)
    assert g.n_points == len(pts) and g.n_cells == n_cells
    assert set(np.unique(g.celltypes)) == {vtk_type}
    np.testing.assert_allclose(g.points, pts, rtol=0, atol=1e-14)
    for name, expected in data.items():
        np.testing.assert_array_equal(m.point_data[name], expected)
        np.testing.assert_array_equal(np.asarray(g.point_data[name]), expected)
    assert set(m.point_data) == set(data)
    return g


def test_grid_1d_lines_scalar_and_nan(tmp_path):
    x = np.linspace(0.0, 1.0, 7)
    u = np.sin(np.pi * x)
    u[3] = np.nan
    path = write_grid(tmp_path / "line.vtu", [x], {"u": u})
    g = _roundtrip(path, [x], "line", pv.CellType.LINE, 6, {"u": u})
    # line lengths add up to the interval length
    assert g.compute_cell_sizes(length=True)["Length"].sum() == pytest.approx(
        1.0, abs=1e-14
    )


def test_grid_2d_quads_vectors_padded(tmp_path):
    x = np.linspace(-1.0, 1.0, 5)
    y = np.array([0.0, 0.1, 0.5, 2.0])  # non-uniform
    X, Y = np.meshgrid(x, y, indexing="ij")
    u = X**2 + Y
    vel = np.stack([X.ravel(), -Y.ravel()], axis=1)
    path = write_grid(
        tmp_path / "sub" / "field.vtu", [x, y], {"u": u.ravel(), "vel": vel}
    )
    vel3 = np.column_stack([vel, np.zeros(len(vel))])
    g = _roundtrip(
        path, [x, y], "quad", pv.CellType.QUAD, 4 * 3, {"u": u.ravel(), "vel": vel3}
    )
    # positively oriented quads whose areas tile the rectangle
    areas = g.compute_cell_sizes(area=True)["Area"]
    assert np.all(areas > 0)
    assert areas.sum() == pytest.approx(2.0 * 2.0, rel=1e-13)
    quads = g.points[g.cells_dict[pv.CellType.QUAD]]  # (cells, 4, 3)
    normal_z = np.cross(quads[:, 1] - quads[:, 0], quads[:, 3] - quads[:, 0])[:, 2]
    assert np.all(normal_z > 0)  # counter-clockwise in the x-y plane


def test_grid_accepts_grid_shaped_arrays(tmp_path):
    x, y = np.linspace(0, 1, 3), np.linspace(0, 2, 4)
    X, Y = np.meshgrid(x, y, indexing="ij")
    vel = np.stack([X, Y], axis=-1)  # (3, 4, 2)
    path = write_grid(tmp_path / "g.vtu", [x, y], {"u": X * Y, "vel": vel})
    m = meshio.read(path)
    np.testing.assert_array_equal(m.point_data["u"], (X * Y).ravel())
    np.testing.assert_array_equal(m.point_data["vel"][:, :2], vel.reshape(-1, 2))
    np.testing.assert_array_equal(m.point_data["vel"][:, 2], 0.0)


def test_grid_3d_hexahedra_and_axis_names(tmp_path):
    x, y, z = np.linspace(0, 1, 4), np.linspace(0, 2, 3), np.array([0.0, 0.5, 1.5])
    X, Y, Z = np.meshgrid(x, y, z, indexing="ij")
    p = (X + 10 * Y + 100 * Z).ravel()
    w = np.stack([X, Y, Z], axis=-1).reshape(-1, 3)
    path = write_grid(
        tmp_path / "box.vtu", [x, y, z], {"p": p, "w": w}, axis_names=["x", "y", "t"]
    )
    data = {"p": p, "w": w, "x": X.ravel(), "y": Y.ravel(), "t": Z.ravel()}
    g = _roundtrip(
        path, [x, y, z], "hexahedron", pv.CellType.HEXAHEDRON, 3 * 2 * 2, data
    )
    vols = g.compute_cell_sizes(volume=True)["Volume"]
    assert np.all(vols > 0)  # VTK node ordering: positive volumes
    assert vols.sum() == pytest.approx(1.0 * 2.0 * 1.5, rel=1e-13)


@pytest.mark.parametrize(
    ("axes", "data", "names", "match"),
    [
        ([], {}, None, "1, 2 or 3 axes"),
        ([np.zeros(2)] * 4, {}, None, "1, 2 or 3 axes"),
        ([np.array([0.0])], {}, None, "at least 2"),
        ([np.array([0.0, 1.0, 0.5])], {}, None, "strictly increasing"),
        ([np.linspace(0, 1, 3)], {"u": np.zeros(4)}, None, r"'u'.*shape \(4,\)"),
        ([np.linspace(0, 1, 3)] * 2, {"v": np.zeros((9, 4))}, None, "'v'"),
        ([np.linspace(0, 1, 3)] * 2, {"u": np.zeros((3, 3, 3, 2))}, None, "'u'"),
        ([np.linspace(0, 1, 3)] * 2, {}, ["x"], "axis_names"),
        ([np.linspace(0, 1, 3)] * 2, {}, ["x", "x"], "distinct"),
        ([np.linspace(0, 1, 3)], {"x": np.zeros(3)}, ["x"], "clash"),
    ],
)
def test_grid_rejects_bad_input(tmp_path, axes, data, names, match):
    with pytest.raises(ValueError, match=match):
        write_grid(tmp_path / "bad.vtu", axes, data, axis_names=names)


def test_grid_rejects_wrong_suffix(tmp_path):
    with pytest.raises(ValueError, match=".vtu"):
        write_grid(tmp_path / "bad.vtk", [np.linspace(0, 1, 3)], {})


def test_time_series_pvd(tmp_path):
    x, y = np.linspace(0, 1, 5), np.linspace(0, 1, 4)
    X, Y = np.meshgrid(x, y, indexing="ij")
    times = [0.0, 0.25, 0.5]
    frames = [
        {"u": np.exp(-t) * X * Y, "flow": np.stack([X, t + Y], -1)} for t in times
    ]
    pvd = write_time_series(tmp_path / "out", "heat", times, [x, y], frames)
    assert pvd == tmp_path / "out" / "heat.pvd"

    entries = read_pvd(pvd)
    assert [t for t, _ in entries] == times
    assert [f.name for _, f in entries] == [f"heat_{k:04d}.vtu" for k in range(3)]
    assert all(f.is_file() for _, f in entries)
    # file names in the collection are relative, timesteps exact
    ds = ET.parse(pvd).getroot().find("Collection").findall("DataSet")
    assert [d.get("file") for d in ds] == [
        "heat_0000.vtu",
        "heat_0001.vtu",
        "heat_0002.vtu",
    ]
    assert [float(d.get("timestep")) for d in ds] == times

    for (_, f), t in zip(entries, times):
        m = meshio.read(f)
        np.testing.assert_array_equal(m.point_data["u"], (np.exp(-t) * X * Y).ravel())
        assert m.point_data["flow"].shape == (20, 3)

    reader = pv.PVDReader(str(pvd))
    np.testing.assert_allclose(reader.time_values, times, rtol=0, atol=0)
    for t in times:
        reader.set_active_time_value(t)
        block = reader.read()[0]
        assert block.n_points == 20 and block.n_cells == 12
        np.testing.assert_allclose(
            block.point_data["u"], (np.exp(-t) * X * Y).ravel(), rtol=1e-15
        )
        np.testing.assert_allclose(
            block.point_data["flow"][:, 1], (t + Y).ravel(), rtol=1e-15
        )


def test_time_series_validation(tmp_path):
    axes = [np.linspace(0, 1, 3)]
    frame = {"u": np.zeros(3)}
    with pytest.raises(ValueError, match="2 times but 1 frames"):
        write_time_series(tmp_path, "s", [0.0, 1.0], axes, [frame])
    with pytest.raises(ValueError, match="strictly increasing"):
        write_time_series(tmp_path, "s", [1.0, 1.0], axes, [frame, frame])
    with pytest.raises(ValueError, match="finite"):
        write_time_series(tmp_path, "s", [np.nan], axes, [frame])
    with pytest.raises(ValueError, match="stem"):
        write_time_series(tmp_path, "a/b", [0.0], axes, [frame])
    with pytest.raises(ValueError, match=r"frames\[1\]\['u'\]"):
        write_time_series(tmp_path, "s", [0.0, 1.0], axes, [frame, {"u": np.zeros(2)}])


def test_point_cloud_series(tmp_path):
    rng = np.random.default_rng(0)
    clouds = [rng.random((n, 2)) for n in (10, 25, 0)]
    res = [
        {"residual": rng.random(len(c)), "grad": rng.random((len(c), 2))}
        for c in clouds
    ]
    steps = [0, 100, 200]
    pvd = write_point_cloud_series(tmp_path, "points", steps, clouds, res)
    entries = read_pvd(pvd)
    assert [t for t, _ in entries] == [0.0, 100.0, 200.0]
    assert [f.suffix for _, f in entries] == [".vtu"] * 3

    for (_, f), c, r in zip(entries[:2], clouds, res):
        m = meshio.read(f)
        np.testing.assert_array_equal(m.points[:, :2], c)
        np.testing.assert_array_equal(m.points[:, 2], 0.0)
        assert m.cells[0].type == "vertex" and len(m.cells[0].data) == len(c)
        np.testing.assert_array_equal(m.point_data["residual"], r["residual"])
        g = pv.read(f)
        assert g.n_points == len(c) and g.n_cells == len(c)
        assert set(np.unique(g.celltypes)) == {pv.CellType.VERTEX}
        np.testing.assert_array_equal(g.points, m.points)
        np.testing.assert_array_equal(g.point_data["residual"], r["residual"])
        np.testing.assert_array_equal(g.point_data["grad"][:, :2], r["grad"])
        np.testing.assert_array_equal(g.point_data["grad"][:, 2], 0.0)
    # an empty step is a valid file for VTK (meshio 5.3's reader cannot read empty arrays)
    empty = pv.read(entries[2][1])
    assert empty.n_points == 0 and empty.n_cells == 0
    assert set(empty.point_data.keys()) == {"residual", "grad"}

    reader = pv.PVDReader(str(pvd))
    assert list(reader.time_values) == [0.0, 100.0, 200.0]
    reader.set_active_time_value(100.0)
    assert reader.read()[0].n_points == 25


def test_point_cloud_series_3d_without_data(tmp_path):
    clouds = [np.arange(12.0).reshape(4, 3), np.ones((2, 3))]
    pvd = write_point_cloud_series(tmp_path, "c", [0.5, 1.5], clouds)
    for (_, f), c in zip(read_pvd(pvd), clouds):
        np.testing.assert_array_equal(meshio.read(f).points, c)


def test_point_cloud_series_validation(tmp_path):
    with pytest.raises(ValueError, match=r"clouds\[0\].*dim <= 3"):
        write_point_cloud_series(tmp_path, "c", [0.0], [np.zeros((3, 4))])
    with pytest.raises(ValueError, match=r"clouds\[1\] has dimension 3"):
        write_point_cloud_series(
            tmp_path, "c", [0.0, 1.0], [np.zeros((3, 2)), np.zeros((3, 3))]
        )
    with pytest.raises(ValueError, match="non-finite"):
        write_point_cloud_series(tmp_path, "c", [0.0], [np.full((2, 2), np.nan)])
    with pytest.raises(ValueError, match="point_data has 2 entries"):
        write_point_cloud_series(tmp_path, "c", [0.0], [np.zeros((3, 2))], [{}, {}])
    with pytest.raises(ValueError, match=r"point_data\[0\]\['r'\]"):
        write_point_cloud_series(
            tmp_path, "c", [0.0], [np.zeros((3, 2))], [{"r": np.zeros(4)}]
        )


def test_read_pvd_rejects_other_xml(tmp_path):
    path = tmp_path / "x.pvd"
    path.write_text('<?xml version="1.0"?><VTKFile type="UnstructuredGrid"/>')
    with pytest.raises(ValueError, match="not a VTK collection"):
        read_pvd(path)


# -- export of a solution ----------------------------------------------------------------------------


def _solution(equation, options, vectors):
    """A solution of ``equation`` with a small untrained float64 network."""
    cfg = parse_config({"problem": {"equation": equation, "options": options}, "model": {"width": 8, "depth": 2},
                        "train": {"dtype": "float64", "steps": 1}, "output": {"vectors": vectors}})
    problem = problem_from_config(cfg.problem)
    geometry = geometry_of(problem)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        model = model_from_config(cfg.model, problem, geometry, torch.Generator().manual_seed(0))
    finally:
        torch.set_default_dtype(old)
    return Solution(problem, model, geometry, {"output": {"vectors": vectors}})


def _reverse_mode_curl(f, x, velocity, space):
    """Vorticity by plain reverse mode (one backward pass per velocity component)."""
    z = x.clone().requires_grad_(True)
    out = f(z)
    grads = [torch.autograd.grad(out[:, i].sum(), z, retain_graph=True)[0][:, space] for i in velocity]
    J = torch.stack(grads, dim=1).detach()
    if len(space) == 2:
        return (J[:, 1, 0] - J[:, 0, 1]).numpy()
    return torch.stack([J[:, 2, 1] - J[:, 1, 2], J[:, 0, 2] - J[:, 2, 0], J[:, 1, 0] - J[:, 0, 1]], -1).numpy()


def _frame_points(mesh, t, dim):
    return torch.as_tensor(np.column_stack([np.full(len(mesh.points), t), mesh.points[:, :dim]]))


def test_export_writes_vorticity_of_network_and_reference_2d(tmp_path):
    sol = _solution("taylor_green2d", {"nu": 0.1}, {"velocity": ["u", "v"]})
    export_vtk(sol, tmp_path, resolution=[3, 9, 9], frames=3)
    frames = read_pvd(tmp_path / "solution.pvd")
    assert [t for t, _ in frames] == [0.0, 0.5, 1.0]
    for t, path in frames:
        mesh = meshio.read(path)
        x = _frame_points(mesh, t, 2)
        expected = _reverse_mode_curl(sol.model, x, [0, 1], [1, 2])
        np.testing.assert_allclose(mesh.point_data["vorticity"], expected, rtol=1e-12, atol=1e-14)
        closed = -2 * np.cos(x[:, 1].numpy()) * np.cos(x[:, 2].numpy()) * np.exp(-0.2 * t)
        np.testing.assert_allclose(mesh.point_data["vorticity_reference"], closed, rtol=0, atol=1e-13)
        np.testing.assert_allclose(mesh.point_data["vorticity_error"], np.abs(expected - closed), atol=1e-12)
        np.testing.assert_allclose(mesh.point_data["velocity"][:, :2],
                                   np.column_stack([mesh.point_data["u"], mesh.point_data["v"]]))


def test_export_writes_vorticity_vectors_3d(tmp_path):
    sol = _solution("beltrami3d", {}, {"velocity": ["u", "v", "w"]})
    export_vtk(sol, tmp_path, resolution=[2, 4, 4, 4], frames=2)
    t, path = read_pvd(tmp_path / "solution.pvd")[-1]
    mesh = meshio.read(path)
    x = _frame_points(mesh, t, 3)
    expected = _reverse_mode_curl(sol.model, x, [0, 1, 2], [1, 2, 3])
    np.testing.assert_allclose(mesh.point_data["vorticity"], expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(mesh.point_data["vorticity_magnitude"], np.linalg.norm(expected, axis=1), rtol=1e-12)
    # the Ethier–Steinman flow is a Beltrami field: curl u = d u with d = pi/2
    exact = exact_function(sol.problem)(x)[:, :3].numpy()
    np.testing.assert_allclose(mesh.point_data["vorticity_magnitude_reference"],
                               np.pi / 2 * np.linalg.norm(exact, axis=1), rtol=1e-12, atol=1e-13)


def test_export_vectors_argument_overrides_the_configuration(tmp_path):
    sol = _solution("taylor_green2d", {"nu": 0.1}, {"velocity": ["u", "v"]})
    export_vtk(sol, tmp_path, resolution=[2, 5, 5], frames=2, vectors={"flow": ["v", "u"]})
    mesh = meshio.read(read_pvd(tmp_path / "solution.pvd")[0][1])
    assert "vorticity" not in mesh.point_data and "velocity" not in mesh.point_data
    np.testing.assert_array_equal(mesh.point_data["flow"][:, 0], mesh.point_data["v"])
