"""Graded collocation around a point: more interior points where a solution is singular.

``sampling.method: graded`` draws the interior points of a fixed design (``base``:
uniform, Sobol or Latin hypercube) and adds ``points`` more in the ball of radius
``radius`` around ``center`` (intersected with the domain), with density ∝ r^-α (r the
distance to the centre; 0 <= α < d): the radius is ``R·u^(1/(d−α))`` with u uniform in
(0, 1], the direction uniform on the sphere, points outside the domain drawn again.
``center`` may also be a list of points (a cavity's two lid corners): each gets ``points``
points in its own ball.

Per-point weights (they multiply the squared residuals of every equation on the interior):

* ``quadrature`` (default true): ``(n + m)/|Ω| / ρ(x)`` with ρ the density of all n + m
  points, so that the mean of the weighted squares estimates the same integral as uniform
  points do, resolved better near the centre;
* ``beta`` (default 0): the factor ``min(r/R, 1)^(2β)`` (r the distance to the nearest centre), a residual measured in the
  weighted norm of Kondrat'ev / Babuška's weighted Sobolev spaces. At a re-entrant corner
  of interior angle ω the solution behaves as r^(π/ω) and is not in H², so the plain L2
  norm of Δu cannot be made small by smooth approximations; with β > 1 − π/ω the weighted
  norm can, and the least-squares minimiser converges to the solution.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from pinnlab import distributed
from pinnlab.compile import Batch, PointSet
from pinnlab.sampling.base import FixedSampler, PointDrawer, register_sampler

INTERIOR = "interior"
ACCEPTANCE_DRAWS = 2**16
"""Draws of the Monte Carlo estimate of the share of the ball inside the domain."""
MIN_RADIUS = 1e-9
"""Points closer to the centre than this times ``radius`` are drawn again."""


def _number(name: str, value: Any, low: float, high: float = math.inf, closed_high: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and low <= value and (value <= high if closed_high else value < high)
    if not ok:
        bound = f"<= {high}" if closed_high else f"< {high}"
        raise ValueError(f"graded sampling: '{name}' must be a number >= {low} and {bound}, got {value!r}")
    return float(value)


class GradedDesign:
    """The graded part of the design: ``m`` points of density ∝ r^-α in the ball B(center, radius) ∩ Ω."""

    def __init__(self, geometry: Any, center: Sequence[float], radius: float, alpha: float):
        self.geometry = geometry
        self.dim = len(geometry.names)
        if isinstance(center, (str, bytes)) or not isinstance(center, Sequence) or len(center) != self.dim:
            raise ValueError(f"graded sampling: 'center' must be a list of {self.dim} numbers (the columns "
                             f"{', '.join(geometry.names)}), got {center!r}")
        self.center = torch.tensor([_number("center", c, -math.inf) for c in center], dtype=torch.float64)
        self.radius = _number("radius", radius, 0.0)
        if self.radius == 0:
            raise ValueError("graded sampling: 'radius' must be positive")
        self.alpha = _number("alpha", alpha, 0.0, float(self.dim))
        self.power = self.dim - self.alpha
        low, high = geometry.bounding_box()
        gen = torch.Generator().manual_seed(12345)
        x = self._candidates(ACCEPTANCE_DRAWS, gen)
        self.acceptance = float(self._inside(x).double().mean())
        if self.acceptance == 0:
            raise ValueError(f"graded sampling: the ball of radius {self.radius} around {list(center)} misses the "
                             f"domain (bounding box {low} – {high})")

    def _candidates(self, n: int, generator: torch.Generator) -> Tensor:
        u = 1.0 - torch.rand(n, generator=generator, dtype=torch.float64)  # (0, 1]
        r = self.radius * u ** (1.0 / self.power)
        direction = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        direction = direction / direction.norm(dim=1, keepdim=True).clamp(min=1e-300)
        return self.center + r[:, None] * direction

    def _inside(self, x: Tensor) -> Tensor:
        far = (x - self.center).norm(dim=1) >= MIN_RADIUS * self.radius
        inside = self.geometry.inside(x) if hasattr(self.geometry, "inside") else self.geometry.contains(x, atol=0.0)
        return far & inside

    def draw(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` points (float64) of the graded design."""
        parts, have = [], 0
        while have < n:
            want = math.ceil((n - have) / self.acceptance * 1.1) + 16
            x = self._candidates(want, generator)
            x = x[self._inside(x)]
            parts.append(x)
            have += len(x)
        return torch.cat(parts)[:n]

    def distance(self, x: Tensor) -> Tensor:
        """Distance ``(N,)`` of float64 rows to the centre."""
        return (x.to(torch.float64) - self.center).norm(dim=1)

    def density(self, x: Tensor) -> Tensor:
        """The probability density of one graded point at float64 rows (zero outside the ball)."""
        r = self.distance(x)
        sphere = 2.0 * math.pi ** (self.dim / 2) / math.gamma(self.dim / 2)  # area of the unit sphere
        inball = self.power / (sphere * self.radius ** self.power) * r.clamp(min=1e-300) ** (-self.alpha)
        return torch.where(r < self.radius, inball / self.acceptance, torch.zeros_like(r))


@register_sampler("graded")
class GradedSampler(FixedSampler):
    """Fixed interior points plus ``points`` more graded towards ``center`` (see the module docstring)."""

    def __init__(self, point_sets: Mapping[str, PointSet], drawer: PointDrawer, resample_every: int = 0,
                 center: Sequence[float] | Sequence[Sequence[float]] | None = None, points: int | None = None,
                 radius: float | None = None, alpha: float = 1.0, beta: float = 0.0, quadrature: bool = True):
        super().__init__(point_sets, drawer, resample_every)
        if INTERIOR not in self.point_sets:
            raise ValueError(f"the graded sampler needs an '{INTERIOR}' point set (an equation)")
        if center is None or points is None or radius is None:
            missing = [k for k, v in (("center", center), ("points", points), ("radius", radius)) if v is None]
            raise ValueError(f"graded sampling needs the options center, points and radius (missing: "
                             f"{', '.join(missing)})")
        if isinstance(points, bool) or not isinstance(points, int) or points < 1:
            raise ValueError(f"graded sampling: 'points' must be a whole number >= 1, got {points!r}")
        if not isinstance(quadrature, bool):
            raise TypeError(f"graded sampling: 'quadrature' must be true or false, got {quadrature!r}")
        several = isinstance(center, Sequence) and bool(center) and all(
            isinstance(c, Sequence) and not isinstance(c, (str, bytes)) for c in center)
        self.designs = [GradedDesign(drawer.geometry, c, radius, alpha) for c in (center if several else [center])]
        self.points = points
        self.beta = _number("beta", beta, 0.0)
        self.quadrature = quadrature

    def weights(self, x: Tensor, base: int) -> Tensor | None:
        """Per-point weights of interior rows ``x`` (``base`` uniform and :attr:`points` graded ones per centre)."""
        if not self.quadrature and self.beta == 0:
            return None
        w = torch.ones(x.shape[0], dtype=torch.float64)
        if self.quadrature:
            volume = float(self.drawer.geometry.volume())
            rho = base / volume + self.points * sum(d.density(x) for d in self.designs)
            w = (base + self.points * len(self.designs)) / volume / rho
        if self.beta > 0:
            nearest = torch.stack([d.distance(x) / d.radius for d in self.designs]).amin(dim=0)
            w = w * nearest.clamp(max=1.0) ** (2 * self.beta)
        return w

    def refresh(self, step: int) -> None:
        super().refresh(step)
        ps = self.point_sets[INTERIOR]
        drawer = self.drawer
        extra = torch.cat([d.draw(self.points, drawer.generator) for d in self.designs])
        if drawer.world > 1:
            extra = extra[distributed.shard(len(extra), drawer.rank, drawer.world)]
        base = self.batches[INTERIOR]
        x = torch.cat([base.x, extra.to(device=base.x.device, dtype=base.x.dtype)])
        w = self.weights(x.detach().cpu(), ps.n)
        weights = None if w is None else w.to(device=x.device, dtype=x.dtype)
        self.batches[INTERIOR] = Batch(x, weights=weights)
