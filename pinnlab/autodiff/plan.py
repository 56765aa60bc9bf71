"""Planning: derivative requests -> the fewest directional Taylor jets.

Every request becomes a combination of directional derivatives
``D_v^k u = d^k/dt^k u(x + t v)`` along integer directions ``v``:

- a pure partial ``d^k u / dx_c^k`` is ``D_{e_c}^k u`` (one k-jet; its lower orders come free);
- a gradient reads the first-order coefficients of the jets along ``e_c``;
- a mixed partial ``d^alpha u`` is a weighted sum of ``D_v^k u`` over a few directions
  (polarization / the interpolation of Griewank, Utke and Walther 2000); directions
  already needed by other requests are reused and the fewest new ones are added;
- a Laplacian is ``sum_c D_{e_c}^2 u`` and a bilaplacian, exactly,
  ``sum_i (1 - (d-1)/3) D_{e_i}^4 u + 1/6 sum_{i<j} (D_{e_i+e_j}^4 u + D_{e_i-e_j}^4 u)``;
  both are *collapsed* sums (only the summed top coefficient is propagated) unless
  the standard mode is asked for.

Directions are canonical integer vectors: a sorted tuple of ``(column, entry)``
pairs, primitive, with a positive first entry.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pinnlab.autodiff.requests import Derivative

Key = tuple[tuple[int, int], ...]


def canonical(vector: dict[int, int]) -> tuple[Key, int]:
    """``(key, scale)`` with ``vector = scale * key``, ``key`` primitive with a positive first entry."""
    items = sorted((c, int(v)) for c, v in vector.items() if v != 0)
    if not items:
        raise ValueError("a direction must not be zero")
    g = 0
    for _, v in items:
        g = math.gcd(g, abs(v))
    if items[0][1] < 0:
        g = -g
    return tuple((c, v // g) for c, v in items), g


def axis(c: int) -> Key:
    return ((c, 1),)


def bilaplacian_terms(cols: Sequence[int]) -> list[tuple[Key, float]]:
    """Exact weights: Δ²u = Σ_i (1 - (d-1)/3) D⁴_{e_i} u + 1/6 Σ_{i<j} (D⁴_{e_i+e_j} u + D⁴_{e_i-e_j} u).

    From D⁴_{e_i+e_j} + D⁴_{e_i-e_j} = 2 ∂_i⁴ + 12 ∂_i²∂_j² + 2 ∂_j⁴ (d² directions).
    """
    cols = sorted(cols)
    d = len(cols)
    terms = [(axis(c), 1.0 - (d - 1) / 3.0) for c in cols]
    for i, j in itertools.combinations(cols, 2):
        terms.append((((i, 1), (j, 1)), 1.0 / 6.0))
        terms.append((((i, 1), (j, -1)), 1.0 / 6.0))
    return [(k, w) for k, w in terms if w != 0.0]


# ---------------------------------------------------------------------------------------------
# Mixed partials by polarization
# ---------------------------------------------------------------------------------------------


def _monomials(cols: Sequence[int], k: int) -> list[tuple[int, ...]]:
    """Exponent vectors over ``cols`` with total degree ``k``."""
    return [tuple(combo.count(c) for c in cols) for combo in itertools.combinations_with_replacement(cols, k)]


def _row(key: Key, cols: Sequence[int], monos: list[tuple[int, ...]], k: int) -> np.ndarray:
    """Coefficients of D_v^k u on the partials d^beta u: k!/beta! v^beta."""
    v = dict(key)
    out = np.empty(len(monos))
    for i, beta in enumerate(monos):
        coef = math.factorial(k)
        for c, b in zip(cols, beta):
            coef = coef / math.factorial(b) * v.get(c, 0) ** b
        out[i] = coef
    return out


def _solve(rows: list[np.ndarray], target: np.ndarray) -> np.ndarray | None:
    if not rows:
        return None
    a = np.stack(rows, axis=1)
    w, *_ = np.linalg.lstsq(a, target, rcond=None)
    if np.linalg.norm(a @ w - target) > 1e-9 * max(1.0, np.abs(a).max()):
        return None
    return w


def mixed_partial_terms(cols_multiset: tuple[int, ...], existing: set[Key],
                        budget: int = 4000) -> list[tuple[Key, float]]:
    """Directions and weights with ``d^alpha u = sum_v w_v D_v^k u``, reusing ``existing`` directions.

    Candidates are the integer vectors ``|v_c| <= alpha_c`` on the support of alpha;
    the smallest set of new directions is searched exhaustively within ``budget``
    linear solves, then greedily.
    """
    k = len(cols_multiset)
    cols = sorted(set(cols_multiset))
    alpha = tuple(cols_multiset.count(c) for c in cols)
    monos = _monomials(cols, k)
    target = np.zeros(len(monos))
    target[monos.index(alpha)] = 1.0
    support = set(cols)
    free = sorted(key for key in existing if {c for c, _ in key} <= support)
    candidates = set()
    for entries in itertools.product(*[range(-a, a + 1) for a in alpha]):
        vec = {c: e for c, e in zip(cols, entries) if e}
        if vec:
            candidates.add(canonical(vec)[0])
    new = sorted(candidates - set(free), key=lambda key: (len(key), max(abs(v) for _, v in key), key))
    rows = {key: _row(key, cols, monos, k) for key in free + new}
    base = [rows[key] for key in free]

    def attempt(chosen: Sequence[Key]) -> list[tuple[Key, float]] | None:
        keys = free + list(chosen)
        w = _solve(base + [rows[key] for key in chosen], target)
        if w is None:
            return None
        return [(key, float(wi)) for key, wi in zip(keys, w) if abs(wi) > 1e-12]

    solves = 0
    for r in range(len(new) + 1):
        for chosen in itertools.combinations(new, r):
            found = attempt(chosen)
            solves += 1
            if found is not None:
                return found
            if solves >= budget:
                break
        if solves >= budget:
            break
    # greedy: drop new directions (simplest first) while the target stays reachable
    chosen = list(new)
    for key in list(new):
        trial = [c for c in chosen if c != key]
        if attempt(trial) is not None:
            chosen = trial
    found = attempt(chosen)
    if found is None:  # pragma: no cover - the candidate set always suffices (Griewank-Utke-Walther)
        raise RuntimeError(f"no interpolation found for the partial over {cols_multiset}")
    return found


def virtual_rows(keys: Sequence[Key | None], sizes: Sequence[int]) -> list[dict[int, list[tuple[int, float]]]]:
    """Per order k: the rows whose k-th coefficient is a combination of earlier *real* rows.

    Row ``r`` (direction ``keys[r]``; ``None`` for a random one, always real) is
    virtual at order k when ``v_r^{⊗k} = Σ_s w_s v_s^{⊗k}`` over earlier real rows
    whose support lies within v_r's; the result maps it to ``[(s, w_s)]``.
    """
    out = []
    for k, n in enumerate(sizes, start=1):
        real_by_support: dict[frozenset[int], list[int]] = {}
        virtual: dict[int, list[tuple[int, float]]] = {}
        for r in range(n):
            key = keys[r]
            if key is None:
                continue
            support = [c for c, _ in key]
            candidates = []
            for size in range(1, len(support) + 1):
                for sub in itertools.combinations(support, size):
                    candidates += real_by_support.get(frozenset(sub), [])
            if candidates:
                monos = _monomials(support, k)
                w = _solve([_row(keys[s], support, monos, k) for s in candidates], _row(key, support, monos, k))
                if w is not None:
                    virtual[r] = [(s, float(x)) for s, x in zip(candidates, w) if abs(x) > 1e-12]
                    continue
            real_by_support.setdefault(frozenset(support), []).append(r)
        out.append(virtual)
    return out


# ---------------------------------------------------------------------------------------------
# The exact plan
# ---------------------------------------------------------------------------------------------


@dataclass
class ExactFamily:
    """A collapsed sum of order ``order`` over fixed directions with weights."""

    order: int
    terms: list[tuple[Key, float]]


@dataclass
class Reader:
    """How a request is read off the jet results.

    ``kind`` is ``value``, ``coef`` (sum of weighted per-direction coefficients of
    order ``order``), ``family`` (a collapsed sum, ``family`` its index; random
    families are numbered after the exact ones) or ``gradient`` (stacked first-order
    coefficients of ``terms``' directions).
    """

    kind: str
    output: int
    order: int = 0
    terms: list[tuple[Key, float]] = field(default_factory=list)
    family: int = -1
    scale: float = 1.0


@dataclass
class ExactPlan:
    """Per-direction orders, collapsed families and readers for a set of requests."""

    n_inputs: int
    directions: dict[Key, int] = field(default_factory=dict)
    families: list[ExactFamily] = field(default_factory=list)
    readers: dict[Derivative, Reader] = field(default_factory=dict)

    def need(self, key: Key, order: int) -> None:
        self.directions[key] = max(self.directions.get(key, 0), order)

    def add_family(self, order: int, terms: list[tuple[Key, float]]) -> int:
        for i, fam in enumerate(self.families):
            if fam.order == order and fam.terms == terms:
                return i
        for key, _ in terms:
            self.need(key, order - 1)
        self.families.append(ExactFamily(order, terms))
        return len(self.families) - 1


def check_columns(request: Derivative, n_inputs: int) -> None:
    if any(c < 0 or c >= n_inputs for c in request.cols):
        raise ValueError(f"{request} refers to a column outside 0..{n_inputs - 1}")


def plan_exact(requests: Sequence[Derivative], n_inputs: int, collapsed: bool = True,
               skip: Sequence[Derivative] = ()) -> ExactPlan:
    """Plan the exact evaluation of ``requests`` (those in ``skip`` are left to the caller)."""
    plan = ExactPlan(n_inputs)
    mixed: list[Derivative] = []
    for r in dict.fromkeys(requests):
        check_columns(r, n_inputs)
        if r in skip:
            continue
        if r.kind == "partial":
            if not r.cols:
                plan.readers[r] = Reader("value", r.output)
            elif len(set(r.cols)) == 1:
                key = axis(r.cols[0])
                plan.need(key, len(r.cols))
                plan.readers[r] = Reader("coef", r.output, len(r.cols), [(key, 1.0)])
            else:
                mixed.append(r)
        elif r.kind == "gradient":
            terms = [(axis(c), 1.0) for c in r.cols]
            for key, _ in terms:
                plan.need(key, 1)
            plan.readers[r] = Reader("gradient", r.output, 1, terms)
        elif r.kind in ("laplacian", "bilaplacian"):
            cols = sorted(set(r.cols))
            if r.kind == "laplacian":
                order, terms = 2, [(axis(c), 1.0) for c in cols]
            else:
                order, terms = 4, bilaplacian_terms(cols)
            if not terms:
                plan.readers[r] = Reader("coef", r.output, order, [])
            elif collapsed:
                plan.readers[r] = Reader("family", r.output, order, family=plan.add_family(order, terms))
            else:
                for key, _ in terms:
                    plan.need(key, order)
                plan.readers[r] = Reader("coef", r.output, order, terms)
    for r in sorted(mixed, key=lambda q: (-len(q.cols), q.cols)):
        terms = mixed_partial_terms(r.cols, set(plan.directions))
        for key, _ in terms:
            plan.need(key, len(r.cols))
        plan.readers[r] = Reader("coef", r.output, len(r.cols), terms)
    return plan
