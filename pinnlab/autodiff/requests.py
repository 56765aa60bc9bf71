"""Derivative requests: what the compiler asks the derivative engine for.

A request names one model output and a linear differential operator over input
columns. Requests know nothing of PDEs; the compiler translates expression
nodes (``u_xx``, ``lap(u)``) into them.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("partial", "laplacian", "bilaplacian", "gradient")


@dataclass(frozen=True, order=True)
class Derivative:
    """One derivative of model output ``output``.

    - ``partial``: the mixed partial over ``cols`` (a sorted multiset; ``()`` is the value),
      result shape (N,);
    - ``laplacian``: sum of second derivatives over ``cols``, shape (N,);
    - ``bilaplacian``: the Laplacian applied twice over ``cols``, shape (N,);
    - ``gradient``: first derivatives over ``cols``, shape (N, len(cols)).
    """

    output: int
    kind: str
    cols: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown derivative kind {self.kind!r}; expected one of {KINDS}")
        if self.kind == "partial" and tuple(sorted(self.cols)) != self.cols:
            raise ValueError("partial derivative columns must be sorted")

    @property
    def order(self) -> int:
        if self.kind == "partial":
            return len(self.cols)
        return {"laplacian": 2, "bilaplacian": 4, "gradient": 1}[self.kind]


def value(output: int) -> Derivative:
    """The model output itself."""
    return Derivative(output, "partial", ())


def partial(output: int, *cols: int) -> Derivative:
    """A mixed partial derivative; columns in any order."""
    return Derivative(output, "partial", tuple(sorted(cols)))
