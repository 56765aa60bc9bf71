"""Collocation points over training: VTK point-cloud series and scatter plots of sampler snapshots.

Adaptive samplers (``r3``, ``causal_r3``, ``rad``) keep a :class:`~pinnlab.sampling.Snapshot`
of the interior population every K evolutions when ``sampling.snapshots: K`` is set;
:func:`export_sampler_points` writes them into a run directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pinnlab.io.plots import plot_points
from pinnlab.io.vtk import write_point_cloud_series

__all__ = ["export_sampler_points", "plot_point_snapshots", "write_point_series"]


def write_point_series(directory: str | Path, snapshots: Sequence[Any], names: Sequence[str],
                       stem: str = "points") -> Path:
    """One ``.vtu`` point cloud per snapshot plus ``{stem}.pvd`` (time = training step).

    Point data: ``fitness`` (Σ|r| over the equations), ``retained`` (1 where the point
    survived the evolution) and one array per coordinate, so ParaView can color by time.
    Needs at most 3 coordinates.
    """
    if not snapshots:
        raise ValueError("no snapshots to write")
    dim = snapshots[0].points.shape[1]
    if dim > 3 or len(names) != dim:
        raise ValueError(f"point clouds need <= 3 coordinates matching names {list(names)}, got {dim}")
    data = []
    for s in snapshots:
        arrays = {"fitness": np.asarray(s.fitness, float), "retained": np.asarray(s.retained, float)}
        arrays.update({name: np.asarray(s.points[:, k], float) for k, name in enumerate(names)})
        data.append(arrays)
    return write_point_cloud_series(directory, stem, [float(s.step) for s in snapshots],
                                    [np.asarray(s.points, float) for s in snapshots], data)


def plot_point_snapshots(directory: str | Path, snapshots: Sequence[Any], names: Sequence[str],
                         count: int = 4, stem: str = "points") -> list[Path]:
    """Scatter plots (colored by fitness) of up to ``count`` evenly spaced snapshots of 2-D points."""
    if not snapshots or snapshots[0].points.shape[1] != 2:
        return []
    picks = sorted({round(i) for i in np.linspace(0, len(snapshots) - 1, min(count, len(snapshots)))})
    directory = Path(directory)
    return [plot_points(directory / f"{stem}_step{snapshots[i].step:07d}.png", snapshots[i].points, names[0],
                        names[1], f"collocation points, step {snapshots[i].step}", values=snapshots[i].fitness)
            for i in picks]


def export_sampler_points(sampler: Any, run_dir: str | Path, names: Sequence[str], vtk: bool = True,
                          plots: bool = True) -> list[Path]:
    """Write a sampler's snapshots (if it kept any) to ``run_dir/vtk/points.pvd`` and ``run_dir/plots``.

    Returns the written paths; samplers without snapshots, and clouds of more than three
    coordinates for VTK, write nothing.
    """
    snapshots = list(getattr(sampler, "snapshots", None) or [])
    if not snapshots:
        return []
    run_dir = Path(run_dir)
    written: list[Path] = []
    if vtk and snapshots[0].points.shape[1] <= 3:
        written.append(write_point_series(run_dir / "vtk", snapshots, names))
    if plots:
        written += plot_point_snapshots(run_dir / "plots", snapshots, names)
    return written
