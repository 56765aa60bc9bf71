"""A trained solution: evaluate anywhere, compare with the reference, reload from a run directory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pinnlab.compile import exact_function
from pinnlab.compile.reference_data import ReferenceData
from pinnlab.geometry import Geometry, TimeSpace
from pinnlab.spec import Problem


class Solution:
    """Fields of a solved problem as functions of the coordinates.

    ``coords`` lists the input column names in order, ``fields`` the output names;
    ``predict(points)`` takes an (N, len(coords)) array and returns (N, len(fields));
    ``parameters`` holds the PDE parameters, the trainable ones at their learned values.
    """

    def __init__(self, problem: Problem, model: torch.nn.Module, geometry: Geometry, config: dict[str, Any] | None = None,
                 run_dir: Path | None = None, metrics: dict[str, Any] | None = None,
                 parameters: Mapping[str, float] | None = None):
        self.problem = problem
        self.learned = {k: float(v) for k, v in (parameters or {}).items()}
        self.model = model.eval()
        self.geometry = geometry
        self.config = config or {}
        self.run_dir = run_dir
        self.metrics = metrics or {}
        self._exact = exact_function(problem)

    @property
    def coords(self) -> list[str]:
        return list(self.problem.pde.columns)

    @property
    def fields(self) -> list[str]:
        return list(self.problem.pde.fields)

    @property
    def parameters(self) -> dict[str, float]:
        """Every PDE parameter's value: learned ones as trained, the others as declared."""
        return {**self.problem.pde.parameter_values, **self.learned}

    def parameter_errors(self) -> dict[str, float]:
        """Relative error of each learned parameter whose true value is known."""
        declared = self.problem.pde.trainable_parameters
        out = {}
        for name, value in self.learned.items():
            error = declared[name].relative_error(value) if name in declared else None
            if error is not None:
                out[name] = error
        return out

    def quantities(self, specs: Mapping[str, Any] | None = None, mesh_size: float | None = None) -> dict[str, float]:
        """Engineering quantities (integrals, point values, combinations; see ``output.quantities``
        in docs/configuration.md): ``specs`` or else those of the run's configuration."""
        from pinnlab.config.quantities import quantities_from_config

        output = self.config.get("output") or {}
        specs = output.get("quantities") or {} if specs is None else specs
        mesh_size = output.get("mesh_size") if mesh_size is None else mesh_size
        compiled = quantities_from_config(specs, self.problem, self.geometry, mesh_size=mesh_size)
        ref = self._param()
        return compiled.evaluate(self.model, self.parameters, ref.dtype, ref.device)

    def _param(self) -> torch.Tensor:
        return next(iter(self.model.parameters()))

    def predict(self, points: Any, batch_size: int = 32768) -> np.ndarray:
        """Field values at ``points`` (N, D) as a float64 numpy array (N, F)."""
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim == 1 and len(self.coords) == 1:
            pts = pts[:, None]
        if pts.ndim != 2 or pts.shape[1] != len(self.coords):
            raise ValueError(f"points must have shape (N, {len(self.coords)}) with columns {self.coords}, "
                             f"got {pts.shape}")
        ref = self._param()
        out = []
        with torch.no_grad():
            for start in range(0, len(pts), batch_size):
                chunk = torch.as_tensor(pts[start:start + batch_size], dtype=ref.dtype, device=ref.device)
                out.append(self.model(chunk).double().cpu().numpy())
        if not out:
            return np.zeros((0, len(self.fields)))
        return np.concatenate(out)

    def reference(self, points: Any) -> np.ndarray | None:
        """Reference values (closed form or numerical) at ``points``, or None when unknown."""
        pts = np.asarray(points, dtype=np.float64)
        if self.problem.reference is not None:
            return np.asarray(self.problem.reference(pts), dtype=np.float64).reshape(len(pts), -1)
        if self._exact is not None:
            with torch.no_grad():
                return self._exact(torch.as_tensor(pts, dtype=torch.float64)).numpy()
        return None

    def evaluation_grid(self, resolution: int | Sequence[int] | None = None):
        """(axes, points, mask) of the grid used for metrics and output; mask marks points in the domain."""
        axes_count = len(self.geometry.grid_columns())
        if resolution is None:
            resolution = {1: 1001, 2: 101, 3: 41}.get(axes_count, 21)
        axes, points = self.geometry.grid(resolution)
        dtype = torch.float64
        mask = self.geometry.contains(torch.as_tensor(points, dtype=dtype), atol=1e-9).cpu().numpy()
        return axes, points, mask

    def evaluation_points(self, resolution: int | Sequence[int] | None = None,
                          random_points: int | None = None, seed: int = 0) -> np.ndarray:
        """Points where errors are measured: the in-domain nodes of the evaluation grid, or, when
        ``random_points`` is given, that many points drawn uniformly from the domain with ``seed``
        (the only sensible choice in many dimensions, where a grid is out of reach). A reference given
        as values at scattered points (``problem.reference`` file) is measured at its own points."""
        if isinstance(self.problem.reference, ReferenceData):
            return self.problem.reference.points
        if random_points is None:
            _, points, mask = self.evaluation_grid(resolution)
            return points[mask]
        generator = torch.Generator().manual_seed(seed)
        return self.geometry.sample_interior(random_points, generator, dtype=torch.float64).numpy()

    def errors(self, resolution: int | Sequence[int] | None = None, *, random_points: int | None = None,
               seed: int = 0) -> dict[str, float]:
        """Relative L2 error per field at :meth:`evaluation_points` (empty when no reference).

        With neither ``resolution`` nor ``random_points`` the run's own choice applies
        (``output.eval_points`` of its configuration), so the figures match its metrics."""
        output = self.config.get("output") or {}
        if resolution is None and random_points is None:
            random_points = output.get("eval_points")
        points = self.evaluation_points(resolution, random_points, seed)
        return relative_errors(self.predict(points), self.reference(points), self.fields,
                               output.get("up_to_constant") or ())

    @property
    def time_dependent(self) -> bool:
        return isinstance(self.geometry, TimeSpace)

    def __repr__(self) -> str:
        where = f", run_dir='{self.run_dir}'" if self.run_dir else ""
        return f"Solution(problem='{self.problem.name}', coords={self.coords}, fields={self.fields}{where})"


def relative_errors(pred: np.ndarray, ref: np.ndarray | None, fields: Sequence[str],
                    up_to_constant: Sequence[str] = ()) -> dict[str, float]:
    """||pred - ref|| / ||ref|| per field column; the RMS error where the reference is zero.

    Fields in ``up_to_constant`` (e.g. a pressure fixed only up to a constant) are compared after
    removing the mean difference, with the norm of the reference minus its mean. Columns whose
    reference is all NaN (unknown) are skipped; no reference gives ``{}``."""
    if ref is None:
        return {}
    out = {}
    for i, f in enumerate(fields):
        col = ref[:, i]
        if np.all(np.isnan(col)):
            continue
        error = pred[:, i] - col
        if f in up_to_constant:
            error, col = error - error.mean(), col - col.mean()
        norm = np.linalg.norm(col)
        diff = np.linalg.norm(error)
        out[f] = float(diff / norm) if norm > 0 else float(diff / np.sqrt(len(col)))
    return out
