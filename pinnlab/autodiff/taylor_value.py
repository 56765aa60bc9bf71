"""The arithmetic shared by the jet types: Python operators built from a few primitives.

A :class:`TaylorValue` carries a primal value and derivative information of some
order; subclasses (:class:`~pinnlab.autodiff.jet.Jet`,
:class:`~pinnlab.autodiff.biharmonic.BiharmonicJet`) say how sums, products and
elementwise functions act on that information, and inherit ``+ - * / **``, powers
and named elementwise functions from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from pinnlab.autodiff.towers import tower


class TaylorValue:
    """Arithmetic shared by the jet types: operators built from a few primitives.

    Subclasses provide ``primal``, ``order`` (highest derivative order carried),
    ``constant_like``, ``compatible``, ``_plus``, ``_times``, ``scale``, ``shift``
    and ``compose`` (an elementwise function given its derivative tower).
    """

    __slots__ = ()
    __array_priority__ = 1000
    primal: Tensor
    order: int

    def constant_like(self, value: Tensor) -> TaylorValue:
        raise NotImplementedError

    def compatible(self, other: TaylorValue) -> bool:
        raise NotImplementedError

    def _plus(self, other: TaylorValue) -> TaylorValue:
        raise NotImplementedError

    def _times(self, other: TaylorValue) -> TaylorValue:
        raise NotImplementedError

    def scale(self, factor: Tensor | float) -> TaylorValue:
        raise NotImplementedError

    def shift(self, offset: Tensor | float) -> TaylorValue:
        raise NotImplementedError

    def compose(self, derivatives: Sequence[Tensor | None]) -> TaylorValue:
        raise NotImplementedError

    def _lift(self, other: Any) -> TaylorValue:
        if isinstance(other, TaylorValue):
            if not self.compatible(other):
                raise ValueError("jets with different layouts cannot be combined")
            return other
        return self.constant_like(torch.as_tensor(other, dtype=self.primal.dtype, device=self.primal.device))

    @property
    def shape(self) -> torch.Size:
        return self.primal.shape

    def dim(self) -> int:
        return self.primal.dim()

    def apply(self, name: str) -> TaylorValue:
        """An elementwise function by name (see :data:`pinnlab.autodiff.towers.ELEMENTWISE`)."""
        return self.compose(tower(name, self.primal, self.order))

    def power(self, p: float) -> TaylorValue:
        if float(p).is_integer() and 0 <= p <= 8:
            return self._integer_power(int(p))
        return self.compose(tower("pow", self.primal, self.order, exponent=float(p)))

    def _integer_power(self, p: int) -> TaylorValue:
        if p == 0:
            return self.constant_like(torch.ones_like(self.primal))
        result, base = None, self
        while p:
            if p & 1:
                result = base if result is None else result * base
            p >>= 1
            if p:
                base = base * base
        return result

    def reciprocal(self) -> TaylorValue:
        return self.compose(tower("pow", self.primal, self.order, exponent=-1.0))

    def __add__(self, other: Any) -> TaylorValue:
        if not isinstance(other, TaylorValue):
            return self.shift(other)
        return self._plus(self._lift(other))

    __radd__ = __add__

    def __neg__(self) -> TaylorValue:
        return self.scale(-1.0)

    def __sub__(self, other: Any) -> TaylorValue:
        return self + (-other)

    def __rsub__(self, other: Any) -> TaylorValue:
        return (-self) + other

    def __mul__(self, other: Any) -> TaylorValue:
        if not isinstance(other, TaylorValue):
            return self.scale(other)
        return self._times(self._lift(other))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> TaylorValue:
        if isinstance(other, TaylorValue):
            return self * self._lift(other).reciprocal()
        return self.scale(1.0 / other)

    def __rtruediv__(self, other: Any) -> TaylorValue:
        return self.reciprocal() * other

    def __pow__(self, other: Any) -> TaylorValue:
        if isinstance(other, TaylorValue):
            return (other * self.apply("log")).apply("exp")
        if isinstance(other, Tensor) and other.dim() > 0:
            return (self.apply("log") * other).apply("exp")
        return self.power(float(other))

    def __rpow__(self, other: Any) -> TaylorValue:
        base = torch.as_tensor(other, dtype=self.primal.dtype, device=self.primal.device)
        return (self * torch.log(base)).apply("exp")
