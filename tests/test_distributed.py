"""Data-parallel training over torch.distributed on the CPU: gloo, two processes started by torchrun.

The rules need no processes: the shard rule, drawers that keep their rows, and sharded objectives
whose shares add up to the global loss, gradient and Gramian. The runs do: one torchrun job per
scenario (each costs a few seconds to start) — every solver's loss trajectory on 2 ranks × N/2
points against 1 process × N points; a rank killed mid-run, then the run resumed on 2 ranks
from its checkpoint (through ``pinnlab solve --nproc 2``); a rank that stops answering, ended by
the collective timeout. Run as a script (``torchrun ... tests/test_distributed.py JOB DIR``) this
file is the worker of those jobs.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

import pinnlab as pl
from pinnlab import distributed
from pinnlab.compile import Objective
from pinnlab.errors import ConfigError, SolverError
from pinnlab.io import run_dir as rd

#: heat1d, a 33-parameter network, 48 points: 2 ranks hold 16 + 4 + 4 each
BASE: dict[str, Any] = {
    "problem": {"equation": "heat1d"},
    "model": {"width": 8, "depth": 1},
    "derivatives": {"method": "taylor"},
    "sampling": {"interior": 32, "boundary": 8, "initial": 8},
    "train": {"steps": 20, "dtype": "float64", "progress": False, "eval_every": 20, "log_every": 1,
              "checkpoint_every": 1000},
    "output": {"vtk": False, "plots": False, "resolution": [5, 9]},
}

#: the trajectories compared: Adam, L-BFGS, Levenberg–Marquardt and ENGD, then the other paths that sum over
#: ranks. ENGD is damped: its undamped pseudo-inverse drops eigenvalues of JᵀJ below a threshold, a
#: discontinuous rule that turns the rounding of any other summation order (here 1e-16) into 3e-2 over 20
#: steps; with damping 1e-4 the directions depend smoothly on JᵀJ (and the run converges faster). CG stops
#: at a residual tolerance, so it is compared with a tight one.
CASES: dict[str, dict[str, Any]] = {
    "adam": {"solver": {"name": "adam", "lr": 1e-2}},
    "lbfgs": {"solver": {"name": "lbfgs", "history": 10}},
    "gauss_newton": {"solver": {"name": "gauss_newton"}},
    "engd": {"solver": {"name": "engd", "damping": 1e-4}},
    "gauss_newton_cg": {"solver": {"name": "gauss_newton", "solve": "cg", "cg_tol": 1e-10, "cg_max_iter": 40},
                        "train": {"steps": 4}},
    "gauss_newton_lstsq": {"solver": {"name": "gauss_newton", "dense_method": "lstsq", "scaled": True}},
    "gauss_newton_wide": {"model": {"width": 16}, "solver": {"name": "gauss_newton"}},  # 65 parameters > 48 rows
    "config": {"solver": {"name": "config", "lr": 1e-2}},
    "mconfig": {"solver": {"name": "mconfig", "lr": 1e-2}},
    "adam_r3": {"solver": {"name": "adam", "lr": 1e-2}, "sampling": {"method": "r3"}},
    "adam_causal_r3": {"solver": {"name": "adam", "lr": 1e-2}, "sampling": {"method": "causal_r3"}},
    "lbfgs_rad": {"solver": {"name": "lbfgs"}, "sampling": {"method": "rad", "resample_every": 5}},
}
#: float64 agreement of the loss trajectories, relative to the first loss
TOLERANCE = 1e-10

#: the run that is killed and resumed: Adam then L-BFGS, points redrawn every 3 steps, a checkpoint every 4
RESUMABLE: dict[str, Any] = {
    "sampling": {"interior": 24, "boundary": 6, "initial": 6, "resample_every": 3, "method": "r3"},
    "solver": {"stages": [{"name": "adam", "steps": 6, "lr": 1e-2, "schedule": "cosine"},
                          {"name": "lbfgs", "steps": 6, "history": 5}]},
    "train": {"steps": 12, "checkpoint_every": 4, "eval_every": 5},
}

#: a tiny TENG run (the projection's least squares over sharded quadrature points)
TENG: dict[str, Any] = {
    "mode": "teng",
    "problem": {"equation": "heat2d_periodic", "options": {"t_end": 0.06, "u0": "sin(x)*cos(y)"}},
    "model": {"width": 6, "depth": 2},
    "teng": {"dt": 0.02, "points": 10, "projection": {"iterations": 2, "subset": 40},
             "initial_fit": {"stages": [{"iterations": 10, "subset": 40, "damping": 1e-3, "rcond": None},
                                        {"iterations": 10, "subset": 40}]}},
    "train": {"progress": False, "eval_every": 1, "log_every": 1},
    "output": {"resolution": 8, "frames": 3, "vtk": False, "plots": False},
}


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "solver":
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def case_config(name: str) -> dict[str, Any]:
    return TENG if name == "teng" else merge(BASE, CASES[name])


def losses(run: Path) -> list[float]:
    with (run / rd.HISTORY).open() as fh:
        return [float(r["loss"]) for r in csv.DictReader(fh)]


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    return rd.load_checkpoint(run / rd.MODEL)["model"]


# -- the rules, in one process ------------------------------------------------------------------------------------


@pytest.mark.parametrize("n,world", [(0, 1), (7, 1), (7, 2), (8, 2), (10, 3), (5, 5), (3, 4)])
def test_shards_are_disjoint_covering_contiguous_and_balanced(n, world):
    rows = [distributed.shard(n, r, world) for r in range(world)]
    assert [s.start for s in rows] == [0, *(s.stop for s in rows[:-1])] and rows[-1].stop == n
    sizes = distributed.shard_sizes(n, world)
    assert sum(sizes) == n and max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)
    assert rows == [distributed.shard(n, r, world) for r in range(world)]  # a function of its arguments


def test_shard_rejects_a_rank_outside_the_world():
    with pytest.raises(ValueError, match="no shard 2 of 2"):
        distributed.shard(10, 2, 2)


def test_one_process_collectives_change_nothing():
    t = torch.tensor([1.0, 2.0])
    assert not distributed.is_distributed() and distributed.rank() == 0 and distributed.world_size() == 1
    assert distributed.all_reduce_sum_(t) is t and distributed.all_reduce_sum(t) is t and distributed.broadcast_(t) is t
    tree = {"a": t, "b": [3.0]}
    assert distributed.all_reduce_sum_tree(tree) is tree
    assert distributed.gather_rows(t, 2) is t and distributed.concat_rows(t) is t
    assert float(distributed.global_mean(t)) == 1.5 and float(distributed.global_max(t)) == 2.0
    assert distributed.all_ranks(True) and not distributed.all_ranks(False)
    distributed.check_identical({"p": t})


def _heat_setup():
    from pinnlab.config import parse_config
    from pinnlab.config.build import problem_from_config
    from pinnlab.run.setup import PinnSetup

    cfg = parse_config(merge(BASE, CASES["adam"]))
    with torch.random.fork_rng():
        torch.set_default_dtype(torch.float64)
        try:
            return PinnSetup(cfg, problem_from_config(cfg.problem), torch.device("cpu"), torch.float64, "<test>")
        finally:
            torch.set_default_dtype(torch.float32)


def test_drawers_of_two_ranks_hold_the_two_halves_of_one_draw():
    from pinnlab.sampling import PointDrawer

    setup = _heat_setup()
    program = setup.program
    whole = {}
    for shard in [(0, 1), (0, 2), (1, 2)]:
        drawer = PointDrawer(setup.geometry, torch.Generator().manual_seed(5), "uniform", torch.float64, "cpu", shard)
        whole[shard] = {name: drawer.draw(ps) for name, ps in program.point_sets.items()}
    for name, batch in whole[(0, 1)].items():
        halves = [whole[(r, 2)][name] for r in range(2)]
        assert [h.x.shape[0] for h in halves] == distributed.shard_sizes(batch.x.shape[0], 2)
        torch.testing.assert_close(torch.cat([h.x for h in halves]), batch.x, rtol=0, atol=0)
        if batch.normals is not None:
            torch.testing.assert_close(torch.cat([h.normals for h in halves]), batch.normals, rtol=0, atol=0)


def test_the_shares_of_sharded_objectives_add_up_to_the_global_loss_gradient_and_gramian():
    """Two objectives on the two halves of the points (sharded, global counts) sum to the whole objective."""
    from pinnlab.sampling.base import take_rows
    from pinnlab.solvers.gauss_newton import objective_jacobian

    setup = _heat_setup()
    batches = setup.sampler.sample(0)
    params = setup.initial_params()
    totals = {name: b.x.shape[0] for name, b in batches.items()}
    whole = Objective(setup.program, setup.model, batches, {"initial": 3.0})
    parts = [Objective(setup.program, setup.model,
                       {k: take_rows(b, distributed.shard(b.x.shape[0], r, 2)) for k, b in batches.items()},
                       {"initial": 3.0}, sharded=True, totals=totals) for r in range(2)]
    loss, terms = whole.loss(params)
    shares = [p.loss(params) for p in parts]
    torch.testing.assert_close(sum(s[0] for s in shares), loss, rtol=1e-14, atol=0)
    for name in terms:
        torch.testing.assert_close(sum(s[1][name] for s in shares), terms[name], rtol=1e-14, atol=0)
    grad = torch.autograd.grad(loss, list(params.values()))
    grad_parts = [torch.autograd.grad(s[0], list(params.values())) for s in shares]
    for g, a, b in zip(grad, *grad_parts):
        torch.testing.assert_close(a + b, g, rtol=1e-12, atol=1e-15)
    r, J = objective_jacobian(whole, params, "rows")
    pieces = [objective_jacobian(p, params, "rows") for p in parts]
    torch.testing.assert_close(sum(Jp.T @ Jp for _, Jp in pieces), J.T @ J, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(sum(Jp.T @ rp for rp, Jp in pieces), J.T @ r, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(sum(p.residual_vector(params).pow(2).sum() for p in parts), loss, rtol=1e-13, atol=0)


# -- the runs: torchrun jobs of two processes -----------------------------------------------------------------------


class Job:
    """This file's worker ``job`` on two processes (torchrun), its output going to files next to ``out``."""

    def __init__(self, job: str, out: Path, *extra: str):
        out.parent.mkdir(parents=True, exist_ok=True)
        self.logs = [out.parent / f"{out.name}.{job}.{kind}" for kind in ("out", "err")]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.start = time.monotonic()
        with self.logs[0].open("w") as stdout, self.logs[1].open("w") as stderr:
            self.process = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                             "--nproc-per-node=2", __file__, job, str(out), *extra], stdout=stdout,
                                            stderr=stderr, env=env)

    def wait(self, timeout: float) -> tuple[subprocess.CompletedProcess, float]:
        try:
            self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        stdout, stderr = (path.read_text() for path in self.logs)
        return (subprocess.CompletedProcess(self.process.args, self.process.returncode, stdout, stderr),
                time.monotonic() - self.start)


def torchrun(job: str, out: Path, timeout: float = 240.0, *extra: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run this file's worker ``job`` on two processes; returns the finished process and its wall time."""
    return Job(job, out, *extra).wait(timeout)


@pytest.fixture(scope="module")
def two_rank_runs(tmp_path_factory):
    """Every case on 2 ranks (one job) and on 1 process (here): their run directories and the job's checks."""
    root = tmp_path_factory.mktemp("distributed")
    job = Job("trajectories", root / "two")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:  # the one-process runs while the job runs
        for name in [*CASES, "teng"]:
            pl.solve(case_config(name), out=root / "one" / name)
        pl.solve(merge(BASE, RESUMABLE), out=root / "one" / "resumable")
    finally:
        torch.set_num_threads(threads)
        done, _ = job.wait(300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return root, json.loads((root / "two" / "checks.json").read_text())


@pytest.mark.parametrize("case", list(CASES))
def test_two_ranks_give_the_loss_trajectory_of_one_process(two_rank_runs, case):
    root, _ = two_rank_runs
    one, two = losses(root / "one" / case), losses(root / "two" / case)
    assert len(one) == len(two) == case_config(case)["train"]["steps"]
    worst = max(abs(a - b) for a, b in zip(one, two)) / one[0]
    assert worst <= TOLERANCE, f"{case}: trajectories differ by {worst:.2e} (relative to the first loss)"
    assert one[-1] < one[0]  # the runs learn something
    metrics = json.loads((root / "two" / case / rd.METRICS).read_text())
    assert metrics["processes"] == 2 and metrics["steps"] == len(one)


def test_teng_on_two_ranks_follows_the_one_process_run(two_rank_runs):
    """TENG's projections shard the quadrature grid: the truncated least squares agree to rounding."""
    root, _ = two_rank_runs
    one, two = losses(root / "one" / "teng"), losses(root / "two" / "teng")
    assert len(one) == len(two) == 5
    for a, b in zip(one, two):
        assert abs(a - b) <= 1e-8 * max(abs(a), 1e-300), (one, two)


def test_only_rank_zero_writes_and_checkpoints_hold_every_rank(two_rank_runs):
    root, checks = two_rank_runs
    run = root / "two" / "adam_r3"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "config.yaml", "history.csv", "metrics.json",
                                                     "model.pt"]
    ckpt = rd.load_checkpoint(run / rd.CHECKPOINT)
    assert ckpt["world_size"] == 2 and len(ckpt["samplers"]) == 2
    interior = [s["batches"]["interior"]["x"] for s in ckpt["samplers"]]
    assert [x.shape[0] for x in interior] == [16, 16]
    assert not (set(map(tuple, interior[0].tolist())) & set(map(tuple, interior[1].tolist())))  # disjoint shards
    assert checks["rank_files"] == [], "rank 1 wrote files"


def test_collectives_of_two_ranks(two_rank_runs):
    _, checks = two_rank_runs
    assert checks["gather_rows"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert checks["concat_rows"] == [0.0, 1.0, 1.0]
    assert checks["global_mean"] == pytest.approx(2.0) and checks["global_max"] == 4.0
    assert checks["tree"] == {"a": [2.0, 4.0], "b": 2.0}
    assert checks["all_ranks"] == [False, True]
    assert checks["identical"] == "ok" and "rank(s) 1 differ from rank 0 by up to 1.000e+00" in checks["differ"]
    assert checks["object"] == "from rank 0"
    assert "the point sets 'initial' (1) have fewer points than the 2 processes" in checks["too_few"]


def test_a_killed_rank_ends_the_job_and_the_run_resumes_on_two_ranks(two_rank_runs, tmp_path, write_yaml):
    """Rank 1 is killed (SIGKILL) in step 11: the job ends with a message naming it; ``pinnlab solve --nproc 2
    --resume`` continues from the checkpoint of step 8 and ends where an uninterrupted 1-process run ends."""
    root, _ = two_rank_runs
    run = tmp_path / "run"
    config = write_yaml(merge(BASE, RESUMABLE))
    done, wall = torchrun("kill", run, 120.0, str(config))
    output = done.stdout + done.stderr
    assert done.returncode != 0 and wall < 60, output[-4000:]
    assert "rank      : 1" in output and "SIGKILL" in output, output[-4000:]
    ckpt = rd.load_checkpoint(run / rd.CHECKPOINT)
    assert ckpt["step"] == 8 and ckpt["world_size"] == 2
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    resumed = subprocess.run([sys.executable, "-m", "pinnlab", "solve", str(config), "--out", str(run), "--resume",
                              "--nproc", "2", "--quiet"], capture_output=True, text=True, timeout=120, env=env,
                             check=False)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-4000:]
    assert resumed.stdout.count("run directory:") == 1 and "(2 processes)" in resumed.stdout
    assert [int(float(r["step"])) for r in csv.DictReader((run / rd.HISTORY).open())] == list(range(1, 13))
    one, two = losses(root / "one" / "resumable"), losses(run)
    assert max(abs(a - b) for a, b in zip(one, two)) <= TOLERANCE * one[0]
    straight = final_weights(root / "two" / "resumable")  # the same run on 2 ranks without interruption
    for name, value in final_weights(run).items():
        assert torch.equal(value, straight[name]), name


def test_resuming_with_a_different_number_of_processes_is_an_error(two_rank_runs, tmp_path):
    import shutil

    root, _ = two_rank_runs
    run = tmp_path / "run"
    shutil.copytree(root / "two" / "resumable", run)
    with pytest.raises(ConfigError, match=r"written by a run on 2 process\(es\) and this one has 1: resume with the "
                                          r"same number \(pinnlab solve \.\.\. --resume --nproc 2"):
        pl.solve(merge(BASE, RESUMABLE), out=run, resume=True)


def test_a_rank_that_stops_answering_ends_the_job_at_the_collective_timeout(tmp_path, write_yaml):
    config = write_yaml(merge(BASE, {"solver": {"name": "adam", "lr": 1e-2}, "train": {"timeout_s": 2.0}}))
    done, wall = torchrun("hang", tmp_path / "run", 120.0, str(config))
    output = done.stdout + done.stderr
    assert done.returncode != 0 and wall < 45, output[-4000:]
    assert "error: process 0 of 2 stopped: RuntimeError:" in output and "Timed out" in output, output[-4000:]
    assert "Another process failed or stopped answering" in output


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_two_gpus_give_the_loss_trajectory_of_one(tmp_path):  # pragma: no cover - no GPU on the CI machine
    done, _ = torchrun("cuda", tmp_path / "two")
    assert done.returncode == 0, done.stderr[-4000:]
    one = pl.solve(merge(case_config("adam"), {"train": {"device": "cuda"}}), out=tmp_path / "one")
    a, b = losses(one.run_dir), losses(tmp_path / "two" / "adam")
    assert max(abs(x - y) for x, y in zip(a, b)) <= 1e-9 * a[0]


# -- the worker (this file run by torchrun) --------------------------------------------------------------------------


def _collective_checks(out: Path) -> dict[str, Any]:
    rank = distributed.rank()
    rows = distributed.shard(5, rank, 2)
    checks: dict[str, Any] = {
        "gather_rows": distributed.gather_rows(torch.arange(5.0)[rows], 5).tolist(),
        "concat_rows": distributed.concat_rows(torch.full((rank + 1,), float(rank))).tolist(),
        "global_mean": float(distributed.global_mean(torch.arange(5.0)[rows])),
        "global_max": float(distributed.global_max(torch.arange(5.0)[rows])),
        "all_ranks": [distributed.all_ranks(rank == 0), distributed.all_ranks(True)],
        "object": distributed.broadcast_object("from rank 0" if rank == 0 else "from rank 1"),
    }
    tree = distributed.all_reduce_sum_tree({"a": torch.tensor([1.0, 2.0]) * (rank + 0.5), "b": 1.0})
    checks["tree"] = {"a": tree["a"].tolist(), "b": tree["b"]}
    distributed.check_identical({"p": torch.ones(3)})
    checks["identical"] = "ok"
    try:
        distributed.check_identical({"p": torch.tensor([0.0, float(rank)])})
        checks["differ"] = "no error"
    except SolverError as exc:
        checks["differ"] = str(exc)
    return checks


def _record_writes_of_other_ranks() -> list[str]:
    """On ranks other than 0, note every file the run-directory functions are asked to write."""
    written: list[str] = []
    if distributed.local_rank() == 0:
        return written

    def noting(name, original):
        def write(*args, **kwargs):
            written.append(name)
            return original(*args, **kwargs)
        return write

    for name in ("atomic_save", "write_config", "write_metrics"):
        setattr(rd, name, noting(name, getattr(rd, name)))
    rd.HistoryWriter.flush = noting("history", rd.HistoryWriter.flush)
    return written


def _worker(job: str, out: Path, config: str | None = None) -> int:
    torch.set_num_threads(1)
    if job == "trajectories":
        written = _record_writes_of_other_ranks()
        for name in [*CASES, "teng"]:
            pl.solve(case_config(name), out=out / name)
        pl.solve(merge(BASE, RESUMABLE), out=out / "resumable")
        checks = _collective_checks(out)
        try:
            pl.solve(merge(BASE, {"sampling": {"initial": 1}}), out=out / "too_few")
            checks["too_few"] = "no error"
        except ConfigError as exc:
            checks["too_few"] = str(exc)
        checks["rank_files"] = [w for ws in distributed.all_gather_object(written) for w in ws]
        if distributed.rank() == 0:
            (out / "checks.json").write_text(json.dumps(checks))
        return 0
    if job == "cuda":
        pl.solve(merge(case_config("adam"), {"train": {"device": "cuda"}}), out=out / "adam")
        return 0
    from pinnlab.cli import main
    from pinnlab.run import trainer

    original = trainer.Trainer._one_step
    stop_at = 10 if job == "kill" else 3

    def one_step(self, solver, state, bar):
        if self.step == stop_at and distributed.rank() == 1:
            if job == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(100)  # "hang": stops answering; rank 0 waits in the next collective
        return original(self, solver, state, bar)

    trainer.Trainer._one_step = one_step
    return main(["solve", config, "--out", str(out), "--quiet"])


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1], Path(sys.argv[2]), *sys.argv[3:]))
