"""Constructive solid geometry: union, intersection and difference of shapes, nested to any depth.

``a | b``, ``a & b`` and ``a - b`` (or :func:`union`, :func:`intersection`,
:func:`difference`) combine shapes with the same columns. A composite's boundary is
made of pieces of its primitives': the pieces are sampled in proportion to their measure
and a point is kept when it lies on the composite's boundary, tested by stepping a small
distance ε along its normal (inside behind, outside ahead); normals of subtracted shapes
are flipped. Where pieces of several primitives coincide, the first selected one keeps
the point, so the density stays uniform. Inside tests combine the children's signed
margins (max for a union, min for an intersection, ``min(a, −b)`` for a difference) and
the R-function combines theirs with R₀ disjunction and conjunction.

The R-function of a union of shapes that only touch (share a face) vanishes on the
shared face too: build such domains as one polygon, or let the shapes overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .ball import Ball
from .base import Geometry
from .box import Box
from .distance import Arithmetic, Columns, conjunction, disjunction
from .shape import F64, PieceRef, RejectionInterior, Selection, Shape
from .timespace import TimeSpace

STEP = 1e-7
"""ε of the on-boundary test, relative to the diameter of the bounding box."""
COINCIDENT = 1e-9
"""Distance (relative to the diameter) below which a point lies on another piece as well."""


def as_shape(geometry: Geometry) -> Shape:
    """A geometry as a :class:`Shape` (boxes become :class:`AxisBox`, balls of 2 or 3 dimensions disks/spheres)."""
    from .shapes2d import AxisBox, Disk
    from .shapes3d import Sphere

    if isinstance(geometry, Shape):
        return geometry
    if isinstance(geometry, Box):
        low, high = geometry.bounding_box()
        return AxisBox(low, high, geometry.names)
    if isinstance(geometry, Ball) and geometry.dim in (2, 3):
        cls = Disk if geometry.dim == 2 else Sphere
        return cls(geometry.center, geometry.radius, geometry.names)
    if isinstance(geometry, TimeSpace):
        raise TypeError("combine the spatial shapes first, then add time with TimeSpace(...)")
    raise TypeError(f"a {type(geometry).__name__} cannot take part in CSG (use shapes, boxes or 2-D/3-D balls)")


class Composite(RejectionInterior, Shape):
    """A CSG node over child shapes with identical columns; ``name`` labels all of its boundary."""

    op = ""
    _boundary_acceptance = 0.7

    def __init__(self, children: Sequence[Geometry], name: str | None = None):
        shapes = [as_shape(c) for c in children]
        if len(shapes) < 2:
            raise ValueError(f"a {self.op} needs at least two shapes, got {len(shapes)}")
        first = shapes[0].names
        for s in shapes[1:]:
            if s.names != first:
                raise ValueError(f"CSG needs shapes on the same columns; got {first} and {s.names}")
        super().__init__(first, name)
        self.children = shapes
        self._refs: list[PieceRef] | None = None

    def __repr__(self) -> str:
        inner = ", ".join(repr(c) for c in self.children)
        return f"{type(self).__name__}([{inner}]{'' if self.name is None else f', name={self.name!r}'})"

    def _child_sign(self, index: int) -> float:
        return 1.0

    def piece_refs(self) -> list[PieceRef]:
        if self._refs is None:
            extra = () if self.name is None else (self.name,)
            refs = []
            for i, child in enumerate(self.children):
                for ref in child.piece_refs():
                    labels = tuple(tuple(dict.fromkeys(lab + extra)) for lab in ref.labels)
                    refs.append(PieceRef(ref.pieces, ref.sign * self._child_sign(i), labels,
                                         ref.under_union or isinstance(self, Union)))
            self._refs = refs
        return self._refs

    # ----------------------------------------------------------------- boundary test
    def _boundary_accept(self, u: Tensor, x: Tensor, normals: Tensor, selection: Selection) -> Tensor:
        u = u.to(F64)
        x, n = self._boundary_from_unit(u, selection)
        diameter = self.diameter()
        eps = STEP * diameter
        keep = (self.margin(x - eps * n) > 0) & (self.margin(x + eps * n) < 0)
        keep &= self.margin(x).abs() <= COINCIDENT * diameter  # near a corner a piece may leave the domain
        source = self._source(u, selection)
        near = self._selected_distances(x, selection) <= COINCIDENT * diameter
        near[torch.arange(len(x)), source] = True
        return keep & (near.to(torch.uint8).argmax(-1) == source)

    def _selected_distances(self, x: Tensor, selection: Selection) -> Tensor:
        refs = self.piece_refs()
        out = x.new_empty(x.shape[0], len(selection.items))
        by_ref: dict[int, list[tuple[int, int]]] = {}
        for j, (r, k) in enumerate(selection.items):
            by_ref.setdefault(r, []).append((j, k))
        for r, pairs in by_ref.items():
            d = refs[r].pieces.distance(x)
            out[:, [j for j, _ in pairs]] = d[:, [k for _, k in pairs]]
        return out


class Union(Composite):
    """Points in any child."""

    op = "union"

    def margin(self, x: Tensor) -> Tensor:
        return torch.stack([c.margin(x) for c in self.children]).amax(0)

    def inside(self, x: Tensor) -> Tensor:
        return torch.stack([c.inside(x) for c in self.children]).any(0)

    def signed(self, cols: Columns, ar: Arithmetic) -> Any:
        value = self.children[0].signed(cols, ar)
        for c in self.children[1:]:
            value = disjunction(value, c.signed(cols, ar), ar)
        return value

    def bounding_box(self) -> tuple[list[float], list[float]]:
        boxes = [c.bounding_box() for c in self.children]
        return [min(v) for v in zip(*(b[0] for b in boxes))], [max(v) for v in zip(*(b[1] for b in boxes))]


class Intersection(Composite):
    """Points in every child."""

    op = "intersection"

    def __init__(self, children: Sequence[Geometry], name: str | None = None):
        super().__init__(children, name)
        low, high = self.bounding_box()
        if any(lo >= hi for lo, hi in zip(low, high)):
            raise ValueError("the intersection is empty (the bounding boxes do not overlap)")

    def margin(self, x: Tensor) -> Tensor:
        return torch.stack([c.margin(x) for c in self.children]).amin(0)

    def inside(self, x: Tensor) -> Tensor:
        return torch.stack([c.inside(x) for c in self.children]).all(0)

    def signed(self, cols: Columns, ar: Arithmetic) -> Any:
        value = self.children[0].signed(cols, ar)
        for c in self.children[1:]:
            value = conjunction(value, c.signed(cols, ar), ar)
        return value

    def bounding_box(self) -> tuple[list[float], list[float]]:
        boxes = [c.bounding_box() for c in self.children]
        return [max(v) for v in zip(*(b[0] for b in boxes))], [min(v) for v in zip(*(b[1] for b in boxes))]


class Difference(Composite):
    """Points of ``base`` not inside ``removed`` (the closure: the hole's boundary belongs to the domain)."""

    op = "difference"

    def __init__(self, base: Geometry, removed: Geometry, name: str | None = None):
        super().__init__([base, removed], name)

    def __repr__(self) -> str:
        base, removed = self.children
        return f"Difference({base!r}, {removed!r}{'' if self.name is None else f', name={self.name!r}'})"

    def _child_sign(self, index: int) -> float:
        return -1.0 if index == 1 else 1.0

    def margin(self, x: Tensor) -> Tensor:
        base, removed = self.children
        return torch.minimum(base.margin(x), -removed.margin(x))

    def inside(self, x: Tensor) -> Tensor:
        base, removed = self.children
        return base.inside(x) & ~removed.inside(x)

    def signed(self, cols: Columns, ar: Arithmetic) -> Any:
        base, removed = self.children
        return conjunction(base.signed(cols, ar), -removed.signed(cols, ar), ar)

    def bounding_box(self) -> tuple[list[float], list[float]]:
        return self.children[0].bounding_box()


def union(*shapes: Geometry, name: str | None = None) -> Union:
    """The union of two or more shapes."""
    return Union(shapes, name)


def intersection(*shapes: Geometry, name: str | None = None) -> Intersection:
    """The intersection of two or more shapes."""
    return Intersection(shapes, name)


def difference(base: Geometry, *removed: Geometry, name: str | None = None) -> Shape:
    """``base`` minus each of ``removed`` in turn (``name`` labels the result's whole boundary)."""
    if not removed:
        raise ValueError("difference needs a base shape and at least one shape to remove")
    result: Shape = as_shape(base)
    for i, r in enumerate(removed):
        result = Difference(result, r, name if i == len(removed) - 1 else None)
    return result
