"""Derivative backends against closed forms; the autograd reference also against finite differences
and as a function of the network parameters (backward, jacrev)."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call, jacrev

from pinnlab.autodiff import Derivative, backend_names, make_backend, partial, value
from pinnlab.autodiff.autograd import chains_for
from pinnlab.nn import MLP
from pinnlab.nn.model import BoundModel

EXACT = [name for name in backend_names() if name != "stde"]
D = torch.float64


def points(n=12, d=3, seed=0):
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed), dtype=D) * 2 - 1


def f(z):
    """Two outputs with known derivatives: u = sin(a·z)·exp(y), v = x³y² + xz."""
    x, y, w = z.unbind(-1)
    s = 1.0 * x + 2.0 * y - 0.5 * w
    return torch.stack([torch.sin(s) * torch.exp(y), x**3 * y**2 + x * w], -1)


def closed_forms(z):
    x, y, w = z.unbind(-1)
    a = torch.tensor([1.0, 2.0, -0.5], dtype=D)
    s = z @ a
    ey = torch.exp(y)
    sin, cos = torch.sin(s), torch.cos(s)
    # u = sin(s) e^y; d/dy adds the exponential factor
    u_x = a[0] * cos * ey
    u_y = (a[1] * cos + sin) * ey
    u_w = a[2] * cos * ey
    u_xx = -a[0] ** 2 * sin * ey
    u_yy = (-a[1] ** 2 * sin + 2 * a[1] * cos + sin) * ey
    u_ww = -a[2] ** 2 * sin * ey
    u_xy = a[0] * (-a[1] * sin + cos) * ey
    u_xxx = -a[0] ** 3 * cos * ey
    lap_u = u_xx + u_yy + u_ww
    # u = Im exp(b·z) with b = i·a + e_y, so Δu = Im(c·exp(b·z)) and Δ²u = Im(c²·exp(b·z)), c = b·b
    cr, ci = 1 - (a**2).sum(), 2 * a[1]
    lap2 = (cr**2 - ci**2) * sin + 2 * cr * ci * cos
    v_x = 3 * x**2 * y**2 + w
    v_y = 2 * x**3 * y
    v_w = x
    v_xx, v_yy, v_ww = 6 * x * y**2, 2 * x**3, torch.zeros_like(x)
    v_xy, v_xw, v_xxy = 6 * x**2 * y, torch.ones_like(x), 12 * x * y
    return {
        value(0): torch.sin(s) * ey, value(1): x**3 * y**2 + x * w,
        partial(0, 0): u_x, partial(0, 1): u_y, partial(0, 2): u_w,
        partial(0, 0, 0): u_xx, partial(0, 1, 1): u_yy, partial(0, 1, 0): u_xy, partial(0, 0, 0, 0): u_xxx,
        Derivative(0, "laplacian", (0, 1, 2)): lap_u,
        Derivative(0, "laplacian", (0, 2)): u_xx + u_ww,
        Derivative(0, "bilaplacian", (0, 1, 2)): lap2 * ey,
        Derivative(0, "gradient", (0, 1, 2)): torch.stack([u_x, u_y, u_w], -1),
        partial(1, 0): v_x, partial(1, 1): v_y, partial(1, 2): v_w,
        partial(1, 0, 0): v_xx, partial(1, 1, 1): v_yy, partial(1, 2, 2): v_ww,
        partial(1, 0, 1): v_xy, partial(1, 2, 0): v_xw, partial(1, 0, 1, 0): v_xxy,
        Derivative(1, "laplacian", (0, 1, 2)): v_xx + v_yy + v_ww,
        Derivative(1, "bilaplacian", (0, 1)): 24 * x,  # 2 ∂xxyy(x³y²)
        Derivative(1, "gradient", (0, 2)): torch.stack([v_x, v_w], -1),
    }


# -- requests -------------------------------------------------------------------------------------------------


def test_requests():
    assert partial(0, 2, 0, 1) == Derivative(0, "partial", (0, 1, 2))
    assert value(3) == Derivative(3, "partial", ())
    assert [Derivative(0, k, (0, 1)).order for k in ("laplacian", "bilaplacian", "gradient")] == [2, 4, 1]
    assert partial(0, 1, 1, 1).order == 3
    with pytest.raises(ValueError, match="unknown derivative kind 'hessian'"):
        Derivative(0, "hessian", (0,))
    with pytest.raises(ValueError, match="must be sorted"):
        Derivative(0, "partial", (1, 0))
    assert chains_for(Derivative(0, "bilaplacian", (0, 1))) == [(0, 0, 0, 0), (0, 0, 1, 1), (1, 1, 0, 0),
                                                                 (1, 1, 1, 1)]


def test_registry():
    assert "autograd" in backend_names()
    with pytest.raises(ValueError, match="unknown derivative method 'nope'; available: .*autograd"):
        make_backend("nope")


@pytest.mark.parametrize("method", EXACT)
def test_column_out_of_range(method):
    with pytest.raises(ValueError):
        make_backend(method).plan([partial(0, 3)], 3)(f, points())


# -- closed forms -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", EXACT)
def test_every_kind_against_closed_forms(method):
    z = points()
    expected = closed_forms(z)
    out = make_backend(method).plan(list(expected), 3)(f, z)
    assert set(out) == set(expected)
    for request, want in expected.items():
        assert out[request].shape == want.shape, request
        torch.testing.assert_close(out[request], want, rtol=1e-10, atol=1e-10, msg=str(request))


@pytest.mark.parametrize("method", EXACT)
@pytest.mark.parametrize("request_", [value(0), partial(0, 1), partial(0, 0, 0), Derivative(0, "laplacian", (0, 2))])
def test_single_requests(method, request_):
    z = points(7)
    out = make_backend(method).plan([request_], 3)(f, z)
    torch.testing.assert_close(out[request_], closed_forms(z)[request_], rtol=1e-10, atol=1e-10)


def test_autograd_against_finite_differences():
    """Second derivatives of an MLP against central differences (h = 1e-4, float64)."""
    torch.manual_seed(0)
    net = MLP(2, 1, 16, 2).double()
    z = points(5, 2)
    out = make_backend("autograd").plan([partial(0, 0, 0), partial(0, 0, 1), partial(0, 1)], 2)(net, z)
    h = 1e-4
    e0, e1 = torch.tensor([h, 0.0], dtype=D), torch.tensor([0.0, h], dtype=D)
    with torch.no_grad():
        fd_xx = (net(z + e0) - 2 * net(z) + net(z - e0))[:, 0] / h**2
        fd_xy = (net(z + e0 + e1) - net(z + e0 - e1) - net(z - e0 + e1) + net(z - e0 - e1))[:, 0] / (4 * h**2)
        fd_y = (net(z + e1) - net(z - e1))[:, 0] / (2 * h)
    torch.testing.assert_close(out[partial(0, 0, 0)], fd_xx, rtol=0, atol=1e-5)
    torch.testing.assert_close(out[partial(0, 0, 1)], fd_xy, rtol=0, atol=1e-5)
    torch.testing.assert_close(out[partial(0, 1)], fd_y, rtol=0, atol=1e-8)


# -- as functions of the parameters ------------------------------------------------------------------------------------


def residual_loss(plan, net, names, z):
    def loss(*tensors):
        params = dict(zip(names, tensors))
        d = plan(BoundModel(net, params), z)
        r = d[partial(0, 1)] + d[value(0)] * d[partial(0, 0)] - 0.1 * d[Derivative(0, "laplacian", (0,))]
        return (r**2).mean()

    return loss


@pytest.mark.parametrize("method", EXACT)
def test_parameter_gradients_pass_gradcheck(method):
    torch.manual_seed(1)
    net = MLP(2, 1, 6, 2).double()
    names = [n for n, _ in net.named_parameters()]
    tensors = tuple(p.detach().clone().requires_grad_(True) for p in net.parameters())
    plan = make_backend(method).plan([value(0), partial(0, 0), partial(0, 1), Derivative(0, "laplacian", (0,))], 2)
    assert torch.autograd.gradcheck(residual_loss(plan, net, names, points(8, 2)), tensors)


@pytest.mark.parametrize("method", EXACT)
def test_jacrev_over_parameters_matches_backward(method):
    """The residual Jacobian (Gauss–Newton) from torch.func.jacrev agrees with row-wise backward."""
    torch.manual_seed(2)
    net = MLP(2, 1, 5, 1).double()
    params = {n: p.detach().clone() for n, p in net.named_parameters()}
    z = points(4, 2)
    plan = make_backend(method).plan([partial(0, 0, 0), partial(0, 1)], 2)

    def residual(p):
        d = plan(lambda x: functional_call(net, p, (x,)), z)
        return d[partial(0, 1)] - d[partial(0, 0, 0)]

    jac = jacrev(residual)(params)
    for i in range(4):
        leaves = {n: t.clone().requires_grad_(True) for n, t in params.items()}
        grads = torch.autograd.grad(residual(leaves)[i], list(leaves.values()), allow_unused=True,
                                    materialize_grads=True)  # the output bias drops out of derivatives
        for (name, _), g in zip(leaves.items(), grads):
            torch.testing.assert_close(jac[name][i], g, rtol=1e-10, atol=1e-12)


def test_exact_backends_agree_on_a_network():
    if len(EXACT) < 2:
        pytest.skip("only one deterministic derivative method is registered")
    torch.manual_seed(3)
    net = MLP(3, 2, 12, 3).double()
    params = {n: p.detach() for n, p in net.named_parameters()}
    requests = [value(1), partial(0, 0, 1), partial(1, 2, 2, 2), Derivative(0, "laplacian", (0, 1, 2)),
                Derivative(1, "bilaplacian", (1, 2)), Derivative(0, "gradient", (0, 2))]
    z = points(9)
    results = [make_backend(m).plan(requests, 3)(BoundModel(net, params), z) for m in EXACT]
    for other in results[1:]:
        for r in requests:
            torch.testing.assert_close(other[r], results[0][r], rtol=1e-9, atol=1e-10, msg=str(r))
