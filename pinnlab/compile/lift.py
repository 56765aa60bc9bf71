"""Dirichlet conditions imposed exactly: ``u = Σ_i w_i g_i + φ·N`` built from the conditions themselves.

Each Dirichlet condition ``{field: u, value: g_i, on: [...]}`` is one boundary part Γ_i with its
distance function φ_i (``dist(on...)``) and its value g_i. The output of field u becomes the
transfinite interpolation of the values (a :class:`~pinnlab.spec.expr.Lift` node, see
:mod:`pinnlab.geometry.lift`) plus the distance function of all of the field's Dirichlet parts
times the raw network output, so the values hold exactly for any network; the conditions' loss
terms are then identically zero and are dropped from the residual program.
"""

from __future__ import annotations

from collections.abc import Sequence

from pinnlab.errors import SpecError, did_you_mean
from pinnlab.spec import expr
from pinnlab.spec.conditions import Dirichlet
from pinnlab.spec.problem import Problem


def lifted_conditions(problem: Problem, selection: bool | Sequence[str]) -> list[str]:
    """Names of the conditions imposed exactly: every Dirichlet condition (``True``) or the ones listed."""
    if selection is False:
        return []
    dirichlet = [name for name, c in problem.conditions.items() if isinstance(c, Dirichlet)]
    if selection is True:
        if not dirichlet:
            raise SpecError("the problem has no Dirichlet conditions to impose exactly")
        return dirichlet
    names = list(selection)
    for name in names:
        if name not in problem.conditions:
            raise SpecError(f"no condition '{name}'{did_you_mean(name, list(problem.conditions))} "
                            f"(conditions: {', '.join(problem.conditions) or 'none'})")
        if name not in dirichlet:
            raise SpecError(f"condition '{name}' is a {problem.conditions[name].kind} condition; only Dirichlet "
                            "conditions can be imposed exactly")
    if len(set(names)) != len(names):
        raise SpecError("a condition is listed twice")
    return names


def _faces(name: str, on: Sequence[str] | None, problem: Problem, faces: Sequence[str]) -> tuple[str, ...]:
    """The boundary labels of a condition (coordinate names mean their two faces); () for the whole boundary."""
    if on is None:
        return ()
    scalars = problem.pde.namespace().scalar_coords
    out: list[str] = []
    for item in on:
        if item in scalars and f"{item}_min" in faces:
            out += [f"{item}_min", f"{item}_max"]
        elif item in faces:
            out.append(item)
        else:
            raise SpecError(f"condition '{name}': unknown face '{item}'{did_you_mean(item, list(faces))}; "
                            f"faces of this domain: {', '.join(faces)}")
    return tuple(dict.fromkeys(out))


def exact_boundary(problem: Problem, names: Sequence[str], faces: Sequence[str], mu: int = 1) -> dict[str, expr.Node]:
    """Output expressions ``{field: lift + dist(parts)*field}`` for the Dirichlet conditions ``names``.

    ``faces`` are the domain's boundary labels. A condition without ``on`` covers the whole
    boundary and must then be its field's only one. Values may use the coordinates and fixed
    parameters.
    """
    pde = problem.pde
    ns = expr.Namespace(fields=(), scalar_coords=pde.namespace().scalar_coords,
                        vector_coords=pde.namespace().vector_coords, parameters=tuple(pde.parameters))
    learned = set(pde.trainable_parameters)
    pieces: dict[str, list[tuple[str, tuple[str, ...], expr.Node]]] = {}
    for name in names:
        cond = problem.conditions[name]
        if not isinstance(cond, Dirichlet) or cond.field is None:
            raise SpecError(f"condition '{name}': only a Dirichlet condition with 'field' and 'value' can be "
                            "imposed exactly")
        value = expr.parse(cond.value, ns, f"condition '{name}' (imposed exactly)")
        used = sorted(expr.symbols(value) & learned)
        if used:
            raise SpecError(f"condition '{name}': its value uses the trainable parameter '{used[0]}'; exact "
                            "boundary values may use fixed parameters only")
        pieces.setdefault(cond.field, []).append((name, _faces(name, cond.on, problem, faces), value))
    out: dict[str, expr.Node] = {}
    for field, items in pieces.items():
        whole = [name for name, on, _ in items if not on]
        if whole and len(items) > 1:
            raise SpecError(f"condition '{whole[0]}' covers the whole boundary, but '{field}' has other Dirichlet "
                            f"conditions ({', '.join(n for n, _, _ in items if n != whole[0])}); give each an 'on'")
        labels = tuple(dict.fromkeys(label for _, on, _ in items for label in on))
        if len(items) == 1:
            lift = items[0][2]
        else:
            lift = expr.Lift(tuple((expr.Distance(on), value) for _, on, value in items), mu)
        out[field] = expr.Binary("+", lift, expr.Binary("*", expr.Distance(labels), expr.Symbol(field)))
    return out
