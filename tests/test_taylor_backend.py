"""The Taylor backend against nested reverse mode and closed forms (float64, tolerance ~1e-10)."""

import itertools
import math

import numpy as np
import pytest
import torch

from pinnlab.autodiff import Derivative, make_backend, partial, value
from pinnlab.autodiff.module_jets import jet_function, supports_jets
from pinnlab.autodiff.plan import (
    _monomials,
    _row,
    bilaplacian_terms,
    mixed_partial_terms,
    plan_exact,
    virtual_rows,
)
from pinnlab.compile import OutputTransform
from pinnlab.nn import (
    MLP,
    BoundModel,
    FourierFeatures,
    InputScaling,
    PeriodicEmbedding,
    PINNModel,
    parameters_of,
)
from pinnlab.spec.expr import Namespace, parse

DT = torch.float64
TOL = 1e-10


def _model(d, out=2, activation="tanh", width=12, depth=3, seed=0, periodic=None, fourier=None, transform=None):
    g = torch.Generator().manual_seed(seed)
    scaling = InputScaling([-1.0] * d, [2.0] * d)
    emb = PeriodicEmbedding(d, periodic, harmonics=2) if periodic else None
    width_in = emb.out_dim if emb else d
    ff = FourierFeatures(width_in, fourier, sigma=0.5, generator=g) if fourier else None
    width_in = ff.out_dim if ff else width_in
    body = MLP(width_in, out, width=width, depth=depth, activation=activation, generator=g)
    with torch.no_grad():
        for layer in body.linears:
            layer.bias.uniform_(-0.5, 0.5, generator=g)
    return PINNModel(scaling, body, periodic=emb, fourier=ff, transform=transform).to(DT)


def _bound(model):
    return BoundModel(model, parameters_of(model))


def _points(n, d, seed=1):
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed), dtype=DT) * 2 - 0.5


def _all_requests(d, outputs=2):
    cols = tuple(range(d))
    reqs = [value(0)]
    for o in range(outputs):
        reqs += [partial(o, 0), partial(o, 0, 0), partial(o, 1, 1, 1), partial(o, 0, 0, 0, 0)]
    reqs += [partial(0, 0, 1), partial(1, 0, 0, 1), partial(0, 0, 1, 1), partial(1, 0, 1, 1, 1), partial(0, 0, 0, 1, 1)]
    if d >= 3:
        reqs += [partial(1, 0, 1, 2), partial(0, 0, 1, 2, 2)]
    reqs += [Derivative(0, "laplacian", cols), Derivative(1, "laplacian", cols[1:]),
             Derivative(0, "bilaplacian", cols), Derivative(1, "bilaplacian", cols[:2]),
             Derivative(0, "gradient", cols), Derivative(1, "gradient", (d - 1, 0))]
    return reqs


MODES = ({"collapsed": True}, {"collapsed": True, "bilaplacian": "interpolation"}, {"collapsed": False})


def _compare(f, x, reqs, modes=MODES):
    """Taylor (collapsed with the forward or interpolated bilaplacian, and standard) against nested reverse mode."""
    d = x.shape[1]
    ref = make_backend("autograd").plan(reqs, d)(f, x)
    for options in modes:
        out = make_backend("taylor", **options).plan(reqs, d)(f, x)
        for r in reqs:
            assert out[r].shape == ref[r].shape, r
            scale = 1 + float(ref[r].detach().abs().max())
            assert torch.allclose(out[r], ref[r], rtol=TOL, atol=TOL * scale), (r, options)


@pytest.mark.parametrize("activation", ["tanh", "sin", "cos", "sigmoid", "softplus", "silu", "gelu"])
def test_mlp_all_request_kinds(activation):
    model = _model(3, activation=activation, width=8, depth=2)
    _compare(_bound(model), _points(4, 3), _all_requests(3))


def test_fourier_features_and_periodic_embedding():
    model = _model(3, periodic={0: 2.0, 2: 1.5}, fourier=5, width=8, depth=2)
    _compare(_bound(model), _points(3, 3), _all_requests(3), modes=MODES[:2])
    only_periodic = _model(2, periodic={0: 2.0, 1: 3.0}, activation="sin", width=8, depth=2)
    _compare(_bound(only_periodic), _points(3, 2), _all_requests(2), modes=MODES[:2])


def test_output_transform_with_products_and_functions():
    ns = Namespace(fields=("u", "v"), scalar_coords=("t", "x", "y"), parameters=("a",))
    expressions = {
        0: parse("(1 - x**2 - y**2) * u + t*sin(pi*x)", ns),
        1: parse("exp(-t) * v / (2 + x*y) + sqrt(1 + x**2) + a*tanh(y) * u**3 - cosh(t)", ns),
    }
    transform = OutputTransform(expressions, {"t": 0, "x": 1, "y": 2}, ["u", "v"], {"a": 0.7})
    model = _model(3, transform=transform, width=8, depth=2)
    _compare(_bound(model), _points(3, 3), _all_requests(3))


def test_output_transform_over_a_vector_coordinate():
    ns = Namespace(fields=("u",), vector_coords=(("x", 4),), spatial=("x",))
    expressions = {0: parse("(1 - norm2(x)) * u + dot(x, x) * sum(x) / 3", ns)}
    transform = OutputTransform(expressions, {"x": slice(0, 4)}, ["u"], {})
    model = _model(4, out=1, transform=transform)
    cols = (0, 1, 2, 3)
    reqs = [value(0), partial(0, 2, 2), partial(0, 0, 3), Derivative(0, "laplacian", cols),
            Derivative(0, "bilaplacian", cols), Derivative(0, "gradient", cols)]
    _compare(_bound(model), _points(4, 4), reqs)


def test_closed_form_derivatives_through_a_transform():
    # u = sin(x) exp(2y) + x^3 y^2 (the network output is multiplied by zero)
    ns = Namespace(fields=("u",), scalar_coords=("x", "y"))
    transform = OutputTransform({0: parse("0*u + sin(x)*exp(2*y) + x**3 * y**2", ns)}, {"x": 0, "y": 1}, ["u"], {})
    model = _model(2, out=1, transform=transform)
    x = _points(7, 2)
    a, b = x[:, 0], x[:, 1]
    s, c, e = torch.sin(a), torch.cos(a), torch.exp(2 * b)
    expected = {
        partial(0, 0): c * e + 3 * a**2 * b**2,
        partial(0, 1, 1): 4 * s * e + 2 * a**3,
        partial(0, 0, 1): 2 * c * e + 6 * a**2 * b,
        partial(0, 0, 0, 1): -2 * s * e + 12 * a * b,
        partial(0, 0, 0, 1, 1): -4 * s * e + 12 * a,
        partial(0, 0, 0, 0, 0): s * e,
        Derivative(0, "laplacian", (0, 1)): 3 * s * e + 6 * a * b**2 + 2 * a**3,
        # Δ²u = u_xxxx + 2 u_xxyy + u_yyyy = (1 - 8 + 16) sin(x) e^{2y} + 24 x
        Derivative(0, "bilaplacian", (0, 1)): 9 * s * e + 24 * a,
    }
    for options in MODES:
        out = make_backend("taylor", **options).plan(list(expected), 2)(_bound(model), x)
        for r, e_r in expected.items():
            assert torch.allclose(out[r], e_r, rtol=TOL, atol=TOL), r


def test_bilaplacian_weights_are_exact():
    for d in (1, 2, 3, 5, 8):
        terms = bilaplacian_terms(list(range(d)))
        assert len(terms) == d * d - (d == 4) * d  # the axis weights vanish at d = 4
        xi = np.random.default_rng(d).standard_normal((10, d))
        total = np.zeros(10)
        for key, w in terms:
            v = np.zeros(d)
            for c, e in key:
                v[c] = e
            total += w * (xi @ v) ** 4
        assert np.allclose(total, (xi**2).sum(1) ** 2, rtol=1e-13)


def test_polarization_weights_isolate_every_mixed_partial():
    for k in (2, 3, 4):
        for cols in itertools.combinations_with_replacement(range(3), k):
            if len(set(cols)) == 1:
                continue
            terms = mixed_partial_terms(cols, set())
            support = sorted(set(cols))
            monos = _monomials(support, k)
            combined = sum(w * _row(key, support, monos, k) for key, w in terms)
            target = np.zeros(len(monos))
            target[monos.index(tuple(cols.count(c) for c in support))] = 1
            assert np.allclose(combined, target, atol=1e-12), cols


def test_planner_shares_jets():
    # u_xy with u_xx, u_yy present needs one new direction; u, u_x, u_xx, u_xxx share one jet
    plan = plan_exact([partial(0, 0, 0), partial(0, 1, 1), partial(0, 0, 1)], 2)
    assert len(plan.directions) == 3
    plan = plan_exact([value(0), partial(0, 0), partial(0, 0, 0), partial(0, 0, 0, 0), partial(1, 0, 0)], 3)
    assert plan.directions == {((0, 1),): 3}
    # alone, u_xy takes two directions (e_x + e_y, e_x - e_y)
    assert len(plan_exact([partial(0, 0, 1)], 2).directions) == 2
    # the Laplacian's jets also give the gradient; the bilaplacian over d columns takes d^2
    lap = Derivative(0, "laplacian", (0, 1, 2, 3))
    plan = plan_exact([lap, Derivative(0, "gradient", (0, 1, 2, 3)), Derivative(0, "bilaplacian", (0, 1, 2))], 4)
    assert len(plan.directions) == 4 + 6  # four axes, three pairs e_i +- e_j
    assert [f.order for f in plan.families] == [2, 4]


def test_virtual_rows_follow_from_multilinearity():
    ex, ey = ((0, 1),), ((1, 1),)
    plus, minus = ((0, 1), (1, 1)), ((0, 1), (1, -1))
    flags = virtual_rows([ex, ey, minus, plus, None], (5, 5, 4))
    # order 1: x1(e_x +- e_y) = x1(e_x) +- x1(e_y); order 2: x2(e_x + e_y) = 2 x2(e_x) + 2 x2(e_y) - x2(e_x - e_y)
    assert {r: sorted(t) for r, t in flags[0].items()} == {2: [(0, 1.0), (1, -1.0)], 3: [(0, 1.0), (1, 1.0)]}
    assert sorted((s, round(w, 12)) for s, w in flags[1][3]) == [(0, 2.0), (1, 2.0), (2, -1.0)]
    assert flags[2] == {}  # four cubic forms in two variables are independent
    # the exact bilaplacian pushes 5 + 15 + 25 rows instead of 3 x 25 through each layer
    plan = make_backend("taylor").plan([Derivative(0, "bilaplacian", (0, 1, 2, 3, 4))], 5)
    assert [plan.program.stored(k) for k in (1, 2, 3)] == [5, 15, 25]


def test_jacobian_over_parameters_matches_autograd():
    model = _model(2, width=6, depth=2)
    params = parameters_of(model)
    x = _points(4, 2)
    reqs = [Derivative(0, "laplacian", (0, 1)), partial(1, 0, 1), Derivative(0, "bilaplacian", (0, 1))]

    def residual(plan):
        def fn(p):
            out = plan(BoundModel(model, p), x)
            return torch.cat([out[r] for r in reqs])

        return fn

    ja = torch.func.jacrev(residual(make_backend("autograd").plan(reqs, 2)))(params)
    jt = torch.func.jacrev(residual(make_backend("taylor").plan(reqs, 2)))(params)
    for name in params:
        assert torch.allclose(jt[name], ja[name], rtol=TOL, atol=TOL), name
    # a Jacobian-vector product over the parameters (forward over the Taylor jets)
    tangent = {k: torch.randn_like(v) for k, v in params.items()}
    _, jvp_t = torch.func.jvp(residual(make_backend("taylor").plan(reqs, 2)), (params,), (tangent,))
    expected = sum((ja[k].reshape(jvp_t.shape[0], -1) @ tangent[k].reshape(-1)) for k in params)
    assert torch.allclose(jvp_t, expected, rtol=1e-9, atol=1e-9)


def test_backward_to_parameters_matches_autograd():
    model = _model(3, width=8, depth=2)
    x = _points(5, 3)
    reqs = [Derivative(0, "laplacian", (0, 1, 2)), partial(1, 0, 0, 2)]
    grads = []
    for name in ("autograd", "taylor"):
        params = parameters_of(model)
        out = make_backend(name).plan(reqs, 3)(BoundModel(model, params), x)
        loss = sum((out[r] ** 2).mean() for r in reqs)
        loss.backward()
        grads.append({k: p.grad for k, p in params.items()})
    for k in grads[0]:
        if grads[0][k] is None:  # the last bias does not enter derivatives
            assert grads[1][k] is None
            continue
        assert torch.allclose(grads[1][k], grads[0][k], rtol=TOL, atol=TOL)


def test_generic_callables_and_torch_modules():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(3, 5, generator=g, dtype=DT)
    b = torch.randn(5, 2, generator=g, dtype=DT)

    def fn(x):  # an arbitrary row-wise callable: nested jvp fallback
        return torch.sin(x @ a) ** 2 @ b + x[:, :1] * x[:, 1:2] ** 3

    seq = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.GELU(),
                              torch.nn.Linear(8, 2)).to(DT)
    x = _points(4, 3)
    reqs = [value(1), partial(0, 2), partial(0, 0, 1), partial(1, 1, 1, 1), Derivative(0, "laplacian", (0, 1, 2)),
            Derivative(1, "bilaplacian", (0, 2)), Derivative(0, "gradient", (0, 1, 2))]
    _compare(fn, x, reqs)
    _compare(seq, x, reqs, modes=MODES[:2])
    _compare(BoundModel(seq, dict(seq.named_parameters())), x, reqs, modes=MODES[:2])


class _GatedBlock(torch.nn.Module):
    """A layer from outside pinnlab, x + tanh(W x + b) cos(x), with its own jet rule; ``forward`` takes tensors only."""

    def __init__(self, width, generator):
        super().__init__()
        self.linear = torch.nn.Linear(width, width)
        with torch.no_grad():
            self.linear.weight.normal_(0.0, 0.6, generator=generator)
            self.linear.bias.uniform_(-0.5, 0.5, generator=generator)

    def forward(self, x):
        return x + torch.tanh(self.linear(x)) * torch.cos(x)

    def forward_jet(self, jet):
        return jet + jet.linear(self.linear.weight, self.linear.bias).apply("tanh") * jet.apply("cos")


def test_custom_module_with_its_own_forward_jet():
    g = torch.Generator().manual_seed(5)
    # alone, first on the (sparse) input jet and between torch layers, inside the body of a PINNModel
    seq = torch.nn.Sequential(_GatedBlock(3, g), torch.nn.Linear(3, 6), torch.nn.Tanh(), _GatedBlock(6, g),
                              torch.nn.Linear(6, 2)).to(DT)
    body = torch.nn.Sequential(torch.nn.Linear(3, 5), _GatedBlock(5, g), torch.nn.Linear(5, 2))
    model = PINNModel(InputScaling([-1.0] * 3, [2.0] * 3), body).to(DT)
    block = _GatedBlock(3, g).to(DT)
    x = _points(4, 3)
    reqs = _all_requests(3)
    for f in (_bound(block), BoundModel(seq, parameters_of(seq)), seq, _bound(model)):
        assert jet_function(f) is not None
        _compare(f, x, reqs)


def test_modules_without_a_jet_rule_fall_back_to_nested_forward_mode():
    seq = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.ELU(), torch.nn.Linear(6, 2)).to(DT)
    assert not supports_jets(seq)
    assert jet_function(seq) is None and jet_function(BoundModel(seq, parameters_of(seq))) is None
    reqs = [value(0), partial(1, 0, 2), Derivative(0, "laplacian", (0, 1, 2)), Derivative(1, "bilaplacian", (0, 1))]
    _compare(BoundModel(seq, parameters_of(seq)), _points(3, 3), reqs, modes=MODES[:1])


def test_value_only_and_empty_requests():
    model = _model(2)
    x = _points(3, 2)
    out = make_backend("taylor").plan([value(1)], 2)(_bound(model), x)
    assert torch.allclose(out[value(1)], model(x)[:, 1])
    assert make_backend("taylor").plan([], 2)(_bound(model), x) == {}
    with pytest.raises(ValueError):
        make_backend("taylor").plan([partial(0, 5)], 2)


def test_high_order_pure_partial_matches_closed_form():
    # a 6-th derivative from one jet: d^6/dx^6 sin(3x) = -729 sin(3x)
    ns = Namespace(fields=("u",), scalar_coords=("x",))
    transform = OutputTransform({0: parse("0*u + sin(3*x)", ns)}, {"x": 0}, ["u"], {})
    model = _model(1, out=1, transform=transform)
    x = _points(5, 1)
    r = Derivative(0, "partial", (0,) * 6)
    out = make_backend("taylor").plan([r], 1)(_bound(model), x)[r].detach()
    assert torch.allclose(out, -(3**6) * torch.sin(3 * x[:, 0]), rtol=TOL, atol=TOL * 729)
    assert math.isclose(float(out.abs().max()), float((729 * torch.sin(3 * x[:, 0])).abs().max()), rel_tol=1e-12)
