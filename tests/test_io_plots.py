"""Plot helpers write non-empty image files and reject malformed input."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.image import imread

from pinnlab.io.plots import (
    plot_comparison_2d,
    plot_field_2d,
    plot_history,
    plot_line,
    plot_points,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_png(path, width_range=(200, 4000)):
    assert path.read_bytes()[:8] == PNG_MAGIC
    img = imread(path)
    assert width_range[0] <= img.shape[1] <= width_range[1]
    # something besides the background was drawn
    assert img[..., :3].std() > 0.05
    assert plt.get_fignums() == []  # nothing left registered with pyplot
    return img


@pytest.fixture
def grid():
    x = np.linspace(0.0, 1.0, 21)
    y = np.linspace(-1.0, 1.0, 15)
    X, Y = np.meshgrid(x, y, indexing="ij")
    return x, y, np.sin(np.pi * X) * Y


def test_plot_field_2d(tmp_path, grid):
    x, y, u = grid
    u = u.copy()
    u[3:5, 2:4] = np.nan  # masked points stay blank
    path = plot_field_2d(tmp_path / "f" / "u.png", x, y, u, "u(x, y)", "x", "y")
    assert path == tmp_path / "f" / "u.png"
    _check_png(path)


def test_plot_field_2d_rejects_transposed(tmp_path, grid):
    x, y, u = grid
    with pytest.raises(ValueError, match=r"\(len\(x\), len\(y\)\) = \(21, 15\)"):
        plot_field_2d(tmp_path / "u.png", x, y, u.T, "u", "x", "y")


def test_plot_comparison_2d_reports_rel_l2(tmp_path, grid):
    x, y, ref = grid
    pred = ref + 1e-3 * np.cos(ref)
    path = plot_comparison_2d(tmp_path / "cmp.png", x, y, pred, ref, "x", "t", "u")
    img = _check_png(path)
    assert img.shape[1] > 2 * img.shape[0]  # three panels side by side
    with pytest.raises(ValueError, match="reference"):
        plot_comparison_2d(tmp_path / "bad.png", x, y, pred, ref[:-1], "x", "t", "u")


def test_plot_comparison_2d_svg_title(tmp_path, grid):
    x, y, ref = grid
    pred = 1.1 * ref  # rel. L2 error exactly 0.1
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # keep text as text
        path = plot_comparison_2d(tmp_path / "cmp.svg", x, y, pred, ref, "x", "t", "u")
    text = path.read_text()
    assert "rel. L2 = 1.000e-01" in text
    assert "u predicted" in text and "u reference" in text


def test_plot_line(tmp_path):
    x = np.linspace(0, 1, 50)
    curves = {"t=0": np.sin(np.pi * x), "t=0.5": 0.5 * np.sin(np.pi * x)}
    _check_png(plot_line(tmp_path / "line.png", x, curves, "x", "u", "slices"))
    with pytest.raises(ValueError, match="'bad'"):
        plot_line(tmp_path / "l.png", x, {"bad": x[:-1]}, "x", "u", "t")
    with pytest.raises(ValueError, match="empty"):
        plot_line(tmp_path / "l.png", x, {}, "x", "u", "t")


def test_plot_history_two_panels(tmp_path):
    steps = list(range(0, 200, 10))
    history = {
        "step": steps,
        "loss": [10.0 * 0.9**s for s in steps],
        "loss_pde": [5.0 * 0.9**s for s in steps],
        "rel_l2_u": [None if s % 50 else 0.5 * 0.95**s for s in steps],  # sparse column
        "lr": [1e-3] * len(steps),  # ignored
    }
    img = _check_png(plot_history(tmp_path / "h.png", history))
    assert img.shape[1] > 1.5 * img.shape[0]
    one = _check_png(
        plot_history(tmp_path / "h1.png", {"step": steps, "loss": history["loss"]})
    )
    assert one.shape[1] < img.shape[1]


def test_plot_history_custom_x_and_errors(tmp_path):
    hist = {
        "epoch": [1, 2, 3],
        "train_loss": [1.0, 0.5, 0.0],
    }  # zero skipped on log axis
    _check_png(plot_history(tmp_path / "h.png", hist, x_key="epoch"))
    with pytest.raises(ValueError, match="no 'step' column"):
        plot_history(tmp_path / "h.png", hist)
    with pytest.raises(ValueError, match="no loss or L2 columns"):
        plot_history(tmp_path / "h.png", {"step": [0, 1], "lr": [1.0, 1.0]})
    with pytest.raises(ValueError, match="'loss' has 1 entries"):
        plot_history(tmp_path / "h.png", {"step": [0, 1], "loss": [1.0]})


def test_plot_points(tmp_path):
    rng = np.random.default_rng(0)
    pts = rng.random((500, 2))
    _check_png(plot_points(tmp_path / "p.png", pts, "x", "t", "collocation"))
    residual = 10.0 ** rng.uniform(-6, 0, 500)  # wide range -> log colors
    _check_png(
        plot_points(tmp_path / "r.png", pts, "x", "t", "residuals", values=residual)
    )
    signed = rng.standard_normal(500)
    _check_png(plot_points(tmp_path / "s.png", pts, "x", "t", "signed", values=signed))
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        plot_points(tmp_path / "p.png", rng.random((5, 3)), "x", "y", "t")
    with pytest.raises(ValueError, match=r"values must have shape \(500,\)"):
        plot_points(tmp_path / "p.png", pts, "x", "y", "t", values=signed[:10])
