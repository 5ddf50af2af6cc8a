"""Profiling: per-feature statistics of the data in one streaming pass (:mod:`.profile`), from
mergeable partial statistics (:mod:`.stats`, one chunk's in :mod:`.chunk`, the fused pass in
:mod:`.kernel` / ``_kernel.c``, grid steps in :mod:`.lattice`), split over processes (:mod:`.shards`)
or over the ranks of a torch.distributed job (:mod:`.distributed`).

No re-exports: the loaders import :mod:`.stats` (sparse statistics), and :mod:`.profile` imports
the loaders, so a package that imported :mod:`.profile` would close an import cycle.
"""
