"""Least squares over random subsets of the parameters: the projection inside every TENG step.

Each iteration solves ``min ||J_S d + r||`` for a random subset S of the flat parameters in
float64, the residual being ``u_θ - target`` at quadrature points. In a data-parallel run each
rank holds a shard of the points: the subsets are drawn alike on every rank, the norms are summed
over the ranks and the least-squares system is the ranks' stacked QR triangles (``lstsq``) or their
summed Gramian (``pinv``), see :class:`~pinnlab.solvers.least_squares.DenseLeastSquares`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call

from pinnlab import distributed
from pinnlab.solvers.least_squares import DenseLeastSquares, ParamLayout, detached, rowwise_jacobian

Params = dict[str, Tensor]


@dataclass
class FitStage:
    """One phase of a least-squares fit (see :func:`fit_subset`)."""

    iterations: int
    subset: int | None = 1024
    damping: float = 0.0
    rcond: float | None = None
    tol: float = 0.0


class SubsetJacobian:
    """Columns of the Jacobian d u_θ(x_i)_f / d θ_c for chosen flat parameter indices c.

    Row-wise networks whose parameters all sit in ``nn.Linear`` layers (each called once per
    forward) use per-sample outer products: one forward pass records every layer's input
    ``a`` and output ``z``, one backward pass per field gives ``g = du/dz`` row by row, and the
    column of weight entry (o, j) is ``g[:, o] * a[:, j]`` (bias: ``g[:, o]``). Other models fall
    back to per-point gradients (:func:`pinnlab.solvers.least_squares.rowwise_jacobian`). Rows are
    ordered point-major: (N * fields, len(columns)).
    """

    def __init__(self, model: nn.Module, layout: ParamLayout, chunk: int = 4096):
        self.model, self.layout, self.chunk = model, layout, chunk
        linears = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
        self.modules: list[nn.Linear] = []
        layer, row, col = [], [], []
        for name, shape in zip(layout.names, layout.shapes):
            owner, _, kind = name.rpartition(".")
            module = linears.get(owner)
            if module is None or kind not in ("weight", "bias"):
                self.modules = []
                break
            if module not in self.modules:
                self.modules.append(module)
            index = self.modules.index(module)
            if kind == "weight":
                o, j = torch.meshgrid(torch.arange(shape[0]), torch.arange(shape[1]), indexing="ij")
            else:
                o, j = torch.arange(shape[0]), torch.full(shape, -1)
            layer.append(torch.full((o.numel(),), index))
            row.append(o.reshape(-1))
            col.append(j.reshape(-1))
        self.fast = bool(self.modules)
        if self.fast:
            self.layer, self.row, self.col = torch.cat(layer), torch.cat(row), torch.cat(col)

    def __call__(self, params: Mapping[str, Tensor], x: Tensor, columns: Tensor) -> Tensor:
        if self.fast:
            out = self._outer_products(params, x, columns)
            if out is not None:
                return out
        return self._per_point(params, x, columns)

    def _outer_products(self, params: Mapping[str, Tensor], x: Tensor, columns: Tensor) -> Tensor | None:
        records: dict[nn.Module, list[tuple[Tensor, Tensor]]] = {m: [] for m in self.modules}

        def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            records[module].append((inputs[0].detach(), output))

        handles = [m.register_forward_hook(hook) for m in self.modules]
        try:
            with torch.enable_grad():
                leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
                out = functional_call(self.model, leaves, (x,))
        finally:
            for h in handles:
                h.remove()
        if any(len(r) != 1 for r in records.values()) or out.dim() != 2:
            return None
        acts = [records[m][0][0] for m in self.modules]
        zs = [records[m][0][1] for m in self.modules]
        columns = columns.cpu()
        layer, row, col = self.layer[columns], self.row[columns], self.col[columns]
        groups = [(torch.nonzero(layer == i).squeeze(1), row[layer == i], col[layer == i])
                  for i in range(len(self.modules))]
        n, fields = out.shape
        jac = x.new_empty(n, fields, len(columns))
        for f in range(fields):
            grads = torch.autograd.grad(out[:, f].sum(), zs, retain_graph=f < fields - 1)
            for (pos, o, j), a, g in zip(groups, acts, grads):
                if len(pos) == 0:
                    continue
                pos, o, j = pos.to(x.device), o.to(x.device), j.to(x.device)
                values = g[:, o]
                weights = j >= 0
                values[:, weights] *= a[:, j[weights]]
                jac[:, f, pos] = values
        return jac.reshape(n * fields, len(columns))

    def _per_point(self, params: Mapping[str, Tensor], x: Tensor, columns: Tensor) -> Tensor:
        def one_point(p: Mapping[str, Tensor], row: dict[str, Tensor]) -> Tensor:
            return functional_call(self.model, p, (row["x"][None],))[0]

        _, jac = rowwise_jacobian(one_point, params, {"x": x}, chunk_size=self.chunk)
        return jac[:, columns.to(jac.device)]


@dataclass
class FitResult:
    """Outcome of :func:`fit_subset`: parameters, final loss ∫(u_θ - target)², relative error, iterations."""

    params: Params
    loss: float
    relative: float
    iterations: int


def fit_subset(model: nn.Module, params: Mapping[str, Tensor], x: Tensor, target: Tensor, weight: float,
               iterations: int, subset: int | None, generator: torch.Generator, tol: float = 0.0,
               rcond: float | None = None, damping: float = 0.0, chunk: int = 4096,
               sharded: bool = False) -> FitResult:
    """Gauss–Newton on ``u_θ(x) - target`` over random parameter subsets of size ``subset`` (None: all).

    Each iteration solves ``min ||J_S d + r||`` for a fresh random subset S in float64 by
    :class:`~pinnlab.solvers.least_squares.DenseLeastSquares` (LAPACK's SVD-based ``gelsd`` on the
    CPU, a truncated eigendecomposition of the Gramian elsewhere), dropping singular values below
    ``rcond * s_max`` (default: machine epsilon × max(rows, columns)); the best iterate is returned. With
    ``damping > 0`` the iterations are Levenberg–Marquardt instead: ``min ||J_S d + r||² +
    λ mean_c ||J_c||² ||d||²`` from λ = damping, keeping a step only if it lowers the loss (then
    λ /= 3, else λ *= 4) — robust far from the target, slow close to it. Stops early once
    ``||u_θ - target|| <= tol * ||target||``. ``weight`` is the quadrature weight of every point;
    the loss is ``weight * sum (u_θ - target)²``. ``sharded``: ``x`` and ``target`` are this rank's
    points of a data-parallel run (sums over points are added up over the ranks).
    """
    flat = ParamLayout(params)
    jacobian = SubsetJacobian(model, flat, chunk)
    theta = flat.flatten(detached(params))
    k = flat.size if subset is None else min(int(subset), flat.size)
    target = target.reshape(x.shape[0], -1).detach()
    sharded = sharded and distributed.is_distributed()

    def norm_of(v: Tensor) -> float:
        square = v.pow(2).sum()
        return float((distributed.all_reduce_sum(square) if sharded else square).sqrt())

    target_norm = norm_of(target)
    rows = int(distributed.all_reduce_sum(target.new_tensor(float(target.numel())))) if sharded else target.numel()
    scale = math.sqrt(weight)
    lam = float(damping)
    method = "lstsq" if theta.device.type == "cpu" else "pinv"  # CUDA's lstsq assumes full rank
    eps = torch.finfo(theta.dtype).eps

    def residual_of(t: Tensor) -> Tensor:
        with torch.no_grad():
            return (functional_call(model, flat.unflatten(t), (x,)) - target).reshape(-1)

    residual = residual_of(theta)
    norm = norm_of(residual)
    best, best_norm = theta, norm
    done = 0
    while done < iterations and best_norm > tol * target_norm:
        done += 1
        columns = torch.randperm(flat.size, generator=generator)[:k].to(theta.device)
        problem = DenseLeastSquares(jacobian(flat.unflatten(theta), x, columns) * scale, residual * scale,
                                    method, rcond if rcond is not None else eps * max(rows, k), sharded=sharded)
        step = problem.solve(lam * problem.mean_curvature() if lam > 0 else 0.0).direction
        trial = theta.index_add(0, columns, -step)
        trial_residual = residual_of(trial)
        trial_norm = norm_of(trial_residual)
        if lam > 0:
            if not trial_norm < norm:
                lam *= 4.0
                continue
            lam /= 3.0
        theta, residual, norm = trial, trial_residual, trial_norm
        if math.isfinite(norm) and norm < best_norm:
            best, best_norm = theta, norm
    loss = weight * best_norm**2
    relative = best_norm / target_norm if target_norm > 0 else best_norm
    return FitResult(flat.unflatten(best), loss, relative, done)


__all__ = ["FitResult", "FitStage", "SubsetJacobian", "fit_subset"]
