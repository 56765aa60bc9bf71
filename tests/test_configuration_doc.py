"""docs/configuration.md documents every key: the run schemas (PINN and TENG), domain forms, shape
types and their keys, condition types and their keys, quantities, and every registered name."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from pinnlab.autodiff.backend import backend_names
from pinnlab.config.quantities import QuantityConfig
from pinnlab.config.schema import RunConfig, TengRunConfig
from pinnlab.equations import equation_names
from pinnlab.geometry.factory import _TYPED_KEYS
from pinnlab.geometry.factory_shapes import _PRIMITIVE_KEYS, CSG_TYPES
from pinnlab.nn.layers import ACTIVATIONS
from pinnlab.run.setup import sampling_methods
from pinnlab.solvers.base import solver_names
from pinnlab.spec import CONDITION_TYPES

DOC = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text under the heading ``title`` (any level) up to the next heading of the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(title)}\s*$", DOC, flags=re.MULTILINE)
    assert match, f"docs/configuration.md has no heading '{title}'"
    level = len(match.group(1))
    rest = DOC[match.end():]
    end = re.search(rf"^#{{1,{level}}} ", rest, flags=re.MULTILINE)
    return rest[: end.start()] if end else rest


def keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key path of a schema, nested sections and sections inside lists and mappings included."""
    out = []
    for name, field in model.model_fields.items():
        out.append(prefix + name)
        pending = [field.annotation]
        while pending:
            candidate = pending.pop()
            if isinstance(candidate, type) and issubclass(candidate, BaseModel) and candidate is not model:
                out += keys(candidate, f"{prefix}{name}.")
            else:
                pending += list(getattr(candidate, "__args__", ()))
    return sorted(set(out))


def ticked(name: str, text: str = DOC) -> bool:
    """``name`` appears in backticks, alone or as a key of a listed form (``a.b``, ``{name: ...}``, ``name (default)``)."""
    return re.search(rf"`[^`]*(?<![\w.]){re.escape(name)}(?![\w])[^`]*`", text) is not None


@pytest.mark.parametrize("schema", [RunConfig, TengRunConfig])
def test_every_schema_key_is_documented(schema):
    missing = [k for k in keys(schema) if f"`{k}`" not in DOC and not ticked(k)]
    assert not missing, f"undocumented keys of {schema.__name__}: {missing}"


def test_every_quantity_key_is_documented():
    text = section("Engineering quantities: `output.quantities`")
    missing = [k for k in QuantityConfig.model_fields if f"`output.quantities.{k}`" not in text]
    assert not missing, f"undocumented quantity keys: {missing}"
    for word in ("nx", "ny", "dn(u)", "drag", "lift", "minus_at", "Schäfer"):
        assert word in text


def test_every_domain_form_shape_and_key_is_documented():
    domain = section("Domain: `problem.domain`")
    for kind, allowed in _TYPED_KEYS.items():
        assert f"`{kind}`" in domain or ticked(kind, domain), kind
        missing = [k for k in allowed if not ticked(k, domain)]
        assert not missing, f"undocumented keys of a {kind} domain: {missing}"
    shapes = section("Shapes, CSG and meshes")
    for kind, allowed in {**_PRIMITIVE_KEYS, **{k: {"of"} for k in CSG_TYPES}}.items():
        assert f"| `{kind}` |" in shapes, f"shape type {kind} is not in the table"
        missing = [k for k in allowed | {"name"} if not ticked(k, shapes)]
        assert not missing, f"undocumented keys of a {kind}: {missing}"


def test_every_condition_type_and_key_is_documented():
    conditions = section("Conditions: `problem.conditions`")
    for kind, cls in CONDITION_TYPES.items():
        assert f"| `{kind}` |" in conditions, f"condition type {kind} is not in the table"
        missing = [f.name for f in dataclasses.fields(cls) if f.init and not ticked(f.name, conditions)]
        assert not missing, f"undocumented keys of a {kind} condition: {missing}"


def test_every_registered_name_is_documented():
    for name in solver_names():
        assert ticked(name, section("`solver`")) or ticked(name, section("TENG runs (`mode: teng` or a `teng:` section)")), name
    for name in sampling_methods():
        assert ticked(name, section("`sampling`")), name
    for name in backend_names():
        assert ticked(name, section("`derivatives`")), name
    for name in ACTIVATIONS:
        assert ticked(name, section("`model`")), name
    built_in = section("Built-in problems")
    missing = [n for n in equation_names() if not ticked(n, built_in)]
    assert not missing, f"built-in problems missing from the table: {missing}"


def test_the_dfg_quantities_example_validates(tmp_path, capsys):
    """The YAML of the quantities section, on the DFG 2D-1 channel, passes `pinnlab validate`."""
    import yaml

    from pinnlab.cli import main

    text = section("Engineering quantities: `output.quantities`")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL) if "drag:" in b)
    config = {
        "problem": {
            "equation": "navier_stokes", "options": {"nu": 0.001, "rho": 1.0},
            "domain": {"type": "difference", "of": [{"type": "rectangle", "low": [0, 0], "high": [2.2, 0.41]},
                                                    {"type": "disk", "center": [0.2, 0.2], "radius": 0.05,
                                                     "name": "cylinder"}]},
            "conditions": {
                "inlet_u": {"type": "dirichlet", "field": "u", "value": "1.2*y*(0.41 - y)/0.41**2", "on": ["x_min"]},
                "walls_u": {"type": "dirichlet", "field": "u", "value": 0, "on": ["y", "cylinder"]},
                "walls_v": {"type": "dirichlet", "field": "v", "value": 0, "on": ["x_min", "y", "cylinder"]},
                "outlet": {"type": "dirichlet", "field": "p", "value": 0, "on": ["x_max"]}}},
        "train": {"steps": 1},
        **yaml.safe_load(block),
    }
    path = tmp_path / "dfg.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    config["output"]["quantities"]["drag"]["over"] = "cylindre"
    path.write_text(yaml.safe_dump(config))
    assert main(["validate", str(path)]) == 2
    assert "key 'output.quantities.drag.over': unknown boundary part 'cylindre' (did you mean 'cylinder'?)" in (
        capsys.readouterr().err)
