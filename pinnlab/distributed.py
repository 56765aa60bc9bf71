"""Collectives of data-parallel runs over ``torch.distributed``; with one process every function is a no-op.

Each rank owns a contiguous block of every point set (:func:`shard`). A loss term is the sum of
its squared residuals over the rank's points divided by the *global* number of points, so the
sum of the ranks' values is the global mean; solvers add up (:func:`all_reduce_sum_`) exactly
what the mathematics sums over points: gradients, Gramians JᵀJ and Jᵀr, Jacobian–vector
products, losses. Every rank then takes the same decisions on the same numbers, and the
parameters stay bit-identical across ranks (:func:`check_identical`).

Without an initialised process group of more than one rank, :func:`is_distributed` is false,
the reductions return their input unchanged and :func:`shard` keeps every row.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from pinnlab.errors import SolverError


def is_distributed() -> bool:
    """Whether this process is one rank of an initialised process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """The number of ranks (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def local_rank() -> int:
    """This process's rank on its host (``LOCAL_RANK``, set by torchrun; 0 otherwise)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def shard(n_total: int, rank: int, world: int) -> slice:
    """The rows of ``n_total`` that ``rank`` of ``world`` owns: contiguous blocks in rank order, sizes
    differing by at most one (the first ``n_total % world`` ranks hold one more). Disjoint, covering
    and a function of its arguments only."""
    if world < 1 or not 0 <= rank < world or n_total < 0:
        raise ValueError(f"no shard {rank} of {world} for {n_total} rows")
    base, extra = divmod(int(n_total), int(world))
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


def shard_sizes(n_total: int, world: int) -> list[int]:
    """The number of rows of every rank under :func:`shard`."""
    return [s.stop - s.start for s in (shard(n_total, r, world) for r in range(world))]


def all_reduce_sum_(t: Tensor) -> Tensor:
    """Sum ``t`` over the ranks, in place; returns ``t``. Every rank receives the same bits."""
    if is_distributed():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_reduce_max_(t: Tensor) -> Tensor:
    """Element-wise maximum of ``t`` over the ranks, in place; returns ``t``."""
    if is_distributed():
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t


def all_reduce_sum(t: Tensor) -> Tensor:
    """The sum of ``t`` over the ranks as a new tensor (``t`` itself with one process)."""
    if not is_distributed():
        return t
    return all_reduce_sum_(t.detach().clone().contiguous())


def all_reduce_sum_tree(tree: Any) -> Any:
    """The sums over the ranks of every tensor and number in nested tuples, lists and dicts, in one
    collective; numbers come back as floats (``tree`` itself with one process)."""
    if not is_distributed():
        return tree
    leaves: list[Tensor | float] = []
    _collect(tree, leaves)
    if not leaves:
        return tree
    tensors = [t for t in leaves if isinstance(t, Tensor)]
    dtype = torch.float64 if not tensors else tensors[0].dtype
    for t in tensors:
        dtype = torch.promote_types(dtype, t.dtype)
    device = tensors[0].device if tensors else _device()
    flat = torch.cat([(t.detach() if isinstance(t, Tensor) else torch.tensor(float(t))).reshape(-1).to(device, dtype)
                      for t in leaves])
    all_reduce_sum_(flat)
    out: list[Tensor | float] = []
    start = 0
    for leaf in leaves:
        if isinstance(leaf, Tensor):
            out.append(flat[start:start + leaf.numel()].view(leaf.shape).to(leaf.dtype))
            start += leaf.numel()
        else:
            out.append(float(flat[start]))
            start += 1
    return _rebuild(tree, iter(out))


def _collect(tree: Any, leaves: list[Any]) -> None:
    if isinstance(tree, Mapping):
        for value in tree.values():
            _collect(value, leaves)
    elif isinstance(tree, (list, tuple)):
        for value in tree:
            _collect(value, leaves)
    elif isinstance(tree, (Tensor, int, float)) and not isinstance(tree, bool):
        leaves.append(tree)


def _rebuild(tree: Any, values: Any) -> Any:
    if isinstance(tree, Mapping):
        return {k: _rebuild(v, values) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_rebuild(v, values) for v in tree)
    if isinstance(tree, (Tensor, int, float)) and not isinstance(tree, bool):
        return next(values)
    return tree


def _device() -> torch.device:
    """Where collectives of this process group run (NCCL: this rank's GPU)."""
    if is_distributed() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_ranks(flag: bool) -> bool:
    """Whether ``flag`` holds on every rank (``flag`` itself with one process)."""
    if not is_distributed():
        return bool(flag)
    value = torch.tensor([0.0 if flag else 1.0], device=_device())
    return not bool(all_reduce_max_(value)[0] > 0)


def concat_rows(local: Tensor) -> Tensor:
    """Every rank's rows (any number, same trailing shape) concatenated in rank order (``local`` itself
    with one process)."""
    if not is_distributed():
        return local
    counts = torch.zeros(world_size(), dtype=torch.int64, device=local.device)
    counts[rank()] = local.shape[0]
    sizes = all_reduce_sum_(counts).tolist()
    start = sum(sizes[:rank()])
    out = local.new_zeros((sum(sizes), *local.shape[1:]))
    out[start:start + local.shape[0]] = local.detach()
    return all_reduce_sum_(out)


def broadcast_(t: Tensor, src: int = 0) -> Tensor:
    """Overwrite ``t`` with rank ``src``'s value, in place; returns ``t``."""
    if is_distributed():
        dist.broadcast(t, src=src)
    return t


def global_mean(t: Tensor) -> Tensor:
    """The mean of the entries of ``t`` over all ranks (``t.mean()`` with one process)."""
    if not is_distributed():
        return t.mean()
    both = all_reduce_sum_(torch.stack([t.detach().sum(), t.new_tensor(float(t.numel()))]))
    return both[0] / both[1]


def global_max(t: Tensor) -> Tensor:
    """The largest entry of ``t`` over all ranks (``t.max()`` with one process; ranks may hold none)."""
    if not is_distributed():
        return t.max()
    local = t.detach().max() if t.numel() else t.new_tensor(float("-inf"))
    return all_reduce_max_(local.clone())


def gather_rows(local: Tensor, n_total: int) -> Tensor:
    """The whole ``(n_total, ...)`` tensor from every rank's :func:`shard` of its rows (``local`` itself
    with one process). A sum of zero-padded copies, so exact, on any backend, for unequal shards."""
    if not is_distributed():
        return local
    rows = shard(n_total, rank(), world_size())
    if local.shape[0] != rows.stop - rows.start:
        raise ValueError(f"rank {rank()} holds {local.shape[0]} rows, its shard of {n_total} has "
                         f"{rows.stop - rows.start}")
    kind = local.dtype
    work = local.to(torch.uint8) if kind == torch.bool else local.detach()
    out = work.new_zeros((n_total, *local.shape[1:]))
    out[rows] = work
    all_reduce_sum_(out)
    return out.to(kind)


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order (``[obj]`` with one process)."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (``obj`` itself with one process)."""
    if not is_distributed():
        return obj
    box = [obj if rank() == src else None]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def check_identical(tensors: Mapping[str, Tensor], what: str = "parameters") -> None:
    """Raise :class:`~pinnlab.errors.SolverError` on every rank unless ``tensors`` are bit-identical
    across the ranks (compared with rank 0's copy)."""
    if not is_distributed() or not tensors:
        return
    flat = torch.cat([t.detach().reshape(-1).to(torch.float64) for t in tensors.values()])
    reference = broadcast_(flat.clone(), 0)
    differs = ~((flat == reference) | (torch.isnan(flat) & torch.isnan(reference)))
    gap = (flat - reference).abs().nan_to_num(0.0).max() if flat.numel() else flat.new_zeros(())
    report = torch.zeros(world_size(), 2, dtype=torch.float64, device=flat.device)
    report[rank()] = torch.stack([differs.any().to(torch.float64), gap])
    all_reduce_sum_(report)
    bad = [r for r in range(world_size()) if report[r, 0] > 0]
    if bad:
        raise SolverError(f"the {what} differ between ranks: rank(s) {', '.join(map(str, bad))} differ from "
                          f"rank 0 by up to {float(report[:, 1].max()):.3e}; the ranks no longer compute the same "
                          "run (a non-deterministic kernel, or ranks on different hardware)")


__all__ = [
    "all_gather_object", "all_ranks", "all_reduce_max_", "all_reduce_sum", "all_reduce_sum_", "all_reduce_sum_tree",
    "broadcast_", "broadcast_object", "check_identical", "concat_rows", "gather_rows", "global_max", "global_mean", "is_distributed", "local_rank", "rank", "shard",
    "shard_sizes", "world_size",
]
