"""The pipeline: a command loads and profiles its data once, however many models it trains."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from autolik.cli import cli

TINY = ["--latent-dim", "2", "--epochs", "1", "--k", "2", "--quiet"]


@pytest.fixture()
def calls(monkeypatch):
    """Counts of the loader (autolik.io.load, given anything but a loaded Dataset, which it returns as it
    is) and of the profiler (autolik.analysis.profiling.profile.profile)."""
    import autolik.analysis.profiling.profile as profile_mod
    import autolik.io as io_mod
    from autolik.io.dataset import Dataset

    seen = {"load": 0, "profile": 0}

    def counted(name, fn):
        def wrapper(source, *args, **kwargs):
            seen[name] += not isinstance(source, Dataset) or name == "profile"
            return fn(source, *args, **kwargs)
        return wrapper

    monkeypatch.setattr(io_mod, "load", counted("load", io_mod.load))
    monkeypatch.setattr(profile_mod, "profile", counted("profile", profile_mod.profile))
    return seen


@pytest.fixture()
def table(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "t.csv"
    rows = [f"{rng.poisson(3)},{rng.random():.4f},{'rgb'[i % 3]}" for i in range(200)]
    path.write_text("n,frac,colour\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("command", [
    ["inspect"],
    ["fit", "--hidden", "8", *TINY],
    ["fit", "--hidden", "8", "--select", "empirical", *TINY],
    ["compare", "--candidates", "auto", *TINY],
])
def test_one_load_and_one_profile_per_command(command, calls, table, monkeypatch):
    import autolik.compare as compare_mod

    monkeypatch.setattr(compare_mod, "step_seconds", lambda rec, x, training: 1.0)  # the budget: one epoch each
    result = CliRunner().invoke(cli, [command[0], str(table), *command[1:]])
    assert result.exit_code == 0, result.output
    assert calls == {"load": 1, "profile": 1}, command
