"""Vorticity of a velocity field given as a function of the points.

Derivatives come from the derivative engine (:mod:`pinnlab.autodiff`, its reference
reverse-mode backend) applied to the function itself (the trained network, or a
closed-form solution written in torch), not from finite differences on the output
grid: they are the exact derivatives of what the residuals were computed from, carry
no grid truncation error, need no neighbours (so masked or boundary points are fine)
and cost one forward pass and one vectorised backward pass per batch of points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from pinnlab.autodiff import Plan, make_backend, partial
from pinnlab.compile import exact_function

if TYPE_CHECKING:
    from pinnlab.run.solution import Solution


def gradient_plan(velocity: Sequence[int], space: Sequence[int], n_inputs: int) -> Plan:
    """The derivative plan of ``d f_i / d x_j`` for every velocity output i and space column j."""
    return make_backend("autograd").plan([partial(i, j) for i in velocity for j in space], n_inputs)


def velocity_gradient(f: Callable[[Tensor], Tensor], x: Tensor, velocity: Sequence[int],
                      space: Sequence[int], plan: Plan | None = None) -> Tensor:
    """``J[n, i, j] = d f_{velocity[i]} / d x_{space[j]}`` at the points ``x`` (N, D).

    ``f`` maps (N, D) to (N, F) row by row; ``plan`` is :func:`gradient_plan` of the same
    columns (built here when not given).
    """
    if plan is None:
        plan = gradient_plan(velocity, space, x.shape[-1])
    with torch.no_grad():
        values = plan(f, x.detach())
    rows = [torch.stack([values[partial(i, j)] for j in space], dim=-1) for i in velocity]
    return torch.stack(rows, dim=1).detach()


def curl(jacobian: Tensor) -> Tensor:
    """Vorticity from a velocity gradient: (N,) ``v_x - u_y`` in 2-D, (N, 3) curl in 3-D."""
    d = jacobian.shape[-1]
    if jacobian.shape[-2:] != (d, d) or d not in (2, 3):
        raise ValueError(f"expected velocity gradients of shape (N, 2, 2) or (N, 3, 3), got {tuple(jacobian.shape)}")
    if d == 2:
        return jacobian[:, 1, 0] - jacobian[:, 0, 1]
    return torch.stack([jacobian[:, 2, 1] - jacobian[:, 1, 2],
                        jacobian[:, 0, 2] - jacobian[:, 2, 0],
                        jacobian[:, 1, 0] - jacobian[:, 0, 1]], dim=-1)


def vorticity(f: Callable[[Tensor], Tensor], points: np.ndarray, velocity: Sequence[int], space: Sequence[int],
              dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu",
              batch_size: int = 16384) -> np.ndarray:
    """Vorticity of the velocity columns ``velocity`` of ``f`` at ``points`` (N, D), as float64 numpy.

    Returns (N,) in 2-D and (N, 3) in 3-D; ``space`` are the spatial input columns
    in the order of the velocity components (x, y[, z]).
    """
    if len(velocity) != len(space):
        raise ValueError(f"{len(velocity)} velocity components for {len(space)} space dimensions")
    pts = np.asarray(points, dtype=np.float64)
    plan = gradient_plan(velocity, space, pts.shape[1])
    out = []
    for start in range(0, len(pts), batch_size):
        x = torch.as_tensor(pts[start:start + batch_size], dtype=dtype, device=device)
        out.append(curl(velocity_gradient(f, x, velocity, space, plan)).double().cpu().numpy())
    if not out:
        return np.zeros((0,) if len(space) == 2 else (0, 3))
    return np.concatenate(out)


def vorticity_point_data(solution: Solution, points: np.ndarray, mask: np.ndarray,
                         members: Sequence[str]) -> dict[str, np.ndarray]:
    """VTK point data for the vorticity of the velocity ``members`` (field names) of a solution.

    2-D: ``vorticity`` (scalar); 3-D: ``vorticity`` (vector) and ``vorticity_magnitude``.
    With a closed-form solution, its vorticity (``*_reference``) and the error are added.
    Points outside ``mask`` are NaN.
    """
    space = solution.problem.pde.spatial_columns()
    if len(members) != len(space):
        raise ValueError(f"output.vectors.velocity lists {len(members)} fields, but the problem has "
                         f"{len(space)} space dimensions")
    unknown = [m for m in members if m not in solution.fields]
    if unknown:
        raise ValueError(f"output.vectors.velocity: '{unknown[0]}' is not a field ({solution.fields})")
    velocity = [solution.fields.index(m) for m in members]
    param = next(iter(solution.model.parameters()))

    def on_grid(f: Callable[[Tensor], Tensor], dtype: torch.dtype, device: str | torch.device) -> np.ndarray:
        shape = (len(points),) if len(space) == 2 else (len(points), 3)
        full = np.full(shape, np.nan)
        full[mask] = vorticity(f, points[mask], velocity, space, dtype, device)
        return full

    omega = on_grid(solution.model, param.dtype, param.device)
    data: dict[str, np.ndarray] = {"vorticity": omega}
    if len(space) == 3:
        data["vorticity_magnitude"] = np.linalg.norm(omega, axis=-1)
    exact = exact_function(solution.problem)
    if exact is not None and all(m in (solution.problem.exact or {}) for m in members):
        reference = on_grid(exact, torch.float64, "cpu")
        scalar = "vorticity" if len(space) == 2 else "vorticity_magnitude"
        data[f"{scalar}_reference"] = reference if len(space) == 2 else np.linalg.norm(reference, axis=-1)
        diff = omega - reference
        data["vorticity_error"] = np.abs(diff) if len(space) == 2 else np.linalg.norm(diff, axis=-1)
    return data
