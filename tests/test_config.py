"""Configuration schema, YAML reading, --set overrides, building, and `pinnlab validate` messages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from pydantic import BaseModel

from pinnlab.config import RunConfig, apply_overrides, load_config, parse_config, read_yaml, yaml_load
from pinnlab.config.build import (
    conditions_from_dict,
    geometry_of,
    model_from_config,
    pde_from_dict,
    problem_from_config,
    program_from_config,
)
from pinnlab.equations import get_equation
from pinnlab.errors import ConfigError
from pinnlab.nn import FourierFeatures

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
HEAT = {"problem": {"equation": "heat1d"}, "train": {"steps": 3}}


def error_of(data, source="cfg.yaml") -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, source)
    return str(info.value)


# -- schema and defaults ---------------------------------------------------------------------------------


def test_defaults():
    cfg = parse_config(HEAT)
    assert (cfg.model.type, cfg.model.width, cfg.model.depth, cfg.model.activation) == ("mlp", 64, 4, "tanh")
    assert cfg.model.fourier is None and cfg.model.periodic is False and cfg.model.output == {}
    assert (cfg.derivatives.method, cfg.derivatives.samples, cfg.derivatives.kind) == ("taylor", 16, "sparse")
    s = cfg.sampling
    assert (s.method, s.interior, s.boundary, s.initial, s.resample_every) == ("uniform", 2000, 200, 200, 0)
    t = cfg.train
    assert (t.seed, t.dtype, t.device, t.eval_every, t.checkpoint_every, t.log_every, t.progress) == (
        0, "float32", "auto", 500, 1000, 10, True)
    o = cfg.output
    assert (o.dir, o.resolution, o.frames, o.vtk, o.plots) == (None, None, 11, True, True)
    assert cfg.stages() == [{"name": "adam", "steps": 3}]


def test_solver_forms():
    one = parse_config({**HEAT, "solver": {"name": "lbfgs", "history": 20, "steps": 7}})
    assert one.stages() == [{"name": "lbfgs", "steps": 7, "history": 20}]
    staged = parse_config({"problem": {"equation": "heat1d"},
                           "solver": {"stages": [{"name": "adam", "steps": 5, "lr": 1e-3},
                                                 {"name": "lbfgs", "steps": 2}]}})
    assert staged.stages() == [{"name": "adam", "steps": 5, "lr": 1e-3}, {"name": "lbfgs", "steps": 2}]


@pytest.mark.parametrize("data, pieces", [
    ({**HEAT, "modle": {}}, ["cfg.yaml: unknown key 'modle' (did you mean 'model'?)"]),
    ({**HEAT, "model": {"widht": 3}}, ["cfg.yaml: unknown key 'model.widht' (did you mean 'width'?)"]),
    ({**HEAT, "model": {"fourier": {"sigm": 2}}}, ["unknown key 'model.fourier.sigm' (did you mean 'sigma'?)"]),
    ({**HEAT, "model": {"fourier": {"sigma": {"t": -1, "x": 2}}}},
     ["key 'model.fourier.sigma': the scales must be >= 0, at least one of them > 0"]),
    ({"problem": {"equation": "heat1d"}, "train": {"stesp": 3, "steps": 1}},
     ["unknown key 'train.stesp' (did you mean 'steps'?)"]),
    ({**HEAT, "sampling": {"zzz": 1}}, ["unknown key 'sampling.zzz' (valid keys: method, interior"]),
    ({**HEAT, "model": {"width": "wide"}}, ["key 'model.width': Input should be a valid integer"]),
    ({**HEAT, "model": {"depth": 0}}, ["key 'model.depth': Input should be greater than or equal to 1"]),
    ({**HEAT, "model": {"type": "cnn"}}, ["key 'model.type': Input should be 'mlp'"]),
    ({**HEAT, "train": {"steps": 3, "dtype": "float16"}}, ["key 'train.dtype': Input should be 'float32' or 'float64'"]),
    ({**HEAT, "derivatives": {"kind": "normal"}}, ["key 'derivatives.kind'"]),
    ({"problem": {"equation": "heat1d", "pde": {}}, "train": {"steps": 1}},
     ["key 'problem': give either 'equation' (a built-in name) or 'pde' (an inline PDE)"]),
    ({"problem": {}, "train": {"steps": 1}}, ["give either 'equation'"]),
    ({"problem": {"pde": {"coordinates": ["x"]}}, "train": {"steps": 1}},
     ["key 'problem': an inline 'pde' needs a 'domain'"]),
    ({"train": {"steps": 1}}, ["key 'problem': Field required"]),
    ({**HEAT, "solver": {}}, ["key 'solver': give either 'name' (one solver) or 'stages'"]),
    ({**HEAT, "solver": {"stages": [{"name": "adam", "steps": 1}], "lr": 1}},
     ["with 'stages', put solver options inside each stage, not ['lr']"]),
    ({**HEAT, "solver": {"stages": [{"name": "adam"}]}}, ["key 'solver.stages.0.steps': Field required"]),
    ({**HEAT, "solver": {"stages": [{"name": "adam", "steps": -1}]}}, ["key 'solver.stages.0.steps'"]),
    ({"problem": {"equation": "heat1d"}}, [("cfg.yaml: the number of steps is missing: set train.steps or "
                                           "solver.steps")]),
    ({**HEAT, "name": "a/b"}, ["key 'name': name must be a plain, non-empty name without slashes"]),
    ([1, 2], ["cfg.yaml: the configuration must be a mapping of sections, got list"]),
])
def test_schema_errors_name_source_key_and_reason(data, pieces):
    message = error_of(data)
    for piece in pieces:
        assert piece in message, (piece, message)


def test_several_errors_are_reported_together():
    message = error_of({**HEAT, "model": {"widht": 3, "depth": "x"}, "output": {"frame": 2}})
    lines = message.splitlines()
    assert len(lines) == 3
    assert all(line.startswith("cfg.yaml: ") for line in lines)
    assert any("'model.widht'" in line for line in lines) and any("'output.frame'" in line for line in lines)


# -- YAML --------------------------------------------------------------------------------------------------


def test_read_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        read_yaml(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("problem:\n  equation: heat1d\n  domain: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: malformed YAML at line 4, column 1: expected ','"):
        read_yaml(bad)
    tabs = tmp_path / "tabs.yaml"
    tabs.write_text("problem:\n\tequation: heat1d\n")
    with pytest.raises(ConfigError, match=r"tabs\.yaml: malformed YAML at line 2"):
        read_yaml(tabs)
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    with pytest.raises(ConfigError, match="the file is empty"):
        read_yaml(empty)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping of sections at the top level"):
        read_yaml(listing)


def test_yaml_booleans_are_yaml_1_2():
    """``on:`` (a condition key) and words like ``no`` stay strings; true/false are booleans."""
    data = yaml_load("walls: {type: dirichlet, on: [x_min], off: no, flag: true, other: False}")
    assert data == {"walls": {"type": "dirichlet", "on": ["x_min"], "off": "no", "flag": True, "other": False}}


def test_yaml_does_not_build_objects():
    with pytest.raises(ConfigError, match="malformed YAML"):
        read_yaml_text("x: !!python/object/apply:os.system ['echo hacked']\n")


def read_yaml_text(text: str):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.yaml"
        path.write_text(text)
        return read_yaml(path)


# -- overrides ---------------------------------------------------------------------------------------------


def test_overrides_parse_values_and_create_sections():
    base = {"problem": {"equation": "heat1d"}, "solver": {"stages": [{"name": "adam", "steps": 5}]}}
    out = apply_overrides(base, [
        "train.steps=20", "solver.stages.0.lr=1e-3", "model.fourier.features=8", "output.resolution=[11, 21]",
        "train.progress=false", "name=my run", "problem.parameters.k=0.5", "output.vtk=no",
    ])
    assert out["train"]["steps"] == 20
    assert out["solver"]["stages"][0] == {"name": "adam", "steps": 5, "lr": 1e-3}
    assert out["model"]["fourier"] == {"features": 8}
    assert out["output"]["resolution"] == [11, 21]
    assert out["train"]["progress"] is False
    assert out["name"] == "my run"
    assert out["problem"]["parameters"] == {"k": 0.5}
    assert base == {"problem": {"equation": "heat1d"}, "solver": {"stages": [{"name": "adam", "steps": 5}]}}
    cfg = parse_config(out)
    assert cfg.output.vtk is False and cfg.model.fourier.features == 8


@pytest.mark.parametrize("item, message", [
    ("train.steps", "'train.steps' is not of the form key.path=value"),
    ("=3", "empty key in '=3'"),
    ("problem.equation.name=x", "key 'problem.equation.name': 'equation' is a value, not a section"),
    ("solver.stages.5.steps=1", "key 'solver.stages.5.steps': '5' is not a valid list index (0 to 0)"),
    ("solver.stages.first=1", "key 'solver.stages.first': 'first' is not a valid list index (0 to 0)"),
])
def test_override_errors(item, message):
    base = {"problem": {"equation": "heat1d"}, "solver": {"stages": [{"name": "adam", "steps": 5}]}}
    with pytest.raises(ConfigError, match=re.escape(f"--set: {message}")):
        apply_overrides(base, [item])


def test_load_config_with_overrides(write_yaml):
    path = write_yaml({"problem": {"equation": "heat1d"}, "train": {"steps": 3}})
    cfg = load_config(path, ["train.steps=9", "model.width=5"])
    assert cfg.train.steps == 9 and cfg.model.width == 5
    with pytest.raises(ConfigError, match=re.escape(f"{path}: unknown key 'model.widht' (did you mean 'width'?)")):
        load_config(path, ["model.widht=5"])


# -- building problems, models and programs ----------------------------------------------------------------------


def test_inline_pde_problem():
    cfg = parse_config({
        "problem": {
            "pde": {"coordinates": ["t", "x"], "time": "t", "fields": ["u"], "parameters": {"nu": 0.05},
                    "equations": {"advection_diffusion": "u_t + u_x = nu*u_xx"}},
            "domain": {"t": [0, 1], "x": [0, 1]},
            "conditions": {"initial": {"type": "initial", "field": "u", "value": "sin(pi*x)"},
                           "walls": {"type": "dirichlet", "field": "u", "value": 0, "on": ["x"]}},
            "exact": {"u": "exp(-t)*sin(pi*x)"},
        },
        "train": {"steps": 1},
    })
    problem = problem_from_config(cfg.problem)
    assert problem.name == "custom" and problem.pde.parameters == {"nu": 0.05}
    assert set(problem.conditions) == {"initial", "walls"} and problem.has_reference()
    program = program_from_config(cfg, problem)
    assert program.point_sets["walls"].faces == ["x_min", "x_max"]


def test_builtin_with_parameters_options_and_conditions():
    cfg = parse_config({"problem": {"equation": "heat", "options": {"dim": 2}, "parameters": {"k": 0.5},
                                    "conditions": {"ic": {"type": "initial", "field": "u", "value": 0}}},
                        "train": {"steps": 1}})
    problem = problem_from_config(cfg.problem)
    assert problem.pde.columns == ["t", "x", "y"] and problem.pde.parameters == {"k": 0.5}
    assert list(problem.conditions) == ["ic"]


@pytest.mark.parametrize("problem, message", [
    ({"equation": "heat1dd"}, "cfg.yaml: key 'problem.equation': unknown equation 'heat1dd'; built-in: allen_cahn1d, "),
    ({"equation": "heat1dd"}, "taylor_green2d (did you mean 'heat1d'?)"),
    ({"equation": "heat", "options": {"dimm": 2}}, "equation 'heat': bad option"),
    ({"equation": "heat1d", "parameters": {"kk": 1}}, "unknown parameter 'kk' (did you mean 'k'?)"),
    ({"pde": {"coordinates": ["x"], "fields": ["u"], "equations": {"e": "u_xx + nuu"}}, "domain": {"x": [0, 1]}},
     "cfg.yaml: key 'problem.pde.equations.e': unknown symbol 'nuu' at column 8 in 'u_xx + nuu'"),
    ({"pde": {"coordinates": ["x"], "fields": ["u"], "equations": {"e": "u_yy"}}, "domain": {"x": [0, 1]}},
     "key 'problem.pde.equations.e': 'u_yy' differentiates 'u' by 'yy', which is not a coordinate (coordinates: x)"),
    ({"pde": {"coordinates": ["x"], "fields": ["u"], "equations": {"e": "u_xx"}}, "domain": {"x": [0, 1]},
      "conditions": {"bc": {"type": "dirichlet", "field": "v", "value": 0}}},
     "key 'problem.conditions.bc': 'v' is not a field (fields: u)"),
    ({"pde": {"coordinates": ["x"], "fields": ["u"], "equations": {"e": "u_xx"}}, "domain": {"x": [0, 1]},
      "conditions": {"bc": {"type": "dirchlet", "field": "u", "value": 0}}},
     "key 'problem.conditions.bc.type': unknown condition type 'dirchlet' (did you mean 'dirichlet'?)"),
    ({"pde": {"coordinates": ["x"], "fields": ["u"], "equations": {"e": "u_xx"}}, "domain": {"x": [0, 1]},
      "conditions": {"bc": {"field": "u", "value": 0}}}, "key 'problem.conditions.bc' needs a 'type'"),
    ({"pde": {"coordinates": ["x"], "fields": ["u"], "equations": {"e": "u_xx"}}, "domain": {"x": [0, 1]},
      "conditions": {"bc": {"type": "dirichlet", "feild": "u"}}},
     "key 'problem.conditions.bc': Dirichlet.__init__() got an unexpected keyword argument 'feild' (valid keys:"),
    ({"pde": {"coordinates": ["x"], "fields": ["u"], "equation": {"e": "u_xx"}}, "domain": {"x": [0, 1]}},
     "unknown key 'problem.pde.equation' (did you mean 'equations'?)"),
    ({"pde": {"coordinates": ["x"], "fields": ["u"]}, "domain": {"x": [0, 1]}},
     "key 'problem.pde.equations' is missing"),
])
def test_problem_errors(problem, message):
    cfg = parse_config({"problem": problem, "train": {"steps": 1}}, "cfg.yaml")
    with pytest.raises(ConfigError) as info:
        problem_from_config(cfg.problem, "cfg.yaml")
    assert message in str(info.value)


def test_direct_builders():
    pde = pde_from_dict({"coordinates": ["x"], "fields": ["u"], "equations": {"e": "u_xx + 1"}})
    assert pde.columns == ["x"]
    conds = conditions_from_dict({"d": {"type": "data", "points": [[0.5]], "values": [1.0]}})
    assert conds["d"].coords == [[0.5]]


@pytest.mark.parametrize("section, message", [
    ({"model": {"activation": "relu"}}, "key 'model.activation': unknown activation 'relu' (available: tanh"),
    ({"model": {"output": {"w": "u"}}}, "key 'model.output.w': 'w' is not a field"),
    ({"model": {"output": {"u": "u_x"}}}, "key 'model.output.u': derivatives are not allowed here"),
    ({"model": {"output": {"u": "q*u"}}}, "key 'model.output.u': output transform of 'u': unknown symbol 'q'"),
    ({"model": {"periodic": True}}, "key 'model.periodic': true, but the problem has no periodic condition"),
    ({"model": {"periodic": {"z": 1.0}}}, "key 'model.periodic.z': not a scalar coordinate"),
    ({"model": {"fourier": {"sigma": {"x": 2.0}}}}, ("key 'model.fourier.sigma': no scale for coordinate 't' "
                                                     "(give one scale for each of: t, x)")),
    ({"model": {"fourier": {"sigma": {"t": 1, "x": 2, "z": 3}}}}, "key 'model.fourier.sigma': 'z' is not a coordinate"),
])
def test_model_errors(section, message):
    cfg = parse_config({**HEAT, **section})
    problem = problem_from_config(cfg.problem)
    with pytest.raises(ConfigError, match=re.escape(message)):
        model_from_config(cfg.model, problem, geometry_of(problem), source="cfg.yaml")


def test_fourier_scales_per_coordinate():
    """Each input column's frequencies have the standard deviation named for its coordinate; the columns
    of a periodic embedding (cos, sin of each harmonic) take the scale of the coordinate they embed."""
    cfg = parse_config({**HEAT, "model": {"fourier": {"features": 20000, "sigma": {"t": 0.5, "x": 8.0}}}})
    problem = problem_from_config(cfg.problem)
    model = model_from_config(cfg.model, problem, geometry_of(problem))
    spread = model.fourier.B.std(dim=1)
    assert torch.allclose(spread, torch.tensor([0.5, 8.0], dtype=spread.dtype), rtol=0.03)
    cfg = parse_config({"problem": {"equation": "allen_cahn1d"}, "train": {"steps": 1},
                        "model": {"periodic": True, "harmonics": 2,
                                  "fourier": {"features": 20000, "sigma": {"t": 0.5, "x": 8.0}}}})
    problem = problem_from_config(cfg.problem)
    model = model_from_config(cfg.model, problem, geometry_of(problem))
    spread = model.fourier.B.std(dim=1)  # columns: t, cos(x), cos(2x), sin(x), sin(2x)
    assert torch.allclose(spread, torch.tensor([0.5, 8, 8, 8, 8], dtype=spread.dtype), rtol=0.03)
    with pytest.raises(ValueError, match="3 scales for 2 input columns"):
        FourierFeatures(2, 4, [1.0, 2.0, 3.0])


@pytest.mark.parametrize("section, message", [
    ({"sampling": {"points": {"walls": 5}}}, "key 'sampling.points.walls': no such term (terms: interior, initial,"),
    ({"loss": {"weights": {"intial": 2}}}, "key 'loss.weights.intial': no such term (did you mean 'initial'?)"),
    ({"derivatives": {"method": "taylr"}}, "key 'derivatives.method': unknown derivative method 'taylr'; available:"),
    ({"derivatives": {"method": "taylr"}}, "autograd, stde, taylor (did you mean 'taylor'?)"),
])
def test_program_errors(section, message):
    cfg = parse_config({**HEAT, **section})
    with pytest.raises(ConfigError, match=re.escape(message)):
        program_from_config(cfg, problem_from_config(cfg.problem), "cfg.yaml")


def test_point_counts_per_term():
    cfg = parse_config({**HEAT, "derivatives": {"method": "autograd"},
                        "sampling": {"interior": 11, "boundary": 7, "initial": 5, "points": {"boundary": 3}}})
    problem = problem_from_config(cfg.problem)
    program = program_from_config(cfg, problem)
    assert {k: v.n for k, v in program.point_sets.items()} == {"interior": 11, "initial": 5, "boundary": 3}
    assert program.problem.conditions["boundary"].points == 3
    assert problem.conditions["boundary"].points is None  # the problem given is left as it was


def test_builtin_problem_is_not_changed_by_a_config():
    fresh = get_equation("heat1d")
    cfg = parse_config({"problem": {"equation": "heat1d", "parameters": {"k": 0.5}, "domain": {"t": [0, 2], "x": [0, 1]},
                                    "exact": {"u": "0*x"}}, "train": {"steps": 1}})
    problem = problem_from_config(cfg.problem)
    assert problem.pde.parameters == {"k": 0.5} and problem.domain == {"t": [0, 2], "x": [0, 1]}
    assert problem.exact == {"u": "0*x"} and set(problem.conditions) == set(fresh.conditions)
    again = get_equation("heat1d")
    assert again.pde.parameters == fresh.pde.parameters and again.exact == fresh.exact


# -- pinnlab validate ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_validate(cli, path):
    code, out, err = cli("validate", path)
    assert code == 0, err
    assert out.startswith(f"{path}: OK (")


@pytest.mark.parametrize("text, pieces", [
    ("problem:\n  equation: heat1d\ntrain:\n  stesp: 10\n", ["unknown key 'train.stesp' (did you mean 'steps'?)"]),
    ("problem:\n  equation: heat1dd\ntrain: {steps: 3}\n", ["unknown equation 'heat1dd'; built-in:", "(did you mean 'heat1d'?)"]),
    ("problem: {equation: heat1d}\nsolver: {name: adamm}\ntrain: {steps: 3}\n",
     ["key 'solver.name': unknown solver 'adamm'; available:", "lbfgs", "(did you mean 'adam'?)"]),
    ("problem: {equation: heat1d}\nsolver: {name: adam, lr: 1, momentum: 2}\ntrain: {steps: 3}\n",
     ["key 'solver.momentum': unknown option of solver 'adam' (options: lr, betas"]),
    ("problem: {equation: heat1d}\nsolver: {name: adam, lr: fast}\ntrain: {steps: 3}\n",
     ["key 'solver.lr': lr must be a number >= 0, got 'fast'"]),
    ("problem: {equation: heat1d}\nmodel: {activation: relu}\ntrain: {steps: 3}\n",
     ["key 'model.activation': unknown activation 'relu'"]),
    ("problem: {equation: heat1d}\nsampling: {method: sobl}\ntrain: {steps: 3}\n",
     ["key 'sampling.method': unknown method 'sobl' (methods: uniform, sobol, lhs"]),
    ("problem: {equation: heat1d}\nderivatives: {method: taylr}\ntrain: {steps: 3}\n",
     ["key 'derivatives.method': unknown derivative method 'taylr'; available:", "autograd"]),
    ("problem:\n  equation: heat1d\n  domain: [1, 2\n", ["malformed YAML at line 4, column 1"]),
    ("problem: {equation: heat1d}\n", ["the number of steps is missing"]),
    (("problem:\n  pde:\n    coordinates: [x]\n    fields: [u]\n    equations: {eq: 'u_xx + nuu'}\n"
     "  domain: {x: [0, 1]}\ntrain: {steps: 3}\n"), ["key 'problem.pde.equations.eq': unknown symbol 'nuu' at column 8"]),
    (("problem:\n  pde:\n    coordinates: [x]\n    fields: [u]\n    equations: {eq: 'u_xx + 1'}\n"
     "  domain: {x: [0, 1]}\n  conditions:\n    bc: {type: dirichlet, field: u, value: 0, on: [y]}\n"
     "train: {steps: 3}\n"),
     ["key 'problem.conditions.bc.on': unknown face or coordinate 'y'; faces of this domain: x_min, x_max"]),
    (("problem:\n  pde:\n    coordinates: [t, x]\n    time: t\n    fields: [u]\n    equations: {eq: 'u_t - u_xx'}\n"
     "  domain: {t: [0, 1], x: [0, 1]}\n  conditions:\n    bc: {type: dirichlet, field: u, value: 0, on: [t]}\n"
     "train: {steps: 3}\n"), ["'on: t' names the time coordinate; use an initial condition instead"]),
    (("problem:\n  pde:\n    coordinates: [x]\n    fields: [u]\n    equations: {eq: 'u_xx'}\n"
     "  domain: {x: [0, 1], y: [0, 1]}\ntrain: {steps: 3}\n"), ["unknown keys ['y']"]),
])
def test_validate_reports_file_key_and_reason(cli, write_yaml, text, pieces):
    path = write_yaml(text, "bad.yaml")
    code, out, err = cli("validate", path)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {path}: ")
    assert "Traceback" not in err
    for piece in pieces:
        assert piece in err, (piece, err)
    assert str(path) in err


def test_validate_ok_and_overrides(cli, write_yaml):
    path = write_yaml({"problem": {"equation": "heat1d"}, "train": {"steps": 3}})
    code, out, _ = cli("validate", path)
    assert code == 0
    assert out.strip() == (f"{path}: OK (heat1d: coordinates ['t', 'x'], fields ['u'], "
                           "terms heat, initial, boundary)")
    code, _, err = cli("validate", path, "--set", "model.width=-1")
    assert code == 2 and "key 'model.width': Input should be greater than or equal to 1" in err
    code, _, err = cli("validate", tmp := path.with_name("missing.yaml"))
    assert code == 2 and f"{tmp}: file not found" in err


# -- docs ---------------------------------------------------------------------------------------------------


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        for candidate in (field.annotation, *getattr(field.annotation, "__args__", ())):
            inner = [candidate, *getattr(candidate, "__args__", ())]
            for c in inner:
                if isinstance(c, type) and issubclass(c, BaseModel) and c is not model:
                    keys += _keys(c, f"{prefix}{name}.")
    return sorted(set(keys))


def test_every_schema_key_is_documented():
    text = (ROOT / "docs" / "configuration.md").read_text()
    missing = [k for k in _keys(RunConfig) if f"`{k}`" not in text]
    assert not missing, f"undocumented configuration keys: {missing}"


def test_custom_pde_example_forms_agree():
    """examples/custom_pde.py: the Python classes and the YAML dict describe the same problem."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("custom_pde", ROOT / "examples" / "custom_pde.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    from_python = example.python_problem()
    cfg = parse_config({"problem": example.YAML_PROBLEM, **example.SETTINGS})
    from_yaml = problem_from_config(cfg.problem)
    assert from_yaml.pde.parsed == from_python.pde.parsed
    assert from_yaml.pde.parameters == from_python.pde.parameters
    assert {k: (c.parsed, c.on) for k, c in from_yaml.conditions.items()} == {
        k: (c.parsed, c.on) for k, c in from_python.conditions.items()}
    assert from_yaml.exact_parsed == from_python.exact_parsed
