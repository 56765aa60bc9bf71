"""ConFIG and M-ConFIG against the authors' package ``conflictfree`` (skipped where it is not installed)."""

from __future__ import annotations

import pytest
import torch

conflictfree = pytest.importorskip("conflictfree")

from conflictfree.grad_operator import ConFIG_update, ConFIG_update_double, ConFIGOperator
from conflictfree.length_model import (
    ProjectionLength,
    TrackArithmeticAverage,
    TrackGeometricAverage,
    TrackHarmonicAverage,
    TrackMaximum,
    TrackMinimum,
)
from conflictfree.momentum_operator import PseudoMomentumOperator
from conflictfree.weight_model import WeightModel

from pinnlab.solvers.conflict_free import LENGTHS, TermGrads, config_update, momentum_conflict_free
from pinnlab.solvers.first_order import chain, scale_by_adam

F64 = torch.float64
LENGTH_MODELS = {"projection": ProjectionLength, "min": TrackMinimum, "max": TrackMaximum,
                 "mean": TrackArithmeticAverage, "harmonic": TrackHarmonicAverage, "geometric": TrackGeometricAverage}


class EqualWeight64(WeightModel):
    """Equal angle weights in the gradients' dtype (the package's ``EqualWeight`` is float32, which its
    least-squares path refuses to mix with float64 gradients)."""

    def get_weights(self, gradients, losses=None, device=None):
        return torch.ones(gradients.shape[0], dtype=gradients.dtype, device=gradients.device)


def gradient_sets(m: int, count: int = 4, size: int = 60):
    """Random gradient sets with norms spread over two decades."""
    g = torch.Generator().manual_seed(10 + m)
    for _ in range(count):
        scales = 10.0 ** (2 * torch.rand(m, 1, generator=g, dtype=F64) - 1)
        yield scales * torch.randn(m, size, generator=g, dtype=F64)


def assert_close(ours: torch.Tensor, ref: torch.Tensor) -> None:
    torch.testing.assert_close(ours, ref.to(F64), rtol=1e-9, atol=1e-12 * float(ref.norm()))


def test_length_rules_are_all_covered():
    assert set(LENGTH_MODELS) == set(LENGTHS)


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("m", [2, 3, 5])
def test_config_update_matches_reference(m, length):
    """The general solve against the package's least-squares and pseudo-inverse updates, and for two
    terms the closed form against its two-gradient formula and its default operator."""
    for grads in gradient_sets(m):
        model = LENGTH_MODELS[length]()
        ours = config_update(grads, length, closed_form=False)
        for least_squares in (True, False):
            assert_close(ours, ConFIG_update(grads, weight_model=EqualWeight64(), length_model=model,
                                             use_least_square=least_squares))
        if m == 2:
            closed = config_update(grads, length, closed_form=True)
            assert_close(closed, ConFIG_update_double(grads[0], grads[1], weight_model=EqualWeight64(),
                                                      length_model=model))
            assert_close(closed, ConFIGOperator(length_model=model).calculate_gradient(grads))


@pytest.mark.parametrize("m", [2, 3, 5])
def test_mconfig_matches_reference_pseudo_momentum(m):
    """M-ConFIG (momentum ConFIG direction, then Adam with the same β1) against the package's
    ``PseudoMomentumOperator`` over four cycles of one random term gradient per step."""
    size = 60
    ref = PseudoMomentumOperator(m, beta_1=0.9, beta_2=0.999,
                                 gradient_operator=ConFIGOperator(weight_model=EqualWeight64()))
    params = {"x": torch.zeros(size, dtype=F64)}
    tx = chain(momentum_conflict_free(0.9), scale_by_adam(0.9, 0.999, 1e-8))
    state = tx.init(params)
    g = torch.Generator().manual_seed(m)
    scales = 10.0 ** (2 * torch.rand(m, generator=g, dtype=F64) - 1)
    for k in range(4 * m):
        i = k % m
        grad = scales[i] * (torch.randn(size, generator=g, dtype=F64) + 0.3)
        expected = ref.calculate_gradient(i, grad)
        ours, state = tx.update(TermGrads(grad[None], (i,), m), state, params)
        if k < m - 1:
            assert ours is None and float(expected.abs().max()) == 0.0
        else:
            assert_close(ours["x"], expected)
