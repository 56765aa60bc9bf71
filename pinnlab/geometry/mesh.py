"""Domains from mesh files (read by meshio): triangle and tetrahedral meshes, and closed surfaces.

* A **volume mesh** (triangles in the plane, tetrahedra in space) gives interior points
  in proportion to cell measure, uniform in each cell; its boundary is the set of facets
  (edges, triangles) that belong to one cell only, with normals pointing away from it.
* A **closed surface** (triangles in space: STL, OBJ, PLY, ...) bounds the domain; its
  triangles are oriented consistently and outward (shells nested inside another one are
  holes), the inside test is the generalised winding number, interior points are drawn
  by rejection from the bounding box.

Boundary points fall on facets in proportion to their area. Every facet has the label
``boundary``; named groups of the file label theirs too: cell sets, gmsh physical groups
(``gmsh:physical`` with names from ``field_data``) and OBJ groups (``group0``, ...). For
a volume mesh the groups are facets (lines, triangles) matched to the boundary.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import meshio
import numpy as np
import torch
from torch import Tensor

from .distance import Arithmetic, Columns
from .pieces import Pieces, Segments, Triangles, triangle_distances
from .shape import F64, Primitive, check_names, joined_adf
from .winding import chunked, winding_2d, winding_3d

BOUNDARY = "boundary"


def load_mesh(path: str | Path, names: Sequence[str] | None = None, name: str | None = None, scale: float = 1.0,
              offset: Sequence[float] | None = None, check: bool = True) -> MeshShape:
    """The domain of a mesh file; ``scale`` and then ``offset`` map its coordinates onto the problem's.

    ``names`` are the columns (``x, y`` or ``x, y, z`` by default); ``check`` refuses
    surfaces that are not closed.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"mesh file {str(path)!r} does not exist")
    try:
        with warnings.catch_warnings():  # meshio's STL reader probes binary sizes with overflowing integers
            warnings.simplefilter("ignore", RuntimeWarning)
            mesh = meshio.read(path)
    except (meshio.ReadError, OSError, ValueError, KeyError, IndexError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read the mesh file {str(path)!r}: {err}") from None
    points = np.asarray(mesh.points, dtype=np.float64) * float(scale)
    blocks = {kind: [] for kind in ("line", "triangle", "quad", "tetra")}
    for i, block in enumerate(mesh.cells):
        if block.type in blocks:
            blocks[block.type].append((i, np.asarray(block.data, dtype=np.int64)))
    groups = _groups(mesh)
    if blocks["tetra"]:
        cells = np.concatenate([d for _, d in blocks["tetra"]])
        facets = _named_facets(blocks["triangle"], groups)
        return MeshShape(_place(points, 3, offset), names, name, cells=cells, named=facets, source=path)
    triangles = [(i, d, np.arange(len(d))) for i, d in blocks["triangle"]]
    triangles += [(i, _split_quads(d), np.tile(np.arange(len(d)), 2)) for i, d in blocks["quad"]]
    if not triangles:
        raise ValueError(f"{str(path)!r} has no triangle, quad or tetrahedron cells")
    planar = points.shape[1] == 2 or np.ptp(points[:, 2]) <= 1e-12 * max(np.ptp(points[:, :2]), 1e-300)
    if planar:
        cells = np.concatenate([d for _, d, _ in triangles])
        return MeshShape(_place(points, 2, offset), names, name, cells=cells, named=_named_facets(blocks["line"], groups),
                         source=path)
    faces = np.concatenate([d for _, d, _ in triangles])
    labels = _facet_group_labels(triangles, groups)
    points, weld = np.unique(points, axis=0, return_inverse=True)  # formats such as STL repeat shared vertices
    faces = weld.reshape(-1)[faces]
    return MeshShape(_place(points, 3, offset), names, name, surface=faces, surface_labels=labels, check=check,
                     source=path)


def _place(points: np.ndarray, dim: int, offset: Sequence[float] | None) -> np.ndarray:
    p = points[:, :dim]
    if offset is not None:
        shift = np.asarray(offset, dtype=np.float64)
        if shift.shape != (dim,):
            raise ValueError(f"offset must be a list of {dim} numbers, got {offset!r}")
        p = p + shift
    return p


def _split_quads(quads: np.ndarray) -> np.ndarray:
    return np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])


def _groups(mesh: meshio.Mesh) -> dict[int, dict[str, np.ndarray]]:
    """Per cell block: group name → indices of its cells."""
    out: dict[int, dict[str, np.ndarray]] = {}
    for label, per_block in (mesh.cell_sets or {}).items():
        if label.startswith("gmsh:"):
            continue
        for i, idx in enumerate(per_block):
            if idx is not None and len(idx):
                out.setdefault(i, {})[str(label)] = np.asarray(idx, dtype=np.int64)
    tags = (mesh.cell_data or {}).get("gmsh:physical")
    if tags is not None and not out:
        names = {int(v[0]): k for k, v in (mesh.field_data or {}).items()}
        for i, values in enumerate(tags):
            for tag in np.unique(values):
                label = names.get(int(tag), f"physical{int(tag)}")
                out.setdefault(i, {})[label] = np.flatnonzero(np.asarray(values) == tag)
    obj = (mesh.cell_data or {}).get("obj:group_ids")
    if obj is not None and not out:
        for i, values in enumerate(obj):
            gid = int(np.asarray(values).reshape(-1)[0]) if np.size(values) else -1
            if gid >= 0:
                out.setdefault(i, {})[f"group{gid}"] = np.arange(len(mesh.cells[i].data))
    return out


def _named_facets(blocks: list[tuple[int, np.ndarray]], groups: dict[int, dict[str, np.ndarray]]) -> dict[tuple, set]:
    """Sorted vertex tuple → labels, for the facets of named groups (lines or triangles of a volume mesh)."""
    out: dict[tuple, set] = {}
    for i, data in blocks:
        for label, idx in groups.get(i, {}).items():
            for facet in np.sort(data[idx], axis=1):
                out.setdefault(tuple(int(v) for v in facet), set()).add(label)
    return out


def _facet_group_labels(blocks: list[tuple[int, np.ndarray, np.ndarray]],
                        groups: dict[int, dict[str, np.ndarray]]) -> list[set]:
    """Labels of every surface triangle; ``origin`` maps a triangle to its cell in the file (split quads)."""
    labels: list[set] = []
    for i, data, origin in blocks:
        members = {label: set(idx.tolist()) for label, idx in groups.get(i, {}).items()}
        labels += [{label for label, cells in members.items() if int(k) in cells} for k in origin]
    return labels


class MeshShape(Primitive):
    """A domain bounded by mesh facets (see the module docstring); build it with :func:`load_mesh`."""

    def __init__(self, points: np.ndarray, names: Sequence[str] | None, name: str | None, *,
                 cells: np.ndarray | None = None, named: dict[tuple, set] | None = None,
                 surface: np.ndarray | None = None, surface_labels: list[set] | None = None, check: bool = True,
                 source: Path | None = None):
        dim = points.shape[1]
        super().__init__(check_names(names or ("x", "y", "z")[:dim], dim), name)
        self.points, self.source = points, source
        self.shells: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
        if cells is not None:
            self.cells, self.cell_measures = _cells(points, cells)
            facets, labels = _boundary_facets(points, self.cells, named or {})
        else:
            self.cells = None
            facets, labels, shells = _orient_surface(points, surface, surface_labels or [set()] * len(surface), check)
            if shells is not None:  # a closed shell winds 0 around points outside its bounding box
                self.shells = [(s, points[facets[s]].reshape(-1, 3).min(0), points[facets[s]].reshape(-1, 3).max(0))
                               for s in shells]
        self.facets = facets
        extra = (name,) if name else ()
        full = [tuple(dict.fromkeys((BOUNDARY, *sorted(lab), *extra))) for lab in labels]
        verts = points[facets]
        if dim == 2:
            d = verts[:, 1] - verts[:, 0]
            normals = np.stack([d[:, 1], -d[:, 0]], -1) / np.hypot(d[:, 0], d[:, 1])[:, None]
            self.boundary: Pieces = Segments(verts[:, 0], verts[:, 1], normals, full)
        else:
            self.boundary = Triangles(verts[:, 0], verts[:, 1], verts[:, 2], full)
        self._volume = float(self.cell_measures.sum()) if self.cells is not None else _enclosed_volume(verts)
        if not self._volume > 0:
            raise ValueError("the mesh encloses no volume")

    def __repr__(self) -> str:
        kind = "surface" if self.cells is None else f"{len(self.cells)} cells"
        where = f"{str(self.source)!r}, " if self.source else ""
        return f"MeshShape({where}{kind}, {len(self.facets)} boundary facets)"

    def pieces(self) -> list[Pieces]:
        return [self.boundary]

    @property
    def faces(self) -> list[str]:
        """``boundary``, the mesh's ``name`` when given, then the file's groups in alphabetical order."""
        first = [BOUNDARY] + ([self.name] if self.name else [])
        return first + sorted({label for labels in self.boundary.labels for label in labels} - set(first))

    def bounding_box(self) -> tuple[list[float], list[float]]:
        used = self.points[np.unique(self.facets)]
        return used.min(0).tolist(), used.max(0).tolist()

    def exact_volume(self) -> float:
        return self._volume

    # ----------------------------------------------------------------- inside tests
    def _facet_tensors(self, like: Tensor) -> list[Tensor]:
        verts = self.points[self.facets]
        return [torch.as_tensor(verts[:, i], dtype=like.dtype, device=like.device) for i in range(verts.shape[1])]

    def inside(self, x: Tensor) -> Tensor:
        """Generalised winding number above one half (closed shells only near their bounding boxes)."""
        x = x.to(F64)
        v = self._facet_tensors(x)
        if self.dim == 2:
            return winding_2d(x, *v) > 0.5
        if self.shells is None:
            return winding_3d(x, *v) > 0.5
        w = torch.zeros(x.shape[0], dtype=F64, device=x.device)
        for index, low, high in self.shells:
            pad = 1e-9 * float(np.max(high - low))
            near = ((x >= torch.as_tensor(low - pad).to(x)) & (x <= torch.as_tensor(high + pad).to(x))).all(1)
            if near.any():
                idx = torch.as_tensor(index, device=x.device)
                w[near] += winding_3d(x[near], *(t[idx] for t in v))
        return w > 0.5

    def boundary_distance(self, x: Tensor) -> Tensor:
        x = x.to(F64)
        if self.dim == 2:
            return chunked(x, len(self.facets), lambda p: self.boundary.distance(p).amin(-1))
        a, b, c = self._facet_tensors(x)
        return chunked(x, len(self.facets), lambda p: triangle_distances(p, a, b, c).amin(-1))

    def margin(self, x: Tensor) -> Tensor:
        d = self.boundary_distance(x)
        return torch.where(self.inside(x), d, -d)

    def contains(self, x: Tensor, atol: float = 1e-9) -> Tensor:
        from .base import points_matrix

        x = points_matrix(x, self.dim)
        eps = torch.finfo(x.dtype).eps
        x = x.to(F64)
        out = self.inside(x)
        rest = ~out
        if rest.any():
            low, high = self.bounding_box()
            slack = 8 * eps * max(max(map(abs, low + high)), 1.0)
            out[rest] = self.boundary_distance(x[rest]) <= atol + slack
        return out

    def signed(self, cols: Columns, ar: Arithmetic) -> Any:
        phi = joined_adf(self.boundary, range(len(self.facets)), cols, ar)
        points = torch.stack([ar.value(c) for c in cols], -1)
        return phi * torch.where(self.inside(points), 1.0, -1.0).to(points.dtype)

    # ----------------------------------------------------------------- interior
    @property
    def _interior_unit_dim(self) -> int:
        return self.dim + 1 if self.cells is not None else self.dim

    @property
    def _interior_acceptance(self) -> float | None:  # type: ignore[override]
        if self.cells is not None:
            return None
        low, high = self.bounding_box()
        return max(self._volume / float(np.prod(np.subtract(high, low))), 1e-4)

    def _interior_accept(self, x: Tensor) -> Tensor | None:
        return None if self.cells is not None else self.inside(x)

    def _interior_from_unit(self, u: Tensor) -> Tensor:
        if self.cells is None:
            return super()._interior_from_unit(u)
        cdf = torch.as_tensor(np.cumsum(self.cell_measures) / self.cell_measures.sum(), dtype=u.dtype, device=u.device)
        cell = torch.searchsorted(cdf, u[:, 0].contiguous(), right=True).clamp_(max=len(self.cells) - 1)
        verts = torch.as_tensor(self.points[self.cells], dtype=u.dtype, device=u.device)[cell]
        weights = _simplex_weights(u[:, 1:])
        return (weights[:, :, None] * verts).sum(1)


def _cells(points: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cells with non-zero measure, and their measures."""
    verts = points[cells]
    edges = verts[:, 1:] - verts[:, :1]
    measure = np.abs(np.linalg.det(edges)) / (2 if points.shape[1] == 2 else 6)
    keep = measure > 1e-14 * max(measure.max(), 1e-300)
    return cells[keep], measure[keep]


def _boundary_facets(points: np.ndarray, cells: np.ndarray, named: dict[tuple, set]) -> tuple[np.ndarray, list[set]]:
    """Facets of one cell only, ordered so their normals point away from it, with the labels of named groups."""
    k = cells.shape[1]
    local = [[j for j in range(k) if j != i] for i in range(k)]
    facets = np.concatenate([cells[:, f] for f in local])
    opposite = np.concatenate([cells[:, i] for i in range(k)])
    keys = np.sort(facets, axis=1)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    once = counts[inverse.reshape(-1)] == 1
    facets, opposite, keys = facets[once], opposite[once], keys[once]
    verts, far = points[facets], points[opposite]
    if points.shape[1] == 2:
        d = verts[:, 1] - verts[:, 0]
        normal = np.stack([d[:, 1], -d[:, 0]], -1)
        flip = np.einsum("ij,ij->i", normal, far - verts[:, 0]) > 0
        facets[flip] = facets[flip][:, ::-1]
    else:
        normal = np.cross(verts[:, 1] - verts[:, 0], verts[:, 2] - verts[:, 0])
        flip = np.einsum("ij,ij->i", normal, far - verts[:, 0]) > 0
        facets[flip] = facets[flip][:, [0, 2, 1]]
    labels = [set(named.get(tuple(int(v) for v in key), ())) for key in keys]
    return facets, labels


def _orient_surface(points: np.ndarray, faces: np.ndarray, labels: list[set],
                    check: bool) -> tuple[np.ndarray, list[set], list[np.ndarray] | None]:
    """Consistently oriented triangles with outward normals (shells inside an odd number of others are holes),
    their labels, and the triangles of each closed shell (``None`` unless ``check`` proved them closed)."""
    verts = points[faces]
    area = 0.5 * np.linalg.norm(np.cross(verts[:, 1] - verts[:, 0], verts[:, 2] - verts[:, 0]), axis=1)
    keep = area > 1e-14 * max(area.max(), 1e-300)
    faces, labels = faces[keep].copy(), [lab for lab, k in zip(labels, keep) if k]
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    keys = np.sort(edges, axis=1)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    if check and np.any(counts != 2):
        bad = int(np.sum(counts != 2))
        raise ValueError(f"the surface is not closed: {bad} edge(s) are not shared by exactly two triangles "
                         "(set check: false to use it anyway)")
    n = len(faces)
    owner = np.tile(np.arange(n), 3)
    by_edge: dict[int, list[int]] = {}
    for e, f in zip(inverse.tolist(), owner.tolist()):
        by_edge.setdefault(e, []).append(f)
    neighbours: list[list[int]] = [[] for _ in range(n)]
    for shared in by_edge.values():
        if len(shared) == 2:
            a, b = shared
            neighbours[a].append(b)
            neighbours[b].append(a)
    component = np.full(n, -1)
    for start in range(n):
        if component[start] >= 0:
            continue
        component[start] = start
        stack = [start]
        while stack:
            f = stack.pop()
            for g in neighbours[f]:
                if component[g] < 0:
                    if not _opposite_traversal(faces[f], faces[g]):
                        faces[g] = faces[g][[0, 2, 1]]
                    component[g] = start
                    stack.append(g)
    shells = [np.flatnonzero(component == c) for c in np.unique(component)]
    for shell in shells:  # each shell outward on its own
        if _enclosed_volume(points[faces[shell]]) < 0:
            faces[shell] = faces[shell][:, [0, 2, 1]]
    if len(shells) > 1:
        for i, shell in enumerate(shells):
            probe = torch.as_tensor(points[faces[shell[0]]].mean(0)[None], dtype=F64)
            depth = 0
            for j, other in enumerate(shells):
                if i != j:
                    tri = [torch.as_tensor(points[faces[other]][:, k], dtype=F64) for k in range(3)]
                    depth += int(winding_3d(probe, *tri)[0] > 0.5)
            if depth % 2:
                faces[shell] = faces[shell][:, [0, 2, 1]]
    return faces, labels, shells if check else None


def _opposite_traversal(f: np.ndarray, g: np.ndarray) -> bool:
    """Whether triangles f and g run through their shared edge in opposite directions."""
    directed = {(int(f[i]), int(f[(i + 1) % 3])) for i in range(3)}
    return not any((int(g[i]), int(g[(i + 1) % 3])) in directed for i in range(3))


def _enclosed_volume(verts: np.ndarray) -> float:
    """Signed volume enclosed by triangles (divergence theorem), or area enclosed by segments in 2-D."""
    if verts.shape[1] == 2:
        a, b = verts[:, 0], verts[:, 1]
        return float(np.sum(a[:, 0] * b[:, 1] - b[:, 0] * a[:, 1]) / 2)
    return float(np.einsum("ij,ij->i", verts[:, 0], np.cross(verts[:, 1], verts[:, 2])).sum() / 6)


def _simplex_weights(u: Tensor) -> Tensor:
    """Barycentric weights uniform on the simplex from 2 (triangle) or 3 (tetrahedron) unit columns.

    Folds of the unit square and cube (Rocchini & Cignoni 2000): measure-preserving, so
    Sobol and Latin-hypercube designs stay designs inside each cell.
    """
    if u.shape[1] == 2:
        s, t = u[:, 0], u[:, 1]
        fold = s + t > 1
        s, t = torch.where(fold, 1 - s, s), torch.where(fold, 1 - t, t)
        return torch.stack([1 - s - t, s, t], -1)
    s, t, v = u[:, 0], u[:, 1], u[:, 2]
    fold = s + t > 1
    s, t = torch.where(fold, 1 - s, s), torch.where(fold, 1 - t, t)
    first = t + v > 1
    second = ~first & (s + t + v > 1)
    s, t, v = (torch.where(second, 1 - t - v, s), torch.where(first, 1 - v, t),
               torch.where(first, 1 - s - t, torch.where(second, s + t + v - 1, v)))
    return torch.stack([1 - s - t - v, s, t, v], -1)
