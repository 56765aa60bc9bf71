"""Triangulations of planar domains with gmsh, boundary edges labelled by the shape's own pieces.

:func:`triangulate` builds the shape tree in gmsh's OpenCASCADE kernel (circles and
ellipses as true curves, polygons, unions, intersections and differences to any depth),
meshes it with a target edge length ``h`` and optional local size fields, and labels every
boundary edge with the names of the boundary piece it lies on — the labels
``sample_boundary`` and conditions' ``on:`` use. Mesh nodes on curved pieces are put on the
exact curve (to roundoff), corners where two pieces meet are polished onto both, and each
boundary edge carries the true midpoint of its piece (for isoparametric quadratic elements).
A domain read from a triangle mesh file keeps its own triangles.

gmsh is an optional dependency (``pip install pinnlab[geometry]``), imported when needed.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np

from pinnlab.errors import ConfigError, SpecError

from . import _occ
from .base import Geometry
from .shape import Shape

GROWTH = 0.3
"""Slope of the element size away from a refinement zone (size per unit distance)."""
MAX_TRIANGLES = 5_000_000
"""Refuse meshes estimated to be larger than this."""
LABEL_TOL = 1e-7
"""Distance (relative to the diameter) within which a mesh curve lies on a boundary piece."""
_LOCK = threading.Lock()


@dataclass(frozen=True, eq=False)
class Triangulation:
    """A conforming triangle mesh of a planar domain.

    ``points`` ``(n, 2)`` float64; ``triangles`` ``(m, 3)`` int64, counter-clockwise;
    ``boundary_edges`` ``(k, 2)`` int64 node indices, oriented with the domain on their left
    (the outward normal of edge ``(a, b)`` is ``(dy, -dx)``); ``edge_labels`` the name of the
    boundary piece each edge lies on: the primitive's own, most specific label (``x_min``,
    ``circle``, ``edge2``; a named disk ``hole`` gives ``hole``; a named rectangle ``box``
    gives ``box_x_min``). ``edge_label_sets`` holds every label that selects each edge (the
    part, the primitive's name, the names of enclosing CSG nodes; empty when unknown) and
    ``edge_midpoints`` ``(k, 2)`` the point of the boundary curve halfway along each edge
    (the chord's midpoint on straight pieces; ``None`` when unknown).
    """

    points: np.ndarray
    triangles: np.ndarray
    boundary_edges: np.ndarray
    edge_labels: tuple[str, ...]
    edge_label_sets: tuple[tuple[str, ...], ...] = field(default=(), repr=False)
    edge_midpoints: np.ndarray | None = field(default=None, repr=False)

    @property
    def labels(self) -> list[str]:
        """Every label of the boundary, in order of first appearance."""
        sets = self.edge_label_sets or tuple((lab,) for lab in self.edge_labels)
        return list(dict.fromkeys(lab for s in sets for lab in s))

    def edges_on(self, on: str | Sequence[str] | None = None) -> np.ndarray:
        """Boolean ``(k,)``: boundary edges selected by any of the labels ``on`` (``None``: all).

        Raises :class:`SpecError` for a label the boundary does not have.
        """
        if on is None:
            return np.ones(len(self.boundary_edges), dtype=bool)
        wanted = [on] if isinstance(on, str) else list(on)
        known = self.labels
        for label in wanted:
            if label not in known:
                from pinnlab.errors import did_you_mean

                raise SpecError(f"the boundary has no part {label!r}{did_you_mean(label, known)}; "
                                f"parts: {', '.join(known)}")
        sets = self.edge_label_sets or tuple((lab,) for lab in self.edge_labels)
        return np.array([any(lab in s for lab in wanted) for s in sets], dtype=bool)

    def nodes_on(self, on: str | Sequence[str] | None = None) -> np.ndarray:
        """Sorted indices of the nodes of the boundary edges selected by ``on``."""
        return np.unique(self.boundary_edges[self.edges_on(on)])

    def areas(self) -> np.ndarray:
        """Signed areas ``(m,)`` of the triangles (positive: counter-clockwise)."""
        p = self.points[self.triangles]
        d1, d2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
        return 0.5 * (d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0])

    def edge_lengths(self) -> np.ndarray:
        """Lengths ``(m, 3)`` of the triangles' edges."""
        p = self.points[self.triangles]
        return np.linalg.norm(p[:, [1, 2, 0]] - p, axis=-1)


def triangulate(domain: Geometry, h: float, *,
                refine: Sequence[tuple[tuple[float, float], float, float]] = ()) -> Triangulation:
    """A triangulation of the planar ``domain`` with target edge length ``h``.

    ``refine`` lists size fields ``((x, y), h_local, radius)``: edges of about ``h_local``
    within ``radius`` of the point, growing linearly (slope :data:`GROWTH`) back to ``h``.
    A domain read from a 2-D triangle mesh returns its own triangles (``h`` and ``refine``
    are not used). Raises :class:`SpecError` for domains that are not planar shapes and for
    bad sizes, :class:`ConfigError` when gmsh is not installed.
    """
    from .csg import as_shape
    from .mesh import MeshShape

    shape = _planar_shape(domain, as_shape)
    h = _size(h, "h")
    fields = _refinements(refine, h)
    if isinstance(shape, MeshShape):
        return _own_triangles(shape)
    low, high = shape.bounding_box()
    cell = math.sqrt(3) / 4
    estimate = shape.volume() / (cell * h**2) + sum(
        math.pi * (radius + (h - local) / GROWTH) ** 2 / (cell * local**2) for _, _, local, radius in fields)
    if estimate > MAX_TRIANGLES:
        raise SpecError(f"h = {h:g} would give about {estimate:.3g} triangles (more than {MAX_TRIANGLES:,}); "
                        "use a larger h or local refinement")
    gmsh = _gmsh()
    with _LOCK, _Session(gmsh):
        surfaces = _occ.build(gmsh.model.occ, shape)
        if not surfaces:
            raise SpecError("the domain is empty: its CSG operations leave no surface to mesh")
        gmsh.model.occ.synchronize()
        _size_fields(gmsh, h, fields)
        gmsh.model.mesh.generate(2)
        return _collect(gmsh, shape, math.dist(low, high))


def _planar_shape(domain: Any, as_shape: Any) -> Shape:
    from .timespace import TimeSpace

    if isinstance(domain, TimeSpace):
        raise SpecError("triangulate needs a planar spatial domain; a time × space domain is not one "
                        "(triangulate its spatial shape)")
    if not isinstance(domain, Geometry):
        raise SpecError(f"triangulate needs a pinnlab geometry, got {type(domain).__name__}")
    if domain.dim != 2:
        raise SpecError(f"triangulate needs a 2-D domain; this one has {domain.dim} columns {domain.names}")
    try:
        return as_shape(domain)
    except TypeError as err:
        raise SpecError(f"cannot triangulate this domain: {err}") from None


def _size(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise SpecError(f"{what} must be a positive number, got {value!r}")
    return float(value)


def _refinements(refine: Any, h: float) -> list[tuple[float, float, float, float]]:
    """``(x, y, h_local, radius)`` of each size field, checked."""
    out = []
    for i, item in enumerate(refine):
        try:
            (x, y), local, radius = item
            x, y = float(x), float(y)
        except (TypeError, ValueError):
            raise SpecError(f"refine[{i}] must be ((x, y), h_local, radius), got {item!r}") from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise SpecError(f"refine[{i}]: the point must be finite, got {(x, y)!r}")
        local = _size(local, f"refine[{i}] h_local")
        radius = float(radius) if isinstance(radius, (int, float)) and not isinstance(radius, bool) else -1.0
        if not (math.isfinite(radius) and radius >= 0):
            raise SpecError(f"refine[{i}]: the radius must be a number >= 0, got {item[2]!r}")
        out.append((x, y, min(local, h), radius))
    return out


def _gmsh() -> Any:
    try:
        import gmsh
    except ImportError:
        raise ConfigError("meshing a domain needs gmsh: pip install pinnlab[geometry]") from None
    return gmsh


class _Session:
    """A fresh gmsh model; gmsh is initialised (quietly, single-threaded) and finalised only if it was not running."""

    def __init__(self, gmsh: Any):
        self.gmsh, self.started, self.previous = gmsh, False, None

    def __enter__(self) -> Self:
        gmsh = self.gmsh
        if not gmsh.isInitialized():
            gmsh.initialize(readConfigFiles=False, interruptible=False)
            self.started = True
        else:
            self.previous = gmsh.model.getCurrent()
        gmsh.model.add("pinnlab_triangulate")
        for key, value in (("General.Terminal", 0), ("General.Verbosity", 1), ("General.NumThreads", 1),
                           ("Mesh.MeshSizeFromPoints", 0), ("Mesh.MeshSizeFromCurvature", 0),
                           ("Mesh.MeshSizeExtendFromBoundary", 0), ("Mesh.Algorithm", 6), ("Mesh.ElementOrder", 1)):
            gmsh.option.setNumber(key, value)
        return self

    def __exit__(self, *exc: object) -> None:
        gmsh = self.gmsh
        if self.started:
            gmsh.finalize()
            return
        gmsh.model.remove()
        if self.previous:
            gmsh.model.setCurrent(self.previous)


def _size_fields(gmsh: Any, h: float, fields: list[tuple[float, float, float, float]]) -> None:
    mesh_field = gmsh.model.mesh.field
    gmsh.option.setNumber("Mesh.MeshSizeMax", h)
    gmsh.option.setNumber("Mesh.MeshSizeMin", min([h] + [f[2] for f in fields]))
    if not fields:
        return
    thresholds = []
    for x, y, local, radius in fields:
        distance = mesh_field.add("MathEval")
        mesh_field.setString(distance, "F", f"Sqrt((x - ({x!r}))^2 + (y - ({y!r}))^2)")
        t = mesh_field.add("Threshold")
        mesh_field.setNumber(t, "InField", distance)
        mesh_field.setNumber(t, "SizeMin", local)
        mesh_field.setNumber(t, "SizeMax", h)
        mesh_field.setNumber(t, "DistMin", radius)
        mesh_field.setNumber(t, "DistMax", radius + max((h - local) / GROWTH, 1e-12))
        thresholds.append(t)
    smallest = mesh_field.add("Min")
    mesh_field.setNumbers(smallest, "FieldsList", thresholds)
    mesh_field.setAsBackgroundMesh(smallest)


def _collect(gmsh: Any, shape: Shape, diameter: float) -> Triangulation:
    """The mesh of the current model: nodes, CCW triangles, labelled boundary edges on the exact curves."""
    tags, coords, _ = gmsh.model.mesh.getNodes()
    index = np.full(int(tags.max()) + 1, -1, dtype=np.int64)
    index[tags.astype(np.int64)] = np.arange(len(tags))
    points = coords.reshape(-1, 3)[:, :2].astype(np.float64)
    blocks = []
    for dim, tag in gmsh.model.getEntities(2):
        types, _, nodes = gmsh.model.mesh.getElements(dim, tag)
        blocks += [index[n.astype(np.int64)].reshape(-1, 3) for t, n in zip(types, nodes) if t == 2]
    if not blocks:
        raise SpecError("gmsh produced no triangles for this domain (is h much larger than the domain?)")
    triangles = np.concatenate(blocks)
    curve_of: dict[tuple[int, int], int] = {}
    for _, curve in gmsh.model.getEntities(1):
        types, _, nodes = gmsh.model.mesh.getElements(1, curve)
        for t, n in zip(types, nodes):
            if t == 1:
                for a, b in index[n.astype(np.int64)].reshape(-1, 2):
                    curve_of[(min(a, b), max(a, b))] = curve
    used = np.unique(triangles)
    remap = np.full(len(points), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    edges = _boundary_edges(points, triangles)
    curves = np.array([curve_of.get((min(a, b), max(a, b)), -1) for a, b in edges], dtype=np.int64)
    if np.any(curves < 0):
        raise SpecError("gmsh left boundary edges that lie on no curve of the domain")
    found = _edge_pieces(gmsh, shape, points, edges, curves, diameter)
    points = points.copy()
    _snap(points, edges, found, shape)
    midpoints = _midpoints(points, edges, found, shape)
    refs = shape.piece_refs()
    principal = tuple(_principal(refs[f[0][0]].pieces, f[0][1]) for f in found)
    label_sets = tuple(pieces_labels(refs, f) for f in found)
    out_points = points[used]
    tri = remap[triangles]
    tri = _counter_clockwise(out_points, tri)
    return Triangulation(out_points, tri, remap[edges], principal, label_sets, midpoints)


def pieces_labels(refs: Sequence[Any], found: Sequence[tuple[int, int]]) -> tuple[str, ...]:
    """Every label of the pieces ``found`` (``(ref, local index)``), in order."""
    return tuple(dict.fromkeys(label for r, k in found for label in refs[r].labels[k]))


def _principal(pieces: Any, k: int) -> str:
    """A piece's most specific label: the last of its primitive's own (mesh groups before ``boundary``)."""
    own = tuple(pieces.labels[k])
    from .mesh import BOUNDARY

    if own and own[0] == BOUNDARY:
        rest = [lab for lab in own if lab != BOUNDARY]
        return rest[0] if rest else BOUNDARY
    return own[-1]


def _boundary_edges(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Edges of one triangle only, oriented with that triangle on their left."""
    directed = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    opposite = np.concatenate([triangles[:, 2], triangles[:, 0], triangles[:, 1]])
    keys = np.sort(directed, axis=1)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    once = counts[inverse.reshape(-1)] == 1
    edges, far = directed[once], opposite[once]
    a, b, c = points[edges[:, 0]], points[edges[:, 1]], points[far]
    left = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]) > 0
    edges[~left] = edges[~left][:, ::-1]
    return edges


def _counter_clockwise(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    p = points[triangles]
    d1, d2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    clockwise = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0] < 0
    triangles = triangles.copy()
    triangles[clockwise] = triangles[clockwise][:, [0, 2, 1]]
    return triangles


def _curve_midpoints(gmsh: Any, points: np.ndarray, edges: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """The point of its gmsh curve halfway (in the curve's parameter) between the ends of each edge."""
    out = 0.5 * (points[edges[:, 0]] + points[edges[:, 1]])
    for curve in np.unique(curves).tolist():
        rows = np.flatnonzero(curves == curve)
        ends = [np.column_stack([points[edges[rows, j]], np.zeros(len(rows))]).ravel().tolist() for j in (0, 1)]
        ua, ub = (np.asarray(gmsh.model.getParametrization(1, curve, e), dtype=np.float64) for e in ends)
        (lo,), (hi,) = gmsh.model.getParametrizationBounds(1, curve)
        um = 0.5 * (ua + ub)
        seam = np.abs(ua - ub) > 0.5 * (hi - lo)  # an edge across the seam of a closed curve
        um[seam] = np.where(um[seam] + 0.5 * (hi - lo) > hi, um[seam] - 0.5 * (hi - lo), um[seam] + 0.5 * (hi - lo))
        value = np.asarray(gmsh.model.getValue(1, curve, um.tolist()), dtype=np.float64).reshape(-1, 3)[:, :2]
        length = np.linalg.norm(points[edges[rows, 1]] - points[edges[rows, 0]], axis=1)
        good = np.linalg.norm(value - out[rows], axis=1) <= length
        out[rows[good]] = value[good]
    return out


def _edge_pieces(gmsh: Any, shape: Shape, points: np.ndarray, edges: np.ndarray, curves: np.ndarray,
                 diameter: float) -> list[list[tuple[int, int]]]:
    """For each boundary edge, the pieces ``(ref, local index)`` it lies on: both ends and the point of its
    curve between them within :data:`LABEL_TOL` (relative to the diameter) of the piece."""
    import torch

    refs = shape.piece_refs()
    samples = np.stack([points[edges[:, 0]], points[edges[:, 1]], _curve_midpoints(gmsh, points, edges, curves)])
    found: list[list[tuple[int, int]]] = [[] for _ in range(len(edges))]
    for r, ref in enumerate(refs):
        chunk = max(1, 2_000_000 // max(len(ref.pieces), 1))
        for start in range(0, len(edges), chunk):
            part = torch.as_tensor(samples[:, start:start + chunk].reshape(-1, 2), dtype=torch.float64)
            d = ref.pieces.distance(part).reshape(3, -1, len(ref.pieces)).amax(0).numpy()
            for i, k in zip(*np.nonzero(d <= LABEL_TOL * diameter)):
                found[start + int(i)].append((r, int(k)))
    missing = [i for i, f in enumerate(found) if not f]
    if missing:
        raise SpecError(f"{len(missing)} boundary edge(s) of the mesh lie on no boundary piece of the domain, e.g. "
                        f"near {samples[2, missing[0]].tolist()}")
    return found


def _snap(points: np.ndarray, edges: np.ndarray, found: list[list[tuple[int, int]]], shape: Shape) -> None:
    """Boundary nodes moved onto their pieces' exact curves; nodes on two different pieces polished onto both."""
    refs = shape.piece_refs()
    on: dict[int, list[tuple[int, int]]] = {}
    for (a, b), f in zip(edges.tolist(), found):
        for node in (a, b):
            if f[0] not in on.setdefault(node, []):
                on[node].append(f[0])
    single: dict[tuple[int, int], list[int]] = {}
    for node, pieces in on.items():
        if len(pieces) == 1:
            single.setdefault(pieces[0], []).append(node)
        else:
            (r1, k1), (r2, k2) = pieces[0], pieces[1]
            points[node] = _occ.polish_corner((refs[r1].pieces, k1), (refs[r2].pieces, k2), points[node])
    for (r, k), nodes in single.items():
        points[nodes] = _occ.project(refs[r].pieces, k, points[nodes])


def _midpoints(points: np.ndarray, edges: np.ndarray, found: list[list[tuple[int, int]]], shape: Shape) -> np.ndarray:
    """The point of each edge's curve halfway along it (chord midpoints pushed onto curved pieces)."""
    refs = shape.piece_refs()
    mid = 0.5 * (points[edges[:, 0]] + points[edges[:, 1]])
    groups: dict[tuple[int, int], list[int]] = {}
    for i, f in enumerate(found):
        groups.setdefault(f[0], []).append(i)
    for (r, k), rows in groups.items():
        if not _occ.is_straight(refs[r].pieces):
            mid[rows] = _occ.project(refs[r].pieces, k, mid[rows])
    return mid


def _own_triangles(mesh: Any) -> Triangulation:
    """A 2-D triangle mesh read from a file as it is: its cells, its boundary facets and their labels."""
    if mesh.cells is None:
        raise SpecError("a closed surface mesh has no triangles of a planar domain to use")
    used = np.unique(mesh.cells)
    remap = np.full(len(mesh.points), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    points = np.asarray(mesh.points, dtype=np.float64)[used]
    triangles = _counter_clockwise(points, remap[np.asarray(mesh.cells, dtype=np.int64)])
    edges = remap[np.asarray(mesh.facets, dtype=np.int64)]
    boundary = mesh.boundary
    principal = tuple(_principal(boundary, k) for k in range(len(edges)))
    sets = tuple(tuple(lab) for lab in boundary.labels)
    midpoints = 0.5 * (points[edges[:, 0]] + points[edges[:, 1]])
    return Triangulation(points, triangles, edges, principal, sets, midpoints)
