"""The profile in a torch.distributed job: each rank summarises its own rows, the summaries are
gathered and merged in rank order, and every rank ends with the same Profile.

The analyser imports no torch; this module does, inside its functions, and only a job that asks
for it imports this module::

    import torch.distributed as dist
    import autolik
    from autolik.analysis.profiling.distributed import distributed_inspect

    dist.init_process_group("gloo")          # torchrun sets RANK, WORLD_SIZE, MASTER_ADDR, ...
    prof = distributed_inspect("data.npy")   # each rank reads only its own rows of the memmap
    rec = autolik.recommend(prof)            # the same recommendation on every rank

A job that summarises its rows another way passes its :class:`PartialStats` to
:func:`gather_stats` (``all_gather_object``, then :func:`autolik.analysis.profiling.stats.merge_all` in rank
order). With the NCCL backend, ``all_gather_object`` sends the pickled summaries through the GPU:
call ``torch.cuda.set_device(local_rank)`` first (PyTorch's requirement).
"""
from __future__ import annotations

from autolik.analysis.profiling.shards import chunk_grid, partial_stats, split_grid
from autolik.analysis.profiling.stats import CAP, PartialStats, merge_all


def rank_rows(n_rows: int, rank: int, world_size: int, chunk_rows: int) -> tuple[int, int]:
    """Rows [start, stop) of ``rank``: contiguous, of about equal size, cut at the profile's chunk
    boundaries (so the merged moments are the single pass's to float64 rounding); a rank gets no
    rows when there are fewer chunks than ranks."""
    cuts = split_grid(chunk_grid(int(n_rows), int(chunk_rows)), int(world_size))
    return cuts[rank], cuts[rank + 1]


def gather_stats(stats: PartialStats, group=None) -> PartialStats:
    """Every rank's ``stats`` merged in rank order (the same result on every rank of ``group``)."""
    import torch.distributed as dist

    parts = [None] * dist.get_world_size(group)
    dist.all_gather_object(parts, stats, group=group)
    return merge_all(parts)


def distributed_inspect(X, key: str | None = None, group=None, chunk_rows: int | None = None,
                        sample_rows: int = 5000, seed: int = 0, threads: int = 1):
    """:func:`autolik.inspect` for a torch.distributed job: the same Profile on every rank.

    Each rank loads ``X`` (a ``.npy`` is memory-mapped, so it reads only its own rows), summarises
    its :func:`rank_rows`, and the summaries are gathered and merged (:func:`gather_stats`); the row
    sample and the one-hot check then read the rows they need. Sparse data is profiled whole on
    every rank (its pass goes column by column). ``threads``: per rank, for the fused pass.
    """
    import torch.distributed as dist

    from autolik.analysis.profiling.profile import _chunk_rows, from_stats, inspect
    from autolik.analysis.profiling.shards import thread_count
    from autolik.analysis.support import assign_supports
    from autolik.io import load, release_rows
    from autolik.io.sparse import is_sparse

    ds = load(X, key=key)
    if is_sparse(ds.data):
        return inspect(ds, sample_rows=sample_rows, seed=seed)
    x = ds.data
    rows = _chunk_rows(x, chunk_rows)
    start, stop = rank_rows(len(x), dist.get_rank(group), dist.get_world_size(group), rows)
    mine = partial_stats(x, start, stop, rows, CAP, thread_count(threads, 1),
                         lambda r0, chunk: release_rows(x, r0, r0 + len(chunk)))
    prof = from_stats(ds, gather_stats(mine, group), chunk_rows=rows, sample_rows=sample_rows, seed=seed)
    assign_supports(prof)
    return prof
