"""Write a solution as VTK (ParaView) and plots.

Steady problems: one ``solution.vtu`` on a structured grid, or on the triangles of a
non-box plane domain or the cells of a mesh file (:mod:`pinnlab.run.triangulated`). Time-dependent ones:
``solution.pvd``, a time series of ``.vtu`` frames, and for one space dimension also
the x–t plane as ``solution_xt.vtu``. Reference values and errors are written
beside the prediction when the problem has a reference.

Everything comes from the :class:`~pinnlab.run.solution.Solution`: its evaluation grid
and geometry, predictions and reference values; vorticity (for a ``velocity`` vector)
is taken by the derivative engine, see :mod:`pinnlab.run.vorticity`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from pinnlab.io.plots import plot_comparison_2d, plot_field_2d, plot_history, plot_line, plot_parameters
from pinnlab.io.vtk import write_grid, write_time_series
from pinnlab.run.triangulated import export_mesh_plots, export_mesh_vtk, output_mesh
from pinnlab.run.vorticity import vorticity_point_data

if TYPE_CHECKING:
    from pinnlab.run.solution import Solution


Vectors = Mapping[str, Sequence[str]]


def output_vectors(solution: Solution) -> dict[str, list[str]]:
    """The vector fields of the solution's configuration (``output.vectors``): name -> component fields."""
    output = (getattr(solution, "config", None) or {}).get("output", {}) or {}
    return {name: list(members) for name, members in (output.get("vectors", {}) or {}).items()}


def _point_data(solution: Solution, points: np.ndarray, mask: np.ndarray,
                vectors: Vectors) -> dict[str, np.ndarray]:
    data: dict[str, np.ndarray] = {}
    pred = np.full((len(points), len(solution.fields)), np.nan)
    pred[mask] = solution.predict(points[mask])
    ref = None
    if mask.any():
        ref_in = solution.reference(points[mask])
        if ref_in is not None:
            ref = np.full_like(pred, np.nan)
            ref[mask] = ref_in
    for i, f in enumerate(solution.fields):
        data[f] = pred[:, i]
        if ref is not None and not np.all(np.isnan(ref[:, i])):
            data[f"{f}_reference"] = ref[:, i]
            data[f"{f}_error"] = np.abs(pred[:, i] - ref[:, i])
    for name, members in vectors.items():
        data[name] = np.stack([data[m] for m in members], axis=-1)
    if "velocity" in vectors and mask.any():
        data.update(vorticity_point_data(solution, points, mask, vectors["velocity"]))
    return data


def export_vtk(solution: Solution, directory: Path, resolution: int | Sequence[int] | None = None,
               frames: int = 11, vectors: Vectors | None = None) -> list[Path]:
    """Write the VTK files of a solution into ``directory``; returns the paths written.

    ``vectors`` (name -> component fields, default: :func:`output_vectors`) are written as
    vector arrays; a ``velocity`` vector adds its vorticity.
    """
    vectors = output_vectors(solution) if vectors is None else vectors
    directory.mkdir(parents=True, exist_ok=True)
    geometry = solution.geometry
    columns = geometry.grid_columns()
    names = [solution.coords[c] for c in columns]
    written: list[Path] = []
    mesh = output_mesh(solution, resolution)  # non-box plane domains and mesh files: their own cells
    if mesh is not None:
        return export_mesh_vtk(solution, directory, mesh, frames, vectors, _point_data)
    axes, points, mask = solution.evaluation_grid(resolution)
    if not solution.time_dependent:
        written.append(write_grid(directory / "solution.vtu", axes, _point_data(solution, points, mask, vectors),
                                  axis_names=names))
        return written
    time_col = solution.coords.index(geometry.time_name)
    t_axis = names.index(solution.coords[time_col])
    space_axes = [a for k, a in enumerate(axes) if k != t_axis]
    space_names = [n for k, n in enumerate(names) if k != t_axis]
    space_cols = [c for k, c in enumerate(columns) if k != t_axis]
    t0, t1 = geometry.t0, geometry.t1
    times = np.linspace(t0, t1, frames)
    mesh = np.meshgrid(*space_axes, indexing="ij")
    base = points[0].copy()
    frame_data = []
    for t in times:
        pts = np.tile(base, (mesh[0].size, 1))
        for col, values in zip(space_cols, mesh):
            pts[:, col] = values.ravel()
        pts[:, time_col] = t
        space_points = torch.as_tensor(np.delete(pts, time_col, axis=1))
        inside = geometry.space.contains(space_points, atol=1e-9).numpy()
        frame_data.append(_point_data(solution, pts, inside, vectors))
    written.append(write_time_series(directory, "solution", times.tolist(), space_axes, frame_data,
                                     axis_names=space_names))
    if len(space_axes) == 1:
        written.append(write_grid(directory / "solution_xt.vtu", axes, _point_data(solution, points, mask, vectors),
                                  axis_names=names))
    return written


def _plane(solution: Solution, axes: list[np.ndarray]) -> tuple[list[int], np.ndarray, np.ndarray, str]:
    """A 2-D slice of a grid of three or more axes: the first two space axes, at the final time and at the
    middle of every other axis. Returns (the two axes, points, in-domain mask, where the slice lies)."""
    geometry = solution.geometry
    columns = geometry.grid_columns()
    time_col = solution.coords.index(geometry.time_name) if solution.time_dependent else None
    plane = [k for k, c in enumerate(columns) if c != time_col][:2]
    fixed = {k: (axes[k][-1] if columns[k] == time_col else axes[k][len(axes[k]) // 2])
             for k in range(len(axes)) if k not in plane}
    mesh = np.meshgrid(axes[plane[0]], axes[plane[1]], indexing="ij")
    points = np.zeros((mesh[0].size, len(solution.coords)))
    for k, values in zip(plane, mesh):
        points[:, columns[k]] = values.ravel()
    for k, value in fixed.items():
        points[:, columns[k]] = value
    mask = geometry.contains(torch.as_tensor(points), atol=1e-9).cpu().numpy()
    where = ", ".join(f"{solution.coords[columns[k]]} = {v:.4g}" for k, v in fixed.items())
    return plane, points, mask, where


def export_plots(solution: Solution, directory: Path, history: dict[str, list[float]] | None = None,
                 resolution: int | Sequence[int] | None = None) -> list[Path]:
    """Loss/error history and field plots: 2-D grids as images, 1-D as lines, and for three or more axes
    a 2-D slice (the final time, the middle of further space axes) named ``FIELD_slice.png``."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if history:
        written.append(plot_history(directory / "history.png", history))
        if any(k.startswith("param_") for k in history):
            written.append(plot_parameters(directory / "parameters.png", history))
    mesh = output_mesh(solution, resolution)
    if mesh is not None and mesh.cell_type == "triangle":
        return written + export_mesh_plots(solution, directory, mesh, _point_data)
    axes, points, mask = solution.evaluation_grid(resolution)
    names = [solution.coords[c] for c in solution.geometry.grid_columns()]
    suffix, title = "", ""
    if len(axes) > 2:
        plane, points, mask, where = _plane(solution, axes)
        axes, names = [axes[k] for k in plane], [names[k] for k in plane]
        suffix, title = "_slice", f" ({where})"
    data = _point_data(solution, points, mask, {})
    for f in solution.fields:
        if len(axes) == 2:
            shape = (len(axes[0]), len(axes[1]))
            path = directory / f"{f}{suffix}.png"
            if f"{f}_reference" in data:
                written.append(plot_comparison_2d(path, axes[0], axes[1], data[f].reshape(shape),
                                                  data[f"{f}_reference"].reshape(shape), names[0], names[1],
                                                  f + title))
            else:
                written.append(plot_field_2d(path, axes[0], axes[1], data[f].reshape(shape), f + title, names[0],
                                             names[1]))
        elif len(axes) == 1:
            curves = {f: data[f]}
            if f"{f}_reference" in data:
                curves["reference"] = data[f"{f}_reference"]
            written.append(plot_line(directory / f"{f}.png", axes[0], curves, names[0], f, f))
    return written
