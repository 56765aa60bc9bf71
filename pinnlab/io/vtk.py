"""VTK output for ParaView: tensor-product grids, time series and point clouds.

Meshes are written as ``.vtu`` (VTK XML unstructured grid) through meshio; time series
get a ``.pvd`` collection file listing one ``.vtu`` per time. meshio cannot write
``.vtp``, so point clouds are ``.vtu`` files with vertex cells, which ParaView shows the
same way.
"""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

import meshio
import numpy as np

__all__ = ["read_pvd", "write_cells", "write_cells_series", "write_grid", "write_point_cloud_series",
           "write_time_series"]

_CELL_NODES = {"triangle": 3, "tetra": 4}

_CELL_TYPE = {1: "line", 2: "quad", 3: "hexahedron"}


def write_grid(
    path: str | Path,
    axes: Sequence[np.ndarray],
    point_data: Mapping[str, np.ndarray],
    axis_names: Sequence[str] | None = None,
) -> Path:
    """Write fields on a tensor-product grid of 1, 2 or 3 axes to a ``.vtu`` file.

    Points are ordered with the first axis varying slowest (``np.meshgrid(...,
    indexing="ij")``) and embedded in 3-D by padding with zeros. Each point-data array
    has shape ``(M,)`` (scalar) or ``(M, 2|3)`` (vector, 2-vectors padded to 3), where
    ``M`` is the number of grid points; the grid shape ``(n0, n1, ...)`` and
    ``(n0, n1, ..., 2|3)`` are accepted as well. NaNs mark masked points. If
    ``axis_names`` is given, each axis coordinate is also stored as a scalar array under
    its name (e.g. to color a space-time grid by ``t``). Returns the written path.
    """
    path = _vtu_path(path)
    grid = _check_axes(axes)
    points, cells = _grid_mesh(grid)
    data = _check_point_data(point_data, points.shape[0], tuple(a.size for a in grid))
    data.update(_axis_arrays(grid, axis_names, data))
    _write_vtu(path, points, cells, data)
    return path


def write_time_series(
    directory: str | Path,
    stem: str,
    times: Sequence[float],
    axes: Sequence[np.ndarray],
    frames: Sequence[Mapping[str, np.ndarray]],
    axis_names: Sequence[str] | None = None,
) -> Path:
    """Write one grid ``.vtu`` per time (``{stem}_{k:04d}.vtu``) and a ``{stem}.pvd``.

    ``frames[k]`` holds the point data at ``times[k]`` (see :func:`write_grid`); times
    must be finite and strictly increasing. Returns the ``.pvd`` path.
    """
    directory, stem = _check_series(directory, stem)
    times = _check_times(times, len(frames), "frames")
    grid = _check_axes(axes)
    points, cells = _grid_mesh(grid)
    shape = tuple(a.size for a in grid)
    files = []
    for k, frame in enumerate(frames):
        data = _check_point_data(frame, points.shape[0], shape, where=f"frames[{k}]")
        data.update(_axis_arrays(grid, axis_names, data))
        files.append(directory / f"{stem}_{k:04d}.vtu")
        _write_vtu(files[-1], points, cells, data)
    return _write_pvd(directory / f"{stem}.pvd", times, files)


def write_cells(
    path: str | Path,
    points: np.ndarray,
    cell_type: str,
    cells: np.ndarray,
    point_data: Mapping[str, np.ndarray],
) -> Path:
    """Write fields at the nodes ``(n, 2|3)`` of a triangle or tetrahedron mesh to a ``.vtu`` file.

    ``cell_type`` is ``triangle`` or ``tetra``, ``cells`` ``(m, 3|4)`` node indices; point data as
    in :func:`write_grid` with ``M = n``. Returns the written path."""
    path = _vtu_path(path)
    pts, block = _cell_mesh(points, cell_type, cells)
    _write_vtu(path, pts, block, _check_point_data(point_data, len(pts), (len(pts),)))
    return path


def write_cells_series(
    directory: str | Path,
    stem: str,
    times: Sequence[float],
    points: np.ndarray,
    cell_type: str,
    cells: np.ndarray,
    frames: Sequence[Mapping[str, np.ndarray]],
) -> Path:
    """One mesh ``.vtu`` per time (``{stem}_{k:04d}.vtu``, see :func:`write_cells`) and a ``{stem}.pvd``."""
    directory, stem = _check_series(directory, stem)
    times = _check_times(times, len(frames), "frames")
    pts, block = _cell_mesh(points, cell_type, cells)
    files = []
    for k, frame in enumerate(frames):
        files.append(directory / f"{stem}_{k:04d}.vtu")
        _write_vtu(files[-1], pts, block, _check_point_data(frame, len(pts), (len(pts),), where=f"frames[{k}]"))
    return _write_pvd(directory / f"{stem}.pvd", times, files)


def _cell_mesh(points: np.ndarray, cell_type: str, cells: np.ndarray) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    if cell_type not in _CELL_NODES:
        raise ValueError(f"cell_type must be one of {', '.join(_CELL_NODES)}, got {cell_type!r}")
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or not 2 <= pts.shape[1] <= 3 or not np.all(np.isfinite(pts)):
        raise ValueError(f"points must be finite with shape (n, 2|3), got {pts.shape}")
    c = np.asarray(cells, dtype=np.int64)
    if c.ndim != 2 or c.shape[1] != _CELL_NODES[cell_type] or (c.size and (c.min() < 0 or c.max() >= len(pts))):
        raise ValueError(f"{cell_type} cells must be ({_CELL_NODES[cell_type]} node indices) rows of valid nodes")
    return _pad3(pts), [(cell_type, c)]


def write_point_cloud_series(
    directory: str | Path,
    stem: str,
    times: Sequence[float],
    clouds: Sequence[np.ndarray],
    point_data: Sequence[Mapping[str, np.ndarray]] | None = None,
) -> Path:
    """Write point clouds (vertex cells) per step as ``{stem}_{k:04d}.vtu`` plus a ``.pvd``.

    ``clouds[k]`` has shape ``(n_k, dim)`` with the same ``dim <= 3`` for every step
    (coordinates padded to 3-D); ``n_k`` may vary and may be zero (an empty step is a
    valid VTK file for ParaView and pyvista, though meshio 5.3 cannot read it back).
    ``point_data[k]`` optionally maps names to arrays of shape ``(n_k,)`` or
    ``(n_k, 2|3)``. ``times`` must be finite and strictly increasing (training steps are
    fine). Returns the ``.pvd`` path.
    """
    directory, stem = _check_series(directory, stem)
    times = _check_times(times, len(clouds), "clouds")
    if point_data is not None and len(point_data) != len(clouds):
        raise ValueError(
            f"point_data has {len(point_data)} entries but there are {len(clouds)} clouds"
        )
    dim = None
    files = []
    for k, cloud in enumerate(clouds):
        pts = np.asarray(cloud, dtype=float)
        if pts.ndim != 2 or not 1 <= pts.shape[1] <= 3:
            raise ValueError(
                f"clouds[{k}] must have shape (n, dim) with dim <= 3, got {pts.shape}"
            )
        if dim is None:
            dim = pts.shape[1]
        elif pts.shape[1] != dim:
            raise ValueError(
                f"clouds[{k}] has dimension {pts.shape[1]}, clouds[0] has {dim}"
            )
        if not np.all(np.isfinite(pts)):
            raise ValueError(f"clouds[{k}] contains non-finite coordinates")
        n = pts.shape[0]
        data = {} if point_data is None else point_data[k]
        data = _check_point_data(data, n, (n,), where=f"point_data[{k}]")
        cells = [("vertex", np.arange(n, dtype=np.int64).reshape(n, 1))]
        files.append(directory / f"{stem}_{k:04d}.vtu")
        _write_vtu(files[-1], _pad3(pts), cells, data)
    return _write_pvd(directory / f"{stem}.pvd", times, files)


def read_pvd(path: str | Path) -> list[tuple[float, Path]]:
    """Return ``(time, file)`` pairs of a ``.pvd`` collection, in file order.

    Relative file names are resolved against the directory of the ``.pvd``.
    """
    path = Path(path)
    root = ET.parse(path).getroot()
    collection = root.find("Collection")
    if root.tag != "VTKFile" or root.get("type") != "Collection" or collection is None:
        raise ValueError(f"{path} is not a VTK collection (.pvd) file")
    out = []
    for ds in collection.iter("DataSet"):
        file = Path(ds.get("file", ""))
        if not file.is_absolute():
            file = path.parent / file
        out.append((float(ds.get("timestep", "0")), file))
    return out


# --- helpers -------------------------------------------------------------------------


def _vtu_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix != ".vtu":
        raise ValueError(f"expected a .vtu file name, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _check_axes(axes: Sequence[np.ndarray]) -> list[np.ndarray]:
    if not 1 <= len(axes) <= 3:
        raise ValueError(f"a grid needs 1, 2 or 3 axes, got {len(axes)}")
    grid = []
    for i, axis in enumerate(axes):
        a = np.asarray(axis, dtype=float)
        if a.ndim != 1 or a.size < 2:
            raise ValueError(
                f"axes[{i}] must be a 1-D array of at least 2 values, got shape {a.shape}"
            )
        if not np.all(np.isfinite(a)) or np.any(np.diff(a) <= 0):
            raise ValueError(f"axes[{i}] must be finite and strictly increasing")
        grid.append(a)
    return grid


def _grid_mesh(
    grid: list[np.ndarray],
) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """Points (ij order, padded to 3-D) and line/quad/hexahedron cells of a grid."""
    shape = tuple(a.size for a in grid)
    mesh = np.meshgrid(*grid, indexing="ij")
    points = _pad3(np.stack([m.ravel() for m in mesh], axis=1))
    index = np.arange(points.shape[0], dtype=np.int64).reshape(shape)
    lo, hi = slice(None, -1), slice(1, None)
    if len(grid) == 1:
        corners = [index[lo], index[hi]]
    elif len(grid) == 2:
        # counter-clockwise in the (axis 0, axis 1) plane
        corners = [index[lo, lo], index[hi, lo], index[hi, hi], index[lo, hi]]
    else:
        # VTK hexahedron: the face at axis-2 index k counter-clockwise, then the face at k+1
        corners = [
            index[a, b, c]
            for c in (lo, hi)
            for a, b in ((lo, lo), (hi, lo), (hi, hi), (lo, hi))
        ]
    cells = np.stack([c.ravel() for c in corners], axis=1)
    return points, [(_CELL_TYPE[len(grid)], cells)]


def _pad3(points: np.ndarray) -> np.ndarray:
    out = np.zeros((points.shape[0], 3))
    out[:, : points.shape[1]] = points
    return out


def _check_point_data(
    point_data: Mapping[str, np.ndarray],
    n_points: int,
    grid_shape: tuple[int, ...],
    where: str = "point_data",
) -> dict[str, np.ndarray]:
    """Flatten to ``(M,)`` / ``(M, 3)`` float arrays, padding 2-vectors; ValueError otherwise."""
    out = {}
    for name, values in point_data.items():
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"{where}: array names must be non-empty strings, got {name!r}"
            )
        v = np.asarray(values, dtype=float)
        if v.shape in ((n_points,), grid_shape):
            out[name] = v.reshape(n_points)
            continue
        if (
            v.ndim >= 2
            and v.shape[-1] in (2, 3)
            and v.shape[:-1] in ((n_points,), grid_shape)
        ):
            v = v.reshape(n_points, v.shape[-1])
            out[name] = _pad3(v) if v.shape[1] == 2 else v
            continue
        raise ValueError(
            f"{where}[{name!r}] has shape {v.shape}; expected ({n_points},) for a scalar or "
            f"({n_points}, 2|3) for a vector (or the grid shape {grid_shape} with an optional "
            "trailing 2|3)"
        )
    return out


def _axis_arrays(
    grid: list[np.ndarray],
    axis_names: Sequence[str] | None,
    data: Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    if axis_names is None:
        return {}
    if isinstance(axis_names, str) or len(axis_names) != len(grid):
        raise ValueError(f"axis_names must list {len(grid)} names, got {axis_names!r}")
    if len(set(axis_names)) != len(axis_names):
        raise ValueError(f"axis_names must be distinct, got {list(axis_names)}")
    clash = [n for n in axis_names if n in data]
    if clash:
        raise ValueError(f"axis names {clash} clash with point-data names")
    mesh = np.meshgrid(*grid, indexing="ij")
    return {name: m.ravel() for name, m in zip(axis_names, mesh)}


def _write_vtu(
    path: Path,
    points: np.ndarray,
    cells: list[tuple[str, np.ndarray]],
    point_data: dict[str, np.ndarray],
) -> None:
    meshio.write(
        path, meshio.Mesh(points, cells, point_data=point_data), file_format="vtu"
    )


def _check_series(directory: str | Path, stem: str) -> tuple[Path, str]:
    if not stem or Path(stem).name != stem or stem in (".", ".."):
        raise ValueError(
            f"stem must be a plain file name without directories, got {stem!r}"
        )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return directory, stem


def _check_times(times: Sequence[float], n: int, what: str) -> list[float]:
    out = [float(t) for t in times]
    if len(out) != n:
        raise ValueError(f"got {len(out)} times but {n} {what}")
    if not all(math.isfinite(t) for t in out):
        raise ValueError("times must be finite")
    if any(b <= a for a, b in itertools.pairwise(out)):
        raise ValueError("times must be strictly increasing")
    return out


def _write_pvd(path: Path, times: list[float], files: list[Path]) -> Path:
    root = ET.Element(
        "VTKFile", type="Collection", version="0.1", byte_order="LittleEndian"
    )
    collection = ET.SubElement(root, "Collection")
    for t, file in zip(times, files):
        ET.SubElement(
            collection,
            "DataSet",
            timestep=repr(t),
            group="",
            part="0",
            file=file.relative_to(path.parent).as_posix(),
        )
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
