"""Outputs from several networks: coefficient fields with their own small network and a positivity map.

An unknown coefficient field (a(x) in −div(a ∇u) = f) is one more output of the PINN. It may come
from the shared network or from its own, usually smaller one, and may be kept positive by softplus
or exp. :class:`FieldNetworks` assembles the outputs in field order from these parts, on tensors and
on Taylor jets alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from pinnlab.autodiff.taylor_value import TaylorValue

POSITIVITY = ("softplus", "exp")


class FieldNetworks(nn.Module):
    """Field outputs (N, F) from a shared network and per-field networks of the same features.

    ``shared`` produces the fields listed in ``shared_fields`` (in that order) and may be None when
    every field has its own network; ``own`` maps a field to its network (one output);
    ``positive`` maps a field to ``softplus`` or ``exp``, applied to that output. ``fields`` is the
    output order.
    """

    def __init__(self, fields: Sequence[str], shared: nn.Module | None, shared_fields: Sequence[str],
                 own: Mapping[str, nn.Module], positive: Mapping[str, str] | None = None):
        super().__init__()
        self.fields = list(fields)
        self.shared = shared
        self.shared_fields = list(shared_fields)
        self.own = nn.ModuleDict(dict(own))
        self.positive = dict(positive or {})
        unknown = [f for f in [*self.shared_fields, *self.own, *self.positive] if f not in self.fields]
        if unknown:
            raise ValueError(f"'{unknown[0]}' is not one of the fields {self.fields}")
        missing = [f for f in self.fields if f not in self.shared_fields and f not in self.own]
        if missing or (shared is None) != (not self.shared_fields):
            raise ValueError(f"every field needs exactly one network; missing: {missing}")
        bad = [m for m in self.positive.values() if m not in POSITIVITY]
        if bad:
            raise ValueError(f"unknown positivity map {bad[0]!r}; available: {', '.join(POSITIVITY)}")

    def _columns(self, h, select, positive) -> list:
        shared = self.shared(h) if self.shared is not None else None
        columns = []
        for f in self.fields:
            if f in self.own:
                value = select(self.own[f](h), 0)
            else:
                value = select(shared, self.shared_fields.index(f))
            if f in self.positive:
                value = positive(value, self.positive[f])
            columns.append(value)
        return columns

    def forward(self, h: Tensor | TaylorValue) -> Tensor | TaylorValue:
        if isinstance(h, TaylorValue):
            return self.forward_jet(h)

        def positive(v: Tensor, how: str) -> Tensor:
            return nn.functional.softplus(v) if how == "softplus" else torch.exp(v)

        return torch.stack(self._columns(h, lambda t, c: t[:, c], positive), dim=-1)

    def forward_jet(self, jet: TaylorValue) -> TaylorValue:
        """Each network pushes the jet; columns are picked and joined; positivity by Faà di Bruno."""
        columns = self._columns(jet, lambda t, c: t.select(c), lambda v, how: v.apply(how))
        return type(columns[0]).stack_last(columns)


__all__ = ["POSITIVITY", "FieldNetworks"]
