"""PNG figures. matplotlib is optional (``pip install 'autolik[plot]'``) and imported lazily."""
