"""Steps not yet looked at: their diagnostics stay as the solver returned them until the trainer reads them.

Solvers may return 0-d tensors (see :class:`~pinnlab.solvers.Solver`); reading one waits for the
device. The trainer therefore keeps each step's diagnostics and a device-side finiteness check of
its parameters here, and reads them only when it logs, evaluates or checkpoints: at most once per
logging interval on a GPU. The numbers are the same as if they had been read at every step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor


def as_number(value: Any) -> Any:
    """A 0-d tensor as a float; anything else as it is."""
    return float(value) if isinstance(value, Tensor) else value


class PendingSteps:
    """Diagnostics and parameter checks of the steps since the last :meth:`settle`."""

    def __init__(self) -> None:
        self._steps: list[tuple[int, Mapping[str, Any], Tensor | bool]] = []
        #: the diagnostics of the latest settled step, as numbers
        self.latest: dict[str, Any] = {}

    def add(self, step: int, info: Mapping[str, Any], params: Mapping[str, Tensor]) -> None:
        """Record step ``step`` (its diagnostics and whether its parameters are finite), without reading anything."""
        checks = [torch.isfinite(p.detach()).all() for p in params.values()]
        finite: Tensor | bool = torch.stack(checks).all() if checks else True
        self._steps.append((step, info, finite))

    def __len__(self) -> int:
        return len(self._steps)

    def settle(self) -> tuple[int, dict[str, Any]] | None:
        """Read the pending steps: ``(step, diagnostics)`` of the first whose loss or parameters are not finite,
        else None (:attr:`latest` then holds the last step's diagnostics as numbers)."""
        steps, self._steps = self._steps, []
        for step, info, finite in steps:
            loss = as_number(info.get("loss", math.nan))
            if not (isinstance(loss, (int, float)) and math.isfinite(loss)) or not bool(finite):
                return step, {k: as_number(v) for k, v in info.items()}
        if steps:
            self.latest = {k: as_number(v) for k, v in steps[-1][1].items()}
        return None


__all__ = ["PendingSteps", "as_number"]
