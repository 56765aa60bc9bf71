"""ENGD on Poisson 2-D with the boundary values exact by the output transform (configs/poisson2d_engd_exact.yaml)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import pinnlab as pl

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parent.parent


def test_engd_with_exact_boundary_values_reaches_1e7_in_25_steps(tmp_path):
    solution = pl.solve(ROOT / "configs" / "poisson2d_engd_exact.yaml", out=tmp_path / "run",
                        overrides=["solver.steps=25", "train.progress=false", "output.vtk=false",
                                   "output.plots=false", "output.eval_points=5000"])
    assert solution.metrics["rel_l2"]["u"] < 1e-7  # 2.1e-9 on 20 000 points in the shipped run
    edges = np.array([[0.0, 0.3], [1.0, 0.7], [0.25, 0.0], [0.6, 1.0]])
    assert np.abs(solution.predict(edges)).max() == 0.0
