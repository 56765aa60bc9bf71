"""Jet rules: derivative towers, Faà di Bruno, Leibniz, collapsed sums and sparse directions (float64)."""

import math

import pytest
import torch

from pinnlab.autodiff.biharmonic import BiharmonicJet
from pinnlab.autodiff.coefficients import SparseCoef, c_dense
from pinnlab.autodiff.jet import Family, Jet, Layout
from pinnlab.autodiff.towers import ELEMENTWISE, partitions, tower
from pinnlab.compile.evaluate import JET_OPS

DT = torch.float64
TOL = 1e-10


def _nth_derivatives(fn, x: torch.Tensor, order: int) -> list[torch.Tensor]:
    """Elementwise derivatives of fn at x by repeated autograd."""
    x = x.clone().requires_grad_(True)
    out = [fn(x)]
    for _ in range(order):
        if not out[-1].requires_grad:  # piecewise polynomial: the rest vanishes
            out.append(torch.zeros_like(x))
            continue
        (g,) = torch.autograd.grad(out[-1].sum(), x, create_graph=True)
        out.append(g)
    return [o.detach() for o in out]


TORCH_FN = {
    "tanh": torch.tanh, "sigmoid": torch.sigmoid, "tan": torch.tan, "exp": torch.exp, "sin": torch.sin,
    "cos": torch.cos, "sinh": torch.sinh, "cosh": torch.cosh, "log": torch.log, "sqrt": torch.sqrt,
    "abs": torch.abs, "arctan": torch.atan, "softplus": torch.nn.functional.softplus,
    "silu": torch.nn.functional.silu, "gelu": torch.nn.functional.gelu,
}


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_towers_match_repeated_autograd(name):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(50, generator=g, dtype=DT) * 2.4 - 1.2
    if name in ("log", "sqrt"):
        x = x.abs() + 0.2
    if name == "abs":
        x = torch.where(x.abs() < 0.05, x + 0.2, x)
    expected = _nth_derivatives(TORCH_FN[name], x, 6)
    got = tower(name, x, 6)
    for k, (e, t) in enumerate(zip(expected, got)):
        t = torch.zeros_like(x) if t is None else t
        assert torch.allclose(t, e, rtol=TOL, atol=TOL * (1 + e.abs().max())), (name, k)


def test_power_tower_matches_autograd():
    x = torch.linspace(0.3, 2.0, 20, dtype=DT)
    for p in (-1.0, 0.5, 2.5, -1.7):
        expected = _nth_derivatives(lambda t, p=p: t ** p, x, 5)
        got = tower("pow", x, 5, exponent=p)
        for e, t in zip(expected, got):
            assert torch.allclose(t, e, rtol=TOL, atol=TOL)


def test_faa_di_bruno_coefficients():
    # number of partitions and the classical order-4 coefficients 1, 4, 3, 6, 1
    assert [len(partitions(k)) for k in range(1, 7)] == [1, 2, 3, 5, 7, 11]
    table = {parts: c for _, c, parts in partitions(4)}
    assert table == {(4,): 1, (1, 3): 4, (2, 2): 3, (1, 1, 2): 6, (1, 1, 1, 1): 1}
    # sum of coefficients over partitions with m parts = Stirling numbers of the second kind
    stirling = {}
    for m, c, _ in partitions(6):
        stirling[m] = stirling.get(m, 0) + c
    assert stirling == {1: 1, 2: 31, 3: 90, 4: 65, 5: 15, 6: 1}


def _curve_jet(x0: torch.Tensor, vs: list[torch.Tensor], n_dirs: int):
    """A scalar-curve jet: coefficients vs[k] (S, N) for k = 1..K."""
    layout = Layout(tuple([n_dirs] * len(vs)))
    return Jet(x0, vs, [], layout)


def _along_curve(fn, x0, vs, order):
    """Derivatives in t of fn(x(t)), x(t) = x0 + sum_k vs[k] t^k / k!, entry by entry with autograd."""
    t = torch.zeros((), dtype=DT, requires_grad=True)
    curve = x0 + sum(v * t ** (k + 1) / math.factorial(k + 1) for k, v in enumerate(vs))
    current = fn(curve)
    derivs = [current.detach()]
    for _ in range(order):
        grads = []
        for entry in current.reshape(-1):
            (gi,) = torch.autograd.grad(entry, t, create_graph=True, allow_unused=True)
            grads.append(gi if gi is not None else torch.zeros((), dtype=DT))
        current = torch.stack(grads).reshape(derivs[0].shape)
        derivs.append(current.detach())
    return derivs


@pytest.mark.parametrize("name", ["tanh", "sin", "gelu", "log", "sqrt", "arctan", "silu"])
def test_compose_matches_curve_derivatives(name):
    g = torch.Generator().manual_seed(2)
    x0 = torch.rand(3, generator=g, dtype=DT) + 0.5
    vs = [torch.randn(3, generator=g, dtype=DT) * 0.7 for _ in range(4)]
    jet = _curve_jet(x0, [v[None] for v in vs], 1)
    out = jet.apply(name)
    expected = _along_curve(TORCH_FN[name], x0, vs, 4)
    assert torch.allclose(out.primal, expected[0], atol=TOL)
    for k in range(1, 5):
        assert torch.allclose(out.coeffs[k - 1][0], expected[k], rtol=TOL, atol=TOL), k


def test_arithmetic_on_jets_matches_curve_derivatives():
    g = torch.Generator().manual_seed(3)
    x0 = torch.rand(4, generator=g, dtype=DT) + 0.5
    vs = [torch.randn(4, generator=g, dtype=DT) * 0.5 for _ in range(4)]

    def expression(z, ops):
        a = ops.binary("*", ops.unary("sin", z), ops.binary("**", z, 3.0))
        b = ops.binary("/", ops.unary("exp", z), ops.binary("+", z, 2.0))
        c = ops.binary("**", z, 1.5)
        d = ops.binary("**", 2.0, z)
        e = ops.binary("**", z, z)
        return ops.binary("-", ops.binary("+", ops.binary("+", a, b), ops.binary("*", c, d)), e)

    jet = _curve_jet(x0, [v[None] for v in vs], 1)
    out = expression(jet, JET_OPS)
    from pinnlab.compile.evaluate import TORCH_OPS

    expected = _along_curve(lambda z: expression(z, TORCH_OPS), x0, vs, 4)
    for k in range(1, 5):
        assert torch.allclose(out.coeffs[k - 1][0], expected[k], rtol=TOL, atol=TOL), k


def test_collapsed_sum_equals_sum_of_directional_coefficients():
    g = torch.Generator().manual_seed(4)
    n, d, width = 5, 3, 8
    x = torch.rand(n, d, generator=g, dtype=DT)
    w1, w2 = torch.randn(width, d, generator=g, dtype=DT), torch.randn(2, width, generator=g, dtype=DT)
    dirs = torch.randn(4, d, generator=g, dtype=DT)
    weights = torch.tensor([0.5, 0.5, -1.5, -1.5], dtype=DT)
    groups = ((slice(0, 2), 0.5), (torch.tensor([3, 2]), -1.5))

    def net(jet):
        h = jet.linear(w1).apply("tanh")
        h = h * h.apply("sin") + h
        return h.linear(w2)

    for order in (2, 3, 4):
        full = Layout(tuple([4] * order))
        std = net(Jet(x, [dirs[:, None, :]] + [None] * (order - 1), [], full))
        expected = torch.tensordot(weights, std.coeffs[order - 1], dims=1)
        coll = Layout(tuple([4] * (order - 1)) + (0,), (Family(order, groups, 4),))
        out = net(Jet(x, [dirs[:, None, :]] + [None] * (order - 1), [None], coll))
        assert out.coeffs[order - 1] is None
        assert torch.allclose(out.sums[0], expected, rtol=TOL, atol=TOL)
        for k in range(1, order):
            assert torch.allclose(out.coeffs[k - 1], std.coeffs[k - 1], rtol=TOL, atol=TOL)


def test_sparse_coefficients_behave_like_dense():
    g = torch.Generator().manual_seed(5)
    d, n = 7, 3
    index = torch.tensor([[2, 0], [5, 3], [1, 6]])
    value = torch.randn(3, 1, 2, generator=g, dtype=DT)
    sp = SparseCoef(index, value, d)
    dense = sp.dense()
    assert dense.shape == (3, 1, d)
    assert torch.allclose(dense[1, 0, [5, 3]], value[1, 0])
    w = torch.randn(4, d, generator=g, dtype=DT)
    assert torch.allclose(sp.linear(w), dense @ w.t())
    t = torch.randn(n, d, generator=g, dtype=DT)
    assert torch.allclose(sp.times(t).dense(), dense * t)
    assert torch.allclose(sp.select(5), dense[..., 5])
    assert torch.allclose(sp.select(slice(1, 6)).dense(), dense[..., 1:6])
    assert torch.allclose(sp.select([6, 2]).dense(), dense[..., [6, 2]])
    assert torch.allclose(sp.sum_last(), dense.sum(-1))
    # a jet with sparse input directions gives the same result as a dense one
    x = torch.rand(n, d, generator=g, dtype=DT)
    layout = Layout((3, 3, 3))

    def f(jet):
        s = jet.scale(torch.linspace(0.5, 2, d, dtype=DT)).shift(0.1)
        return JET_OPS.binary("*", JET_OPS.unary("norm2", s), s.linear(w).apply("tanh").sum_last())

    a = f(Jet(x, [sp, None, None], [], layout))
    b = f(Jet(x, [dense, None, None], [], layout))
    for ca, cb in zip(a.coeffs, b.coeffs):
        assert torch.allclose(c_dense(ca), c_dense(cb), rtol=TOL, atol=TOL)


def test_biharmonic_jet_matches_autograd():
    g = torch.Generator().manual_seed(6)
    x = torch.rand(4, 3, generator=g, dtype=DT) + 0.2

    def expression(a, b, c, ops):
        sin_ab = ops.unary("sin", ops.binary("*", a, b))
        first = ops.binary("*", sin_ab, ops.unary("exp", ops.binary("*", c, 0.5)))
        second = ops.binary("/", ops.binary("**", a, 3.0), ops.binary("+", 1.0, ops.binary("*", b, b)))
        return ops.binary("-", ops.binary("+", first, second), ops.binary("**", ops.binary("+", a, c), 2.5))

    def fn(z):  # one point (3,) with torch ops
        from pinnlab.compile.evaluate import TORCH_OPS

        return expression(z[0], z[1], z[2], TORCH_OPS)

    def lap(z):
        return torch.func.hessian(fn)(z).diagonal().sum()

    seed = BiharmonicJet.seed(x, (0, 1, 2))
    jet = expression(seed.select(0), seed.select(1), seed.select(2), JET_OPS)
    ref = {
        "grad": torch.func.vmap(torch.func.grad(fn))(x).t(),
        "lap": torch.func.vmap(lap)(x),
        "glap": torch.func.vmap(torch.func.grad(lap))(x).t(),
        "bilap": torch.func.vmap(lambda z: torch.func.hessian(lap)(z).diagonal().sum())(x),
    }
    hess = torch.func.vmap(torch.func.hessian(fn))(x)
    pairs = [(i, j) for i in range(3) for j in range(i, 3)]
    assert torch.allclose(jet.hess, torch.stack([hess[:, i, j] for i, j in pairs]), rtol=TOL, atol=TOL)
    for name, expected in ref.items():
        assert torch.allclose(getattr(jet, name), expected, rtol=TOL, atol=TOL), name
