"""Mesh geometries: files written with meshio and read back (triangles, tetrahedra, closed surfaces)."""

import math

import meshio
import numpy as np
import pytest
import torch

from pinnlab.autodiff import Derivative, make_backend
from pinnlab.compile import OutputTransform
from pinnlab.errors import SpecError
from pinnlab.geometry import Sphere, geometry_from_dict
from pinnlab.geometry.mesh import _enclosed_volume, load_mesh
from pinnlab.geometry.tessellate import box_surface, combine, icosphere
from pinnlab.nn import MLP, InputScaling, PINNModel
from pinnlab.nn.model import BoundModel, parameters_of
from pinnlab.spec.expr import Namespace, parse

F64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def grid_triangles(nx, ny, width=2.0, height=1.0):
    """A structured triangulation of [0, width] × [0, height] and its boundary edges by side."""
    xs, ys = np.linspace(0, width, nx + 1), np.linspace(0, height, ny + 1)
    points = np.array([[x, y, 0.0] for y in ys for x in xs])
    index = np.arange(len(points)).reshape(ny + 1, nx + 1)
    a, b, c, d = index[:-1, :-1], index[:-1, 1:], index[1:, 1:], index[1:, :-1]
    tri = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    left = np.stack([index[:-1, 0], index[1:, 0]], -1)
    right = np.stack([index[:-1, -1], index[1:, -1]], -1)
    return points, tri, left, right


def write_gmsh(path, points, cells, groups):
    """A gmsh 2.2 file: ``cells`` (type, data) blocks; ``groups`` maps a block number to (name, tag, dim)."""
    physical, geometrical, field_data = [], [], {}
    for i, (_, data) in enumerate(cells):
        name, tag, dim = groups.get(i, (None, 100 + i, 0))
        physical.append(np.full(len(data), tag))
        geometrical.append(np.full(len(data), tag))
        if name:
            field_data[name] = np.array([tag, dim])
    meshio.write(path, meshio.Mesh(points, cells, cell_data={"gmsh:physical": physical,
                                                             "gmsh:geometrical": geometrical},
                                   field_data=field_data), file_format="gmsh22", binary=False)


def test_triangle_mesh_round_trip_with_physical_groups(tmp_path):
    points, tri, left, right = grid_triangles(8, 4)
    path = tmp_path / "channel.msh"
    write_gmsh(path, points, [("triangle", tri), ("line", left), ("line", right)],
               {1: ("inlet", 1, 1), 2: ("outlet", 2, 1)})
    g = load_mesh(path)
    assert g.names == ["x", "y"] and g.faces == ["boundary", "inlet", "outlet"]
    assert g.volume() == pytest.approx(2.0, rel=1e-12)
    for method in ("uniform", "sobol", "lhs"):
        x = g.sample_interior(4000, gen(1), method, dtype=F64)
        assert x.shape == (4000, 2) and g.contains(x).all()
        assert abs(float((x[:, 0] < 0.7).double().mean()) - 0.35) < 4.5 * math.sqrt(0.35 * 0.65 / 4000)
    xb, nb = g.sample_boundary(3000, gen(2), dtype=F64)
    assert g.margin(xb).abs().max() < 1e-12
    on_left = xb[:, 0] == 0
    assert abs(float(on_left.double().mean()) - 1 / 6) < 4.5 * math.sqrt(1 / 6 * 5 / 6 / 3000)
    expected = torch.where((xb[:, 0] == 0)[:, None], torch.tensor([-1.0, 0.0], dtype=F64),
                           torch.where((xb[:, 0] == 2)[:, None], torch.tensor([1.0, 0.0], dtype=F64),
                                       torch.where((xb[:, 1] == 0)[:, None], torch.tensor([0.0, -1.0], dtype=F64),
                                                   torch.tensor([0.0, 1.0], dtype=F64))))
    torch.testing.assert_close(nb, expected, rtol=0, atol=1e-12)
    xi, ni = g.sample_boundary(100, gen(3), faces=["inlet"], dtype=F64)
    assert (xi[:, 0] == 0).all() and (ni[:, 0] == -1).all()
    probe = torch.tensor([[1.0, 0.5], [2.1, 0.5], [-1e-12, 0.2], [0.5, 1.0 + 1e-6]], dtype=F64)
    assert g.contains(probe).tolist() == [True, False, True, False]
    phi = g.distance_function("inlet")
    assert phi.evaluate(xi).abs().max() < 1e-12 and (phi.evaluate(g.sample_interior(500, gen(4), dtype=F64)) > 0).all()


def kuhn_cube(n):
    """Tetrahedra of [0, 1]^3: n^3 cubes of six tetrahedra each, and the triangles of the top face."""
    s = np.linspace(0, 1, n + 1)
    points = np.array([[x, y, z] for x in s for y in s for z in s])
    idx = np.arange(len(points)).reshape(n + 1, n + 1, n + 1)
    tets, top = [], []
    paths = [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
    for i in range(n):
        for j in range(n):
            for k in range(n):
                for order in paths:
                    corner = [i, j, k]
                    verts = [idx[tuple(corner)]]
                    for axis in order:
                        corner[axis] += 1
                        verts.append(idx[tuple(corner)])
                    tets.append(verts)
    for i in range(n):
        for j in range(n):
            a, b, c, d = idx[i, j, n], idx[i + 1, j, n], idx[i + 1, j + 1, n], idx[i, j + 1, n]
            top += [[a, b, c], [a, c, d]]
    return points, np.array(tets), np.array(top)


def test_tetrahedral_mesh_round_trip(tmp_path):
    points, tets, top = kuhn_cube(3)
    path = tmp_path / "cube.msh"
    write_gmsh(path, points, [("tetra", tets), ("triangle", top)], {1: ("lid", 7, 2)})
    g = load_mesh(path)
    assert g.volume() == pytest.approx(1.0, rel=1e-12) and g.faces == ["boundary", "lid"]
    x = g.sample_interior(3000, gen(5), "sobol", dtype=F64)
    assert g.contains(x).all() and ((x >= 0) & (x <= 1)).all()
    assert abs(float((x[:, 2] < 0.25).double().mean()) - 0.25) < 0.02
    xb, nb = g.sample_boundary(2000, gen(6), dtype=F64)
    assert torch.minimum(xb, 1 - xb).amin(1).abs().max() < 1e-12
    axis = torch.minimum(xb, 1 - xb).argmin(1)
    expected = torch.zeros_like(xb)
    expected[torch.arange(len(xb)), axis] = torch.where(xb[torch.arange(len(xb)), axis] > 0.5, 1.0, -1.0).to(F64)
    torch.testing.assert_close(nb, expected, rtol=0, atol=1e-12)
    xl, nl = g.sample_boundary(200, gen(7), faces=["lid"], dtype=F64)
    assert (xl[:, 2] == 1).all() and (nl[:, 2] == 1).all()


def box_with_hole(subdivisions=1):
    return combine(box_surface((0, 0, 0), (1, 1, 1), cells=2), icosphere((0.5, 0.5, 0.5), 0.25, subdivisions),
                   flip=[False, True])


@pytest.mark.parametrize("suffix", ["stl", "obj", "ply"])
def test_closed_surface_round_trip(tmp_path, suffix):
    points, tri = box_with_hole()
    rng = np.random.default_rng(0)
    messy = tri.copy()
    flip = rng.random(len(tri)) < 0.4
    messy[flip] = messy[flip][:, ::-1]  # the reader must orient them again
    path = tmp_path / f"shell.{suffix}"
    meshio.write(path, meshio.Mesh(points, [("triangle", messy)]), **({"binary": True} if suffix == "stl" else {}))
    g = load_mesh(path)
    exact = _enclosed_volume(points[tri])
    assert g.volume() == pytest.approx(exact, rel=1e-6)  # binary STL stores float32
    low, high = (torch.tensor(v, dtype=F64) for v in g.bounding_box())
    probe = low + torch.rand(20_000, 3, generator=gen(8), dtype=F64) * (high - low)
    p = float(g.contains(probe).double().mean())
    assert abs(p - exact) < 4.5 * math.sqrt(p * (1 - p) / 20_000)
    hand = torch.tensor([[0.5, 0.5, 0.5], [0.05, 0.05, 0.05], [1.2, 0.5, 0.5], [0.5, 0.5, 0.8], [0.5, 0.5, 0.7]],
                        dtype=F64)
    assert g.contains(hand).tolist() == [False, True, False, True, False]
    x = g.sample_interior(1000, gen(9), dtype=F64)
    assert g.contains(x).all() and ((x - 0.5).norm(dim=1) > 0.25 * math.cos(0.56)).all()  # beyond the faces
    xb, nb = g.sample_boundary(2000, gen(10), dtype=F64)
    assert g.margin(xb).abs().max() < 1e-6
    cavity = (xb - 0.5).norm(dim=1) < 0.3
    assert ((nb[cavity] * (xb[cavity] - 0.5)).sum(1) < 0).all()  # out of the domain: into the cavity
    assert ((nb[~cavity] * (xb[~cavity] - 0.5)).sum(1) > 0).all()
    torch.testing.assert_close(nb.norm(dim=1), torch.ones(2000, dtype=F64), rtol=0, atol=1e-12)
    assert abs(float((xb[:, 0] < 0.5).double().mean()) - 0.5) < 4.5 * math.sqrt(0.25 / 2000)
    share = float(cavity.double().mean())
    area_hole = float(g.boundary.measures[g.boundary.measures.size - len(icosphere(subdivisions=1)[1]):].sum())
    expected = area_hole / float(g.boundary.measures.sum())
    assert abs(share - expected) < 4.5 * math.sqrt(expected * (1 - expected) / 2000)


def test_obj_groups_name_boundary_parts(tmp_path):
    outer, inner = box_surface((0, 0, 0), (1, 1, 1)), icosphere((0.5, 0.5, 0.5), 0.2, 1)
    lines = ["v {} {} {}".format(*p) for p in np.concatenate([outer[0], inner[0]])]
    lines += ["g walls"] + ["f {} {} {}".format(*(t + 1)) for t in outer[1]]
    lines += ["g cavity"] + ["f {} {} {}".format(*(t[::-1] + 1 + len(outer[0]))) for t in inner[1]]
    path = tmp_path / "parts.obj"
    path.write_text("\n".join(lines) + "\n")
    g = load_mesh(path)
    assert g.faces == ["boundary", "group0", "group1"]
    xc, _ = g.sample_boundary(100, gen(11), faces=["group1"], dtype=F64)
    assert ((xc - 0.5).norm(dim=1) < 0.21).all()


def test_open_surfaces_and_bad_files_are_refused(tmp_path):
    points, tri = box_surface((0, 0, 0), (1, 1, 1))
    path = tmp_path / "open.stl"
    meshio.write(path, meshio.Mesh(points, [("triangle", tri[:-1])]))
    with pytest.raises(ValueError, match="not closed"):
        load_mesh(path)
    with pytest.raises(ValueError, match="does not exist"):
        load_mesh(tmp_path / "missing.stl")
    bad = tmp_path / "bad.stl"
    bad.write_text("solid nonsense\n facet normal x\n")
    with pytest.raises(ValueError, match="cannot read"):
        load_mesh(bad)


def test_mesh_in_a_domain_tree_and_relative_paths(tmp_path):
    points, tri = box_surface((0, 0, 0), (2, 1, 1))
    meshio.write(tmp_path / "slab.stl", meshio.Mesh(points, [("triangle", tri)]))
    g = geometry_from_dict({"type": "mesh", "file": "slab.stl", "scale": 0.5, "offset": [1, 0, 0], "name": "wall",
                            "time": [0, 1]}, ["t", "x", "y", "z"], "t", root=tmp_path)
    assert g.space.volume() == pytest.approx(0.25) and g.bounding_box() == ([0, 1, 0, 0], [1, 2, 0.5, 0.5])
    assert "wall" in g.faces
    with pytest.raises(SpecError, match="does not exist"):
        geometry_from_dict({"type": "mesh", "file": "nowhere.stl"}, ["x", "y", "z"], root=tmp_path)


def test_taylor_mode_through_a_mesh_distance_matches_autograd(tmp_path):
    points, tri = box_surface((0, 0, 0), (1, 1, 1))
    meshio.write(tmp_path / "cube.stl", meshio.Mesh(points, [("triangle", tri)]))
    g = load_mesh(tmp_path / "cube.stl")
    dist = g.distance_function()
    xb, _ = g.sample_boundary(200, gen(12), dtype=F64)
    x = g.sample_interior(40, gen(13), dtype=F64)
    assert dist.evaluate(xb).abs().max() < 1e-12 and (dist.evaluate(x) > 0).all()
    ns = Namespace(fields=("u",), scalar_coords=("x", "y", "z"), boundaries=tuple(g.faces))
    transform = OutputTransform({0: parse("x*y + dist()*u", ns)}, {"x": 0, "y": 1, "z": 2}, ["u"], {}, {(): dist})
    model = PINNModel(InputScaling([0, 0, 0], [1, 1, 1]), MLP(3, 1, 10, 2, "tanh", generator=gen(14)),
                      transform=transform).double()
    f = BoundModel(model, parameters_of(model))
    requests = [Derivative(0, "partial", ()), Derivative(0, "partial", (0, 2)), Derivative(0, "laplacian", (0, 1, 2))]
    ref = make_backend("autograd").plan(requests, 3)(f, x)
    got = make_backend("taylor").plan(requests, 3)(f, x)
    for r in requests:
        torch.testing.assert_close(got[r], ref[r].detach(), rtol=0, atol=1e-10 * max(1.0, float(ref[r].detach().abs().max())))


def test_a_mesh_in_csg(tmp_path):
    points, tri = box_surface((0, 0, 0), (1, 1, 1))
    meshio.write(tmp_path / "cube.stl", meshio.Mesh(points, [("triangle", tri)]))
    g = load_mesh(tmp_path / "cube.stl", name="shell") - Sphere((0.5, 0.5, 0.5), 0.3, name="hole")
    assert g.faces == ["boundary", "shell", "sphere", "hole"]
    assert g.volume() == pytest.approx(1 - 4 / 3 * math.pi * 0.027, rel=2e-3)
    xb, nb = g.sample_boundary(1000, gen(15), dtype=F64)
    assert g.margin(xb).abs().max() < 1e-12
    hole = (xb - 0.5).norm(dim=1) < 0.31
    torch.testing.assert_close(nb[hole], -(xb[hole] - 0.5) / 0.3, rtol=0, atol=1e-12)
    assert (g.distance_function("hole").evaluate(g.sample_interior(300, gen(16), dtype=F64)) > 0).all()
