"""STDE: unbiasedness, variance ~ 1/samples, seeding, exact parts, pairs, high dimension (float64).

Statistical checks compare the mean of many independent estimates (one per step)
with the exact operator and require agreement within 5 standard errors per point.
"""

import pytest
import torch

from pinnlab.autodiff import Derivative, make_backend, partial, stde_pair, value
from pinnlab.nn import MLP, BoundModel, InputScaling, PINNModel, parameters_of

DT = torch.float64


def _model(d, width=8, depth=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    body = MLP(d, 1, width=width, depth=depth, generator=g)
    with torch.no_grad():
        for layer in body.linears:
            layer.bias.uniform_(-0.5, 0.5, generator=g)
    return PINNModel(InputScaling([-1.0] * d, [1.0] * d), body).to(DT)


def _setup(d=4, n=3):
    model = _model(d)
    f = BoundModel(model, parameters_of(model))
    x = torch.rand(n, d, generator=torch.Generator().manual_seed(7), dtype=DT) * 2 - 1
    return f, x


def _draws(plan, f, x, r, steps):
    with torch.no_grad():
        return torch.stack([plan(f, x, step=s)[r] for s in range(steps)])


CASES = [("sparse", "laplacian"), ("rademacher", "laplacian"), ("gaussian", "laplacian"), ("gaussian", "bilaplacian")]


@pytest.mark.parametrize("kind,op", CASES)
def test_mean_matches_exact_operator(kind, op):
    d = 4
    f, x = _setup(d)
    r = Derivative(0, op, tuple(range(d)))
    exact = make_backend("taylor").plan([r], d)(f, x)[r].detach()
    draws = _draws(make_backend("stde", kind=kind, samples=2).plan([r], d), f, x, r, 600)
    mean, se = draws.mean(0), draws.std(0) / draws.shape[0] ** 0.5
    assert (draws.std(0) > 0).all()
    assert ((mean - exact).abs() <= 5 * se).all(), ((mean - exact) / se)


@pytest.mark.parametrize("kind", ["rademacher", "gaussian"])
def test_dense_variance_falls_as_one_over_samples(kind):
    d = 4
    f, x = _setup(d, n=2)
    r = Derivative(0, "laplacian", tuple(range(d)))
    var = {}
    for s in (2, 8):
        draws = _draws(make_backend("stde", kind=kind, samples=s, seed=s).plan([r], d), f, x, r, 500)
        var[s] = draws.var(0)
    ratio = var[2] / var[8]
    # the ratio of two variance estimates from 500 draws each: within ~±30% of 4
    assert ((ratio > 2.8) & (ratio < 5.7)).all(), ratio


def test_sparse_variance_follows_sampling_without_replacement():
    # Var = (d - J) / (J (d - 1)) * d^2 * Var_c(u_cc), the finite-population correction
    d = 6
    f, x = _setup(d, n=2)
    r = Derivative(0, "laplacian", tuple(range(d)))
    pure = make_backend("taylor").plan([partial(0, c, c) for c in range(d)], d)(f, x)
    diag = torch.stack([pure[partial(0, c, c)] for c in range(d)]).detach()
    population_var = diag.var(0, unbiased=False)
    for j in (1, 3):
        draws = _draws(make_backend("stde", kind="sparse", samples=j, seed=j).plan([r], d), f, x, r, 800)
        expected = (d - j) / (j * (d - 1)) * d**2 * population_var
        ratio = draws.var(0) / expected
        assert ((ratio > 0.8) & (ratio < 1.25)).all(), ratio
    exact = make_backend("taylor").plan([r], d)(f, x)[r]
    full = make_backend("stde", kind="sparse", samples=d).plan([r], d)(f, x, step=3)[r]
    assert torch.allclose(full, exact, rtol=1e-12, atol=1e-12)


def test_seeding_and_steps():
    d = 5
    f, x = _setup(d)
    r = Derivative(0, "laplacian", tuple(range(d)))
    plan = make_backend("stde", kind="rademacher", samples=3, seed=1).plan([r], d)
    a, b, c = plan(f, x, step=4)[r], plan(f, x, step=4)[r], plan(f, x, step=5)[r]
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    other = make_backend("stde", kind="rademacher", samples=3, seed=2).plan([r], d)(f, x, step=4)[r]
    assert not torch.allclose(a, other)


def test_exact_requests_are_exact_and_invalid_combinations_fail():
    d = 4
    f, x = _setup(d)
    reqs = [value(0), partial(0, 1), partial(0, 0, 2), Derivative(0, "gradient", (3, 1)),
            Derivative(0, "laplacian", (0, 1, 2)), Derivative(0, "bilaplacian", (0, 1))]
    exact = make_backend("taylor").plan(reqs, d)(f, x)
    out = make_backend("stde", kind="gaussian").plan(reqs, d)(f, x, step=2)
    for r in reqs[:4]:
        assert torch.allclose(out[r], exact[r], rtol=1e-12, atol=1e-12)
    bil = [Derivative(0, "bilaplacian", (0, 1))]
    for kind in ("sparse", "rademacher"):
        with pytest.raises(ValueError, match="bilaplacian"):
            make_backend("stde", kind=kind).plan(bil, d)
    with pytest.raises(ValueError):
        make_backend("stde", kind="uniform")


def test_independent_pairs_give_an_unbiased_square():
    d = 4
    f, x = _setup(d, n=2)
    r = Derivative(0, "laplacian", tuple(range(d)))
    exact = make_backend("taylor").plan([r], d)(f, x)[r].detach()
    plan = make_backend("stde", kind="sparse", samples=1).plan([r], d)
    first, _ = stde_pair(plan, f, x, step=0)
    assert torch.allclose(first[r], plan(f, x, step=0)[r], rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        prods = torch.stack([torch.mul(*(e[r] for e in plan.pair(f, x, step=s))) for s in range(800)])
    mean, se = prods.mean(0), prods.std(0) / prods.shape[0] ** 0.5
    assert ((mean - exact**2).abs() <= 5 * se).all()
    # deterministic plans return the same values twice
    a, b = stde_pair(make_backend("taylor").plan([r], d), f, x)
    assert a is b


def test_gradients_flow_through_estimates():
    d = 3
    model = _model(d)
    params = parameters_of(model)
    x = torch.rand(4, d, generator=torch.Generator().manual_seed(1), dtype=DT)
    r = Derivative(0, "laplacian", tuple(range(d)))
    # with all coordinates drawn, sparse STDE is exact: its parameter Jacobian equals Taylor's
    stde_plan = make_backend("stde", kind="sparse", samples=d).plan([r], d)
    taylor_plan = make_backend("taylor").plan([r], d)
    js = torch.func.jacrev(lambda p: stde_plan(BoundModel(model, p), x, step=1)[r])(params)
    jt = torch.func.jacrev(lambda p: taylor_plan(BoundModel(model, p), x)[r])(params)
    for k in params:
        assert torch.allclose(js[k], jt[k], rtol=1e-10, atol=1e-10)
    dense = make_backend("stde", kind="gaussian", samples=4).plan([r], d)
    loss = (dense(BoundModel(model, params), x, step=0)[r] ** 2).mean()
    loss.backward()
    assert params["body.linears.0.weight"].grad.abs().sum() > 0


def test_high_dimension_sparse_is_cheap():
    # d = 20000: the sparse input jet never forms a (samples x d) direction matrix
    d, n = 20000, 8
    model = _model(d, width=16, depth=2)
    f = BoundModel(model, parameters_of(model))
    x = torch.rand(n, d, generator=torch.Generator().manual_seed(0), dtype=DT)
    r = Derivative(0, "laplacian", tuple(range(d)))
    plan = make_backend("stde", kind="sparse", samples=4).plan([r, partial(0, 5, 5)], d)
    program, _, estimators = plan._program(1)
    coef = program.input_directions(x, [plan.directions(estimators[0], 0, 0)])
    assert coef.value.numel() <= 2 * 5  # sparse rows: (index, value) pairs only
    out = plan(f, x, step=0)
    assert out[r].shape == (n,) and torch.isfinite(out[r]).all()
    # against the exact value of the sampled coordinates
    picked = plan.directions(estimators[0], 0, 0)[0][:, 0].tolist()
    pure = make_backend("taylor").plan([partial(0, c, c) for c in picked], d)(f, x)
    expected = d / len(picked) * sum(pure[partial(0, c, c)] for c in picked)
    assert torch.allclose(out[r], expected, rtol=1e-10, atol=1e-10)
