"""Evolution-form rewrite u_t = F[u]: coefficients, F against closed forms, clear errors."""

import math

import numpy as np
import pytest
import torch

from pinnlab.autodiff import backend_names, make_backend
from pinnlab.compile import EvolutionOperator
from pinnlab.equations import get_equation
from pinnlab.errors import SpecError
from pinnlab.spec import PDE
from pinnlab.spec.evolution import evolution_form, to_text

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: a thread pool only adds overhead


def _points(n: int, d: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=g, dtype=torch.float64) * 2 * math.pi


def _wave_1d(x):  # u = sin(2x) + 0.3 and its derivatives
    return torch.sin(2 * x[:, 0]) + 0.3, 2 * torch.cos(2 * x[:, 0]), -4 * torch.sin(2 * x[:, 0])


def _wave_2d(x):  # u = sin(x) cos(2y): u, u_x + u_y, lap(u)
    u = torch.sin(x[:, 0]) * torch.cos(2 * x[:, 1])
    ux = torch.cos(x[:, 0]) * torch.cos(2 * x[:, 1])
    uy = -2 * torch.sin(x[:, 0]) * torch.sin(2 * x[:, 1])
    return u, ux + uy, -5 * u


def _rate(problem, u_fn, x, t=0.0, method="autograd"):
    op = EvolutionOperator(problem.pde, make_backend(method))
    return op(lambda z: u_fn(z)[0][:, None], x, t)[:, 0]


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_heat_rate_is_k_laplacian(dim):
    problem = get_equation("heat", dim=dim, k=0.3)
    form = evolution_form(problem.pde)
    assert form.coefficients.tolist() == [[1.0]]
    x = _points(50, dim)

    def u(z):
        return (torch.sin(z).prod(-1),)

    expected = -0.3 * dim * u(x)[0]
    torch.testing.assert_close(_rate(problem, u, x), expected, rtol=1e-10, atol=1e-12)


def test_burgers1d_rate():
    problem = get_equation("burgers1d")
    nu = problem.pde.parameters["nu"]
    x = _points(40, 1)
    u, ux, uxx = _wave_1d(x)
    torch.testing.assert_close(_rate(problem, _wave_1d, x), -u * ux + nu * uxx, rtol=1e-10, atol=1e-12)
    assert to_text(evolution_form(problem.pde).rates["u"]) == "-((u * u_x) - (nu * u_xx))"


def test_allen_cahn1d_rate():
    problem = get_equation("allen_cahn1d")
    eps, a = problem.pde.parameters["eps"], problem.pde.parameters["a"]
    x = _points(40, 1)
    u, _, uxx = _wave_1d(x)
    torch.testing.assert_close(_rate(problem, _wave_1d, x), eps * uxx + a * (u - u**3), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", [m for m in ("autograd", "taylor") if m in backend_names()])
@pytest.mark.parametrize("name, rate", [
    ("heat2d_periodic", lambda u, adv, lap, nu: nu * lap),
    ("allen_cahn2d", lambda u, adv, lap, nu: nu * lap + u - u**3),
    ("burgers2d", lambda u, adv, lap, nu: -u * adv + nu * lap),
])
def test_periodic_2d_rates(name, rate, method):
    problem = get_equation(name)
    nu = problem.pde.parameters["nu"]
    x = _points(60, 2)
    u, adv, lap = _wave_2d(x)
    torch.testing.assert_close(_rate(problem, _wave_2d, x, method=method), rate(u, adv, lap, nu), rtol=1e-10,
                               atol=1e-12)


def test_constant_coefficient_and_time_dependent_source():
    pde = PDE(["t", "x"], ["u"], {"e": "tau*2*u_t = u_xx + sin(t)"}, {"tau": 1.5}, time="t")
    form = evolution_form(pde)
    assert form.coefficients.tolist() == [[3.0]]
    x = _points(30, 1)
    op = EvolutionOperator(pde)
    got = op(lambda z: torch.sin(2 * z), x, t=0.7)[:, 0]
    torch.testing.assert_close(got, (-4 * torch.sin(2 * x[:, 0]) + math.sin(0.7)) / 3.0, rtol=1e-10, atol=1e-12)


def test_coefficient_division_and_negation():
    pde = PDE(["t", "x"], ["u"], {"e": "-(u_t/4) + u"}, time="t")
    assert evolution_form(pde).coefficients.tolist() == [[-0.25]]
    x = _points(10, 1)
    got = EvolutionOperator(pde)(lambda z: torch.cos(z), x)[:, 0]
    torch.testing.assert_close(got, 4 * torch.cos(x[:, 0]))


def test_system_of_two_fields():
    # 2 u_t + v_t = u_xx ; u_t - 2 v_t = -u v  =>  C = [[2, 1], [1, -2]]
    pde = PDE(["t", "x"], ["u", "v"], {"a": "2*u_t + v_t - u_xx", "b": "u_t - 2*v_t + u*v"}, time="t")
    form = evolution_form(pde)
    np.testing.assert_allclose(form.coefficients, [[2.0, 1.0], [1.0, -2.0]])
    x = _points(20, 1)

    def f(z):
        return torch.cat([torch.sin(z), torch.cos(z)], dim=-1)

    got = EvolutionOperator(pde)(f, x)
    g = torch.stack([torch.sin(x[:, 0]), torch.sin(x[:, 0]) * torch.cos(x[:, 0])], dim=-1)  # G = [-u_xx, u v]
    expected = g @ torch.as_tensor(-np.linalg.inv(form.coefficients)).T
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("equation, message", [
    ("u_tt - u_xx", "second time derivative"),
    ("u_tx + u", "mixed space-time derivative"),
    ("u*u_t - u_xx", "multiplied by 'u', which is not a constant"),
    ("x*u_t - u_xx", "multiplied by 'x'"),
    ("sin(u_t) - u", "inside sin"),
    ("u_t*u_t - u", "multiplies time derivatives"),
    ("u_t/u - 1", "divided by 'u'"),
    ("u/u_t - 1", "denominator"),
    ("u_t**2 - u", "not linear"),
    ("u_xx - u", "no first time derivative"),
    ("u_t - u_t + u", "no first time derivative"),
])
def test_non_evolution_equations_are_rejected(equation, message):
    pde = PDE(["t", "x"], ["u"], {"e": equation}, time="t")
    with pytest.raises(SpecError, match=message) as info:
        evolution_form(pde)
    assert "equation 'e'" in str(info.value)


def test_systems_and_time_are_checked():
    with pytest.raises(SpecError, match="needs a time coordinate"):
        evolution_form(get_equation("poisson2d").pde)
    with pytest.raises(SpecError, match="one evolution equation per field"):
        evolution_form(PDE(["t", "x"], ["u", "p"], {"a": "u_t + p_x"}, time="t"))
    with pytest.raises(SpecError, match="singular"):
        evolution_form(PDE(["t", "x"], ["u", "v"], {"a": "u_t + v_t - u", "b": "2*u_t + 2*v_t + v"}, time="t"))
