"""R3, causal R3 and RAD: the rules on hand-made residual fields, schedules, checkpoints, plumbing."""

import copy
import math

import meshio
import numpy as np
import pytest
import torch

import pinnlab as pl
from pinnlab.compile import Batch, PointSet
from pinnlab.errors import ConfigError
from pinnlab.geometry import geometry_from_dict
from pinnlab.io.points import export_sampler_points
from pinnlab.io.vtk import read_pvd
from pinnlab.sampling import CausalR3Sampler, PointDrawer, R3Sampler, RADSampler, make_sampler, sampler_names
from pinnlab.sampling.r3 import causal_gate, fitness_of, gate_increment, rad_probabilities, retain_mask
from pinnlab.solvers import make_solver

GEOMETRY = geometry_from_dict({"t": [0.0, 2.0], "x": [-1.0, 1.0]}, ["t", "x"], "t")


def point_sets(n=8):
    return {"interior": PointSet("interior", "interior", n), "initial": PointSet("initial", "initial", 4)}


def drawer(seed=0):
    return PointDrawer(GEOMETRY, torch.Generator().manual_seed(seed), dtype=torch.float64)


def with_population(sampler, x):
    """Start ``sampler`` and replace its interior with the points ``x``."""
    sampler.sample(0)
    sampler.batches = {**sampler.batches, "interior": Batch(torch.as_tensor(x, dtype=torch.float64))}
    return sampler


# -- the rules -----------------------------------------------------------------------------
def test_fitness_sums_abs_over_equations_and_components():
    r = {"a": torch.tensor([1.0, -2.0, 0.5]), "b": torch.tensor([[1.0, -1.0], [0.0, 3.0], [-2.0, 0.0]]),
         "initial": torch.tensor([100.0, 100.0, 100.0])}
    torch.testing.assert_close(fitness_of(r, ["a", "b"]), torch.tensor([3.0, 5.0, 2.5]))
    with pytest.raises(ValueError, match="no interior residuals"):
        fitness_of(r, ["c"])


def test_retain_rule_is_strictly_above_mean():
    assert retain_mask(torch.tensor([0.0, 1.0, 2.0, 3.0, 10.0])).tolist() == [False, False, False, False, True]
    assert retain_mask(torch.tensor([1.0, 5.0, 2.0, 4.0])).tolist() == [False, True, False, True]
    assert not retain_mask(torch.ones(5)).any()  # a flat field releases everything


def test_gates_known_values():
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    g = causal_gate(t, alpha=5.0, beta=0.5, kind="tanh")
    torch.testing.assert_close(g, torch.tensor([(1 - math.tanh(-2.5)) / 2, 0.5, (1 - math.tanh(2.5)) / 2],
                                               dtype=torch.float64))
    s = causal_gate(t, alpha=5.0, beta=0.5, kind="sigmoid")
    torch.testing.assert_close(s, torch.tensor([1 - 1 / (1 + math.exp(2.5)), 0.5, 1 - 1 / (1 + math.exp(-2.5))],
                                               dtype=torch.float64))
    rt = causal_gate(t, alpha=5.0, beta=0.5, kind="relu_tanh")
    torch.testing.assert_close(rt, torch.tensor([math.tanh(2.5), 0.0, 0.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="unknown gate"):
        causal_gate(t, 5.0, 0.5, "step")


def test_gate_increment_clipped_and_unclipped():
    g = torch.tensor([1.0, 0.5, 0.0])
    # zero residual: exp(0) = 1 is clipped to 0.1
    assert gate_increment(torch.zeros(3), g, eta=1e-3, eps=20.0, clip=0.1) == pytest.approx(1e-4, rel=1e-12)
    f = torch.tensor([0.3, 0.2, 7.0])
    mean_sq = (0.3**2 + 0.1**2 + 0.0) / 3
    expected = 1e-3 * math.exp(-20.0 * mean_sq)  # exp(-0.8667) = 0.42: clipped at 0.1, not at 1
    got = gate_increment(f, g, eta=1e-3, eps=20.0, clip=1.0)
    assert got == pytest.approx(expected, rel=1e-6)
    assert gate_increment(f, g, eta=1e-3, eps=20.0, clip=0.1) == pytest.approx(1e-3 * min(math.exp(-20 * mean_sq),
                                                                                          0.1), rel=1e-6)


def test_rad_probabilities_formula():
    f = torch.tensor([0.0, 1.0, 3.0], dtype=torch.float64)
    # k = 2: f^2 = [0, 1, 9], mean 10/3 -> [0, .3, 2.7] + 1 = [1, 1.3, 3.7] / 6
    torch.testing.assert_close(rad_probabilities(f, k=2.0, c=1.0),
                               torch.tensor([1.0, 1.3, 3.7], dtype=torch.float64) / 6.0)
    torch.testing.assert_close(rad_probabilities(torch.zeros(4), k=1.0, c=1.0), torch.full((4,), 0.25))
    with pytest.raises(ValueError):
        rad_probabilities(torch.zeros(4), k=1.0, c=0.0)


# -- R3 on hand-made residual fields --------------------------------------------------------
def test_r3_retains_exact_set_and_refills_with_fresh_uniform_points():
    x = torch.tensor([[0.1 * i, 0.0] for i in range(8)], dtype=torch.float64)
    sampler = with_population(R3Sampler(point_sets(), drawer(3)), x)
    expected_fresh = PointDrawer(GEOMETRY, torch.Generator().set_state(sampler.drawer.generator.get_state()),
                                 dtype=torch.float64).draw(sampler.point_sets["interior"], 5).x
    r = torch.tensor([0.0, 5.0, 1.0, -6.0, 0.5, 2.0, 7.0, 0.0], dtype=torch.float64)  # |r| mean 2.6875
    sampler.observe(sampler.batches, {"pde": r, "initial": torch.zeros(4)}, step=0)
    new = sampler.batches["interior"].x
    assert new.shape == (8, 2)
    torch.testing.assert_close(new[:3], x[[1, 3, 6]])  # retained, in order
    torch.testing.assert_close(new[3:], expected_fresh)  # the rest: fresh uniform draws
    d = sampler.diagnostics()
    assert d["sampler_retained"] == pytest.approx(3 / 8)
    assert d["sampler_res_mean"] == pytest.approx(2.6875) and d["sampler_res_max"] == pytest.approx(7.0)
    assert sampler.terms == ["pde"]


def test_r3_with_probe_and_system_fitness():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.5, 0.5]], dtype=torch.float64)
    sampler = with_population(R3Sampler(point_sets(4), drawer()), x)
    calls = []

    def probe(terms=None):
        calls.append(terms)
        return {"u_eq": torch.tensor([1.0, 0.0, 0.0, 2.0]), "v_eq": torch.tensor([0.0, 0.0, 3.0, 0.0]),
                "initial": torch.ones(4)}

    sampler.observe(sampler.batches, probe, 0)  # fitness [1, 0, 3, 2], mean 1.5
    torch.testing.assert_close(sampler.batches["interior"].x[:2], x[[2, 3]])
    sampler.observe(sampler.batches, probe, 1)
    assert calls == [None, ["u_eq", "v_eq"]]  # later probes ask only for the interior terms


def test_population_size_fixed_and_inside_domain():
    sampler = R3Sampler(point_sets(200), drawer(1))
    sampler.sample(0)
    gen = torch.Generator().manual_seed(5)
    for step in range(30):
        x = sampler.sample(step)["interior"].x
        r = torch.exp(-50 * (x[:, 1] - 0.3) ** 2) + 0.01 * torch.rand(200, generator=gen, dtype=torch.float64)
        sampler.observe(sampler.batches, {"pde": r}, step)
        assert sampler.batches["interior"].x.shape == (200, 2)
    x = sampler.batches["interior"].x
    assert bool(GEOMETRY.contains(x).all())
    # the points pile up where the residual is large
    assert float(((x[:, 1] - 0.3).abs() < 0.2).float().mean()) > 0.4


def test_boundary_sets_keep_base_behaviour():
    sampler = R3Sampler(point_sets(), drawer(), resample_every=3)
    first = sampler.sample(0)["initial"].x.clone()
    for step in range(3):
        b = sampler.sample(step)
        assert torch.equal(b["initial"].x, first)
        sampler.observe(b, {"pde": torch.arange(8.0)}, step)
    population = sampler.batches["interior"].x.clone()
    b = sampler.sample(3)
    assert not torch.equal(b["initial"].x, first)  # redrawn at resample_every
    assert torch.equal(b["interior"].x, population)  # the population is not redrawn by refresh


def test_reproducible_under_seeds():
    def run(seed):
        sampler = R3Sampler(point_sets(50), drawer(seed))
        for step in range(10):
            x = sampler.sample(step)["interior"].x
            sampler.observe(sampler.batches, {"pde": torch.sin(7 * x[:, 0]) * x[:, 1]}, step)
        return sampler.batches["interior"].x

    assert torch.equal(run(11), run(11))
    assert not torch.equal(run(11), run(12))


# -- causal R3 ----------------------------------------------------------------------------
def test_causal_r3_selects_early_points_and_advances_beta():
    # t in [0, 2]: normalised times 0, 0.5, 1
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    plain = with_population(R3Sampler(point_sets(3), drawer()), x)
    plain.observe(plain.batches, {"pde": torch.tensor([1.0, 1.0, 10.0])}, 0)
    torch.testing.assert_close(plain.batches["interior"].x[:1], x[[2]])  # ungated: the late point

    causal = with_population(CausalR3Sampler(point_sets(3), drawer()), x)
    assert causal.beta == -0.5 and causal.alpha == 5.0 and causal.eta == 1e-3
    f = torch.tensor([1.0, 1.0, 10.0], dtype=torch.float64)
    g = torch.tensor([(1 - math.tanh(5 * (t + 0.5))) / 2 for t in (0.0, 0.5, 1.0)], dtype=torch.float64)
    causal.observe(causal.batches, {"pde": f}, 0)
    new = causal.batches["interior"].x
    torch.testing.assert_close(new[:1], x[[0]])  # gated fitness [6.7e-3, 4.5e-5, 3.1e-6]: the early point
    assert not torch.equal(new[1:], x[1:])
    expected_beta = -0.5 + 1e-3 * min(math.exp(-20 * float(((f * g) ** 2).mean())), 0.1)
    assert causal.beta == pytest.approx(expected_beta, abs=1e-15)
    d = causal.diagnostics()
    assert d["sampler_beta"] == causal.beta and d["sampler_retained"] == pytest.approx(1 / 3)


def test_causal_beta_unclipped_with_large_gated_residual():
    x = torch.tensor([[0.0, 0.0], [0.0, 0.5]], dtype=torch.float64)
    s = with_population(CausalR3Sampler(point_sets(2), drawer(), gate="relu_tanh", alpha=2.0, beta=1.0,
                                        eta=0.5, eps=1.0, clip=10.0), x)
    g = math.tanh(2.0)  # t̃ = 0, β = 1
    s.observe(s.batches, {"pde": torch.tensor([1.0, 3.0])}, 0)
    assert s.beta == pytest.approx(1.0 + 0.5 * math.exp(-((g**2 + 9 * g**2) / 2)), rel=1e-12)
    torch.testing.assert_close(s.batches["interior"].x[:1], x[[1]])


def test_causal_needs_time_and_valid_options():
    space = geometry_from_dict({"x": [0.0, 1.0], "y": [0.0, 1.0]}, ["x", "y"])
    with pytest.raises(ValueError, match="time-dependent"):
        CausalR3Sampler(point_sets(), PointDrawer(space, torch.Generator()))
    with pytest.raises(ValueError, match="unknown gate"):
        CausalR3Sampler(point_sets(), drawer(), gate="cosine")


def test_loss_weights_are_squared_gate():
    x = torch.tensor([[0.0, 0.0], [2.0, 0.3]], dtype=torch.float64)
    s = with_population(CausalR3Sampler(point_sets(2), drawer(), beta=0.0), x)
    torch.testing.assert_close(s.loss_weights(), torch.tensor([0.25, ((1 - math.tanh(5.0)) / 2) ** 2],
                                                              dtype=torch.float64))


def test_gated_loss_uses_squared_gate_as_point_weights():
    """With gate_loss (default) the interior batch carries g² and the PDE loss is mean((r·g)²)."""
    from pinnlab.compile import Objective

    s = CausalR3Sampler(point_sets(6), drawer(), beta=0.2)
    batches = s.sample(0)
    x = batches["interior"].x
    torch.testing.assert_close(batches["interior"].weights, s.gate_values(x).pow(2))
    s.observe(batches, {"pde": x[:, 1] ** 2}, 0)  # an evolution re-weighs the new population (new beta)
    x_new = s.batches["interior"].x
    torch.testing.assert_close(s.batches["interior"].weights, s.gate_values(x_new).pow(2))

    from types import SimpleNamespace

    objective = Objective.__new__(Objective)
    objective.program = SimpleNamespace(terms={"pde": SimpleNamespace(point_set="interior")})
    objective.batches = s.batches
    r = torch.linspace(1.0, 2.0, x_new.shape[0], dtype=torch.float64)
    expected = (s.gate_values(x_new).pow(2) * r**2).mean()
    torch.testing.assert_close(objective.term_losses({"pde": r})["pde"], expected)
    ungated = CausalR3Sampler(point_sets(6), drawer(), gate_loss=False).sample(0)
    assert ungated["interior"].weights is None


# -- schedules and checkpoints --------------------------------------------------------------
def test_line_search_solvers_evolve_every_resample_every():
    s = R3Sampler(point_sets(), drawer(), resample_every=4)
    assert all(s.evolve_due(k) for k in range(5))  # first-order: every step
    s.bind_solver(make_solver("lbfgs"))
    assert [k for k in range(12) if s.evolve_due(k)] == [3, 7, 11]
    s.sample(0)
    before = s.batches["interior"].x.clone()
    s.observe(s.batches, {"pde": torch.arange(8.0)}, 1)  # not due: untouched, no residuals needed
    assert torch.equal(s.batches["interior"].x, before) and s.evolutions == 0
    s.bind_solver(make_solver("adam"))
    assert s.evolve_due(1)
    never = R3Sampler(point_sets(), drawer())
    never.bind_solver(make_solver("lbfgs"))
    assert not any(never.evolve_due(k) for k in range(20))
    fixed = R3Sampler(point_sets(), drawer(), resample_every=4, every=3)  # ``every`` wins for any solver
    for solver in ("adam", "lbfgs"):
        fixed.bind_solver(make_solver(solver))
        assert [k for k in range(9) if fixed.evolve_due(k)] == [2, 5, 8]
    assert RADSampler(point_sets(), drawer(), every=7).every == 7
    with pytest.raises(ValueError, match="every"):
        R3Sampler(point_sets(), drawer(), every=0)


def test_state_dict_round_trip(tmp_path):
    def feed(sampler, steps):
        for step in steps:
            x = sampler.sample(step)["interior"].x
            sampler.observe(sampler.batches, {"pde": torch.cos(5 * x[:, 0]) + x[:, 1] ** 2}, step)

    a = CausalR3Sampler(point_sets(40), drawer(2), resample_every=2, snapshots=2)
    feed(a, range(5))
    torch.save(a.state_dict(), tmp_path / "s.pt")
    b = CausalR3Sampler(point_sets(40), drawer(99), resample_every=2, snapshots=2)
    b.load_state_dict(torch.load(tmp_path / "s.pt", weights_only=True))
    assert b.beta == a.beta and b.evolutions == a.evolutions == 5 and len(b.snapshots) == 3
    feed(a, range(5, 9))
    feed(b, range(5, 9))
    for name in a.batches:
        assert torch.equal(a.batches[name].x, b.batches[name].x)
    assert a.beta == b.beta and a.diagnostics() == b.diagnostics()
    assert [s.step for s in b.snapshots] == [1, 3, 5, 7, 9]


# -- RAD -----------------------------------------------------------------------------------
def test_rad_draws_from_pool_by_residual():
    sampler = RADSampler(point_sets(100), drawer(4), resample_every=5, pool=2000)
    batches = sampler.sample(0)
    population = batches["interior"]

    def probe(terms=None):  # like the trainer: residuals on whatever the handed-out batches hold now
        x = batches["interior"].x
        return {"pde": 50.0 * (x[:, 1] > 0.8).to(x.dtype)}

    for step in range(4):
        sampler.observe(batches, probe, step)
        assert sampler.batches is batches  # not due yet
    sampler.observe(batches, probe, 4)
    x = sampler.batches["interior"].x
    assert x.shape == (100, 2) and torch.unique(x, dim=0).shape[0] == 100
    assert batches["interior"] is population  # the handed-out batches are restored after probing the pool
    # p ∝ 50/mean + 1 on the top 10 % of x: about 84 % of the draws land there (without replacement)
    assert float((x[:, 1] > 0.8).float().mean()) > 0.6
    with pytest.raises(ValueError, match="resample_every"):
        RADSampler(point_sets(), drawer())


# -- YAML / Python API ---------------------------------------------------------------------
def _config(method, **options):
    return {
        "problem": {
            "pde": {"coordinates": ["t", "x"], "time": "t", "fields": ["u"], "parameters": {"beta": 2.0},
                    "equations": {"convection": "u_t + beta*u_x"}},
            "domain": {"t": [0, 1], "x": [0, 6.283185307179586]},
            "conditions": {"initial": {"type": "initial", "field": "u", "value": "sin(x)"},
                           "periodic": {"type": "periodic", "coordinate": "x", "derivatives": 0}},
            "exact": {"u": "sin(x - beta*t)"},
        },
        "model": {"width": 8, "depth": 2},
        "derivatives": {"method": "autograd"},
        "sampling": {"method": method, "interior": 64, "initial": 16, "boundary": 16, "resample_every": 5,
                     "options": options},
        "solver": {"name": "adam", "lr": 1e-2},
        "train": {"steps": 12, "eval_every": 12, "log_every": 4, "progress": False, "device": "cpu"},
        "output": {"vtk": False, "plots": False, "resolution": [5, 8]},
    }


@pytest.mark.parametrize("method,options", [("r3", {}), ("causal_r3", {"gate": "sigmoid", "eta": 0.01}),
                                            ("rad", {"k": 2.0, "pool": 256})])
def test_solve_with_adaptive_sampler(tmp_path, method, options):
    sol = pl.solve(_config(method, **options), out=tmp_path / "run")
    assert sol.metrics["steps"] == 12 and math.isfinite(sol.metrics["rel_l2"]["u"])
    header = (tmp_path / "run" / "history.csv").read_text().splitlines()[0].split(",")
    assert {"sampler_retained", "sampler_res_mean", "sampler_res_max"} <= set(header)
    if method == "causal_r3":
        assert "sampler_beta" in header


def test_yaml_config_and_errors(tmp_path):
    import yaml

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_config("r3", snapshots=3)))
    sol = pl.solve(path, out=tmp_path / "run", overrides=["train.steps=6"])
    assert sol.metrics["steps"] == 6
    assert {"r3", "causal_r3", "rad"} <= set(sampler_names())
    with pytest.raises(ConfigError, match="sampling.method"):
        pl.solve(_config("r3", gamma=1.0), out=tmp_path / "bad")


def test_make_sampler_options():
    s = make_sampler("causal_r3", point_sets(), drawer(), resample_every=0, gate="relu_tanh", alpha=3.0)
    assert isinstance(s, CausalR3Sampler) and s.gate == "relu_tanh" and s.alpha == 3.0


# -- point clouds ------------------------------------------------------------------------------
def test_snapshots_export(tmp_path):
    sampler = R3Sampler(point_sets(30), drawer(), snapshots=2)
    for step in range(5):
        x = sampler.sample(step)["interior"].x
        sampler.observe(sampler.batches, {"pde": x[:, 0] ** 2}, step)
    assert [s.step for s in sampler.snapshots] == [1, 3, 5]
    written = export_sampler_points(sampler, tmp_path, ["t", "x"])
    pvd = tmp_path / "vtk" / "points.pvd"
    assert pvd in written and len([p for p in written if p.suffix == ".png"]) == 3
    series = read_pvd(pvd)
    assert [t for t, _ in series] == [1.0, 3.0, 5.0]
    mesh = meshio.read(series[1][1])
    snap = sampler.snapshots[1]
    np.testing.assert_allclose(mesh.points[:, :2], snap.points)
    np.testing.assert_allclose(mesh.point_data["fitness"], snap.fitness)
    np.testing.assert_array_equal(mesh.point_data["retained"], snap.retained.astype(float))
    assert export_sampler_points(copy.copy(R3Sampler(point_sets(), drawer())), tmp_path / "none", ["t", "x"]) == []


@pytest.mark.parametrize("reuse", [True, False])
def test_fitness_reuses_the_residuals_of_the_adam_step(tmp_path, monkeypatch, reuse):
    """With ``reuse`` (default) R3 takes |r| from Adam's own loss evaluation at the start of the step:
    one residual evaluation per step. Without, it evaluates again after the update."""
    from pinnlab.solvers import base

    original, calls, recorded = base.Objective.residuals, [], []

    def residuals(self, params, terms=None):
        calls.append(1)
        return original(self, params, terms)

    original_loss = base.Objective.loss

    def loss(self, params, record=False):
        out = original_loss(self, params, record)
        if record:
            recorded.append(self.step_residuals["convection"].abs().reshape(-1))
        return out

    monkeypatch.setattr(base.Objective, "residuals", residuals)
    monkeypatch.setattr(base.Objective, "loss", loss)
    cfg = _config("r3", snapshots=1, reuse=reuse)
    cfg["sampling"]["resample_every"] = 0
    cfg["train"].update({"steps": 3, "eval_every": 100})
    sol = pl.solve(cfg, out=tmp_path / "run")
    sampler_snapshots = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["sampler"]["snapshots"]
    assert len(sampler_snapshots) == 3 and sol.metrics["steps"] == 3
    steps_calls = len(calls) - 1  # the final loss of the run is one more evaluation
    assert steps_calls == (3 if reuse else 6)
    first = sampler_snapshots[0]["fitness"]
    if reuse:
        torch.testing.assert_close(first, recorded[0].to(first.dtype), rtol=0, atol=0)
    else:
        assert not torch.allclose(first, recorded[0].to(first.dtype))
