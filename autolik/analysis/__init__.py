"""The analyser, one subpackage per job: :mod:`.profiling` (per-feature statistics in one streaming
pass), :mod:`.support` (the support class of each feature), :mod:`.selection` (which family fits)
and :mod:`.recommendation` (the result: family, activations, loss, preprocessing, why)."""
