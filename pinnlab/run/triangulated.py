"""Output on a mesh of the domain: a triangulation of non-box plane domains, a mesh file's own cells.

Boxes keep the structured grid of :mod:`pinnlab.run.export`. Any other 2-D domain (disks,
polygons, CSG trees, triangle meshes) is written and plotted on triangles
(:func:`pinnlab.geometry.meshing.triangulate`, edge length ``output.mesh_size``), so nothing
lies outside the domain and holes stay empty; a tetrahedral mesh file gives its tetrahedra.
Without gmsh (``pip install pinnlab[geometry]``) the grid masked to the domain is used, with a
one-line note.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pinnlab.errors import ConfigError, SpecError
from pinnlab.geometry import AxisBox, Box, TimeSpace, as_shape
from pinnlab.io.plots import plot_field_triangles
from pinnlab.io.vtk import write_cells, write_cells_series

if TYPE_CHECKING:
    from pinnlab.run.solution import Solution

PointData = Callable[[Any, np.ndarray, np.ndarray, Any], dict[str, np.ndarray]]
DEFAULT_DIVISIONS = 100
"""Triangle edges per longer side of the bounding box when neither ``output.mesh_size`` nor a resolution is set."""


@dataclass(frozen=True)
class OutputMesh:
    """Nodes ``(n, dim)`` of the spatial domain and cells ``(m, 3|4)`` of type ``triangle`` or ``tetra``."""

    points: np.ndarray
    cell_type: str
    cells: np.ndarray


def _space(solution: Solution) -> Any:
    geometry = solution.geometry
    return geometry.space if isinstance(geometry, TimeSpace) else geometry


def mesh_size(solution: Solution, resolution: int | Sequence[int] | None = None) -> float:
    """``output.mesh_size``, else the longer side of the bounding box over (resolution − 1)."""
    output = (solution.config or {}).get("output") or {}
    if output.get("mesh_size"):
        return float(output["mesh_size"])
    low, high = _space(solution).bounding_box()
    counts = [] if resolution is None else ([resolution] if isinstance(resolution, int) else list(resolution))
    divisions = max(counts) - 1 if counts else DEFAULT_DIVISIONS
    return max(h - lo for lo, h in zip(low, high)) / max(divisions, 2)


def output_mesh(solution: Solution, resolution: int | Sequence[int] | None = None) -> OutputMesh | None:
    """The mesh the output uses, or ``None`` for the structured grid (boxes, 3-D shapes, no gmsh)."""
    from pinnlab.geometry.mesh import MeshShape
    from pinnlab.geometry.meshing import triangulate

    space = _space(solution)
    if isinstance(space, MeshShape) and space.cells is not None and space.dim == 3:
        used = np.unique(space.cells)
        remap = np.full(len(space.points), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        return OutputMesh(space.points[used], "tetra", remap[space.cells])
    if space.dim != 2 or isinstance(space, (Box, AxisBox)):
        return None
    try:
        shape = as_shape(space)
    except TypeError:
        return None
    h = mesh_size(solution, resolution)
    cache = solution.__dict__.setdefault("_output_meshes", {})
    if h not in cache:
        try:
            tri = triangulate(shape, h)
        except (ConfigError, SpecError) as exc:
            print(f"note: {exc}; the output uses the grid masked to the domain", file=sys.stderr)
            cache[h] = None
        else:
            cache[h] = OutputMesh(np.asarray(tri.points, dtype=np.float64), "triangle", np.asarray(tri.triangles))
    return cache[h]


def _frames(solution: Solution, mesh: OutputMesh, times: Sequence[float | None]) -> list[np.ndarray]:
    """Full input rows at the mesh nodes, one array per time (``None``: a steady problem)."""
    space_cols = solution.problem.pde.spatial_columns()
    out = []
    for t in times:
        pts = np.zeros((len(mesh.points), len(solution.coords)))
        pts[:, space_cols] = mesh.points
        if t is not None:
            pts[:, solution.coords.index(solution.geometry.time_name)] = t
        out.append(pts)
    return out


def export_mesh_vtk(solution: Solution, directory: Path, mesh: OutputMesh, frames: int,
                    vectors: Mapping[str, Sequence[str]], point_data: PointData) -> list[Path]:
    """``solution.vtu`` on the mesh (steady) or the ``solution.pvd`` series of mesh frames."""
    inside = np.ones(len(mesh.points), dtype=bool)
    if not solution.time_dependent:
        (pts,) = _frames(solution, mesh, [None])
        return [write_cells(directory / "solution.vtu", mesh.points, mesh.cell_type, mesh.cells,
                            point_data(solution, pts, inside, vectors))]
    geometry = solution.geometry
    times = np.linspace(geometry.t0, geometry.t1, frames).tolist()
    data = [point_data(solution, pts, inside, vectors) for pts in _frames(solution, mesh, times)]
    return [write_cells_series(directory, "solution", times, mesh.points, mesh.cell_type, mesh.cells, data)]


def export_mesh_plots(solution: Solution, directory: Path, mesh: OutputMesh, point_data: PointData) -> list[Path]:
    """One figure per field on the triangles (at the final time for time-dependent problems, ``FIELD_slice.png``)."""
    t = solution.geometry.t1 if solution.time_dependent else None
    (pts,) = _frames(solution, mesh, [t])
    data = point_data(solution, pts, np.ones(len(pts), dtype=bool), {})
    names = [solution.coords[c] for c in solution.problem.pde.spatial_columns()]
    suffix, title = ("_slice", f" ({solution.geometry.time_name} = {t:.4g})") if t is not None else ("", "")
    return [plot_field_triangles(directory / f"{f}{suffix}.png", mesh.points, mesh.cells, data[f], f + title,
                                 names[0], names[1], data.get(f"{f}_reference"))
            for f in solution.fields]


__all__ = ["OutputMesh", "export_mesh_plots", "export_mesh_vtk", "mesh_size", "output_mesh"]
