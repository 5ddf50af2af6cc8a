"""Recommendation: from a classified profile and the selected families to the analyser's result:
:func:`.recommend.recommend` (the entry point), :mod:`.build` (per-feature choices and the summary)
and :mod:`.result` (the ``Recommendation`` / ``FeatureChoice`` types and their one renderer)."""
