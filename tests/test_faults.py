"""Faults: a kill during a checkpoint write, a full disk, damaged checkpoints, a NaN mid-run, an existing run directory.

In every case the run directory stays true: the last good checkpoint is whole and resumable, no temporary
file is left, and the user gets one clear message (exit 2), never a traceback.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import pinnlab as pl
from pinnlab.io import run_dir as rd
from pinnlab.solvers import first_order

RUN = {"train": {"steps": 8, "checkpoint_every": 2, "log_every": 1, "eval_every": 4}}


def weights(run: Path) -> dict[str, torch.Tensor]:
    return rd.load_checkpoint(run / rd.MODEL)["model"]


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k, v in a.items():
        assert torch.equal(v, b[k]), k


def temporaries(run: Path) -> list[str]:
    return sorted(p.name for p in run.rglob(f"*{rd.TEMPORARY}"))


def contents(run: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``run`` with its bytes and modification time."""
    return {str(p.relative_to(run)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(run.rglob("*"))
            if p.is_file()}


@pytest.fixture
def reference(tmp_path, tiny, one_thread):
    """The weights of the uninterrupted 8-step run."""
    pl.solve(tiny(**RUN), out=tmp_path / "reference")
    return weights(tmp_path / "reference")


# -- killed while writing a checkpoint ------------------------------------------------------------------------

_KILLED_WRITER = """
import io, os, sys, time
import torch
real_save, calls = torch.save, []

def save(obj, f, *args, **kwargs):
    # the second checkpoint write stops half way, on the disk, and waits to be killed
    if getattr(f, "name", "").endswith("checkpoint.pt.tmp"):
        calls.append(obj["step"])
        if len(calls) == 2:
            buffer = io.BytesIO()
            real_save(obj, buffer, *args, **kwargs)
            f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            f.flush()
            os.fsync(f.fileno())
            with open(sys.argv[3], "w") as marker:
                marker.write(str(obj["step"]))
            time.sleep(120)
    return real_save(obj, f, *args, **kwargs)

torch.save = save
from pinnlab.cli import main
sys.exit(main(["solve", sys.argv[1], "--out", sys.argv[2], "--quiet"]))
"""


def test_sigkill_during_a_checkpoint_write_keeps_the_previous_one(tmp_path, tiny, write_yaml, reference):
    """SIGKILL half way through writing the step-4 checkpoint: the step-2 checkpoint is whole, and --resume
    from it ends with the weights of the uninterrupted run."""
    cfg, run, marker = write_yaml(tiny(**RUN)), tmp_path / "run", tmp_path / "writing"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_KILLED_WRITER), str(cfg), str(run), str(marker)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), proc.communicate(timeout=10)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL and marker.read_text() == "4"
    assert temporaries(run) == ["checkpoint.pt.tmp"]  # the half-written file, left by the kill
    assert rd.load_checkpoint(run / rd.CHECKPOINT)["step"] == 2
    with pytest.raises(rd.RunDirectoryError, match="is damaged"):
        rd.load_checkpoint(run / "checkpoint.pt.tmp")

    solution = pl.solve(cfg, out=run, resume=True)
    assert solution.metrics["steps"] == 8 and temporaries(run) == []
    assert_same(weights(run), reference)


# -- a full disk ----------------------------------------------------------------------------------------------


def _fail_fsync_of(monkeypatch, name: str, after: int = 0) -> list[str]:
    """Let ``os.fsync`` of the temporary file of ``name`` fail with ENOSPC after ``after`` successful ones."""
    real, seen = os.fsync, []

    def fsync(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else ""
        if target.endswith(f"/{name}{rd.TEMPORARY}"):
            seen.append(target)
            if len(seen) > after:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return seen


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to name a file descriptor")
@pytest.mark.parametrize("name, after, kept", [
    (rd.CHECKPOINT, 1, 2),  # the second checkpoint (step 4): the step-2 one stays
    (rd.MODEL, 0, 8),  # the final weights: the checkpoint of the last step stays
    (rd.HISTORY, 2, 4),  # the third history write, after the step-4 checkpoint
    (rd.METRICS, 0, 8),
])
def test_a_full_disk_is_a_clear_error_and_keeps_the_last_good_files(tmp_path, tiny, write_yaml, cli, monkeypatch,
                                                                   one_thread, name, after, kept):
    cfg, run = write_yaml(tiny(**RUN)), tmp_path / "run"
    _fail_fsync_of(monkeypatch, name, after)
    code, _, err = cli("solve", cfg, "--out", run)
    assert code == 2 and "Traceback" not in err, err
    assert f"error: could not write '{run / name}': No space left on device" in err, err
    assert temporaries(run) == []
    assert rd.load_checkpoint(run / rd.CHECKPOINT)["step"] == kept
    if name == rd.HISTORY:
        assert f"the previous {rd.HISTORY} is kept" in err
        assert (run / rd.HISTORY).read_text().splitlines()[0].startswith("step,")


def test_torch_save_failing_with_enospc_keeps_the_checkpoint(tmp_path, tiny, write_yaml, cli, monkeypatch, one_thread):
    """``torch.save`` itself raising ENOSPC half way through the second checkpoint."""
    cfg, run = write_yaml(tiny(**RUN)), tmp_path / "run"
    real, calls = torch.save, []

    def save(obj, f, *args, **kwargs):
        if getattr(f, "name", "").endswith(f"{rd.CHECKPOINT}{rd.TEMPORARY}"):
            calls.append(obj["step"])
            if len(calls) == 2:
                f.write(b"PK\x03\x04 partial")
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    code, _, err = cli("solve", cfg, "--out", run)
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"error: could not write '{run / rd.CHECKPOINT}': No space left on device "
                          "(free some space, then resume the run); the previous checkpoint.pt is kept"), err
    assert temporaries(run) == [] and rd.load_checkpoint(run / rd.CHECKPOINT)["step"] == 2
    monkeypatch.setattr(torch, "save", real)
    code, _, err = cli("solve", cfg, "--out", run, "--resume")
    assert code == 0, err


# -- damaged checkpoints ----------------------------------------------------------------------------------------


@pytest.fixture
def finished(tmp_path, tiny, write_yaml, one_thread):
    """A finished 4-step run (config file, run directory)."""
    cfg = write_yaml(tiny(train={**RUN["train"], "steps": 4}))
    pl.solve(cfg, out=tmp_path / "run")
    return cfg, tmp_path / "run"


def _damage(path: Path, how: str) -> None:
    raw = path.read_bytes()
    if how == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(bytes(range(256)) * 4)
    elif how == "flipped":  # one byte of a weight's stored value
        tensor = max(rd.load_checkpoint(path)["model"].values(), key=lambda v: v.numel())
        stored = tensor.reshape(-1).view(torch.uint8).numpy().tobytes()
        at = raw.index(stored) + len(stored) // 2
        path.write_bytes(raw[:at] + bytes([raw[at] ^ 0x10]) + raw[at + 1:])
    elif how == "foreign":
        torch.save({"weights": torch.ones(3)}, path)


@pytest.mark.parametrize("how", ["truncated", "empty", "garbage", "flipped", "foreign"])
def test_a_damaged_checkpoint_is_a_clear_error_on_resume(finished, cli, how):
    cfg, run = finished
    _damage(run / rd.CHECKPOINT, how)
    code, _, err = cli("solve", cfg, "--out", run, "--resume", "--set", "train.steps=6")
    assert code == 2 and "Traceback" not in err, err
    reason = "is not a pinnlab checkpoint file" if how == "foreign" else "is damaged (truncated or corrupted)"
    assert err.startswith(f"error: '{run / rd.CHECKPOINT}' {reason}"), err


@pytest.mark.parametrize("how", ["truncated", "empty", "garbage", "flipped", "foreign"])
def test_a_damaged_model_file_is_a_clear_error_on_load(finished, how):
    _, run = finished
    _damage(run / rd.MODEL, how)
    reason = "is not a pinnlab model file" if how == "foreign" else "is damaged"
    with pytest.raises(rd.RunDirectoryError, match=reason):
        pl.load(run)


def test_a_flipped_byte_anywhere_is_reported_or_harmless(finished):
    """Flip one byte at many places of a checkpoint: loading reports the damage, or (zip metadata, padding)
    gives back exactly the saved contents; never wrong numbers, never another exception."""
    _, run = finished
    path = run / rd.CHECKPOINT
    raw, original = path.read_bytes(), rd.load_checkpoint(path)
    reported = 0
    for at in range(0, len(raw), max(len(raw) // 60, 1)):
        path.write_bytes(raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1:])
        try:
            loaded = rd.load_checkpoint(path)
        except rd.RunDirectoryError as exc:
            assert "damaged" in str(exc) or "not a pinnlab" in str(exc), exc
            reported += 1
            continue
        assert rd.digest(loaded) == rd.digest(original), at
    assert reported > 0


def test_a_damaged_metrics_file_is_a_clear_error_on_load(finished):
    _, run = finished
    (run / rd.METRICS).write_text('{"steps": 4, ')
    with pytest.raises(rd.RunDirectoryError, match=f"'{run / rd.METRICS}' cannot be read"):
        pl.load(run)


# -- a NaN mid-run ------------------------------------------------------------------------------------------------


def _poison(monkeypatch, at_call: int, where: str) -> None:
    """Adam's ``at_call``-th step goes bad: its update (``params``) or its reported loss (``loss``) is NaN."""
    real, calls = first_order.Adam.step, []

    def step(self, params, state, objective):
        params, state, info = real(self, params, state, objective)
        calls.append(1)
        if len(calls) == at_call:
            if where == "params":
                with torch.no_grad():
                    next(iter(params.values())).view(-1)[0] = float("nan")
            else:
                info = {**info, "loss": float("nan")}
        return params, state, info

    monkeypatch.setattr(first_order.Adam, "step", step)


@pytest.mark.parametrize("where, log_every, saved", [("params", 1, 4), ("loss", 1, 3), ("params", 3, 3)])
def test_a_nan_mid_run_keeps_the_last_good_state(tmp_path, tiny, write_yaml, cli, monkeypatch, reference, where,
                                                 log_every, saved):
    """Step 5 goes bad. The checkpoint is the last state checked good before it (the states are checked when
    the run logs): after step 4, or after step 3 when the loss reported by step 5 (at the state after step 4)
    is the non-finite value. Resumed once the cause is gone, the run ends as if nothing had happened."""
    train = {**RUN["train"], "checkpoint_every": 1000, "log_every": log_every, "eval_every": 8}
    cfg, run = write_yaml(tiny(train=train)), tmp_path / "run"
    _poison(monkeypatch, 5, where)
    code, _, err = cli("solve", cfg, "--out", run)
    assert code == 2 and "Traceback" not in err
    assert f"the last good state (step {saved}) was saved in '{run / rd.CHECKPOINT}'" in err, err
    first = "parameters became non-finite in step 5" if where == "params" else "loss became nan at step 5"
    assert first in err, err
    ckpt = rd.load_checkpoint(run / rd.CHECKPOINT)
    assert ckpt["step"] == saved and not (run / rd.MODEL).exists()
    pl.solve(tiny(train={**train, "steps": saved}), out=tmp_path / "short")
    assert_same(ckpt["model"], weights(tmp_path / "short"))

    monkeypatch.undo()  # the cause is fixed
    code, _, err = cli("solve", cfg, "--out", run, "--resume")
    assert code == 0, err
    assert_same(weights(run), reference)


# -- an existing run directory ------------------------------------------------------------------------------------


def test_an_existing_run_directory_is_never_overwritten(finished, tmp_path, tiny, write_yaml, cli):
    cfg, run = finished
    before = contents(run)
    code, _, err = cli("solve", cfg, "--out", run)
    assert code == 2 and f"output directory '{run}' exists and is not empty; use --resume" in err
    other = write_yaml({**tiny(), "output": {**tiny()["output"], "dir": str(run)}}, "other.yaml")
    code, _, err = cli("solve", other)
    assert code == 2 and "exists and is not empty" in err
    with pytest.raises(pl.ConfigError, match="exists and is not empty"):
        pl.solve(tiny(), out=run)
    assert contents(run) == before  # not a byte, not a time stamp changed

    afile = tmp_path / "a_file"
    afile.write_text("keep me")
    code, _, err = cli("solve", cfg, "--out", afile)
    assert code == 2 and "is a file, not a directory" in err and afile.read_text() == "keep me"
