"""Primitive solids: cuboids, spheres and cylinders (columns ``x, y, z`` unless named otherwise).

Parts: a cuboid's ``x_min`` .. ``z_max``, a sphere's ``sphere``, a cylinder's ``side``,
``bottom`` (the end at −axis) and ``top``; a ``name`` labels the whole boundary as well.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .distance import Arithmetic, Columns, conjunction, slab
from .pieces import CylinderSurfaces, Pieces, SphereSurface
from .shape import Primitive, as_points, check_names, part_labels, positive
from .shapes2d import SPACE, AxisBox


class Cuboid(AxisBox):
    """``[low, high]`` in three dimensions; faces ``x_min`` .. ``z_max``."""

    def __init__(self, low: Sequence[float] = (0.0, 0.0, 0.0), high: Sequence[float] = (1.0, 1.0, 1.0),
                 names: Sequence[str] = SPACE, name: str | None = None):
        if isinstance(low, Sequence) and len(low) != 3:
            raise ValueError(f"a cuboid needs low = [x, y, z], got {low!r}")
        super().__init__(low, high, names, name)


class Sphere(Primitive):
    """The ball ``|x − center| <= radius`` in 3-D; part ``sphere``, R-function ``(R² − |x − c|²)/(2R)``."""

    def __init__(self, center: Sequence[float] = (0.0, 0.0, 0.0), radius: float = 1.0,
                 names: Sequence[str] = SPACE, name: str | None = None):
        super().__init__(check_names(names, 3), name)
        self.center = as_points(center, 3, "center")
        self.radius = positive(radius, "radius")
        self.surface = SphereSurface(self.center, self.radius, part_labels(["sphere"], name))

    def __repr__(self) -> str:
        return f"Sphere(center={self.center.tolist()}, radius={self.radius:g})"

    def pieces(self) -> list[Pieces]:
        return [self.surface]

    def bounding_box(self) -> tuple[list[float], list[float]]:
        return (self.center - self.radius).tolist(), (self.center + self.radius).tolist()

    def exact_volume(self) -> float:
        return 4.0 / 3.0 * math.pi * self.radius**3

    def margin(self, x: Tensor) -> Tensor:
        return self.radius - (x - torch.as_tensor(self.center, dtype=x.dtype, device=x.device)).norm(dim=-1)

    def signed(self, cols: Columns, ar: Arithmetic) -> Any:
        return self.surface.signed(cols, ar)

    @property
    def _interior_unit_dim(self) -> int:
        return 3

    def _interior_from_unit(self, u: Tensor) -> Tensor:
        _, n = self.surface.place(torch.zeros(len(u), dtype=torch.long, device=u.device), u[:, :2])
        r = u[:, 2:].clamp_min(0) ** (1.0 / 3.0)
        centre = torch.as_tensor(self.center, dtype=u.dtype, device=u.device)
        return centre + self.radius * r * n


class Cylinder(Primitive):
    """A closed circular cylinder: ``center`` is the middle of its axis, ``axis`` a direction or a column name.

    Parts ``side``, ``bottom`` (at ``center − axis·height/2``) and ``top``; R-function the
    R₀ intersection of the radial ``(R² − ρ²)/(2R)`` and the axial slab.
    """

    def __init__(self, center: Sequence[float] = (0.0, 0.0, 0.0), radius: float = 1.0, height: float = 1.0,
                 axis: Sequence[float] | str = "z", names: Sequence[str] = SPACE, name: str | None = None):
        names = check_names(names, 3)
        super().__init__(names, name)
        self.center = as_points(center, 3, "center")
        self.radius, self.height = positive(radius, "radius"), positive(height, "height")
        if isinstance(axis, str):
            if axis not in names:
                raise ValueError(f"axis must be one of the columns {list(names)} or a direction, got {axis!r}")
            direction = np.eye(3)[names.index(axis)]
        else:
            direction = as_points(axis, 3, "axis")
            if not np.linalg.norm(direction) > 0:
                raise ValueError("axis must be a non-zero direction")
        self.axis = direction / np.linalg.norm(direction)
        self.surfaces = CylinderSurfaces(self.center, self.axis, self.radius, self.height,
                                         part_labels(["side", "bottom", "top"], name))

    def __repr__(self) -> str:
        return (f"Cylinder(center={self.center.tolist()}, radius={self.radius:g}, height={self.height:g}, "
                f"axis={self.axis.tolist()})")

    def pieces(self) -> list[Pieces]:
        return [self.surfaces]

    def bounding_box(self) -> tuple[list[float], list[float]]:
        w = self.axis
        half = np.abs(w) * self.height / 2 + self.radius * np.sqrt(np.clip(1 - w * w, 0, None))
        return (self.center - half).tolist(), (self.center + half).tolist()

    def exact_volume(self) -> float:
        return math.pi * self.radius**2 * self.height

    def margin(self, x: Tensor) -> Tensor:
        p = self.surfaces.local(x)
        dr = torch.hypot(p[:, 0], p[:, 1]) - self.radius
        dh = p[:, 2].abs() - self.height / 2
        outside = torch.hypot(dr.clamp_min(0), dh.clamp_min(0))
        return torch.where(outside > 0, -outside, -torch.maximum(dr, dh))

    def signed(self, cols: Columns, ar: Arithmetic) -> Any:
        xi, eta, h = self.surfaces.local_columns(cols)
        return conjunction(self.surfaces.disc(xi, eta), slab(h, 0.0, self.height), ar)

    @property
    def _interior_unit_dim(self) -> int:
        return 3

    def _interior_from_unit(self, u: Tensor) -> Tensor:
        r = self.radius * u[:, 0].clamp_min(0).sqrt()
        theta = 2 * math.pi * u[:, 1]
        h = self.height * (u[:, 2] - 0.5)
        local = torch.stack([r * torch.cos(theta), r * torch.sin(theta), h], -1)
        rows = torch.as_tensor(self.surfaces.frame, dtype=u.dtype, device=u.device)
        return local @ rows + torch.as_tensor(self.center, dtype=u.dtype, device=u.device)
