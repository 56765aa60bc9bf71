"""Stopping rules on loss terms: the discrepancy principle (``train.stop_below``) and a stalled fit
(``train.stop_stalled``).

Both measure the objective at the parameters after each step, on that step's points. With per-point
weights 1/σ² a data term's loss is χ²/N: level 1 of ``stop_below`` is Morozov's discrepancy principle.
``stop_stalled`` measures the whole objective in units of a data term's χ² (the loss times N/w of that
term, so the term itself contributes its χ²): a fall by less than about 1 over some steps is less than one
more fitted degree of freedom of pure noise is expected to buy, so the steps no longer gain anything the data
can confirm. Its window restarts when the sampler draws new points (a change of the points is no progress).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from pinnlab import distributed
from pinnlab.errors import ConfigError, did_you_mean


class StopRules:
    """The stopping rules of one run; :meth:`check` after every step returns what met a rule, else None.

    ``below``: term -> level, met when every named term's loss (the weighted mean) is at most its level.
    ``stalled``: ``{"term", "steps", "below"}``, met when the objective in units of the term's χ² (the total
    loss × N_term / w_term) fell by less than ``below`` over the last ``steps`` steps on the same points.
    ``weights``: the loss weights of the terms (1 when missing).
    """

    def __init__(self, below: Mapping[str, float] | None, stalled: Mapping[str, Any] | None, terms: list[str] | None,
                 source: str, weights: Mapping[str, float] | None = None):
        self.below = dict(below or {})
        self.stalled = dict(stalled) if stalled else None
        self.sums: list[float] = []  # the measure after the last steps + 1 steps
        self._points: Any = None  # the points those were measured on
        if not self.active:
            return
        for key, names in (("stop_below", list(self.below)), ("stop_stalled", [self.stalled["term"]] if self.stalled
                                                                              else [])):
            if names and not terms:
                raise ConfigError(f"{source}: key 'train.{key}': stopping on the loss of a term needs a PINN run "
                                  "(mode: pinn)")
            for name in names:
                if name not in terms:
                    where = f"train.{key}.{name}" if key == "stop_below" else f"train.{key}.term"
                    raise ConfigError(f"{source}: key '{where}': '{name}' is not a loss term"
                                      f"{did_you_mean(name, terms or [], listing='terms')}")
        if self.stalled is not None and float((weights or {}).get(self.stalled["term"], 1.0)) <= 0:
            raise ConfigError(f"{source}: key 'train.stop_stalled.term': the term '{self.stalled['term']}' has loss "
                              "weight 0 (loss.weights); the rule measures the objective in units of its χ²")

    @property
    def active(self) -> bool:
        return bool(self.below) or self.stalled is not None

    def check(self, objective: Any, params: Mapping[str, Tensor], step: int) -> dict[str, Any] | None:
        """The record of the rule met after ``step`` steps (the parameters ``params``), or None."""
        weighted = list(objective.terms) if self.stalled else []
        terms = list(dict.fromkeys([*self.below, *weighted]))
        means, counts = term_measures(objective, params, terms)
        if self.below and all(means[k] <= level for k, level in self.below.items()):
            return {"rule": "stop_below", "step": step, "losses": {k: means[k] for k in self.below},
                    "levels": dict(self.below)}
        if self.stalled is None:
            return None
        window, name = int(self.stalled["steps"]), self.stalled["term"]
        total = sum(objective.weights[t] * means[t] for t in weighted)
        measure = total * counts[name] / objective.weights[name]
        points = fingerprint(objective.batches)
        if points != self._points:
            self.sums, self._points = [], points
        self.sums = [*self.sums, measure][-(window + 1):]
        if len(self.sums) == window + 1 and self.sums[0] - self.sums[-1] < float(self.stalled["below"]):
            return {"rule": "stop_stalled", "step": step, "term": name, "measure": self.sums[-1],
                    "chi2": means[name] * counts[name], "decrease": self.sums[0] - self.sums[-1], "steps": window,
                    "below": float(self.stalled["below"]), "losses": {t: means[t] for t in weighted}}
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"sums": list(self.sums), "points": self._points}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.sums = [float(v) for v in state.get("sums", [])]
        self._points = state.get("points")


def fingerprint(batches: Mapping[str, Any]) -> dict[str, list[float]]:
    """A summary of the points of every batch (count, sum and sum of squares of the coordinates) that
    changes when the sampler draws new points and survives a checkpoint."""
    out = {}
    for name, batch in batches.items():
        x = batch.x.detach()
        out[name] = [float(x.shape[0]), float(x.sum()), float(x.pow(2).sum())]
    return out


def term_measures(objective: Any, params: Mapping[str, Tensor], terms: list[str]
                  ) -> tuple[dict[str, float], dict[str, int]]:
    """Per term: the loss (weighted mean of squares, as in ``history.csv``) and its number of residuals over
    every rank (loss × count is the χ² of a data term with weights 1/σ²)."""
    with torch.no_grad():
        residuals = objective.residuals({k: v.detach() for k, v in params.items()}, terms)
        means = objective.term_losses(residuals)
    counts = {}
    for name, r in residuals.items():
        if objective.totals is None:
            counts[name] = r.numel()
        else:
            counts[name] = objective.totals[objective.program.terms[name].point_set] * math.prod(r.shape[1:])
    if objective.sharded:  # the ranks' shares of the global means
        means = distributed.all_reduce_sum_tree(means)
    return {k: float(v) for k, v in means.items()}, counts


__all__ = ["StopRules", "term_measures"]
