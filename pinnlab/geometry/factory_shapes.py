"""Shape trees from configuration dictionaries: primitives, CSG nodes and mesh files.

A node is ``{type: KIND, ...}``; CSG nodes (``union``, ``intersection``, ``difference``)
list their operands under ``of`` (a difference removes every later operand from the
first). Every node may carry ``name``, a label for its whole boundary. The shape's
columns are the problem's spatial columns in order (``x, y`` for coordinates
``[t, x, y]``; ``x1, x2, x3`` for a vector coordinate ``x`` of dimension 3).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pinnlab.errors import SpecError, did_you_mean

from .csg import difference, intersection, union
from .shape import Shape
from .shapes2d import AxisBox, Disk, Ellipse, Polygon, Rectangle
from .shapes3d import Cylinder, Sphere

_PRIMITIVE_KEYS: dict[str, set[str]] = {
    "rectangle": {"low", "high"},
    "box": {"low", "high"},
    "disk": {"center", "radius"},
    "ellipse": {"center", "semi_axes", "angle"},
    "polygon": {"vertices"},
    "sphere": {"center", "radius"},
    "cylinder": {"center", "radius", "height", "axis"},
    "mesh": {"file", "scale", "offset", "check"},
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "rectangle": ("low", "high"), "box": ("low", "high"), "disk": ("center", "radius"),
    "ellipse": ("center", "semi_axes"), "polygon": ("vertices",), "sphere": ("center", "radius"),
    "cylinder": ("center", "radius", "height"), "mesh": ("file",),
}
_DIMENSION = {"rectangle": 2, "disk": 2, "ellipse": 2, "polygon": 2, "sphere": 3, "cylinder": 3}
CSG_TYPES = ("union", "intersection", "difference")
SHAPE_TYPES = tuple(_PRIMITIVE_KEYS) + CSG_TYPES


def shape_from_dict(spec: Mapping[str, Any], names: Sequence[str], where: str = "domain",
                    root: Path | None = None) -> Shape:
    """The shape a node describes, on the columns ``names``; errors name the node's path."""
    if not isinstance(spec, Mapping):
        raise SpecError(f"{where}: a shape must be a mapping with a 'type', got {spec!r}")
    kind = spec.get("type")
    if kind not in SHAPE_TYPES:
        raise SpecError(f"{where}.type: unknown shape type {kind!r}{did_you_mean(str(kind), list(SHAPE_TYPES))}; "
                        f"expected one of {', '.join(SHAPE_TYPES)}")
    allowed = {"type", "name"} | (_PRIMITIVE_KEYS.get(kind) or {"of"})
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise SpecError(f"{where}: unknown key '{unknown[0]}' for a {kind}{did_you_mean(unknown[0], sorted(allowed))}"
                        f"; allowed: {', '.join(sorted(allowed))}")
    name = spec.get("name")
    if name is not None and (not isinstance(name, str) or not name.isidentifier()):
        raise SpecError(f"{where}.name: a boundary name must be an identifier (letters, digits, _), got {name!r}")
    try:
        if kind in CSG_TYPES:
            return _csg(kind, spec, names, where, root, name)
        missing = [k for k in _REQUIRED[kind] if k not in spec]
        if missing:
            raise SpecError(f"{where}: a {kind} needs '{missing[0]}'")
        expected = _DIMENSION.get(kind)
        if expected is not None and len(names) != expected:
            raise SpecError(f"{where}: a {kind} is {expected}-dimensional, but the problem has "
                            f"{len(names)} spatial column(s) {list(names)}")
        return _BUILDERS[kind](spec, tuple(names), name, root)
    except (ValueError, TypeError) as err:
        raise SpecError(f"{where}: {err}") from None


def _csg(kind: str, spec: Mapping[str, Any], names: Sequence[str], where: str, root: Path | None,
         name: str | None) -> Shape:
    operands = spec.get("of")
    if not isinstance(operands, list) or len(operands) < 2:
        raise SpecError(f"{where}.of: a {kind} needs a list of at least two shapes, got {operands!r}")
    shapes = [shape_from_dict(s, names, f"{where}.of[{i}]", root) for i, s in enumerate(operands)]
    if kind == "union":
        return union(*shapes, name=name)
    if kind == "intersection":
        return intersection(*shapes, name=name)
    return difference(shapes[0], *shapes[1:], name=name)


def _box(spec: Mapping[str, Any], names: tuple[str, ...], name: str | None, root: Path | None) -> Shape:
    low, high = spec["low"], spec["high"]
    for key, value in (("low", low), ("high", high)):
        if not isinstance(value, list) or len(value) != len(names):
            raise ValueError(f"'{key}' must be a list of {len(names)} numbers (one per column {list(names)}), "
                             f"got {value!r}")
    if spec["type"] == "rectangle":
        if len(names) != 2:
            raise ValueError(f"a rectangle is 2-dimensional, but the problem has the spatial columns {list(names)}")
        return Rectangle(low, high, names, name)
    return AxisBox(low, high, names, name)


def mesh_path(file: str, root: Path | None) -> Path:
    """A mesh file: as given when absolute, else under ``root`` if it is there, else relative to the working directory."""
    path = Path(file)
    if not path.is_absolute() and root is not None and (root / path).exists():
        return root / path
    return path


def absolute_mesh_paths(spec: Any, root: Path | None) -> Any:
    """A copy of a domain tree whose mesh files that exist are absolute paths."""
    if isinstance(spec, Mapping):
        out = {k: absolute_mesh_paths(v, root) for k, v in spec.items()}
        file = out.get("file")
        if out.get("type") == "mesh" and isinstance(file, str) and file:
            path = mesh_path(file, root)
            out["file"] = str(path.resolve()) if path.exists() else file
        return out
    if isinstance(spec, list):
        return [absolute_mesh_paths(v, root) for v in spec]
    return spec


def _mesh(spec: Mapping[str, Any], names: tuple[str, ...], name: str | None, root: Path | None) -> Shape:
    from .mesh import load_mesh

    file = spec["file"]
    if not isinstance(file, str) or not file:
        raise ValueError(f"'file' must be a path, got {file!r}")
    path = mesh_path(file, root)
    return load_mesh(path, names, name=name, scale=spec.get("scale", 1.0), offset=spec.get("offset"),
                     check=spec.get("check", True))


_BUILDERS: dict[str, Callable[[Mapping[str, Any], tuple[str, ...], str | None, Path | None], Shape]] = {
    "rectangle": _box,
    "box": _box,
    "disk": lambda s, n, name, r: Disk(s["center"], s["radius"], n, name),
    "ellipse": lambda s, n, name, r: Ellipse(s["center"], s["semi_axes"], s.get("angle", 0.0), n, name),
    "polygon": lambda s, n, name, r: Polygon(s["vertices"], n, name),
    "sphere": lambda s, n, name, r: Sphere(s["center"], s["radius"], n, name),
    "cylinder": lambda s, n, name, r: Cylinder(s["center"], s["radius"], s["height"], s.get("axis", n[2]), n, name),
    "mesh": _mesh,
}
