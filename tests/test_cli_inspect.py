"""``autolik inspect``: exit codes, one JSON object, grouped tables, --plot."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from autolik.cli import cli

RNG = np.random.default_rng(3)
REQUIRED = {"source", "shape", "n_samples", "n_features", "recommendation", "features", "notes"}
REC_KEYS = {"likelihood", "activation", "loss", "preprocessing", "rationale", "confidence", "alternatives"}


def run(*args):
    return CliRunner().invoke(cli, ["inspect", *map(str, args)])


@pytest.fixture
def counts(tmp_path):
    path = tmp_path / "counts.npy"
    np.save(path, RNG.negative_binomial(0.8, 0.08, (800, 3)).astype(np.float64))
    return path


def test_json_is_exactly_one_object_with_the_contract_keys(counts):
    r = run(counts, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)  # raises if anything else was printed
    assert REQUIRED <= set(doc) and REC_KEYS <= set(doc["recommendation"])
    assert doc["shape"] == [800, 3] and doc["n_features"] == 3
    assert doc["recommendation"]["likelihood"] in {"negative_binomial", "zero_inflated_negative_binomial"}
    f = doc["features"][0]
    assert {"name", "support", "likelihood", "missing_fraction", "min", "max"} <= set(f)
    assert f["name"] == "x0" and f["support"] == "count"


def test_text_summary_puts_recommendation_first(counts):
    r = run(counts)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert "shape (800, 3)" in lines[0]
    assert lines[2].startswith("recommendation: ")
    assert any(line.strip().startswith("x2") for line in lines)


def test_many_features_are_grouped(tmp_path):
    img = (RNG.random((300, 12, 12)) < 0.2) * RNG.integers(0, 256, (300, 12, 12))
    path = tmp_path / "img.npy"
    np.save(path, img.astype(np.uint8))
    r = run(path)
    assert r.exit_code == 0, r.output
    table = r.output.split("features:")[1].split("notes:")[0].strip().splitlines()
    assert len(table) == 2 and "144" in table[1] and "bounded_integer" in table[1]


def test_plot_writes_png_and_refuses_the_input(counts, tmp_path):
    out = tmp_path / "fig.png"
    r = run(counts, "--plot", out, "--json")
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(r.output)["plot"] == str(out)
    png_input = tmp_path / "data.png"
    png_input.write_bytes(b"x")
    r = run(png_input, "--plot", png_input)
    assert r.exit_code == 2 and "input file" in r.output


@pytest.mark.parametrize("args,code", [(["--sample-rows", "3"], 2), (["--plot", "x.jpg"], 2)])
def test_bad_usage_exits_2(counts, args, code):
    r = run(counts, *args)
    assert r.exit_code == code and "Traceback" not in r.output


def _close(a, b) -> bool:
    """Equal JSON documents, numbers to 1e-9 relative (a merge of shards rounds the moments apart)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(u, v) for u, v in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return b == pytest.approx(a, rel=1e-9)
    return a == b


def test_workers_give_the_same_report(tmp_path, monkeypatch):
    """Two processes share a 20,000-row file (chunks shrunk to 16 kB so that there are shards to share)."""
    from autolik.analysis.profiling import profile as P

    monkeypatch.setattr(P, "CHUNK_BYTES", 1 << 14)
    path = tmp_path / "w.npy"
    np.save(path, np.column_stack([RNG.poisson(3, (20000, 2)), RNG.normal(size=20000)]).astype(np.float32))
    one, two = run(path, "--json", "--quiet"), run(path, "--json", "--quiet", "--workers", "2")
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    assert _close(json.loads(one.output), json.loads(two.output))
    assert run(path, "--json", "--quiet", "--workers", "auto").exit_code == 0


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", ""])
def test_bad_workers_exit_2(counts, value):
    r = run(counts, "--workers", value)
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert [line for line in r.output.splitlines() if "--workers" in line] == \
        [f"Error: --workers must be a whole number of processes (1 = no extra process), or 0 / 'auto' for every core "
         f"({os.cpu_count()} here); got {value!r}"]


def test_bad_data_exits_1_with_one_line(tmp_path):
    r = run(tmp_path / "missing.npy")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1 and "missing.npy" in r.output
    np.savez(tmp_path / "two.npz", a=np.zeros((5, 2)), b=np.ones((5, 2)))
    r = run(tmp_path / "two.npz")
    assert r.exit_code == 1 and "a" in r.output and "b" in r.output
    r = run(tmp_path / "two.npz", "--key", "a", "--json")  # all constant: still a report
    assert r.exit_code == 0 and json.loads(r.output)["recommendation"]["likelihood"] == "none"


def test_csv_with_strings_and_missing(tmp_path):
    n = 400
    rows = ["h,eye,kids"] + [f"{170 + 9 * RNG.normal():.1f},{RNG.choice(['a', 'b', 'c'])},"
                             f"{'' if i % 10 == 0 else RNG.poisson(1.5)}" for i in range(n)]
    path = tmp_path / "s.csv"
    path.write_text("\n".join(rows) + "\n")
    doc = json.loads(run(path, "--json").output)
    by = {f["name"]: f for f in doc["features"]}
    assert by["eye"]["support"] == "categorical" and by["eye"]["likelihood"] == "categorical"
    assert by["kids"]["missing_fraction"] == pytest.approx(0.1)
    assert by["kids"]["likelihood"] in {"poisson", "negative_binomial"}
    assert doc["recommendation"]["likelihood"] == "mixed"


def test_plot_never_replaces_an_existing_file_without_force(tmp_path):
    from click.testing import CliRunner

    from autolik.cli import cli

    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).normal(size=(200, 2)))
    png = tmp_path / "p.png"
    png.write_bytes(b"keep me")
    res = CliRunner().invoke(cli, ["inspect", str(data), "--plot", str(png)])
    assert res.exit_code == 1 and "already exists" in res.output and png.read_bytes() == b"keep me"
    res = CliRunner().invoke(cli, ["inspect", str(data), "--plot", str(png), "--force"])
    assert res.exit_code == 0 and png.read_bytes()[:4] == b"\x89PNG"


def test_large_files_draw_a_progress_bar_unless_quiet(tmp_path, monkeypatch):
    """The bar appears for files over four chunks; chunks are shrunk here to keep the file small."""
    from autolik.analysis.profiling import profile as P

    monkeypatch.setattr(P, "CHUNK_BYTES", 1 << 14)
    path = tmp_path / "big.npy"
    np.save(path, RNG.normal(size=(20000, 4)))
    r = CliRunner().invoke(cli, ["inspect", str(path), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["n_samples"] == 20000
    assert "profiling [" in r.stderr and r.stderr.rstrip().endswith("0.00/0.00 GB")
    q = CliRunner().invoke(cli, ["inspect", str(path), "--json", "--quiet"])
    assert q.exit_code == 0 and q.stderr == "" and json.loads(q.stdout) == json.loads(r.stdout)


def test_profile_reports_progress_per_chunk():
    from autolik.analysis.profiling.profile import profile

    seen = []
    profile(RNG.normal(size=(1000, 2)), chunk_rows=300, progress=lambda done, n: seen.append((done, n)))
    assert seen == [(300, 1000), (600, 1000), (900, 1000), (1000, 1000)]
