"""The shared analyser cases (../shared/cases) must score 100% against the installed ``autolik``."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"


@pytest.mark.slow  # 15 `autolik inspect` subprocesses (each imports torch): ~1-2 min on 2 busy cores
@pytest.mark.skipif(not (CASES / "generate.py").exists(), reason="shared analyser cases not present")
@pytest.mark.skipif(shutil.which("autolik") is None, reason="the autolik console script is not installed")
def test_shared_cases_score_100_percent(tmp_path):
    subprocess.run([sys.executable, str(CASES / "generate.py"), str(tmp_path)], check=True, capture_output=True)
    p = subprocess.run([sys.executable, str(CASES / "score.py"), str(tmp_path), shutil.which("autolik"), "--min", "1.0"],
                       capture_output=True, text=True, timeout=600)
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr
    assert p.returncode == 0, p.stdout + p.stderr
    ok, total = last.split(": ")[1].split(" ")[0].split("/")
    assert ok == total, last
