"""Property-based tests of the configuration loader on mutated shipped configs, random YAML and ``--set`` values.

Every outcome is either a valid configuration or a ConfigError/SpecError whose message names the file
(or ``--set``), the key where there is one, and a reason: never another exception, never a traceback.
The number of cases each property tried is printed in the test summary.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzzing import run_cases
from hypothesis import strategies as st

from pinnlab.cli import main
from pinnlab.config import apply_overrides, parse_config, read_yaml
from pinnlab.errors import ConfigError, SpecError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
#: the shipped configurations that validate in milliseconds (the 100000-dimensional ball takes 0.3 s)
SHIPPED = sorted(p for p in CONFIGS.glob("*.yaml") if "d100000" not in p.name)
BASES = {p.name: read_yaml(p) for p in SHIPPED}

#: names a user might plausibly write, right or wrong
NAMES = ["adam", "lbfgs", "gauss_newton", "engd", "config", "teng", "heat1d", "burgers1d", "taylor", "stde",
         "autograd", "sobol", "uniform", "r3", "tanh", "sin", "relu", "float64", "float32", "cpu", "cuda", "auto",
         "dirichlet", "neumann", "initial", "periodic", "data", "x", "t", "u", "u_t - u_xx", "sin(pi*x)", "lap(u)",
         "fast", "abc", "", " ", "null", "1e-3", "-1", "nan", "{a: 1}", "[1, 2]", "__import__('os')", "λ", "é"]
SCALARS = st.one_of(
    st.integers(min_value=-3, max_value=64),
    st.sampled_from([0, 1, 2, -1, 10**30]),
    # moderate floats, and the extremes: a valid but astronomically large size (dim: 1e8) would only measure
    # the machine's memory, not the loader
    st.floats(min_value=-1e4, max_value=1e4),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -0.0, 5e-324, 0.5, 2.5]),
    st.sampled_from(NAMES),
    st.text(max_size=8),
    st.booleans(),
    st.none(),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.sampled_from(NAMES[:20]), inner, max_size=3)),
                      max_leaves=5)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into a nested mapping/list (the root excluded)."""
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        out.append((*prefix, key))
        out.extend(paths(value, (*prefix, key)))
    return out


def parent_of(data: Any, path: tuple) -> Any:
    for key in path[:-1]:
        data = data[key]
    return data


@st.composite
def mutated_config(draw: st.DrawFn) -> tuple[str, dict[str, Any], str]:
    """A shipped config with one to three mutations: a key dropped, renamed or added, a value replaced or wrapped."""
    name = draw(st.sampled_from(sorted(BASES)))
    data = copy.deepcopy(BASES[name])
    done = []
    for _ in range(draw(st.integers(1, 3))):
        everything = paths(data)
        kind = draw(st.sampled_from(["drop", "replace", "replace", "insert", "rename", "wrap"]))
        if not everything:
            kind = "insert"
        if kind == "insert":
            holders = [()] + [p for p in everything if isinstance(parent_of(data, (*p, 0)), dict)]
            holder = draw(st.sampled_from(holders))
            target = data if not holder else parent_of(data, (*holder, None))
            key = draw(st.one_of(st.sampled_from(NAMES[:30] + ["stages", "steps", "lr", "bogus", "problem"]),
                                 st.text(min_size=1, max_size=6)))
            if isinstance(target, dict):
                target[key] = draw(VALUES)
            done.append(f"insert {holder}+{key!r}")
            continue
        path = draw(st.sampled_from(everything))
        parent, key = parent_of(data, path), path[-1]
        if kind == "drop":
            del parent[key]
        elif kind == "replace":
            parent[key] = draw(VALUES)
        elif kind == "rename" and isinstance(parent, dict):
            parent[f"{key}{draw(st.sampled_from(['s', '_', 'x']))}"] = parent.pop(key)
        elif kind == "wrap":
            parent[key] = draw(st.sampled_from([[parent[key]], {"value": parent[key]}]))
        done.append(f"{kind} {'.'.join(map(str, path))}")
    return name, data, "; ".join(done)


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    """A shipped config's text with lines dropped, repeated or re-indented and characters changed."""
    lines = (CONFIGS / draw(st.sampled_from(sorted(BASES)))).read_text().splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        kind = draw(st.sampled_from(["drop", "repeat", "indent", "dedent", "char", "cut"]))
        line = lines[i] if lines else ""
        if kind == "drop" and lines:
            del lines[i]
        elif kind == "repeat":
            lines.insert(i, line)
        elif kind == "indent":
            lines[i:i + 1] = [" " * draw(st.integers(1, 5)) + line]
        elif kind == "dedent":
            lines[i:i + 1] = [line.lstrip()]
        elif kind == "char":
            j = draw(st.integers(0, len(line)))
            lines[i:i + 1] = [line[:j] + draw(st.sampled_from(list(":-[]{},#&*!|>'\"%@` \t") + ["\\"])) + line[j + 1:]]
        else:
            lines = lines[:i]
    return "\n".join(lines) + "\n"


# -- checks ----------------------------------------------------------------------------------------------

_REASON = re.compile(r"[a-z]{3,}")
#: a line names a key: ``key 'a.b'``, ``unknown key 'a'``, or a dotted key path in its advice (``train.steps``)
_KEY = re.compile(r"\bkey (?:'[^']*'|\"[^\"]*\")|\b[a-z_]+\.[a-z_]+\b")
#: what is wrong with the file as a whole (no key to name)
_FILE_LEVEL = ("malformed YAML", "the file is empty", "expected a mapping", "not UTF-8", "is a directory",
               "cannot be read", "the configuration must be a mapping")


def check_message(message: str, source: str, keyed: bool = True) -> None:
    """Every line of the message names the source, a key (unless the file as a whole is wrong) and a reason."""
    assert "Traceback" not in message, message
    lines = message.strip().split("\n")
    assert lines, "an empty error message"
    assert lines[0].startswith(f"{source}: "), f"the message does not start with '{source}': {message}"
    for line in lines:
        assert line.startswith(f"{source}: "), f"a line without the source: {line!r} in {message}"
        rest = line[len(source) + 2:]
        assert _REASON.search(rest), f"no reason given: {message}"
        if keyed and not any(s in rest for s in _FILE_LEVEL):
            assert _KEY.search(rest), f"no key named: {line}"


def validate_in_process(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def check_validate(path: Path, capsys: pytest.CaptureFixture[str], what: str = "") -> None:
    code, output = validate_in_process(path, capsys)
    assert code in (0, 2), (what, code, output)
    if code == 2:
        assert output.startswith("error: "), output
        if output.startswith("error: out of memory"):  # a valid but huge size: the machine's limit, said as such
            return
        check_message(output.removeprefix("error: "), str(path))
    else:
        assert output.startswith(f"{path}: OK"), output


# -- properties ---------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    return one_thread


def test_shipped_configs_validate(tmp_path, capsys):
    for path in SHIPPED:
        assert validate_in_process(path, capsys)[0] == 0, path


def test_mutated_configs_validate_or_name_file_key_and_reason(request, tmp_path, capsys):
    path = tmp_path / "mutated.yaml"

    def check(case: tuple[str, dict[str, Any], str]) -> None:
        name, data, what = case
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        check_validate(path, capsys, f"{name}: {what}")

    run_cases(request, mutated_config(), check, examples=250)


def test_mutated_yaml_text_reads_or_names_the_file(request, tmp_path, capsys):
    path = tmp_path / "edited.yaml"

    def check(text: str) -> None:
        path.write_text(text)
        check_validate(path, capsys, text)

    run_cases(request, mutated_text(), check, examples=150)


def test_random_documents_parse_or_name_the_source(request, tmp_path):
    """Random YAML documents (any structure) and random bytes: read_yaml and parse_config raise only ConfigError."""
    path = tmp_path / "random.yaml"
    documents = st.one_of(
        VALUES.map(lambda v: yaml.safe_dump(v, allow_unicode=True).encode()),
        st.dictionaries(st.sampled_from(["problem", "model", "solver", "train", "output", "mode", "teng", "name",
                                         "sampling", "loss", "derivatives", "bogus"]), VALUES, max_size=6)
        .map(lambda v: yaml.safe_dump(v, allow_unicode=True).encode()),
        st.binary(max_size=64),
        st.text(alphabet=":-[]{}#&*!|>'\"%@ \n\tabcx01", max_size=60).map(str.encode),
    )

    def check(blob: bytes) -> None:
        path.write_bytes(blob)
        try:
            parse_config(read_yaml(path), str(path))
        except (ConfigError, SpecError) as exc:
            check_message(str(exc), str(path))

    run_cases(request, documents, check, examples=300)


def test_overrides_apply_or_name_the_key(request):
    """Random ``--set KEY=VALUE`` items on a shipped config: applied and validated, or a ConfigError."""
    keys = sorted({".".join(map(str, p)) for data in BASES.values() for p in paths(data)})
    segment = st.one_of(st.sampled_from(NAMES[:20]), st.integers(-2, 5).map(str), st.text(max_size=4))
    key = st.one_of(st.sampled_from(keys), st.lists(segment, min_size=0, max_size=4).map(".".join))
    raw = st.one_of(st.sampled_from(NAMES), st.text(max_size=12), VALUES.map(lambda v: yaml.safe_dump(v).strip()))
    item = st.one_of(st.tuples(key, raw).map("=".join), st.text(max_size=10))
    case = st.tuples(st.sampled_from(sorted(BASES)), st.lists(item, min_size=1, max_size=3))

    def check(args: tuple[str, list[str]]) -> None:
        name, items = args
        try:
            data = apply_overrides(BASES[name], items)
        except ConfigError as exc:
            check_message(str(exc), "--set", keyed=False)
            assert "'" in str(exc), exc  # the item or key is quoted
            return
        try:
            parse_config(data, name)
        except (ConfigError, SpecError) as exc:
            check_message(str(exc), name)

    run_cases(request, case, check, examples=300)


@pytest.mark.parametrize("blob, reason", [
    (b"\xff\xfe\x00bad", "not UTF-8 text"),
    (b"problem: [1, 2\n", "malformed YAML"),
    (b"", "the file is empty"),
    (b"- a\n- b\n", "expected a mapping"),
    (b"problem: !!python/object:os.system ls\n", "malformed YAML"),
    (b"a: &x [*x]\n", "unknown key 'a'"),
    (b"[" * 5000, "malformed YAML"),
])
def test_unreadable_files_are_config_errors(tmp_path, blob, reason):
    path = tmp_path / "bad.yaml"
    path.write_bytes(blob)
    with pytest.raises(ConfigError) as info:
        parse_config(read_yaml(path), str(path))
    assert str(info.value).startswith(str(path)) and reason in str(info.value), info.value


def test_a_directory_is_not_a_config(tmp_path, capsys):
    code, output = validate_in_process(tmp_path, capsys)
    assert code == 2 and "is a directory, not a file" in output and "Traceback" not in output

