"""Least-squares machinery for Gauss–Newton-type methods.

Everything here is about a residual function ``r(θ)`` of a parameter dict and the
damped linear least-squares problem ``min_d ‖J d − r‖² + λ‖d‖²`` it induces
(J = ∂r/∂θ), whose solution ``d = (JᵀJ + λI)⁻¹ Jᵀ r`` is the step ``θ ← θ − d``:

* :class:`ParamLayout` flattens a parameter dict into one vector and back;
* :func:`jacobian` (whole residual vector) and :func:`rowwise_jacobian` (a residual
  function of one row of inputs, vectorised over the rows with ``vmap``) build J;
* :class:`DenseLeastSquares` solves the damped problem in float64 (Cholesky with
  jitter, eigenvalue pseudo-inverse or ``lstsq``), through the smaller of the
  Gramians ``JᵀJ`` (P × P) and ``JJᵀ`` (M × M);
* :class:`MatrixFreeLeastSquares` solves it with conjugate gradients on
  ``(JᵀJ + λI) d = Jᵀ r`` using only Jacobian–vector and vector–Jacobian products,
  warm-started from a previous solution.

Both solvers share one interface (``loss``, ``gradient``, ``mean_curvature``,
``solve``, ``predicted_decrease``), so an optimiser can use either.

With ``sharded``, J and r are this rank's rows of a data-parallel run (see
:mod:`pinnlab.distributed`): the sums over rows (JᵀJ, Jᵀr, ‖r‖², ‖J d‖², column norms, each
CG product JᵀJ v) are added up over the ranks, so every rank solves the same global problem.
``lstsq`` then works on the ranks' stacked QR triangles R_k (J = diag(Q_k)·[R_k], the same
singular values), never forming JᵀJ.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.func import jacrev, jvp, vjp, vmap

from pinnlab import distributed

Params = dict[str, Tensor]
DENSE_METHODS = ("cholesky", "pinv", "lstsq")


class ParamLayout:
    """The order, shapes and sizes of a parameter dict, to flatten it into one vector and back."""

    def __init__(self, params: Mapping[str, Tensor]):
        self.names = list(params)
        self.shapes = [params[n].shape for n in self.names]
        self.sizes = [params[n].numel() for n in self.names]
        self.size = sum(self.sizes)

    def flatten(self, tensors: Mapping[str, Tensor]) -> Tensor:
        """One vector of all entries, in layout order."""
        return torch.cat([tensors[n].reshape(-1) for n in self.names])

    def unflatten(self, vector: Tensor) -> Params:
        """Views of ``vector`` shaped like the parameters (differentiable, ``torch.func``-safe)."""
        parts = torch.split(vector, self.sizes)
        return {n: p.view(s) for n, p, s in zip(self.names, parts, self.shapes)}

    def flatten_jacobian(self, jac: Mapping[str, Tensor], rows: int) -> Tensor:
        """A dict of per-parameter Jacobians (rows, *shape) as one matrix (rows, P)."""
        return torch.cat([jac[n].reshape(rows, -1) for n in self.names], dim=1)


def detached(params: Mapping[str, Tensor]) -> Params:
    """The parameters without autograd history (inputs to ``torch.func`` transforms)."""
    return {k: v.detach() for k, v in params.items()}


def jacobian(fn: Callable[[Params], Tensor], params: Mapping[str, Tensor], mode: str = "auto",
             chunk_size: int | None = None) -> tuple[Tensor, Tensor]:
    """Residuals ``r = fn(params).reshape(-1)`` (M,) and their Jacobian (M, P) w.r.t. the flattened params.

    ``mode``: ``rev`` (M vector–Jacobian products, ``jacrev``), ``fwd`` (P Jacobian–vector
    products) or ``auto`` (whichever count is smaller). Each product runs over the whole
    batch, so for residuals that act row by row :func:`rowwise_jacobian` is far cheaper.
    """
    layout = ParamLayout(params)
    theta = layout.flatten(detached(params))

    def flat(v: Tensor) -> Tensor:
        return fn(layout.unflatten(v)).reshape(-1)

    if mode == "auto":
        with torch.no_grad():
            m = flat(theta).numel()
        mode = "rev" if m <= layout.size else "fwd"
    if mode == "rev":
        J, r = jacrev(lambda v: _with_value(flat(v)), has_aux=True, chunk_size=chunk_size)(theta)
        return r, J
    if mode == "fwd":
        r = flat(theta).detach()
        basis = torch.eye(layout.size, dtype=theta.dtype, device=theta.device)
        columns = vmap(lambda t: jvp(flat, (theta,), (t,))[1], chunk_size=chunk_size, randomness="same")(basis)
        return r, columns.T.contiguous()
    raise ValueError(f"unknown Jacobian mode {mode!r}; available: auto, rev, fwd")


def rowwise_jacobian(fn: Callable[[Params, dict[str, Tensor]], Tensor], params: Mapping[str, Tensor],
                     rows: Mapping[str, Tensor], chunk_size: int | None = None) -> tuple[Tensor, Tensor]:
    """Residuals and Jacobian of a function of one input row, stacked over the rows.

    ``fn(params, row)`` maps one row (every tensor of ``rows`` indexed along its first
    dimension) to k residuals; the result is r (N·k,) and J (N·k, P), row-major in
    (row, component). One reverse pass per row instead of one per residual over the
    whole batch: the cost of a per-sample gradient.
    """
    layout = ParamLayout(params)

    def one(p: Params, row: dict[str, Tensor]):
        return _with_value(fn(p, row).reshape(-1))

    jac, r = vmap(jacrev(one, has_aux=True), in_dims=(None, 0), chunk_size=chunk_size,
                  randomness="same")(detached(params), dict(rows))
    n = r.numel()
    return r.reshape(-1), layout.flatten_jacobian(jac, n)


def _with_value(out: Tensor) -> tuple[Tensor, Tensor]:
    return out, out.detach()


@dataclass
class Solution:
    """A solve's result: the step ``direction`` (θ ← θ − direction) and diagnostics."""

    direction: Tensor
    iterations: int = 0
    residual: float = 0.0


class DenseLeastSquares:
    """The damped problem ``min_d ‖J d − r‖² + λ‖d‖²`` for one explicit Jacobian, in float64.

    Works with ``JᵀJ`` (P × P) when M ≥ P and with ``JJᵀ`` (M × M, then d = Jᵀ y) otherwise.
    ``method``: ``cholesky`` (with escalating jitter), ``pinv`` (eigendecomposition of the
    Gramian once, so any damping afterwards is cheap) or ``lstsq`` (``torch.linalg.lstsq``
    on J itself, the best conditioned and the most expensive). ``pinv`` and ``lstsq`` drop
    singular values of J below ``rcond``·σ_max (a truncated-SVD regularisation);
    ``scaled`` damps with λ·diag(JᵀJ) instead of λI (Marquardt). ``sharded``: J and r are this
    rank's rows (see the module docstring); the Gramian is then JᵀJ, summed over the ranks, unless there
    are fewer rows than parameters in all: then every rank gathers all rows and works with JJᵀ.
    """

    def __init__(self, J: Tensor, r: Tensor, method: str = "cholesky", rcond: float = 3e-7,
                 scaled: bool = False, sharded: bool = False):
        if method not in DENSE_METHODS:
            raise ValueError(f"unknown dense method {method!r}; available: {', '.join(DENSE_METHODS)}")
        self.J = J.detach().to(torch.float64)
        self.r = r.detach().to(torch.float64).reshape(-1)
        self.sharded = sharded and distributed.is_distributed()
        #: every rank holds every rank's rows (and solves as one process would)
        self.gathered = False
        if self.sharded and float(distributed.all_reduce_sum(self.J.new_tensor(float(len(self.r))))) < self.J.shape[1]:
            # fewer residuals than parameters in all: the rows (M x P) are less to send than JᵀJ (P x P)
            self.J, self.r = distributed.concat_rows(self.J), distributed.concat_rows(self.r)
            self.sharded, self.gathered = False, True
        self.m, self.p = self.J.shape
        self.method = method
        self.rcond = float(rcond)
        self.kernel = self.m < self.p and not self.sharded
        self.gradient = self.J.T @ self.r
        self.loss = float(self.r @ self.r)
        if self.sharded:
            self.gradient, loss = distributed.all_reduce_sum_tree((self.gradient, self.r @ self.r))
            self.loss = float(loss)
        # Marquardt scaling: damping λ·diag(JᵀJ), i.e. the plain problem for J S⁻¹ and d = S⁻¹ d̃
        norms = self.J.norm(dim=0) if not self.sharded else distributed.all_reduce_sum(self.J.pow(2).sum(0)).sqrt()
        self.scale = torch.where(norms > 0, norms, torch.ones_like(norms)) if scaled else None
        self.A = self.J / self.scale if scaled else self.J
        self._gram: Tensor | None = None
        self._eig: tuple[Tensor, Tensor] | None = None

    @property
    def gram(self) -> Tensor:
        """AAᵀ when M < P, else AᵀA (A = J, or J S⁻¹ when scaled)."""
        if self._gram is None:
            self._gram = self.A @ self.A.T if self.kernel else self.A.T @ self.A
            if self.sharded:
                self._gram = distributed.all_reduce_sum_(self._gram)
        return self._gram

    def mean_curvature(self) -> float:
        """trace(AᵀA) / P, the scale for an initial damping."""
        total = self.A.pow(2).sum()
        return float(distributed.all_reduce_sum(total) if self.sharded else total) / self.p

    def solve(self, damping: float = 0.0, x0: Tensor | None = None) -> Solution:
        """The minimiser d (float64); ``x0`` is ignored (direct solve)."""
        if self.method == "lstsq":
            d = self._lstsq(damping)
        else:
            if self.kernel:
                rhs = self.r
            elif self.sharded:  # Aᵀr summed over the ranks
                rhs = self.gradient if self.scale is None else self.gradient / self.scale
            else:
                rhs = self.A.T @ self.r
            y = self._cholesky(rhs, damping) if self.method == "cholesky" else self._pinv(rhs, damping)
            d = self.A.T @ y if self.kernel else y
        if self.sharded or self.gathered:  # the same bits on every rank, whatever the hardware
            d = distributed.broadcast_(d.contiguous(), 0)
        return Solution(d if self.scale is None else d / self.scale)

    def predicted_decrease(self, d: Tensor) -> float:
        """‖r‖² − ‖r − J d‖², the decrease of the loss the linear model predicts."""
        d = d.to(torch.float64)
        square = (self.J @ d).pow(2).sum()
        if self.sharded:
            square = distributed.all_reduce_sum(square)
        return float(2 * (d @ self.gradient) - square)

    def _cholesky(self, rhs: Tensor, damping: float) -> Tensor:
        a = self.gram
        eye = torch.eye(a.shape[0], dtype=a.dtype, device=a.device)
        scale = float(a.diagonal().mean()) or 1.0
        jitter = 0.0
        for k in range(12):
            factor, info = torch.linalg.cholesky_ex(a + (damping + jitter) * eye)
            if int(info) == 0 and bool(torch.isfinite(factor).all()):
                return torch.cholesky_solve(rhs[:, None], factor)[:, 0]
            jitter = scale * 1e-14 * 10.0 ** k
        raise torch.linalg.LinAlgError("Cholesky factorisation failed even with jitter")

    def _pinv(self, rhs: Tensor, damping: float) -> Tensor:
        if self._eig is None:
            self._eig = torch.linalg.eigh(self.gram)
        w, v = self._eig
        keep = w > self.rcond**2 * max(float(w.max()), 0.0)
        inv = torch.where(keep, 1.0 / (w.clamp_min(0.0) + damping).clamp_min(torch.finfo(w.dtype).tiny),
                          torch.zeros_like(w))
        return v @ (inv * (v.T @ rhs))

    def _lstsq(self, damping: float) -> Tensor:
        a, b = self._stacked_triangles() if self.sharded else (self.A, self.r)
        if damping > 0:
            eye = math.sqrt(damping) * torch.eye(self.p, dtype=a.dtype, device=a.device)
            a, b = torch.cat([a, eye]), torch.cat([b, b.new_zeros(self.p)])
        driver = "gelsd" if a.device.type == "cpu" else "gels"
        return torch.linalg.lstsq(a, b[:, None], rcond=self.rcond, driver=driver).solution[:, 0]

    def _stacked_triangles(self) -> tuple[Tensor, Tensor]:
        """Every rank's R_k and Q_kᵀ r_k (A = Q_k R_k on its rows), stacked in rank order: a least-squares
        problem with the minimiser and the singular values of the global one."""
        q, triangle = torch.linalg.qr(self.A)
        local = torch.cat([triangle, (q.T @ self.r)[:, None]], dim=1)
        stacked = distributed.concat_rows(local)
        return stacked[:, :-1], stacked[:, -1]


@dataclass
class CGResult:
    """Conjugate-gradient outcome: solution, iterations and relative residual ‖b − Ax‖/‖b‖."""

    x: Tensor
    iterations: int
    residual: float


def conjugate_gradient(matvec: Callable[[Tensor], Tensor], b: Tensor, x0: Tensor | None = None,
                       tol: float = 1e-6, max_iter: int = 100) -> CGResult:
    """Solve A x = b for symmetric positive (semi-)definite A given as ``matvec``.

    Stops when ‖b − A x‖ ≤ ``tol``·‖b‖ or after ``max_iter`` products; ``x0`` warm-starts.
    """
    b_norm = float(b.norm())
    if b_norm == 0.0:
        return CGResult(torch.zeros_like(b), 0, 0.0)
    x = torch.zeros_like(b) if x0 is None else x0.clone()
    r = b - matvec(x) if x0 is not None else b.clone()
    p = r.clone()
    rr = r @ r
    k = 0
    while k < max_iter and math.sqrt(float(rr)) > tol * b_norm:
        ap = matvec(p)
        curvature = p @ ap
        if float(curvature) <= 0.0:
            break
        alpha = rr / curvature
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
        k += 1
    return CGResult(x, k, math.sqrt(float(rr)) / b_norm)


class MatrixFreeLeastSquares:
    """The damped problem solved by CG on ``(JᵀJ + λI) d = Jᵀ r`` with JVPs and VJPs only.

    ``fn`` maps the flat parameter vector to the residual vector. It is linearised once at
    ``theta``: one forward pass kept for the VJPs and, with ``linearize``, a tangent map traced
    by ``torch.func.linearize`` for the JVPs, which then skip the primal computation (used only
    if it reproduces ``torch.func.jvp`` on a random probe; tracing costs a few forward passes).
    Each CG iteration costs one JVP and one VJP. ``sharded``: ``fn`` gives this rank's rows of the
    residual vector; every product JᵀJ v (one all-reduce per CG iteration), Jᵀr and norm is summed
    over the ranks.
    """

    def __init__(self, fn: Callable[[Tensor], Tensor], theta: Tensor, tol: float = 1e-6, max_iter: int = 100,
                 linearize: bool = False, sharded: bool = False):
        self.fn = fn
        self.theta = theta.detach()
        self.tol, self.max_iter = tol, max_iter
        self.sharded = sharded and distributed.is_distributed()
        out, self._pullback = vjp(fn, self.theta)
        self.r = out.detach()
        self.p = self.theta.numel()
        self.gradient = self.vjp(self.r)
        self.loss = float(self.r @ self.r)
        if self.sharded:
            self.gradient, loss = distributed.all_reduce_sum_tree((self.gradient, self.r @ self.r))
            self.loss = float(loss)
        self._tangent_map = self._trace(fn) if linearize else None
        if self.sharded and not distributed.all_ranks(self._tangent_map is not None):
            self._tangent_map = None  # one kind of product on every rank

    def _trace(self, fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor] | None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tangent_map = torch.func.linearize(fn, self.theta)[1]
                probe = torch.randn(self.p, generator=torch.Generator().manual_seed(0)).to(self.theta)
                traced = tangent_map(probe)
        except (RuntimeError, NotImplementedError, TypeError, ValueError, AttributeError):
            return None
        exact = jvp(fn, (self.theta,), (probe,))[1]
        scale = float(exact.abs().max()) or 1.0
        return tangent_map if float((traced - exact).abs().max()) <= 1e-8 * scale else None

    def jvp(self, v: Tensor) -> Tensor:
        """J v."""
        if self._tangent_map is not None:
            return self._tangent_map(v).detach()
        return jvp(self.fn, (self.theta,), (v,))[1].detach()

    def vjp(self, u: Tensor) -> Tensor:
        """Jᵀ u."""
        return self._pullback(u)[0].detach()

    def gram_matvec(self, v: Tensor, damping: float = 0.0) -> Tensor:
        """(JᵀJ + λI) v."""
        product = self.vjp(self.jvp(v))
        if self.sharded:
            product = distributed.all_reduce_sum_(product)
        return product + damping * v

    def mean_curvature(self, probes: int = 4, generator: torch.Generator | None = None) -> float:
        """Hutchinson estimate of trace(JᵀJ) / P from ``probes`` Rademacher vectors."""
        total = 0.0
        for _ in range(probes):
            z = torch.randint(0, 2, (self.p,), generator=generator).to(self.theta) * 2 - 1
            square = self.jvp(z).pow(2).sum()
            total += float(distributed.all_reduce_sum(square) if self.sharded else square)
        return total / probes / self.p

    def solve(self, damping: float = 0.0, x0: Tensor | None = None) -> Solution:
        """CG from ``x0`` (a previous direction) or zero."""
        if x0 is not None and (x0.shape != self.gradient.shape or not bool(torch.isfinite(x0).all())):
            x0 = None
        result = conjugate_gradient(lambda v: self.gram_matvec(v, damping), self.gradient,
                                    None if x0 is None else x0.to(self.gradient), self.tol, self.max_iter)
        return Solution(result.x, result.iterations, result.residual)

    def predicted_decrease(self, d: Tensor) -> float:
        """‖r‖² − ‖r − J d‖² (one JVP)."""
        d = d.to(self.gradient)
        square = self.jvp(d).pow(2).sum()
        if self.sharded:
            square = distributed.all_reduce_sum(square)
        return float(2 * (d @ self.gradient) - square)


__all__ = [
    "DENSE_METHODS",
    "CGResult",
    "DenseLeastSquares",
    "MatrixFreeLeastSquares",
    "ParamLayout",
    "Solution",
    "conjugate_gradient",
    "detached",
    "jacobian",
    "rowwise_jacobian",
]
