"""Taylor-mode derivatives: requests -> directional jets -> one forward pass.

The planner (:mod:`pinnlab.autodiff.plan`) turns the requests into integer
directions with the order each needs and collapsed families (Laplacian,
bilaplacian). A :class:`JetProgram` orders the directions, builds the input jet
(sparse directions stay sparse, so the first layer gathers weight columns) and
pushes it through the model once, via the layers' ``forward_jet`` methods;
coefficients that follow linearly from others (e.g. the first order along
``e_i + e_j``) are rebuilt instead of pushed. In collapsed mode bilaplacians of
jet-capable models use :class:`~pinnlab.autodiff.jet.BiharmonicJet` (gradient,
Hessian, ∇Δ, Δ, Δ² pushed together: O(d²) rows instead of 3d² per layer).

For arbitrary callables the same directional derivatives are taken by nested
``torch.func.jvp`` instead. Points are processed in chunks (``chunk_rows``) to keep
coefficient blocks cache-sized. Everything is plain torch, so results can be
differentiated by ``torch.func`` transforms and ``backward`` over the parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from pinnlab.autodiff.backend import Backend, ModelFunction, Plan, register_backend
from pinnlab.autodiff.jet import BiharmonicJet, Coef, Family, Jet, Layout, SparseCoef, c_dense, c_take
from pinnlab.autodiff.plan import ExactPlan, Key, Reader, plan_exact, virtual_rows
from pinnlab.autodiff.requests import Derivative

#: Default jet rows (directions x points) per chunk of points: keeps the coefficient blocks of a
#: 128-wide layer near 8 MB in float32, small enough for the allocator to reuse and for caches.
CHUNK_ROWS = 16384

# ---------------------------------------------------------------------------------------------
# Jets through modules
# ---------------------------------------------------------------------------------------------

_ELEMENTWISE_MODULES: dict[type, str] = {
    nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.SiLU: "silu",
}


def _elementwise_name(module: nn.Module) -> str | None:
    for cls, name in _ELEMENTWISE_MODULES.items():
        if isinstance(module, cls):
            return name
    if isinstance(module, nn.Softplus) and module.beta == 1:
        return "softplus"
    if isinstance(module, nn.GELU) and module.approximate == "none":
        return "gelu"
    return None


def supports_jets(module: object) -> bool:
    """Whether :func:`module_jet` can push a jet through ``module``."""
    if not isinstance(module, nn.Module):
        return False
    if hasattr(module, "forward_jet") or isinstance(module, (nn.Linear, nn.Identity)):
        return True
    if isinstance(module, nn.Sequential):
        return all(supports_jets(m) for m in module)
    return _elementwise_name(module) is not None


def module_jet(module: nn.Module, jet: Jet) -> Jet:
    """Push ``jet`` through a pinnlab layer or a plain torch layer (Linear, Sequential, activations)."""
    if hasattr(module, "forward_jet"):
        return module.forward_jet(jet)
    if isinstance(module, nn.Sequential):
        for m in module:
            jet = module_jet(m, jet)
        return jet
    if isinstance(module, nn.Linear):
        return jet.linear(module.weight, module.bias)
    if isinstance(module, nn.Identity):
        return jet
    name = _elementwise_name(module)
    if name is None:
        raise TypeError(f"no Taylor rule for the module {type(module).__name__}")
    return jet.apply(name)


def model_jet(model: nn.Module, jet: Jet) -> Jet:
    """Push ``jet`` (over the input points) through a :class:`~pinnlab.nn.PINNModel`."""
    h = module_jet(model.scaling, jet)
    if model.periodic is not None:
        h = module_jet(model.periodic, h)
    if model.fourier is not None:
        h = module_jet(model.fourier, h)
    out = module_jet(model.body, h)
    if model.transform is not None:
        out = model.transform.forward_jet(jet, out)
    return out


class _JetCall(nn.Module):
    """Calls :func:`module_jet` under ``functional_call`` for modules without their own jet dispatch."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, jet: Jet) -> Jet:
        return module_jet(self.inner, jet)


def jet_function(f: ModelFunction) -> Callable[[Jet], Jet] | None:
    """A jet-pushing version of the model function, or ``None`` if it has none."""
    module = getattr(f, "module", None)
    params = getattr(f, "params", None)
    if module is not None and params is not None and hasattr(f, "jet"):
        if hasattr(module, "forward_jet"):
            return f.jet
        if supports_jets(module):
            wrapper = _JetCall(module)
            named = {f"inner.{k}": v for k, v in params.items()}
            return lambda jet: torch.func.functional_call(wrapper, named, (jet,), strict=False)
        return None
    if isinstance(f, nn.Module) and supports_jets(f):
        return lambda jet: module_jet(f, jet)
    return None


# ---------------------------------------------------------------------------------------------
# Nested forward mode for arbitrary callables
# ---------------------------------------------------------------------------------------------


def directional_tower(f: ModelFunction, x: Tensor, v: Tensor, order: int) -> list[Tensor]:
    """``[f(x), D_v f(x), ..., D_v^order f(x)]`` by nested :func:`torch.func.jvp` (v shaped like x)."""
    if order == 0:
        return [f(x)]

    def lower(y: Tensor) -> tuple[Tensor, ...]:
        return tuple(directional_tower(f, y, v, order - 1))

    primals, tangents = torch.func.jvp(lower, (x,), (v,))
    return [primals[0], *tangents]


# ---------------------------------------------------------------------------------------------
# The program: ordered directions, layout, input jet, evaluation, read-off
# ---------------------------------------------------------------------------------------------


@dataclass
class RandomFamily:
    """A collapsed family whose directions are drawn at call time."""

    order: int
    count: int
    weight: float


@dataclass
class _Block:
    order: int  # per-direction order of its rows
    keys: list[Key] | None  # fixed directions, or None for a random family
    family: int = -1  # random family index (into the program's families)


@dataclass
class JetResult:
    primal: Tensor
    coeffs: list[Tensor | None]
    sums: list[Tensor | None]


class JetProgram:
    """Directions sorted by the order they need, collapsed families, and how to evaluate them.

    ``exact`` supplies fixed directions and families; ``random`` adds families whose
    directions (``count`` rows each) are given at call time as ``(index, value)``
    sparse rows or dense ``(count, D)`` tensors.
    """

    def __init__(self, exact: ExactPlan, random: Sequence[RandomFamily] = ()):
        self.exact = exact
        self.n_inputs = exact.n_inputs
        self.random = list(random)
        by_order: dict[int, list[Key]] = {}
        for key, p in exact.directions.items():
            by_order.setdefault(p, []).append(key)
        n_exact = len(exact.families)
        blocks = [_Block(p, sorted(keys, key=lambda k: (len(k), k))) for p, keys in by_order.items()]
        blocks += [_Block(fam.order - 1, None, n_exact + i) for i, fam in enumerate(self.random)]
        blocks.sort(key=lambda b: -b.order)  # stable: fixed rows before random rows of the same order
        self.blocks = blocks
        self._assign_rows()
        # rows whose coefficient of some order follows from others go last within their block
        flags = virtual_rows(self._keys(), self.sizes)
        for b in blocks:
            if b.keys is not None:
                b.keys.sort(key=lambda key: tuple(self.row[key] in v for v in flags))
        self._assign_rows()
        self.virtual: list[list[tuple[int, list[tuple[int, float]]]] | None] = []
        for n, v in zip(self.sizes, virtual_rows(self._keys(), self.sizes)):
            tail = sorted(v)
            if not tail or tail != list(range(n - len(tail), n)):
                self.virtual.append(None)  # virtual rows must be the last ones of their order
            else:
                self.virtual.append([(r, v[r]) for r in tail])
        # families: (order, [(rows, weight)]) with rows grouped by weight, as slices where contiguous
        self.family_rows: list[tuple[int, list[tuple[list[int] | slice, float]]]] = []
        for fam in exact.families:
            by_weight: dict[float, list[int]] = {}
            for key, w in fam.terms:
                by_weight.setdefault(w, []).append(self.row[key])
            groups = []
            for w, rows in by_weight.items():
                rows = sorted(rows)
                if rows == list(range(rows[0], rows[-1] + 1)):
                    rows = slice(rows[0], rows[-1] + 1)
                groups.append((rows, float(w)))
            self.family_rows.append((fam.order, groups))
        for i, fam in enumerate(self.random):
            self.family_rows.append((fam.order, [(self.random_rows[n_exact + i], float(fam.weight))]))
        # the fixed directions as sparse rows
        self._fixed: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for bi, b in enumerate(blocks):
            if b.keys is not None:
                m = max(len(k) for k in b.keys)
                index = np.zeros((len(b.keys), m), dtype=np.int64)
                value = np.zeros((len(b.keys), m))
                for r, key in enumerate(b.keys):
                    for j, (c, e) in enumerate(key):
                        index[r, j], value[r, j] = c, e
                self._fixed[bi] = (index, value)
        self._cache: dict[tuple, object] = {}

    def _assign_rows(self) -> None:
        n_exact = len(self.exact.families)
        self.row: dict[Key, int] = {}
        self.random_rows: dict[int, slice] = {}
        orders: list[int] = []
        for b in self.blocks:
            if b.keys is None:
                count = self.random[b.family - n_exact].count
                self.random_rows[b.family] = slice(len(orders), len(orders) + count)
                orders += [b.order] * count
            else:
                for key in b.keys:
                    self.row[key] = len(orders)
                    orders.append(b.order)
        self.orders = orders
        fam_orders = [f.order for f in self.exact.families] + [f.order for f in self.random]
        top = max(orders + fam_orders + [0])
        self.sizes = tuple(sum(1 for p in orders if p >= k) for k in range(1, top + 1))

    def _keys(self) -> list[Key | None]:
        keys: list[Key | None] = [None] * len(self.orders)
        for key, r in self.row.items():
            keys[r] = key
        return keys

    def stored(self, k: int) -> int:
        """Rows of order ``k`` pushed through the network (the rest are virtual)."""
        v = self.virtual[k - 1]
        return self.sizes[k - 1] - (len(v) if v else 0)

    @property
    def n_directions(self) -> int:
        return len(self.orders)

    @property
    def order(self) -> int:
        return len(self.sizes)

    def layout(self, like: Tensor) -> Layout:
        key = ("layout", like.dtype, like.device)
        if key not in self._cache:
            families = []
            for order, groups in self.family_rows:
                parts, span = [], 0
                for rows, w in groups:
                    if isinstance(rows, slice):
                        parts.append((rows, w))
                        span = max(span, rows.stop)
                    else:
                        parts.append((torch.as_tensor(rows, dtype=torch.long, device=like.device), w))
                        span = max(span, max(rows) + 1)
                dense = None
                if len(parts) > 1 or not isinstance(parts[0][0], slice):
                    dense = torch.zeros(span, dtype=like.dtype, device=like.device)
                    for rows, w in parts:
                        dense[rows] += w
                families.append(Family(order, tuple(parts), span, dense))
            virtual = []
            for k, rows in enumerate(self.virtual, start=1):
                if rows is None:
                    virtual.append(None)
                    continue
                m = torch.zeros(len(rows), self.stored(k), dtype=like.dtype, device=like.device)
                for i, (_, terms) in enumerate(rows):
                    for s, w in terms:
                        m[i, s] = w
                virtual.append(m)
            self._cache[key] = Layout(self.sizes, tuple(families), tuple(virtual))
        return self._cache[key]

    def input_directions(self, like: Tensor, random: Sequence[object] = ()) -> SparseCoef | Tensor:
        """The first-order input coefficient: (S, 1, D) dense or a :class:`SparseCoef`."""
        parts: list[tuple[Tensor, Tensor] | Tensor] = []
        n_exact = len(self.exact.families)
        for bi, b in enumerate(self.blocks):
            if b.keys is not None:
                key = ("fixed", bi, like.dtype, like.device)
                if key not in self._cache:
                    index, value = self._fixed[bi]
                    self._cache[key] = (torch.as_tensor(index, device=like.device),
                                        torch.as_tensor(value, dtype=like.dtype, device=like.device))
                parts.append(self._cache[key])
            else:
                parts.append(random[b.family - n_exact])
        d = self.n_inputs
        if any(isinstance(p, Tensor) for p in parts):
            dense = []
            for p in parts:
                if isinstance(p, Tensor):
                    dense.append(p.to(like))
                else:
                    index, value = p
                    dense.append(like.new_zeros(index.shape[0], d).scatter_add(1, index, value.to(like)))
            return torch.cat(dense, 0)[:, None, :]
        m = max(p[0].shape[1] for p in parts)
        index = torch.cat([torch.nn.functional.pad(p[0], (0, m - p[0].shape[1])) for p in parts], 0)
        value = torch.cat([torch.nn.functional.pad(p[1].to(like), (0, m - p[1].shape[1])) for p in parts], 0)
        return SparseCoef(index, value[:, None, :], d)

    def chunk_points(self, n: int, rows: int | None) -> int:
        """Points per chunk so that one jet coefficient block holds about ``rows`` rows (None: all)."""
        if not rows:
            return n
        per_point = 1 + sum(self.stored(k) for k in range(1, self.order + 1)) + len(self.family_rows)
        return max(1, min(n, rows // per_point))

    def evaluate(self, f: ModelFunction, x: Tensor, readers: Sequence[dict[Derivative, Reader]],
                 random: Sequence[object] = (), chunk_rows: int | None = None) -> list[dict[Derivative, Tensor]]:
        """Run the program on chunks of points and read every table of readers off the results."""
        size = self.chunk_points(x.shape[0], chunk_rows)
        parts = [self.run(f, xc, random) for xc in x.split(size)] if x.shape[0] else [self.run(f, x, random)]
        out = []
        for table in readers:
            values = {}
            for r, reader in table.items():
                pieces = [self.read(reader, res, xc.shape[0]) for res, xc in zip(parts, x.split(size))]
                values[r] = pieces[0] if len(pieces) == 1 else torch.cat(pieces, 0)
            out.append(values)
        return out

    def run(self, f: ModelFunction, x: Tensor, random: Sequence[object] = ()) -> JetResult:
        """Evaluate all directions and families at the points ``x``."""
        if self.n_directions == 0:
            return JetResult(f(x), [], [])
        push = jet_function(f)
        directions = self.input_directions(x, random)
        if push is None:
            return self._run_nested(f, x, c_dense(directions)[:, 0, :])
        layout = self.layout(x)
        coeffs: list[Coef] = [c_take(directions, self.stored(1))] + [None] * (layout.order - 1)
        out = push(Jet(x, coeffs, [None] * len(layout.families), layout))
        coeffs_out = [c_dense(out.full(k)) for k in range(1, layout.order + 1)]
        return JetResult(out.primal, coeffs_out, list(out.sums))

    def _run_nested(self, f: ModelFunction, x: Tensor, v: Tensor) -> JetResult:
        """Per-direction towers by nested jvp; families summed afterwards."""
        need = list(self.orders)
        for order, groups in self.family_rows:
            for rows, _ in groups:
                for r in range(self.n_directions)[rows] if isinstance(rows, slice) else rows:
                    need[r] = max(need[r], order)
        groups: dict[int, list[int]] = {}
        for r, q in enumerate(need):
            groups.setdefault(q, []).append(r)
        per_order: list[list[Tensor | None]] = [[None] * self.n_directions for _ in range(self.order)]
        primal = None
        for q, rows in groups.items():
            vs = v[rows][:, None, :].expand(len(rows), *x.shape)
            towers = torch.func.vmap(lambda d, q=q: tuple(directional_tower(f, x, d, q)))(vs)
            if primal is None:
                primal = towers[0][0]
            for k in range(1, q + 1):
                for i, r in enumerate(rows):
                    per_order[k - 1][r] = towers[k][i]
        coeffs: list[Tensor | None] = []
        for k, n in enumerate(self.sizes, start=1):
            coeffs.append(torch.stack(per_order[k - 1][:n]) if n else None)
        sums = []
        layout = self.layout(x)
        for fam in layout.families:
            stacked = torch.stack([t if t is not None else torch.zeros_like(primal)
                                   for t in per_order[fam.order - 1][:fam.span]])
            sums.append(fam.reduce(stacked))
        return JetResult(primal, coeffs, sums)

    # -- read-off ------------------------------------------------------------------------------
    def read(self, reader: Reader, result: JetResult, n: int) -> Tensor:
        o = reader.output
        primal = result.primal
        if reader.kind == "value":
            return primal[:, o]
        if reader.kind == "family":
            s = result.sums[reader.family]
            out = primal.new_zeros(n) if s is None else s[..., o].expand(n)
            return out * reader.scale if reader.scale != 1.0 else out
        c = result.coeffs[reader.order - 1] if reader.order <= len(result.coeffs) else None
        rows = [self.row[key] for key, _ in reader.terms]
        if reader.kind == "gradient":
            if c is None:
                return primal.new_zeros(n, len(rows))
            idx = torch.as_tensor(rows, dtype=torch.long, device=primal.device)
            return c.index_select(0, idx)[..., o].expand(len(rows), n).t()
        if c is None or not rows:
            return primal.new_zeros(n)
        if len(rows) == 1:
            out = c[rows[0], ..., o]
            w = reader.terms[0][1]
            out = out if w == 1.0 else out * w
        else:
            idx = torch.as_tensor(rows, dtype=torch.long, device=primal.device)
            w = torch.as_tensor([w for _, w in reader.terms], dtype=primal.dtype, device=primal.device)
            out = torch.tensordot(w, c.index_select(0, idx)[..., o], dims=1)
        return out.expand(n)


# ---------------------------------------------------------------------------------------------
# The backend
# ---------------------------------------------------------------------------------------------


class TaylorPlan(Plan):
    """Exact Taylor-mode evaluation of a fixed set of requests.

    With ``collapsed`` and ``bilaplacian="forward"``, bilaplacians of jet-capable
    models are pushed as :class:`~pinnlab.autodiff.jet.BiharmonicJet` (gradient,
    Hessian, ∇Δ, Δ, Δ² per value); otherwise (and for arbitrary callables) they are
    collapsed sums of d² fourth-order directional derivatives (``"interpolation"``).
    """

    def __init__(self, requests: Sequence[Derivative], n_inputs: int, collapsed: bool = True,
                 chunk_rows: int | None = CHUNK_ROWS, bilaplacian: str = "forward"):
        if bilaplacian not in ("forward", "interpolation"):
            raise ValueError(f"bilaplacian must be 'forward' or 'interpolation', not {bilaplacian!r}")
        self.requests = tuple(dict.fromkeys(requests))
        self.n_inputs = n_inputs
        self.collapsed = collapsed
        self.chunk_rows = chunk_rows
        self.exact = plan_exact(self.requests, n_inputs, collapsed=collapsed)
        self.program = JetProgram(self.exact)
        self.forward = [r for r in self.requests if r.kind == "bilaplacian" and r.cols
                        and collapsed and bilaplacian == "forward"]
        self.rest: tuple[ExactPlan, JetProgram] | None = None
        if self.forward:
            rest = plan_exact(self.requests, n_inputs, collapsed=collapsed, skip=self.forward)
            self.rest = (rest, JetProgram(rest))

    def __call__(self, f: ModelFunction, x: Tensor, step: int = 0) -> dict[Derivative, Tensor]:
        push = jet_function(f) if self.forward else None
        if push is None:
            table = {r: self.exact.readers[r] for r in self.requests}
            return self.program.evaluate(f, x, [table], chunk_rows=self.chunk_rows)[0]
        rest, program = self.rest
        table = {r: rest.readers[r] for r in self.requests if r not in self.forward}
        out = program.evaluate(f, x, [table], chunk_rows=self.chunk_rows)[0] if table else {}
        groups: dict[tuple[int, ...], list[Derivative]] = {}
        for r in self.forward:
            groups.setdefault(tuple(sorted(set(r.cols))), []).append(r)
        for cols, reqs in groups.items():
            d = len(cols)
            size = x.shape[0]
            if self.chunk_rows:
                size = max(1, min(size, self.chunk_rows // (3 + 2 * d + d * (d + 1) // 2)))
            pieces: dict[Derivative, list[Tensor]] = {r: [] for r in reqs}
            for xc in x.split(size) if x.shape[0] else [x]:
                jet = push(BiharmonicJet.seed(xc, cols))
                for r in reqs:
                    value = jet.bilap[..., r.output] if jet.bilap is not None else xc.new_zeros(())
                    pieces[r].append(value.expand(xc.shape[0]))
            out.update({r: torch.cat(p) if len(p) > 1 else p[0] for r, p in pieces.items()})
        return {r: out[r] for r in self.requests}

    def describe(self) -> str:
        """A one-line summary (for jet-capable models): directions per order, collapsed sums."""
        program = self.rest[1] if self.rest else self.program
        n = program.n_directions
        fams = [f"order {o} over {sum(len(range(n)[r]) if isinstance(r, slice) else len(r) for r, _ in g)}"
                for o, g in program.family_rows]
        fams += [f"forward bilaplacian over {len(r.cols)} columns" for r in self.forward]
        stored = tuple(program.stored(k) for k in range(1, program.order + 1))
        return f"{n} directions, S_k = {program.sizes} (pushed: {stored}); collapsed: {', '.join(fams) or 'none'}"


@register_backend("taylor")
class TaylorBackend(Backend):
    """Univariate Taylor mode with shared jets; Laplacians and bilaplacians collapsed by default."""

    name = "taylor"

    def __init__(self, collapsed: bool = True, chunk_rows: int | None = CHUNK_ROWS, bilaplacian: str = "forward"):
        self.collapsed = collapsed
        self.chunk_rows = chunk_rows
        self.bilaplacian = bilaplacian

    def plan(self, requests: Sequence[Derivative], n_inputs: int) -> Plan:
        return TaylorPlan(requests, n_inputs, collapsed=self.collapsed, chunk_rows=self.chunk_rows,
                          bilaplacian=self.bilaplacian)
