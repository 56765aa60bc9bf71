"""Static plots of fields, slices, training history and collocation points.

Figures are built as plain :class:`matplotlib.figure.Figure` objects rendered by the Agg
canvas, so nothing touches pyplot's global state, no window ever opens and no figure
is left registered after saving. The file format follows the suffix (``.png``,
``.pdf``, ``.svg``, ...). Every function returns the written path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

__all__ = [
    "plot_comparison_2d",
    "plot_field_2d",
    "plot_field_triangles",
    "plot_history",
    "plot_line",
    "plot_parameters",
    "plot_points",
]

_DPI = 120


def plot_field_2d(
    path: str | Path,
    x: np.ndarray,
    y: np.ndarray,
    values: np.ndarray,
    title: str,
    xlabel: str,
    ylabel: str,
) -> Path:
    """Color plot of ``values[i, j]`` at ``(x[i], y[j])`` with a colorbar; NaNs left blank."""
    x, y, (v,) = _check_field(x, y, values)
    fig = _figure(6.0, 4.5)
    ax = fig.add_subplot()
    _field_panel(fig, ax, x, y, v, title, xlabel, ylabel)
    return _save(fig, path)


def plot_comparison_2d(
    path: str | Path,
    x: np.ndarray,
    y: np.ndarray,
    predicted: np.ndarray,
    reference: np.ndarray,
    xlabel: str,
    ylabel: str,
    field_name: str,
) -> Path:
    """Three panels: prediction, reference (same color scale) and ``|prediction - reference|``.

    The error panel's title carries the relative L2 error over points where both are finite.
    """
    x, y, (p, r) = _check_field(
        x, y, predicted, reference, names=("predicted", "reference")
    )
    both = np.concatenate([p[np.isfinite(p)], r[np.isfinite(r)]])
    vmin, vmax = (float(both.min()), float(both.max())) if both.size else (None, None)
    err = np.abs(p - r)
    ok = np.isfinite(err)
    ref_norm = float(np.linalg.norm(r[ok])) if ok.any() else 0.0
    rel = f"{np.linalg.norm(err[ok]) / ref_norm:.3e}" if ref_norm > 0 else "n/a"
    fig = _figure(16.0, 4.5)
    axes = fig.subplots(1, 3)
    _field_panel(
        fig, axes[0], x, y, p, f"{field_name} predicted", xlabel, ylabel, vmin, vmax
    )
    _field_panel(
        fig, axes[1], x, y, r, f"{field_name} reference", xlabel, ylabel, vmin, vmax
    )
    _field_panel(fig, axes[2], x, y, err, f"|error| (rel. L2 = {rel})", xlabel, ylabel)
    return _save(fig, path)


def plot_field_triangles(
    path: str | Path,
    points: np.ndarray,
    triangles: np.ndarray,
    values: np.ndarray,
    title: str,
    xlabel: str,
    ylabel: str,
    reference: np.ndarray | None = None,
) -> Path:
    """Values at the nodes ``(n, 2)`` of a triangulation ``(m, 3)``, shaded linearly in each triangle, so
    nothing is drawn outside the domain (holes stay empty). With ``reference`` three panels: prediction,
    reference (same color scale) and ``|prediction - reference|`` with the relative L2 error at the nodes."""
    from matplotlib.tri import Triangulation as MplTriangulation

    pts = np.asarray(points, dtype=float)
    tri = np.asarray(triangles, dtype=np.int64)
    if pts.ndim != 2 or pts.shape[1] != 2 or tri.ndim != 2 or tri.shape[1] != 3:
        raise ValueError(f"expected points (n, 2) and triangles (m, 3), got {pts.shape} and {tri.shape}")
    if tri.size and (tri.min() < 0 or tri.max() >= len(pts)):
        raise ValueError("triangles refer to nodes that do not exist")
    mesh = MplTriangulation(pts[:, 0], pts[:, 1], tri)
    panels = [(np.asarray(values, dtype=float), title)]
    if reference is not None:
        r = np.asarray(reference, dtype=float)
        err = np.abs(panels[0][0] - r)
        norm = float(np.linalg.norm(r[np.isfinite(r)]))
        rel = f"{np.linalg.norm(err[np.isfinite(err)]) / norm:.3e}" if norm > 0 else "n/a"
        panels += [(r, f"{title} reference"), (err, f"|error| (rel. L2 = {rel})")]
    for v, name in panels:
        if v.shape != (len(pts),):
            raise ValueError(f"{name!r}: expected {len(pts)} node values, got shape {v.shape}")
    shared = np.concatenate([v[np.isfinite(v)] for v, _ in panels[:2]])
    limits = (float(shared.min()), float(shared.max())) if shared.size else (None, None)
    span = np.ptp(pts, axis=0) if len(pts) else np.ones(2)
    aspect = float(span[1] / span[0]) if span[0] > 0 else 1.0
    fig = _figure(6.0 * len(panels), float(np.clip(5.0 * aspect + 1.3, 2.2, 6.0)))  # the panel's shape follows the domain
    axes = fig.subplots(1, len(panels)) if len(panels) > 1 else [fig.add_subplot()]
    for k, (ax, (v, name)) in enumerate(zip(axes, panels)):
        vmin, vmax = limits if k < 2 else (None, None)
        shade = ax.tripcolor(mesh, np.nan_to_num(v), shading="gouraud", cmap="viridis", vmin=vmin, vmax=vmax)
        fig.colorbar(shade, ax=ax, fraction=0.046, pad=0.04)
        ax.set(xlabel=xlabel, ylabel=ylabel, title=name, aspect="equal")
    return _save(fig, path)


def plot_line(
    path: str | Path,
    x: np.ndarray,
    curves: Mapping[str, np.ndarray],
    xlabel: str,
    ylabel: str,
    title: str,
) -> Path:
    """Curves ``y = curves[label]`` over a shared ``x`` (e.g. solution slices), with a legend."""
    x = _vector(x, "x")
    if not curves:
        raise ValueError("curves is empty")
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot()
    for label, values in curves.items():
        v = np.asarray(values, dtype=float)
        if v.shape != x.shape:
            raise ValueError(
                f"curve {label!r} has shape {v.shape}, x has shape {x.shape}"
            )
        ax.plot(x, v, label=str(label))
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_history(
    path: str | Path,
    history: Mapping[str, Sequence[float]],
    x_key: str = "step",
) -> Path:
    """Training history on log scales against ``history[x_key]``.

    Columns whose name contains ``loss`` go in the first panel; columns whose name contains
    ``l2`` (e.g. ``rel_l2_u``) in a second panel, drawn only if present. Missing entries
    (``None``/NaN) and non-positive values are skipped; other columns are ignored.
    """
    if x_key not in history:
        raise ValueError(f"history has no {x_key!r} column; columns: {sorted(history)}")
    steps = _column(history[x_key], x_key)
    losses = {k: v for k, v in history.items() if k != x_key and "loss" in k.lower()}
    errors = {
        k: v
        for k, v in history.items()
        if k != x_key and k not in losses and "l2" in k.lower()
    }
    if not losses and not errors:
        raise ValueError(
            f"history has no loss or L2 columns; columns: {sorted(history)}"
        )
    panels = [
        (c, lab) for c, lab in ((losses, "loss"), (errors, "relative L2 error")) if c
    ]
    fig = _figure(6.5 * len(panels), 4.0)
    for ax, (columns, ylabel) in zip(
        np.atleast_1d(fig.subplots(1, len(panels))), panels
    ):
        for name, values in columns.items():
            v = _column(values, name)
            if v.shape != steps.shape:
                raise ValueError(
                    f"column {name!r} has {v.size} entries, {x_key!r} has {steps.size}"
                )
            keep = np.isfinite(v) & np.isfinite(steps) & (v > 0)
            ax.plot(
                steps[keep],
                v[keep],
                label=name,
                marker="." if keep.sum() < 30 else None,
            )
        ax.set_yscale("log")
        ax.set(xlabel=x_key, ylabel=ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    return _save(fig, path)


def plot_parameters(
    path: str | Path,
    history: Mapping[str, Sequence[float]],
    x_key: str = "step",
) -> Path:
    """Learned PDE parameters against ``history[x_key]``: the values (columns ``param_NAME``) and, in a
    second panel on a log scale, their relative errors (``param_NAME_rel_error``) when present."""
    if x_key not in history:
        raise ValueError(f"history has no {x_key!r} column; columns: {sorted(history)}")
    values = {k[len("param_"):]: v for k, v in history.items()
              if k.startswith("param_") and not k.endswith("_rel_error")}
    if not values:
        raise ValueError(f"history has no param_ columns; columns: {sorted(history)}")
    errors = {k[len("param_"):-len("_rel_error")]: v for k, v in history.items()
              if k.startswith("param_") and k.endswith("_rel_error")}
    steps = _column(history[x_key], x_key)
    panels = [(values, "value", "linear")] + ([(errors, "relative error", "log")] if errors else [])
    fig = _figure(6.5 * len(panels), 4.0)
    for ax, (columns, ylabel, scale) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels):
        for name, column in columns.items():
            v = _column(column, name)
            keep = np.isfinite(v) & np.isfinite(steps) & ((v > 0) if scale == "log" else True)
            ax.plot(steps[keep], v[keep], label=name, marker="." if keep.sum() < 30 else None)
        ax.set_yscale(scale)
        ax.set(xlabel=x_key, ylabel=ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    return _save(fig, path)


def plot_points(
    path: str | Path,
    points: np.ndarray,
    xlabel: str,
    ylabel: str,
    title: str,
    values: np.ndarray | None = None,
) -> Path:
    """Scatter of 2-D points (e.g. collocation points), colored by ``values`` if given.

    Positive ``values`` spanning more than two decades (typical of residuals) get a log
    color scale.
    """
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {pts.shape}")
    fig = _figure(6.0, 4.5)
    ax = fig.add_subplot()
    size = float(np.clip(4000.0 / max(len(pts), 1), 2.0, 20.0))
    if values is None:
        ax.scatter(pts[:, 0], pts[:, 1], s=size, linewidths=0)
    else:
        v = np.asarray(values, dtype=float)
        if v.shape != (len(pts),):
            raise ValueError(f"values must have shape ({len(pts)},), got {v.shape}")
        finite = v[np.isfinite(v)]
        norm = None
        if finite.size and finite.min() > 0 and finite.max() > 100 * finite.min():
            norm = LogNorm(finite.min(), finite.max())
        sc = ax.scatter(pts[:, 0], pts[:, 1], c=v, s=size, linewidths=0, norm=norm)
        fig.colorbar(sc, ax=ax)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    return _save(fig, path)


# --- helpers -------------------------------------------------------------------------


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    fig.clear()
    return path


def _vector(a: np.ndarray, name: str) -> np.ndarray:
    v = np.asarray(a, dtype=float)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {v.shape}")
    return v


def _column(values: Sequence[float], name: str) -> np.ndarray:
    v = np.array([np.nan if e is None else e for e in values], dtype=float)
    if v.ndim != 1:
        raise ValueError(f"history column {name!r} must be one-dimensional")
    return v


def _check_field(
    x: np.ndarray,
    y: np.ndarray,
    *fields: np.ndarray,
    names: Sequence[str] = ("values",),
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    x, y = _vector(x, "x"), _vector(y, "y")
    out = []
    for name, f in zip(names, fields):
        v = np.asarray(f, dtype=float)
        if v.shape != (x.size, y.size):
            raise ValueError(
                f"{name} must have shape (len(x), len(y)) = {(x.size, y.size)}, got {v.shape}"
            )
        out.append(v)
    return x, y, out


def _field_panel(
    fig: Figure,
    ax: Axes,
    x: np.ndarray,
    y: np.ndarray,
    v: np.ndarray,
    title: str,
    xlabel: str,
    ylabel: str,
    vmin: float | None = None,
    vmax: float | None = None,
) -> None:
    mesh = ax.pcolormesh(
        x,
        y,
        np.ma.masked_invalid(v.T),
        shading="auto",
        vmin=vmin,
        vmax=vmax,
        cmap="viridis",
    )
    fig.colorbar(mesh, ax=ax)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
