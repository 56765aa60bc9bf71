"""configs/kovasznay_exact.yaml: the boundary velocity is exact from the first step (short run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import pinnlab as pl

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parent.parent


def test_kovasznay_exact_boundary_short_run(tmp_path):
    solution = pl.solve(ROOT / "configs" / "kovasznay_exact.yaml", out=tmp_path / "run",
                        overrides=["solver.stages.0.steps=2", "model.width=8", "sampling.interior=60",
                                   "train.progress=false", "output.vtk=false", "output.plots=false",
                                   "output.resolution=[11, 11]"])
    xb, _ = solution.geometry.sample_boundary(300, torch.Generator().manual_seed(3), dtype=torch.float64)
    pts = xb.numpy()
    error = np.abs(solution.predict(pts)[:, :2] - solution.reference(pts)[:, :2]).max()
    assert error < 1e-12
    assert all(np.isfinite(v) for v in solution.metrics["rel_l2"].values())
