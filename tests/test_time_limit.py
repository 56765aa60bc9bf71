"""``train.time_limit_s``: a run stops at the first logging step past its time budget, is saved as at
its end, and a resume continues with a fresh budget."""

from __future__ import annotations

import pytest
import torch

import pinnlab as pl

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_run_stops_at_its_time_limit_and_resumes_with_a_fresh_budget(tmp_path, tiny):
    train = {"steps": 12, "log_every": 4, "eval_every": 4, "checkpoint_every": 1000}
    full = pl.solve(tiny(train=train), out=tmp_path / "full")
    run = tmp_path / "limited"
    limited = {**train, "time_limit_s": 1e-9}  # over the budget after the first step: stops at step 4
    first = pl.solve(tiny(train=limited), out=run)
    assert first.metrics["steps"] == 4
    stopped = first.metrics["stopped"]
    assert stopped["rule"] == "time_limit" and stopped["step"] == 4 and stopped["limit_s"] == 1e-9
    assert stopped["seconds"] > 0
    second = pl.solve(tiny(train=limited), out=run, resume=True)  # a fresh budget: four more steps
    assert second.metrics["steps"] == 8 and second.metrics["stopped"]["step"] == 8
    last = pl.solve(tiny(train={**train, "time_limit_s": 3600.0}), out=run, resume=True)
    assert last.metrics["steps"] == 12 and "stopped" not in last.metrics
    for name, value in full.model.state_dict().items():
        torch.testing.assert_close(last.model.state_dict()[name], value, rtol=1e-12, atol=1e-12)


def test_the_time_limit_must_be_positive(tiny):
    from pinnlab.config import parse_config
    from pinnlab.errors import ConfigError

    with pytest.raises(ConfigError, match="key 'train.time_limit_s': Input should be greater than 0"):
        parse_config(tiny(train={"time_limit_s": 0}), "cfg.yaml")
