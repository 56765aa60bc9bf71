"""Evaluate a stored spectral time history at arbitrary points.

Space: trigonometric interpolation (the Fourier series of the stored coefficients, evaluated
exactly at each point). Time: cubic Hermite between saved times, using the states and their time
derivatives (the right-hand side of the semi-discrete equations), so the interpolant is C^1 in t
and its error is O(save_dt^4).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

_BLOCK = 1 << 21  # complex entries per temporary block
_SHARED_BASIS = 1 << 21  # tabulate one axis' basis at all distinct coordinates when this small


class Modes(NamedTuple):
    """Angular wavenumbers step * (low + j), j = 0 .. count - 1, of one axis."""

    step: float
    low: int
    count: int


def fourier_basis(modes: Modes, x: NDArray) -> NDArray[np.complex128]:
    """exp(1j * k * x) with shape (len(x), modes.count), from two short tables of exponentials."""
    x = np.asarray(x, dtype=np.float64)
    b = max(1, int(np.sqrt(modes.count)))
    q = -(-modes.count // b)
    small = np.exp(1j * modes.step * np.outer(x, np.arange(b)))
    big = np.exp(1j * modes.step * np.outer(x, modes.low + b * np.arange(q)))
    return (big[:, :, None] * small[:, None, :]).reshape(x.size, q * b)[:, : modes.count]


def hermite_weights(save_t: NDArray, t: NDArray) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Interval index i (save_t[i] <= t <= save_t[i+1]) and the four cubic Hermite weights.

    The weights, shape (4, len(t)), multiply (u_i, u_t,i, u_{i+1}, u_t,{i+1}).
    """
    i = np.clip(np.searchsorted(save_t, t, side="right") - 1, 0, save_t.size - 2)
    h = save_t[i + 1] - save_t[i]
    s = (t - save_t[i]) / h
    s2, s3 = s * s, s * s * s
    w = np.stack([2 * s3 - 3 * s2 + 1, (s3 - 2 * s2 + s) * h, -2 * s3 + 3 * s2, (s3 - s2) * h])
    return i, w


class SpectralHistory:
    """Fourier coefficients and their time derivatives at saved times, on a periodic box.

    ``coef`` and ``coef_t`` have shape (len(save_t), *mode_counts); ``modes`` describes each axis
    (wavenumbers in increasing order) and ``origin`` is the coordinate where the phase is zero.
    The field is Re(sum_k c_k exp(i k . (x - origin))): coefficients must already carry the
    normalisation and the factor 2 of a half spectrum.
    """

    def __init__(
        self,
        save_t: NDArray,
        coef: NDArray,
        coef_t: NDArray,
        modes: tuple[Modes, ...],
        origin: tuple[float, ...],
    ) -> None:
        if len(modes) not in (1, 2):
            raise ValueError("SpectralHistory supports one or two space dimensions")
        self.save_t = np.asarray(save_t, dtype=np.float64)
        self.coef = coef
        self.coef_t = coef_t
        self.modes = modes
        self.origin = origin

    def __call__(self, t: ArrayLike, *coords: ArrayLike) -> NDArray[np.float64]:
        """Field at broadcast arrays t, x (, y)."""
        arrays = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (t, *coords)))
        shape = arrays[0].shape
        tf = arrays[0].ravel()
        lo, hi = self.save_t[0], self.save_t[-1]
        if tf.size and (tf.min() < lo - 1e-12 * max(1.0, abs(lo)) or tf.max() > hi * (1 + 1e-12)):
            raise ValueError(f"t must lie in [{lo}, {hi}]")
        interval, weights = hermite_weights(self.save_t, tf)
        axes = []  # per axis: (distinct values, index of each point, basis table or None)
        for m, a, o in zip(self.modes, arrays[1:], self.origin):
            values, inverse = np.unique(a.ravel() - o, return_inverse=True)
            table = fourier_basis(m, values) if m.count * values.size <= _SHARED_BASIS else None
            axes.append((values, inverse, table))
        out = np.empty(tf.size)
        order = np.argsort(interval, kind="stable")
        per_point = sum(m.count for m in self.modes) + 4 * (self.modes[0].count if len(self.modes) == 2 else 1)
        chunk = max(1, _BLOCK // per_point)
        for group in np.split(order, np.flatnonzero(np.diff(interval[order])) + 1):
            if group.size == 0:
                continue
            i = interval[group[0]]
            stack = np.stack([self.coef[i], self.coef_t[i], self.coef[i + 1], self.coef_t[i + 1]])
            for start in range(0, group.size, chunk):
                idx = group[start : start + chunk]
                vals = self._evaluate(stack, axes, idx)
                out[idx] = np.einsum("jp,jp->p", weights[:, idx], vals)
        return out.reshape(shape)

    def _evaluate(self, stack: NDArray, axes: list, idx: NDArray) -> NDArray[np.float64]:
        """Re of the four stacked series at the points idx; shape (4, len(idx))."""
        bases, locals_ = [], []
        for m, (values, inverse, table) in zip(self.modes, axes):
            distinct, local = np.unique(inverse[idx], return_inverse=True)
            bases.append(table[distinct] if table is not None else fourier_basis(m, values[distinct]))
            locals_.append(local)
        if len(bases) == 1:
            return (stack @ bases[0].T).real[:, locals_[0]]
        bx, by = bases
        if bx.shape[0] * by.shape[0] <= 2 * idx.size:  # grid-like: evaluate the tensor product
            full = bx @ (stack @ by.T)  # (4, Ux, Uy)
            return full.real[:, locals_[0], locals_[1]]
        partial = stack @ by[locals_[1]].T  # (4, Kx, P)
        return np.einsum("jkp,pk->jp", partial, bx[locals_[0]]).real
