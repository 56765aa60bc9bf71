"""``benchmarks/gpu.py`` as a smoke test: ``--quick`` runs in seconds on the CPU and writes the JSON it promises."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SOME = ["burgers1d_gn", "poisson_ball_d1000000", "laplacian_d100", "stde_d1000000"]


def run_gpu_script(*args: str) -> dict:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu
    finally:
        sys.path.pop(0)
    threads = torch.get_num_threads()
    try:
        assert gpu.main(list(args)) == 0
    finally:
        torch.set_num_threads(threads)
    return json.loads(Path(args[args.index("--out") + 1]).read_text())


def test_gpu_benchmark_runs_quick_on_the_cpu(tmp_path, capsys):
    report = run_gpu_script("--device", "cpu", "--quick", "--only", *SOME, "--out", str(tmp_path / "gpu.json"))
    assert report["quick"] and report["environment"]["device"] == "cpu" and report["environment"]["torch"]
    assert report["two_gpus"].startswith("not measured")
    cases = {r["case"]: r for r in report["results"]}
    assert set(cases) == {"burgers1d_gn", "poisson_ball_d1000000", "laplacian_d100_nested", "laplacian_d100_collapsed",
                          "stde_d1000000_stde_sparse", "stde_d1000000_plain"}
    for name in ("burgers1d_gn", "poisson_ball_d1000000"):
        solve = cases[name]
        assert solve["steps"] >= 3 and solve["steps_per_s"] > 0 and math.isfinite(solve["final_rel_l2"])
        assert solve["time_to_target_s"] is None  # a few steps do not reach the targets
    for name in ("laplacian_d100_nested", "laplacian_d100_collapsed", "stde_d1000000_plain"):
        assert cases[name]["step_ms"] > 0
    assert report["summary"]["collapsed_speedup_d100"] > 0 and report["summary"]["stde_over_plain_d1000000"] > 0
    table = capsys.readouterr().out
    assert "steps/s" in table and "collapsed_speedup_d100" in table and "CUDA None" in table


def test_the_benchmark_laplacians_agree():
    """The nested-autograd Laplacian the benchmark times is the operator collapsed Taylor mode computes."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu
    finally:
        sys.path.pop(0)
    from pinnlab.autodiff import Derivative, make_backend
    from pinnlab.nn import MLP

    d = 6
    torch.manual_seed(0)
    net = MLP(d, 1, width=16, depth=2, activation="tanh").double()
    x = torch.rand(5, d, dtype=torch.float64)
    request = Derivative(0, "laplacian", tuple(range(d)))
    collapsed = make_backend("taylor", collapsed=True).plan([request], d)(net, x, 0)[request]
    torch.testing.assert_close(gpu.nested_laplacian(net, x).reshape(-1), collapsed.reshape(-1), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_benchmark_runs_quick_on_a_gpu(tmp_path):  # pragma: no cover - no GPU on the CI machine
    report = run_gpu_script("--device", "cuda", "--quick", "--only", *SOME, "--out", str(tmp_path / "gpu.json"))
    assert report["environment"]["gpu"] and report["environment"]["cuda"]
    assert all(r.get("steps_per_s", 1) > 0 for r in report["results"])
