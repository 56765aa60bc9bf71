"""Triangulations of planar domains with gmsh: areas, nodes on the exact curves, labels, orientation, refinement."""

import math
import sys

import meshio
import numpy as np
import pytest
import torch

from pinnlab.errors import ConfigError, SpecError
from pinnlab.geometry import (
    Ball,
    Box,
    Cuboid,
    Disk,
    Ellipse,
    Polygon,
    Rectangle,
    TimeSpace,
    as_shape,
    difference,
    geometry_from_dict,
    intersection,
    union,
)
from pinnlab.geometry.mesh import load_mesh
from pinnlab.geometry.meshing import Triangulation, triangulate

pytest.importorskip("gmsh")

F64 = torch.float64


def four_holes():
    square = Rectangle((-0.5, -0.5), (0.5, 0.5), name="outer")
    holes = [Disk((sx * 0.3, sy * 0.3), 0.1, name="holes") for sx in (-1, 1) for sy in (-1, 1)]
    return difference(square, *holes), holes


def edge_lengths(t: Triangulation, mask=None):
    e = t.boundary_edges if mask is None else t.boundary_edges[mask]
    return np.linalg.norm(t.points[e[:, 1]] - t.points[e[:, 0]], axis=1)


def check_basic(t: Triangulation, domain):
    """Types and shapes, CCW triangles, every node in the closed domain, edges oriented with the domain on the left."""
    assert t.points.dtype == np.float64 and t.points.shape[1] == 2
    assert t.triangles.dtype == np.int64 and t.boundary_edges.dtype == np.int64
    assert len(t.edge_labels) == len(t.boundary_edges) == len(t.edge_label_sets) == len(t.edge_midpoints)
    assert (t.areas() > 0).all()
    assert np.array_equal(np.unique(t.triangles), np.arange(len(t.points)))
    assert domain.contains(torch.as_tensor(t.points), atol=1e-12).all()
    a, b = t.points[t.boundary_edges[:, 0]], t.points[t.boundary_edges[:, 1]]
    mid, d = t.edge_midpoints, b - a  # chords of curved pieces leave the domain; their true midpoints do not
    inward = mid + 1e-6 * np.stack([-d[:, 1], d[:, 0]], -1) / np.hypot(d[:, 0], d[:, 1])[:, None]
    assert as_shape(domain).inside(torch.as_tensor(inward)).all()


def test_square_minus_four_disks_area_labels_and_exact_nodes():
    domain, holes = four_holes()
    exact = 1.0 - 4 * math.pi * 0.01
    t = triangulate(domain, 0.02)
    check_basic(t, domain)
    assert set(t.edge_labels) == {"holes", "outer_x_min", "outer_x_max", "outer_y_min", "outer_y_max"}
    on_holes = t.edges_on("holes")
    assert on_holes.sum() > 100 and np.array_equal(t.edges_on(["outer"]), ~on_holes)
    assert all(s == ("circle", "holes") for s, k in zip(t.edge_label_sets, on_holes) if k)
    # nodes of the circles on the circles to roundoff; chords cut off circular segments r²/2 (θ − sin θ)
    centres = np.array([d.center for d in holes])
    nodes = t.nodes_on("holes")
    radius = np.hypot(*(t.points[nodes][:, None, :] - centres[None]).transpose(2, 0, 1))
    assert np.abs(radius - 0.1).min(1).max() < 1e-12
    theta = 2 * np.arcsin(edge_lengths(t, on_holes) / 0.2)
    assert theta.max() < 0.02 * 1.3 / 0.1
    segments = 0.5 * 0.01 * np.sum(theta - np.sin(theta))
    assert t.areas().sum() - segments == pytest.approx(exact, abs=1e-12)  # the holes' polygons are smaller
    # the true midpoints of curved edges lie on the circles; straight edges' midpoints are the chords'
    mids = t.edge_midpoints[on_holes]
    assert np.abs(np.hypot(*(mids[:, None, :] - centres[None]).transpose(2, 0, 1)) - 0.1).min(1).max() < 1e-12
    straight = t.boundary_edges[~on_holes]
    np.testing.assert_allclose(t.edge_midpoints[~on_holes], t.points[straight].mean(1), atol=1e-15)
    # hand-checked edges: the edge nearest (0.5, 0.1) lies on x = 0.5, the one nearest (0.3 + 0.1, 0.3) on a hole
    centre = t.points[t.boundary_edges].mean(1)
    for probe, label in (((0.5, 0.1), "outer_x_max"), ((-0.1, -0.5), "outer_y_min"), ((0.4, 0.3), "holes"),
                         ((-0.3, -0.2), "holes"), ((-0.5, 0.44), "outer_x_min")):
        assert t.edge_labels[int(np.argmin(np.hypot(*(centre - probe).T)))] == label
    # every boundary node within 1e-12 of the piece of its edge
    for k, label in enumerate(("outer_x_min", "outer_x_max", "outer_y_min", "outer_y_max")):
        nodes = np.unique(t.boundary_edges[np.array(t.edge_labels) == label])
        coord = t.points[nodes, k // 2]
        assert np.abs(coord - (0.5 if k % 2 else -0.5)).max() < 1e-12


def test_area_converges_at_small_h():
    domain, _ = four_holes()
    exact = 1.0 - 4 * math.pi * 0.01
    t = triangulate(domain, 0.01)
    # inscribed polygons: the deficit is about 4 π r (h_edge)² / (12 r) ≈ 2e-4 here
    assert abs(t.areas().sum() - exact) < 3e-4
    assert abs(t.areas().sum() - exact) / exact < 3e-4


def test_polygons_are_exact_and_keep_their_edge_labels():
    lshape = Polygon([(0, 0), (1, 0), (1, 1), (-1, 1), (-1, -1), (0, -1)], name="wall")
    t = triangulate(lshape, 0.1)
    check_basic(t, lshape)
    assert t.areas().sum() == pytest.approx(3.0, abs=1e-13)
    assert set(t.edge_labels) == {f"wall_edge{i}" for i in range(6)}
    assert set(t.labels) == {f"edge{i}" for i in range(6)} | {f"wall_edge{i}" for i in range(6)} | {"wall"}
    # edge1 runs from (1, 0) to (1, 1): its nodes have x = 1
    assert np.abs(t.points[t.nodes_on("edge1"), 0] - 1.0).max() < 1e-15
    total = sum(edge_lengths(t, t.edges_on(f"edge{i}")).sum() for i in range(6))
    assert total == pytest.approx(8.0, abs=1e-12)
    assert edge_lengths(t).max() < 0.1 * 1.3


def test_rotated_ellipse_hole_nested_csg_and_corners():
    egg = Ellipse((0.1, 0.2), (0.3, 0.6), angle=30, name="egg")  # a < b: OCC's axes are swapped
    outer = union(Rectangle((-1, -1), (1, 1)), Disk((1.0, 0.0), 0.5, name="bump"))
    domain = difference(intersection(outer, Rectangle((-2, -0.8), (2, 2), name="cut")), egg)
    t = triangulate(domain, 0.05)
    check_basic(t, domain)
    assert set(t.edge_labels) == {"x_min", "x_max", "y_max", "bump", "cut_y_min", "egg"}
    curve = egg.curve
    nodes = t.nodes_on("egg")
    assert curve.distance(torch.as_tensor(t.points[nodes])).max() < 1e-12
    assert curve.distance(torch.as_tensor(t.edge_midpoints[t.edges_on("egg")])).max() < 1e-12
    bump = t.nodes_on("bump")
    assert np.abs(np.hypot(t.points[bump, 0] - 1.0, t.points[bump, 1]) - 0.5).max() < 1e-12
    # where the bump's circle meets x = 1 the corner nodes (1, ±0.5) lie on both pieces
    corner = np.intersect1d(bump, t.nodes_on("x_max"))
    np.testing.assert_allclose(t.points[corner][np.argsort(t.points[corner, 1])], [[1, -0.5], [1, 0.5]],
                               rtol=0, atol=1e-15)
    assert np.abs(t.points[t.nodes_on("cut_y_min"), 1] + 0.8).max() < 1e-15
    x_max = t.points[t.nodes_on("x_max")]
    assert np.abs(x_max[:, 0] - 1).max() < 1e-15 and (np.abs(x_max[:, 1]) >= 0.5 - 1e-15).all()
    chord = edge_lengths(t, t.edges_on("egg"))
    assert chord.max() < 0.05 * 1.5


def test_union_area_with_circular_segments():
    a, b = Disk((0, 0), 1.0), Disk((1.2, 0), 0.8, name="b")
    t = triangulate(union(a, b), 0.05)
    check_basic(t, union(a, b))
    d, r1, r2 = 1.2, 1.0, 0.8
    x = (d * d + r1 * r1 - r2 * r2) / (2 * d)
    lens = r1**2 * math.acos(x / r1) + r2**2 * math.acos((d - x) / r2) - d * math.sqrt(r1**2 - x**2)
    exact = math.pi * (r1**2 + r2**2) - lens
    segments = 0.0
    for label, r in (("circle", r1), ("b", r2)):
        mask = np.array([label in s and (label == "b") == ("b" in s) for s in t.edge_label_sets])
        theta = 2 * np.arcsin(edge_lengths(t, mask) / (2 * r))
        segments += 0.5 * r * r * np.sum(theta - np.sin(theta))
    assert t.areas().sum() + segments == pytest.approx(exact, abs=1e-11)


def test_union_with_collinear_edges_labels_each_edge_by_its_pieces():
    """OCC merges the collinear bottom edges of the two rectangles into one curve; each mesh edge keeps its pieces."""
    domain = union(Rectangle((0, 0), (1, 1)), Rectangle((0.5, 0), (2, 0.5), name="b"))
    t = triangulate(domain, 0.1)
    check_basic(t, domain)
    assert t.areas().sum() == pytest.approx(1.5, abs=1e-13)
    centre = t.points[t.boundary_edges].mean(1)
    bottom = np.abs(centre[:, 1]) < 1e-12
    for x0, x1, labels in ((0, 0.5, {"y_min"}), (0.5, 1, {"y_min", "b", "b_y_min"}), (1, 2, {"y_min", "b", "b_y_min"})):
        rows = bottom & (centre[:, 0] > x0) & (centre[:, 0] < x1)
        assert rows.sum() >= 4 and all(set(t.edge_label_sets[i]) == labels for i in np.flatnonzero(rows))
    assert edge_lengths(t, t.edges_on("b")).sum() == pytest.approx(1.5 + 0.5 + 1.0, abs=1e-12)  # b_y_min, _x_max, _y_max
    right = t.edges_on("b_x_max")
    assert np.all(t.points[t.boundary_edges[right], 0] == 2.0) and edge_lengths(t, right).sum() == pytest.approx(0.5)


def test_boxes_from_ranges_and_balls():
    box = geometry_from_dict({"x": [0, 2], "y": [-1, 1]}, ["x", "y"])
    assert isinstance(box, Box)
    t = triangulate(box, 0.25)
    check_basic(t, box)
    assert t.areas().sum() == pytest.approx(4.0, abs=1e-13)
    assert set(t.edge_labels) == {"x_min", "x_max", "y_min", "y_max"}
    ball = Ball("p", 2, 0.5, [1.0, -1.0])
    t = triangulate(ball, 0.05)
    check_basic(t, ball)
    assert set(t.edge_labels) == {"circle"}
    r = np.hypot(t.points[t.nodes_on("circle"), 0] - 1.0, t.points[t.nodes_on("circle"), 1] + 1.0)
    assert np.abs(r - 0.5).max() < 1e-12


def test_refinement_gives_smaller_edges_near_the_point():
    domain, _ = four_holes()
    coarse = triangulate(domain, 0.05)
    fine = triangulate(domain, 0.05, refine=[((0.3, 0.3), 0.005, 0.12)])
    assert len(fine.triangles) > 2 * len(coarse.triangles)
    centre = fine.points[fine.triangles].mean(1)
    longest = fine.edge_lengths().max(1)
    near = np.hypot(*(centre - (0.3, 0.3)).T) < 0.115
    far = np.hypot(*(centre - (0.3, 0.3)).T) > 0.35
    assert longest[near].max() < 0.005 * 2 and np.median(longest[far]) > 0.05 * 0.6
    hole = fine.edges_on("holes") & (np.hypot(*(fine.points[fine.boundary_edges].mean(1) - 0.3).T) < 0.2)
    assert edge_lengths(fine, hole).max() < 0.007


def test_a_triangle_mesh_file_keeps_its_triangles(tmp_path):
    xs = np.linspace(0, 2, 5)
    ys = np.linspace(0, 1, 3)
    points = np.array([[x, y, 0.0] for y in ys for x in xs])
    idx = np.arange(len(points)).reshape(3, 5)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]
    tri = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([a, d, c], -1).reshape(-1, 3)])  # CW
    left = np.stack([idx[:-1, 0], idx[1:, 0]], -1)
    path = tmp_path / "m.msh"
    tags = [np.full(len(tri), 10), np.full(len(left), 1)]
    meshio.write(path, meshio.Mesh(points, [("triangle", tri), ("line", left)],
                                   cell_data={"gmsh:physical": tags, "gmsh:geometrical": tags},
                                   field_data={"inlet": np.array([1, 1])}), file_format="gmsh22", binary=False)
    shape = load_mesh(path)
    t = triangulate(shape, 123.0)
    check_basic(t, shape)
    assert len(t.triangles) == len(tri) and len(t.points) == len(points)
    assert t.areas().sum() == pytest.approx(2.0, abs=1e-14)
    assert sorted(t.edge_labels).count("inlet") == 2 and sorted(set(t.edge_labels)) == ["boundary", "inlet"]
    assert np.all(t.points[t.nodes_on("inlet"), 0] == 0)
    # inside a CSG tree the mesh becomes a polygon of its boundary loops
    holed = difference(shape, Disk((1.0, 0.5), 0.2, name="hole"))
    t = triangulate(holed, 0.1)
    check_basic(t, holed)
    assert set(t.edge_labels) == {"boundary", "inlet", "hole"}
    assert np.abs(t.points[t.nodes_on("inlet"), 0]).max() < 1e-15


def test_bad_domains_and_sizes_are_clear_errors(monkeypatch):
    with pytest.raises(SpecError, match="2-D domain"):
        triangulate(Cuboid((0, 0, 0), (1, 1, 1)), 0.1)
    with pytest.raises(SpecError, match="time × space"):
        triangulate(TimeSpace("t", 0, 1, Rectangle()), 0.1)
    with pytest.raises(SpecError, match="h must be a positive number"):
        triangulate(Rectangle(), 0.0)
    with pytest.raises(SpecError, match=r"refine\[0\]"):
        triangulate(Rectangle(), 0.1, refine=[((0.5,), 0.01, 0.1)])
    with pytest.raises(SpecError, match="triangles"):
        triangulate(Rectangle(), 1e-5)
    with pytest.raises(SpecError, match="empty"):
        triangulate(difference(Disk((0, 0), 0.5), Rectangle((-1, -1), (1, 1))), 0.1)
    with pytest.raises(SpecError, match="no part 'hole'.*did you mean 'holes'"):
        triangulate(four_holes()[0], 0.1).edges_on("hole")
    monkeypatch.setitem(sys.modules, "gmsh", None)
    with pytest.raises(ConfigError, match=r"pip install pinnlab\[geometry\]"):
        triangulate(Rectangle(), 0.1)


def test_a_running_gmsh_session_is_left_as_it_was():
    import gmsh

    gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        gmsh.model.add("users_model")
        t = triangulate(Disk((0, 0), 1.0), 0.2)
        assert len(t.triangles) > 50 and gmsh.isInitialized() and gmsh.model.getCurrent() == "users_model"
    finally:
        gmsh.finalize()
    assert not gmsh.isInitialized()
