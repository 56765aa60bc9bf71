"""Evaluate time-dependent Fourier series on a periodic box at arbitrary points.

Space: trigonometric interpolation (the Fourier series summed exactly at each point).
Time: either Hermite interpolation between saved times using the states and their first (cubic,
O(save_dt^4)) or first and second (quintic, O(save_dt^6)) time derivatives, taken from the
right-hand side of the semi-discrete equations (``SpectralHistory``), or the exact exponential
decay of each mode for linear problems (``DecayingModes``).

Queries on tensor grids (few distinct t, x, y values) are summed with a few large matrix
products; scattered points cost O(number of modes) each.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

_BLOCK = 1 << 21  # complex entries per temporary block


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


def hermite_weights(save_t: NDArray, t: NDArray, order: int = 1) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Interval index i (save_t[i] <= t <= save_t[i+1]) and the Hermite weights.

    With ``order`` time derivatives known at both ends (1: cubic, 2: quintic) the weights, shape
    (2 (order + 1), len(t)), multiply (u_i, d_t u_i, .., u_{i+1}, d_t u_{i+1}, ..).
    """
    i = np.clip(np.searchsorted(save_t, t, side="right") - 1, 0, save_t.size - 2)
    h = save_t[i + 1] - save_t[i]
    s = (t - save_t[i]) / h
    s2 = s * s
    s3 = s2 * s
    if order == 1:
        w = [2 * s3 - 3 * s2 + 1, (s3 - 2 * s2 + s) * h, 3 * s2 - 2 * s3, (s3 - s2) * h]
    elif order == 2:
        s4, s5 = s3 * s, s3 * s2
        w = [
            1 - 10 * s3 + 15 * s4 - 6 * s5,
            (s - 6 * s3 + 8 * s4 - 3 * s5) * h,
            (s2 - 3 * s3 + 3 * s4 - s5) * h * h / 2,
            10 * s3 - 15 * s4 + 6 * s5,
            (-4 * s3 + 7 * s4 - 3 * s5) * h,
            (s3 - 2 * s4 + s5) * h * h / 2,
        ]
    else:
        raise ValueError("order must be 1 (cubic) or 2 (quintic)")
    return i, np.stack(w)


def _blocks(n: int, size: int):
    size = max(1, size)
    return (slice(s, s + size) for s in range(0, n, size))


def _product(a: NDArray, b: NDArray) -> NDArray:
    """a @ b; small products without BLAS, whose threads stall on a busy machine."""
    if a.shape[0] * a.shape[1] * b.shape[1] < 1 << 24:
        return np.einsum("ik,kj->ij", a, b)
    return a @ b


class FourierField:
    """u(t, x) = Re(sum_k c_k(t) exp(i k . (x - origin))) in one or two space dimensions.

    ``modes`` describes each axis (wavenumbers in increasing order); coefficients must carry the
    normalisation and the factor 2 of a half spectrum. Subclasses give c_k(t) on [t_min, t_max].
    """

    def __init__(self, modes: tuple[Modes, ...], origin: tuple[float, ...], t_range: tuple[float, float]):
        if len(modes) not in (1, 2) or len(origin) != len(modes):
            raise ValueError("one or two space dimensions, with one origin per axis")
        self.modes = modes
        self.origin = origin
        self.t_range = t_range
        self._size = int(np.prod([m.count for m in modes]))

    def coefficients(self, t: NDArray) -> NDArray[np.complex128]:
        """c_k at times t, shape (len(t), *mode_counts)."""
        raise NotImplementedError

    def __call__(self, t: ArrayLike, *coords: ArrayLike) -> NDArray[np.float64]:
        """Field at broadcast arrays t, x (, y)."""
        if len(coords) != len(self.modes):
            raise ValueError(f"expected {len(self.modes)} space coordinate(s)")
        arrays = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (t, *coords)))
        shape = arrays[0].shape
        tf = arrays[0].ravel()
        lo, hi = self.t_range
        tol = 1e-12 * max(1.0, abs(hi))
        if tf.size and (tf.min() < lo - tol or tf.max() > hi + tol):
            raise ValueError(f"t must lie in [{lo}, {hi}]")
        xs = [np.mod(a.ravel() - o, 2.0 * np.pi / m.step) for a, o, m in zip(arrays[1:], self.origin, self.modes)]
        unique = [np.unique(a, return_inverse=True) for a in (tf, *xs)]
        if np.prod([u[0].size for u in unique]) <= 2 * tf.size:
            table = self._tensor(*(u[0] for u in unique))
            out = table[tuple(u[1].ravel() for u in unique)]
        else:
            out = self._scattered(tf, *xs)
        return out.reshape(shape)

    def _tensor(self, t: NDArray, x: NDArray, y: NDArray | None = None) -> NDArray[np.float64]:
        """Field on the tensor grid t x x (x y); shape (len(t), len(x) (, len(y)))."""
        mx = self.modes[0]
        if y is None:
            out = np.empty((t.size, x.size))
            for ts in _blocks(t.size, _BLOCK // self._size):
                c = self.coefficients(t[ts])
                for xs in _blocks(x.size, _BLOCK // mx.count):
                    out[ts, xs] = _product(c, fourier_basis(mx, x[xs]).T).real
            return out
        my = self.modes[1]
        out = np.empty((t.size, x.size, y.size))
        ex = fourier_basis(mx, x)
        for ys in _blocks(y.size, _BLOCK // mx.count):
            ey = fourier_basis(my, y[ys])
            for ts in _blocks(t.size, _BLOCK // max(self._size, mx.count * ey.shape[0])):
                c = self.coefficients(t[ts])  # (T, Kx, Ky)
                nt = c.shape[0]
                partial = _product(c.reshape(nt * mx.count, my.count), ey.T).reshape(nt, mx.count, -1)
                partial = partial.transpose(1, 0, 2).reshape(mx.count, -1)  # (Kx, T * Y)
                for xs in _blocks(x.size, _BLOCK // partial.shape[1]):
                    full = _product(ex[xs], partial).real.reshape(-1, nt, ey.shape[0])
                    out[ts, xs, ys] = full.transpose(1, 0, 2)
        return out

    def _scattered(self, t: NDArray, x: NDArray, y: NDArray | None = None) -> NDArray[np.float64]:
        """Field at individual points (t_p, x_p (, y_p))."""
        out = np.empty(t.size)
        for ps in _blocks(t.size, _BLOCK // self._size):
            c = self.coefficients(t[ps])
            ex = fourier_basis(self.modes[0], x[ps])
            if y is None:
                out[ps] = np.einsum("pk,pk->p", c, ex).real
            else:
                out[ps] = np.einsum("pkl,pk,pl->p", c, ex, fourier_basis(self.modes[1], y[ps])).real
        return out


class DecayingModes(FourierField):
    """Exact solution of a linear constant-coefficient problem: c_k(t) = exp(lambda_k t) c_k(0)."""

    def __init__(
        self, coef0: NDArray, rates: NDArray, modes: tuple[Modes, ...], origin: tuple[float, ...], t_max: float
    ):
        super().__init__(modes, origin, (0.0, t_max))
        self.coef0 = coef0
        self.rates = rates

    def coefficients(self, t: NDArray) -> NDArray[np.complex128]:
        t = t.reshape(-1, *([1] * len(self.modes)))
        return np.exp(self.rates[None] * t) * self.coef0[None]


class SpectralHistory(FourierField):
    """Coefficients and their time derivatives saved at times save_t, Hermite-interpolated in t.

    ``derivatives`` = (c, c_t) or (c, c_t, c_tt), each of shape (len(save_t), *mode_counts),
    selects cubic or quintic Hermite interpolation.
    """

    def __init__(
        self, save_t: NDArray, derivatives: tuple[NDArray, ...], modes: tuple[Modes, ...], origin: tuple[float, ...]
    ):
        save_t = np.asarray(save_t, dtype=np.float64)
        super().__init__(modes, origin, (float(save_t[0]), float(save_t[-1])))
        if len(derivatives) not in (2, 3):
            raise ValueError("derivatives must be (c, c_t) or (c, c_t, c_tt)")
        self.save_t = save_t
        self.derivatives = derivatives
        self.order = len(derivatives) - 1

    def coefficients(self, t: NDArray) -> NDArray[np.complex128]:
        i, w = hermite_weights(self.save_t, t, self.order)
        w = w.reshape(w.shape[0], -1, *([1] * len(self.modes)))
        out = np.zeros((t.size, *self.derivatives[0].shape[1:]), dtype=np.complex128)
        for j, d in enumerate(self.derivatives * 2):
            out += w[j] * d[i + j // len(self.derivatives)]
        return out

    def _scattered(self, t: NDArray, x: NDArray, y: NDArray | None = None) -> NDArray[np.float64]:
        """Points grouped by time interval: the saved arrays are summed once per interval."""
        out = np.empty(t.size)
        mx = self.modes[0]
        interval, weights = hermite_weights(self.save_t, t, self.order)
        nw = weights.shape[0]
        order = np.argsort(interval, kind="stable")
        per_point = nw * mx.count if y is not None else mx.count
        for group in np.split(order, np.flatnonzero(np.diff(interval[order])) + 1):
            if group.size == 0:
                continue
            i = interval[group[0]]
            stack = np.stack([d[i] for d in self.derivatives] + [d[i + 1] for d in self.derivatives])
            for ps in _blocks(group.size, _BLOCK // per_point):
                idx = group[ps]
                ex = fourier_basis(mx, x[idx])
                if y is None:
                    values = _product(stack, ex.T)  # (nw, P)
                else:
                    my = self.modes[1]
                    partial = _product(stack.reshape(nw * mx.count, my.count), fourier_basis(my, y[idx]).T)
                    values = np.einsum("jkp,pk->jp", partial.reshape(nw, mx.count, idx.size), ex)
                out[idx] = np.einsum("jp,jp->p", values.real, weights[:, idx])
        return out
