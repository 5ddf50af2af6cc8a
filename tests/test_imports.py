"""Import hygiene: the analyser runs without torch."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

NO_TORCH = """if True:
    import sys
    import numpy as np
    import autolik
    assert autolik.__file__ == {init!r}, autolik.__file__
    X = np.random.default_rng(0).poisson(3.0, (300, 4))
    assert autolik.recommend(X).likelihood == "poisson"
    assert autolik.inspect(X).n_features == 4
    rec = autolik.recommend("t.csv")
    assert rec.likelihood == "mixed", rec.likelihood
    assert rec.features[2].likelihood == "categorical", rec.features[2]
    assert autolik.inspect("t.csv").n_features == 3
    assert "torch" not in sys.modules, "the analyser imported torch"
    rec.preprocessor()  # a model-space map is torch: asking for it loads torch
    assert "torch" in sys.modules
    print("ok")
"""


def test_recommend_and_inspect_import_no_torch(tmp_path):
    """``autolik.recommend`` / ``autolik.inspect`` on an array and on a CSV never load torch."""
    (tmp_path / "t.csv").write_text("n,frac,colour\n" + "".join(f"{i % 4},{i / 50},{'rgb'[i % 3]}\n" for i in range(50)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's autolik, not an installed one
    code = NO_TORCH.format(init=str(ROOT / "autolik" / "__init__.py"))
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr[-3000:]
