"""Synthetic observations from a problem's own solution: points drawn in the domain, optional Gaussian noise.

For benchmarks and tests of inverse problems: the exact solution (with the parameters' true values)
or the numerical reference gives the values, a seeded generator the points and the noise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from pinnlab.compile.exact import exact_function
from pinnlab.errors import SpecError
from pinnlab.geometry import Geometry, geometry_from_dict
from pinnlab.spec.conditions import Data
from pinnlab.spec.problem import Problem


def reference_function(problem: Problem) -> Callable[[np.ndarray], np.ndarray] | None:
    """The problem's known solution as a function of (N, D) float64 points -> (N, F), or None.

    Fields without a closed form are NaN."""
    if problem.reference is not None:
        ref = problem.reference

        def numerical(points: np.ndarray) -> np.ndarray:
            return np.asarray(ref(points), dtype=np.float64).reshape(len(points), -1)

        return numerical
    exact = exact_function(problem)
    if exact is None:
        return None

    def closed_form(points: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return exact(torch.as_tensor(points, dtype=torch.float64)).numpy()

    return closed_form


def problem_geometry(problem: Problem) -> Geometry:
    """The problem's domain as a geometry object."""
    if isinstance(problem.domain, Geometry):
        return problem.domain
    pde = problem.pde
    dims = {c.name: c.dim for c in pde.coordinates if c.dim is not None}
    return geometry_from_dict(problem.domain, [c.name for c in pde.coordinates], pde.time, dims=dims)


def draw_observations(problem: Problem, fields: Sequence[str] | None, points: int, noise: float = 0.0,
                      relative: bool = False, seed: int = 0, where: str = "synthesize"
                      ) -> tuple[list[str], np.ndarray, np.ndarray, float | None]:
    """(fields, points (N, D), noisy values (N, k), σ or None): ``points`` uniform in the domain.

    σ is ``noise``, or with ``relative`` the fraction ``noise`` of the field's standard deviation over
    the points (one field only: every point carries one σ for all its values)."""
    ref = reference_function(problem)
    pde = problem.pde
    if ref is None:
        raise SpecError(f"{where}: from_reference needs a problem with an exact solution or a reference")
    generator = torch.Generator().manual_seed(int(seed))
    x = problem_geometry(problem).sample_interior(int(points), generator, dtype=torch.float64).numpy()
    full = ref(x)
    known = [f for i, f in enumerate(pde.fields) if not np.all(np.isnan(full[:, i]))]
    chosen = list(known if fields is None else fields)
    unknown = [f for f in chosen if f not in known]
    if unknown:
        raise SpecError(f"{where}: the problem's solution of '{unknown[0]}' is not known (known: "
                        f"{', '.join(known) or 'none'})")
    values = full[:, [pde.fields.index(f) for f in chosen]]
    if noise < 0 or not np.isfinite(noise):
        raise SpecError(f"{where}: noise must be a non-negative number, got {noise}")
    if noise == 0:
        return chosen, x, values, None
    if relative and len(chosen) > 1:
        raise SpecError(f"{where}: relative noise gives each field its own sigma; use one data condition per "
                        f"field (fields: {', '.join(chosen)})")
    sigma = float(noise * values.std()) if relative else float(noise)
    rng = np.random.default_rng(int(seed) + 7919)
    return chosen, x, values + sigma * rng.standard_normal(values.shape), sigma


def synthesize(problem: Problem, points: int, noise: float = 0.0, seed: int = 0, fields: Sequence[str] | None = None,
               relative: bool = False, validation: float = 0.0) -> Data:
    """A :class:`~pinnlab.spec.Data` condition with ``points`` observations drawn from the problem's solution.

    ``noise`` is the standard deviation of the added Gaussian noise (with ``relative``, a fraction of
    the field's standard deviation over the points); the condition carries it as ``sigma``, so the
    points are weighted by 1/σ². The same call always gives the same data (``seed``)."""
    chosen, x, values, sigma = draw_observations(problem, fields, points, noise, relative, seed)
    return Data(fields=chosen, coords=x, values=values, sigma=sigma, validation=validation, seed=seed)


__all__ = ["draw_observations", "problem_geometry", "reference_function", "synthesize"]
