"""Build a geometry from a configuration dictionary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path

from pinnlab.errors import SpecError

from .ball import Ball
from .base import Geometry
from .box import Box
from .factory_shapes import SHAPE_TYPES, shape_from_dict
from .hypercube import Hypercube
from .timespace import TimeSpace

_TYPED_KEYS = {
    "ball": {"type", "coordinate", "radius", "center", "time"},
    "hypercube": {"type", "coordinate", "low", "high", "time"},
}


def geometry_from_dict(
    spec: Mapping[str, object],
    coordinate_names: Sequence[str],
    time_name: str | None = None,
    *,
    dims: Mapping[str, int] | None = None,
    root: str | Path | None = None,
) -> Geometry:
    """The domain described by ``spec``; columns follow ``coordinate_names``.

    Two forms are understood:

    * a range per scalar coordinate, ``{"x": [-1, 1], "t": [0, 1]}``: a :class:`Box`,
      or, when ``time_name`` is given, a :class:`TimeSpace` over a box of the other
      coordinates (a problem whose only coordinate is time gets the 1-D box of it);
    * ``{"type": "ball", "coordinate": "x", "radius": 1.0, "center": 0.0}`` or
      ``{"type": "hypercube", "coordinate": "x", "low": 0, "high": 1}`` for a vector
      coordinate whose dimension is ``dims["x"]``, optionally with ``"time": [t0, t1]``;
    * a shape tree (see :mod:`pinnlab.geometry.factory_shapes`), e.g. ``{"type":
      "difference", "of": [{"type": "rectangle", ...}, {"type": "disk", ..., "name": "hole"}]}``,
      on the spatial columns in order, with ``"time": [t0, t1]`` at its root for a time
      coordinate. Relative mesh paths are looked up under ``root`` first.

    Raises :class:`pinnlab.errors.SpecError` on anything else.
    """
    names = _check_names(coordinate_names)
    if time_name is not None and time_name not in names:
        raise SpecError(f"time coordinate {time_name!r} is not one of the coordinates {names}")
    sizes = _check_dims(dims)
    if not isinstance(spec, Mapping):
        raise SpecError(f"a domain must be a mapping, got {type(spec).__name__}")
    try:
        if spec.get("type") in SHAPE_TYPES:
            return _shape_tree(spec, names, time_name, sizes, None if root is None else Path(root))
        if "type" in spec:
            return _typed(spec, names, time_name, sizes)
        return _ranges(spec, names, time_name, sizes)
    except ValueError as err:
        raise SpecError(f"invalid domain: {err}") from err


def _shape_tree(spec: Mapping[str, object], names: list[str], time_name: str | None, sizes: dict[str, int],
                root: Path | None) -> Geometry:
    """A shape tree on the spatial columns, times the ``time`` range when the problem has a time coordinate."""
    columns = [c for n in names for c in ([n] if n not in sizes else [f"{n}{i}" for i in range(1, sizes[n] + 1)])]
    has_time = "time" in spec
    if has_time and time_name is None:
        raise SpecError("domain.time: the domain gives a 'time' range but the problem has no time coordinate")
    if time_name is not None and not has_time:
        raise SpecError(f"domain: a shape needs a 'time' range for the time coordinate {time_name!r}")
    space = shape_from_dict({k: v for k, v in spec.items() if k != "time"},
                            [c for c in columns if c != time_name], "domain", root)
    if time_name is None:
        return space
    t0, t1 = _range(spec["time"], "time")
    return TimeSpace(time_name, t0, t1, space, time_column=columns.index(time_name))


def _ranges(spec: Mapping[str, object], names: list[str], time_name: str | None, sizes: dict[str, int]) -> Geometry:
    missing = [n for n in names if n not in spec]
    unknown = [k for k in spec if k not in names]
    if missing or unknown:
        problem = f"no range for {missing}" if missing else f"unknown keys {unknown}"
        raise SpecError(f"domain ranges must name exactly the coordinates {names}: {problem}")
    vectors = [n for n in names if sizes.get(n, 1) != 1]
    if vectors:
        raise SpecError(
            f"coordinate(s) {vectors} are vectors; describe them with "
            "{'type': 'ball' | 'hypercube', 'coordinate': ...}"
        )
    bounds = {n: _range(spec[n], n) for n in names}
    space = [n for n in names if n != time_name]
    if time_name is None or not space:
        return Box(names, [bounds[n][0] for n in names], [bounds[n][1] for n in names])
    box = Box(space, [bounds[n][0] for n in space], [bounds[n][1] for n in space])
    return TimeSpace(time_name, *bounds[time_name], box, time_column=names.index(time_name))


def _typed(spec: Mapping[str, object], names: list[str], time_name: str | None, sizes: dict[str, int]) -> Geometry:
    kind = spec["type"]
    if kind not in _TYPED_KEYS:
        raise SpecError(f"unknown domain type {kind!r}; expected one of {sorted(_TYPED_KEYS) + list(SHAPE_TYPES)}")
    unknown = sorted(set(spec) - _TYPED_KEYS[kind])
    if unknown:
        raise SpecError(f"unknown key(s) {unknown} for a {kind} domain; allowed: {sorted(_TYPED_KEYS[kind])}")
    coordinate = spec.get("coordinate")
    if not isinstance(coordinate, str) or coordinate not in names or coordinate == time_name:
        spatial = [n for n in names if n != time_name]
        raise SpecError(f"a {kind} domain needs 'coordinate': one of {spatial}, got {coordinate!r}")
    has_time = "time" in spec
    if has_time and time_name is None:
        raise SpecError("the domain gives a 'time' range but the problem has no time coordinate")
    if time_name is not None and not has_time:
        raise SpecError(f"the domain needs a 'time' range for the time coordinate {time_name!r}")
    uncovered = [n for n in names if n not in (coordinate, time_name)]
    if uncovered:
        raise SpecError(f"a {kind} domain covers only {coordinate!r}; no domain for {uncovered}")
    if coordinate not in sizes:
        raise SpecError(f"the dimension of {coordinate!r} is unknown: pass dims={{{coordinate!r}: d}}")
    d = sizes[coordinate]
    if kind == "ball":
        space: Geometry = Ball(coordinate, d, spec.get("radius", 1.0), spec.get("center", 0.0))  # type: ignore[arg-type]
    else:
        space = Hypercube(coordinate, d, spec.get("low", 0.0), spec.get("high", 1.0))  # type: ignore[arg-type]
    if time_name is None:
        return space
    t0, t1 = _range(spec["time"], "time")
    column = 0 if names.index(time_name) < names.index(coordinate) else d
    return TimeSpace(time_name, t0, t1, space, time_column=column)


def _range(value: object, what: str) -> tuple[float, float]:
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, Real) for v in value)
    ):
        raise SpecError(f"the range of {what!r} must be [low, high] with two numbers, got {value!r}")
    return float(value[0]), float(value[1])


def _check_names(coordinate_names: Sequence[str]) -> list[str]:
    if isinstance(coordinate_names, str) or not isinstance(coordinate_names, Sequence):
        raise SpecError(f"coordinate_names must be a list of names, got {coordinate_names!r}")
    names = list(coordinate_names)
    if not names or any(not isinstance(n, str) or not n for n in names) or len(set(names)) != len(names):
        raise SpecError(f"coordinate_names must be distinct non-empty strings, got {names!r}")
    return names


def _check_dims(dims: Mapping[str, int] | None) -> dict[str, int]:
    if dims is None:
        return {}
    if not isinstance(dims, Mapping):
        raise SpecError(f"dims must map coordinate names to dimensions, got {dims!r}")
    for name, d in dims.items():
        if isinstance(d, bool) or not isinstance(d, Integral) or d < 1:
            raise SpecError(f"dims[{name!r}] must be a positive integer, got {d!r}")
    return {name: int(d) for name, d in dims.items()}
