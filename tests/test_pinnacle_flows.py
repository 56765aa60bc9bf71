"""The built-in steady flows with finite-element references: definitions, references, short PINN runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pinnlab.equations import get_equation
from pinnlab.equations.pinnacle_flows import (
    CASES,
    FlowReference,
    dfg_inflow,
    ns2d_c_lid,
    ns2d_cg_inflow,
    reference_path,
)
from pinnlab.errors import SpecError
from pinnlab.run import solve

pytestmark = pytest.mark.usefixtures("one_thread")
NAMES = list(CASES)
QUICK = ["train.progress=false", "train.eval_every=1000", "train.checkpoint_every=1000", "output.plots=false",
         "output.vtk=false", "model.width=12", "model.depth=2", "sampling.interior=200", "sampling.boundary=80",
         "train.dtype=float64", "output.resolution=[21, 21]"]


def _shipped(name: str) -> bool:
    return reference_path(name).exists()


def test_definitions_follow_the_sources():
    c, cg, dfg = (get_equation(n) for n in NAMES)
    assert c.pde.parameters["nu"] == 0.01 and cg.pde.parameters["nu"] == 0.01 and dfg.pde.parameters["nu"] == 1e-3
    assert set(c.conditions) == {"lid_u", "lid_v", "walls_u", "walls_v", "gauge"}
    assert cg.conditions["outlet_p"].field == "p" and cg.conditions["outlet_p"].on == ["x_max"]
    # the removed block of the step: points on the channel's left/top sides above the step are outside
    inside = cg.domain.contains(torch.tensor([[0.0, 1.5], [1.0, 2.0], [0.0, 0.5], [2.0, 1.5], [3.0, 2.0]],
                                             dtype=torch.float64))
    assert inside.tolist() == [False, False, True, True, True]
    assert {"step_x_max", "step_y_min", "cylinder"} <= set(cg.domain.faces) | set(dfg.domain.faces)
    y = np.linspace(0, 1, 5)
    assert np.allclose(ns2d_cg_inflow(0 * y, y)[0], 4 * y * (1 - y))
    assert np.allclose(ns2d_c_lid(y, 0 * y + 1)[0], 4 * y * (1 - y))
    y = np.linspace(0, 0.41, 1001)
    assert abs(np.trapezoid(dfg_inflow(0 * y, y)[0], y) / 0.41 - 0.2) < 1e-6  # mean inflow 0.2: Re = 20
    assert dfg.reference.benchmark["c_d"] == pytest.approx(5.57953523384)
    assert get_equation("dfg_cylinder", nu=2e-3).reference is None  # another flow: no reference
    with pytest.raises(SpecError, match="rho"):
        get_equation("pinnacle_ns2d_c", rho=-1.0)


def test_missing_reference_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PINNLAB_REFERENCES", str(tmp_path))
    with pytest.raises(SpecError, match="make_references.py dfg_cylinder"):
        FlowReference("dfg_cylinder")([[0.5, 0.2]])


@pytest.mark.parametrize("name", NAMES)
def test_shipped_reference_satisfies_the_conditions(name):
    if not _shipped(name):
        pytest.skip(f"{reference_path(name)} not written")
    problem = get_equation(name)
    ref = problem.reference
    assert ref.field.metadata["problem"] == name
    t = np.linspace(0.0, 1.0, 41)
    if name == "pinnacle_ns2d_c":
        lid = ref(np.column_stack([t, np.ones_like(t)]))
        assert np.abs(lid[:, 0] - 4 * t * (1 - t)).max() < 1e-6 and np.abs(lid[:, 1]).max() < 1e-6
        assert abs(ref([[0.0, 0.0]])[0, 2]) < 1e-6
    elif name == "pinnacle_ns2d_cg":
        inlet = ref(np.column_stack([0 * t, t]))
        assert np.abs(inlet[:, 0] - 4 * t * (1 - t)).max() < 1e-6
        outlet = ref(np.column_stack([np.full_like(t, 4.0), 2 * t]))
        assert np.abs(outlet[:, 2]).max() < 2e-3  # do-nothing outflow: p = nu u_x there, 1.6e-3 at most
    else:
        from pinnlab.references.fem_forces import DFG_2D1, dfg_quantities

        q = dfg_quantities(ref.field)
        assert abs(q["c_d"] / DFG_2D1["c_d"] - 1) < 1e-3 and abs(q["c_l"] / DFG_2D1["c_l"] - 1) < 1e-2
        assert abs(q["delta_p"] / DFG_2D1["delta_p"] - 1) < 1e-3
    # mass conservation: the flux through vertical sections equals the inflow
    y = np.linspace(0, 1, 2001) if name != "dfg_cylinder" else np.linspace(0, 0.41, 2001)
    if name == "pinnacle_ns2d_cg":
        flux = [np.trapezoid(ref(np.column_stack([np.full_like(2 * y, x), 2 * y]))[:, 0], 2 * y) for x in (3.0, 3.9)]
        assert np.allclose(flux, 2 / 3, rtol=1e-4)
    if name == "dfg_cylinder":
        flux = [np.trapezoid(ref(np.column_stack([np.full_like(y, x), y]))[:, 0], y) for x in (0.0, 1.0, 2.2)]
        assert np.allclose(flux, 0.2 * 0.41, rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_problem_trains_a_few_steps(tmp_path, name, monkeypatch):
    if not _shipped(name):
        pytest.skip(f"{reference_path(name)} not written")
    config = {"name": name, "problem": {"equation": name}, "model": {"width": 12, "depth": 2},
              "solver": {"stages": [{"name": "adam", "steps": 3, "lr": 1e-3}]}}
    sol = solve(config, out=tmp_path / "run", overrides=QUICK)
    errors = sol.metrics["rel_l2"]
    assert set(errors) == {"u", "v", "p"} and all(np.isfinite(list(errors.values())))
    assert sol.metrics.get("steps", 3) == 3
