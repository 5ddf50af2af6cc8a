"""Selection: which family fits a feature of a given support: the quick scipy fits (:mod:`.fits`),
their held-out scoring and ranking (:mod:`.select`), and the zero-inflation check (:mod:`.zeros`)."""
