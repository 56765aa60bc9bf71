"""The package's layers import only downward, and its modules stay small.

Every module of ``pinnlab/`` is parsed with ``ast``; each import (at module level, inside
functions, under ``if TYPE_CHECKING``, relative or absolute, and ``importlib.import_module``
of a constant name) is mapped to the layer of its target. A module may import from its own
package and from lower layers only; of the units sharing a layer, solvers and sampling do
not import each other (errors and registry, both at the bottom, may).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pinnlab"
MAX_LINES = 450

#: top-level units of the package, lowest layer first; units of one layer share a number
LAYERS: dict[str, int] = {
    "errors": 0, "registry": 0, "version": 0, "distributed": 0,
    "spec": 1,
    "geometry": 2,
    "references": 3,
    "autodiff": 4,
    "nn": 5,
    "compile": 6,
    "equations": 7,
    "solvers": 8, "sampling": 8,
    "config": 9,
    "io": 10,
    "run": 11,
    "cli": 12,
}
TOP = max(LAYERS.values()) + 1
#: the root package and ``python -m pinnlab`` sit above everything
ROOT_UNITS = {"__init__": TOP, "__main__": TOP}
#: units of one layer that must not import each other (others of one layer may)
SEPARATE = {frozenset({"solvers", "sampling"})}


@dataclass(frozen=True)
class Import:
    module: str
    target: str
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def unit(module: str) -> str:
    """The top-level unit of a module: ``pinnlab.solvers.base`` -> ``solvers``; the root is ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer(module: str) -> int | None:
    name = unit(module)
    return LAYERS.get(name, ROOT_UNITS.get(name))


def describe(module: str) -> str:
    level = layer(module)
    return f"{module} ({'no layer' if level is None else f'L{level} {unit(module)}'})"


def _resolve_from(node: ast.ImportFrom, module: str, is_package: bool, known: set[str]) -> list[str]:
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        base_parts = package[:len(package) - (node.level - 1)]
        base = ".".join(base_parts + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    if base != "pinnlab" and not base.startswith("pinnlab."):
        return []
    targets = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        # ``from pinnlab.x import y`` imports the module pinnlab.x.y when there is one, else a name of pinnlab.x
        targets.append(sub if alias.name != "*" and sub in known else base)
    return targets


def _import_module_target(node: ast.Call) -> str | None:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in ("import_module", "__import__") or not node.args:
        return None
    arg = node.args[0]
    if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
        return None
    return arg.value if arg.value == "pinnlab" or arg.value.startswith("pinnlab.") else None


def imports_of(module: str, path: Path, known: set[str]) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(module, a.name, node.lineno) for a in node.names
                      if a.name == "pinnlab" or a.name.startswith("pinnlab.")]
        elif isinstance(node, ast.ImportFrom):
            found += [Import(module, t, node.lineno) for t in _resolve_from(node, module, is_package, known)]
        elif isinstance(node, ast.Call):
            target = _import_module_target(node)
            if target is not None:
                found.append(Import(module, target, node.lineno))
    return sorted(found, key=lambda i: i.line)


def violation(imp: Import) -> bool:
    source, target = unit(imp.module), unit(imp.target)
    if source == target:
        return False
    source_layer, target_layer = layer(imp.module), layer(imp.target)
    if source_layer is None or target_layer is None:
        return True
    if target_layer == source_layer:
        return frozenset({source, target}) in SEPARATE
    return target_layer > source_layer


def layering_violations() -> list[str]:
    found = modules()
    known = set(found)
    lines = []
    for name in sorted(found):
        if layer(name) is None:
            lines.append(f"{describe(name)} is not assigned a layer")
        seen = set()
        for imp in imports_of(name, found[name], known):
            if violation(imp) and imp.target not in seen:
                seen.add(imp.target)
                where = found[name].relative_to(ROOT)
                lines.append(f"{describe(imp.module)} imports {describe(imp.target)}  [{where}:{imp.line}]")
    return lines


def test_layers_import_only_downward():
    lines = layering_violations()
    assert not lines, f"{len(lines)} imports against the layer order:\n" + "\n".join(lines)


def test_modules_are_at_most_450_lines():
    too_long = sorted((len(p.read_text(encoding="utf-8").splitlines()), name) for name, p in modules().items())
    offenders = [f"{name}: {n} lines" for n, name in reversed(too_long) if n > MAX_LINES]
    assert not offenders, f"modules over {MAX_LINES} lines:\n" + "\n".join(offenders)


# -- the checker itself ----------------------------------------------------------------------------


def _imports(source: str, module: str, is_package: bool = False, known: frozenset[str] = frozenset()):
    tree = ast.parse(source)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            out += _resolve_from(node, module, is_package, set(known))
    return out


@pytest.mark.parametrize("source,module,is_package,expected", [
    ("from . import base", "pinnlab.solvers.gauss_newton", False, ["pinnlab.solvers"]),
    ("from .base import Solver", "pinnlab.solvers.gauss_newton", False, ["pinnlab.solvers.base"]),
    ("from ..compile import Objective", "pinnlab.solvers.gauss_newton", False, ["pinnlab.compile"]),
    ("from .jet import Jet", "pinnlab.autodiff", True, ["pinnlab.autodiff.jet"]),
    ("from .. import errors", "pinnlab.autodiff", True, ["pinnlab"]),
    ("from numpy import linalg", "pinnlab.run.export", False, []),
])
def test_relative_imports_resolve(source, module, is_package, expected):
    assert _imports(source, module, is_package) == expected


def test_checker_sees_function_local_and_type_checking_imports(tmp_path):
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pinnlab.run.solution import Solution\n"
        "def f():\n    import pinnlab.sampling.r3\n    from ..io import vtk\n"
        "    importlib.import_module('pinnlab.cli')\n"
    )
    path = tmp_path / "x.py"
    path.write_text(source)
    known = {"pinnlab.io.vtk"}
    found = imports_of("pinnlab.solvers.x", path, known)
    assert [i.target for i in found] == ["pinnlab.run.solution", "pinnlab.sampling.r3", "pinnlab.io.vtk",
                                         "pinnlab.cli"]
    assert all(violation(i) for i in found)
    assert not violation(Import("pinnlab.solvers.x", "pinnlab.solvers.base", 1))
    assert not violation(Import("pinnlab.solvers.x", "pinnlab.compile", 1))
    assert not violation(Import("pinnlab", "pinnlab.cli", 1))
    assert violation(Import("pinnlab.cli", "pinnlab", 1))
    assert violation(Import("pinnlab.sampling.r3", "pinnlab.solvers", 1))
    assert not violation(Import("pinnlab.registry", "pinnlab.errors", 1))
    assert violation(Import("pinnlab.extras", "pinnlab.errors", 1))  # a unit without a layer
