"""The shared analyser cases (../shared/cases) must score 100%.

The default suite scores them in-process (the CLI through click's runner, the checks exactly as
score.py makes them); the slow test runs score.py itself against the installed executable.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from autolik.cli import cli

CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"
needs_cases = pytest.mark.skipif(not (CASES / "generate.py").exists(), reason="shared analyser cases not present")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"shared_cases_{name}", CASES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@needs_cases
def test_shared_cases_in_process(tmp_path):
    checks = _load("generate").build(tmp_path)
    feature = _load("score").feature
    runner, reports, failed = CliRunner(), {}, []
    for c in checks:
        f = c["file"]
        if f not in reports:
            res = runner.invoke(cli, ["inspect", str(tmp_path / f), "--json"])
            assert res.exit_code == 0, f"{f}: {res.output}"
            reports[f] = json.loads(res.stdout)
        r, sel = reports[f], c["select"]
        target = r["recommendation"] if sel == "*" else feature(r, sel)
        assert target is not None, f"{f}[{sel}] not found"
        if c["kind"] == "missing":
            good = abs(target["missing_fraction"] - c["value"]) <= c["tol"]
        else:
            got = target["likelihood" if c["kind"] == "family" else "support"]
            good = got in c["accept"]
        if not good:
            failed.append((f, sel, c["kind"], target.get("likelihood"), target.get("support")))
    assert not failed, failed


@pytest.mark.slow  # 15 `autolik inspect` subprocesses (each imports torch): ~1-2 min on 2 busy cores
@needs_cases
@pytest.mark.skipif(shutil.which("autolik") is None, reason="the autolik console script is not installed")
def test_shared_cases_score_100_percent(tmp_path):
    subprocess.run([sys.executable, str(CASES / "generate.py"), str(tmp_path)], check=True, capture_output=True)
    p = subprocess.run([sys.executable, str(CASES / "score.py"), str(tmp_path), shutil.which("autolik"), "--min", "1.0"],
                       capture_output=True, text=True, timeout=600)
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr
    assert p.returncode == 0, p.stdout + p.stderr
    ok, total = last.split(": ")[1].split(" ")[0].split("/")
    assert ok == total, last
