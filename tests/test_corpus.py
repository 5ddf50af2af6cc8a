"""The corpus: bad files, damaged models and awkward new data through every CLI command.

Every answer must be an intended one: exit 0 with correct output, or exit 1 (bad data) / 2
(bad usage) with one error line; never "internal error", never a traceback, never exit 0 with
wrong numbers (each case states the exit code it must give).
"""
from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

import autolik
from autolik.cli import cli

pd = pytest.importorskip("pandas")

TINY = ["--hidden", "8", "--latent-dim", "2", "--epochs", "1", "--k", "2", "--quiet"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_intended(result, code, args):
    text = result.output
    assert "internal error" not in text and "Traceback" not in text, (args, text)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
    assert result.exit_code == code, (args, result.exit_code, text)
    if code:
        errors = [ln for ln in text.splitlines() if ln.startswith("Error:")]
        assert len(errors) == 1, (args, text)


def _npy_with_pickle(path):
    path.write_bytes(b"\x93NUMPY" + pickle.dumps([1, 2]))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, mixed_model):
    """Files a user might pass, each with the exit code every model command must give on it."""
    d = tmp_path_factory.mktemp("corpus")
    _, frame = mixed_model
    f = frame.iloc[:8].reset_index(drop=True)
    files = {}

    def csv(name, table, code, **kw):
        table.to_csv(d / name, index=False, **kw)
        files[name] = code

    def raw(name, content, code):
        (d / name).write_bytes(content if isinstance(content, bytes) else content.encode())
        files[name] = code

    csv("good.csv", f, 0)
    csv("semicolon.csv", f, 0, sep=";")
    csv("tab.csv", f, 0, sep="\t")
    csv("pipe.csv", f, 0, sep="|")
    csv("one_row.csv", f.iloc[:1], 0)
    csv("reordered.csv", f[["const", "colour", "id", "frac", "count"]], 0)
    csv("without_left_out.csv", f.drop(columns=["id", "const"]), 0)
    csv("renamed.csv", f.rename(columns={"frac": "fraction"}), 1)
    csv("missing_column.csv", f.drop(columns=["count"]), 1)
    csv("extra_column.csv", f.assign(extra=1.0), 1)
    csv("numbers_for_levels.csv", f.assign(colour=np.arange(8) % 3), 1)
    csv("text_for_numbers.csv", f.assign(count=["a", "b"] * 4), 1)
    csv("unknown_level.csv", f.assign(colour="purple"), 1)
    for name, column, value in [("plus_inf.csv", "frac", np.inf), ("minus_inf.csv", "count", -np.inf),
                                ("nan.csv", "frac", np.nan)]:
        bad = f.assign(**{column: f[column].astype(float)})
        bad.loc[3, column] = value
        csv(name, bad, 1)
    for name, column, value in [("frac_above_1.csv", "frac", 1.7), ("frac_below_0.csv", "frac", -0.2),
                                ("negative_count.csv", "count", -2.0), ("fractional_count.csv", "count", 2.5)]:
        bad = f.assign(**{column: f[column].astype(float)})
        bad.loc[[1, 4], column] = value
        csv(name, bad, 10)  # 10: evaluate exits 1, encode/reconstruct exit 0 with a warning
    raw("empty.csv", "", 1)
    raw("header_only.csv", "count,frac,colour,id,const\n", 1)
    raw("ragged.csv", "count,frac,colour,id,const\n1,0.5,r,0,1\n2,0.5\n", 1)
    raw("latin1.csv", b"count,frac,colour,id,const\n1,0.5,\xe9,0,1\n", 1)
    raw("text.npy", "1,2,3\n", 1)
    raw("truncated.npy", np.lib.format.magic(1, 0) + b"\x10\x00{'descr': '<f8'", 1)
    _npy_with_pickle(d / "pickled.npy")
    files["pickled.npy"] = 1
    np.save(d / "complex.npy", np.ones((4, 5), complex))
    files["complex.npy"] = 1
    np.save(d / "wide.npy", np.zeros((4, 7)))
    files["wide.npy"] = 1
    np.save(d / "empty.npy", np.zeros((0, 5)))
    files["empty.npy"] = 1
    np.savez(d / "two.npz", a=np.zeros((3, 5)), b=np.ones((3, 5)))
    files["two.npz"] = 1
    raw("data.xlsx", "x", 1)
    (d / "a_directory.csv").mkdir()
    files["a_directory.csv"] = 2  # click refuses a directory for FILE
    files["does_not_exist.csv"] = 1
    return d, files


MODEL_COMMANDS = ("encode", "reconstruct", "evaluate")
LOAD_FAILURES = ("empty.csv", "header_only.csv", "ragged.csv", "latin1.csv", "text.npy", "truncated.npy", "pickled.npy",
                 "complex.npy", "empty.npy", "two.npz", "data.xlsx", "does_not_exist.csv")  # bad whatever the command


def _command(cmd, model, data, out_dir):
    if cmd == "evaluate":
        return ("evaluate", model, data, "--k", 2, "--json")
    return (cmd, model, data, "-o", out_dir / f"{cmd}-{data.stem}.npy", "--force")


def test_every_file_through_every_model_command(corpus, mixed_model, tmp_path):
    d, files = corpus
    model = mixed_model[0]
    for name, code in files.items():
        for cmd in MODEL_COMMANDS:
            want = (1 if cmd == "evaluate" else 0) if code == 10 else code
            args = _command(cmd, model, d / name, tmp_path)
            result = run(*args)
            assert_intended(result, want, args)
            if code == 10 and cmd != "evaluate":
                assert "warning:" in result.stderr and "outside the model's support" in result.stderr
            if code == 10 and cmd == "evaluate":
                assert "outside the model's support" in result.output and "allowed:" in result.output


def test_accepted_files_give_the_right_numbers(corpus, mixed_model, tmp_path):
    d, _ = corpus
    model = mixed_model[0]
    reference = {}
    for name in ("good.csv", "semicolon.csv", "tab.csv", "pipe.csv", "reordered.csv", "without_left_out.csv"):
        for cmd in ("encode", "reconstruct"):
            args = _command(cmd, model, d / name, tmp_path)
            assert_intended(run(*args), 0, args)
            out = np.load(args[4])
            if cmd == "reconstruct":
                out = out[:, [0, 1, 2, 4]]  # the identifier column counts rows: compare the others
            assert np.isfinite(out).all()
            ref = reference.setdefault(cmd, out)
            assert np.array_equal(out, ref), (name, cmd)
        result = run("evaluate", model, d / name, "--k", 2, "--json")
        assert_intended(result, 0, name)
        metrics = json.loads(result.stdout)
        assert metrics == reference.setdefault("evaluate", metrics), name
    one = run("evaluate", model, d / "one_row.csv", "--k", 2, "--json")
    assert_intended(one, 0, "one_row")
    assert json.loads(one.stdout)["n_samples"] == 1


def test_loading_failures_through_inspect_fit_and_compare(corpus, tmp_path):
    d, _ = corpus
    for name in LOAD_FAILURES:
        for args in (("inspect", d / name), ("fit", d / name, *TINY), ("compare", d / name, "--epochs", 1, "--quiet")):
            assert_intended(run(*args), 1, args)
    result = run("inspect", d / "semicolon.csv", "--json")
    assert_intended(result, 0, "inspect semicolon")
    assert [f["name"] for f in json.loads(result.stdout)["features"]] == ["count", "frac", "colour", "id", "const"]


@pytest.fixture(scope="module")
def count_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("counts")
    x = np.random.default_rng(2).poisson(3.0, (120, 4))
    np.save(d / "train.npy", x)
    autolik.fit(x, likelihood="poisson", hidden=(8,), latent_dim=2, epochs=1, k=2).save(d / "model")
    return d, x


def test_count_model_and_image_like_values(count_model, tmp_path):
    d, x = count_model
    cases = {"negative.npy": (x[:5] - 10, 1), "fraction.npy": (x[:5] + 0.5, 1), "huge.npy": (x[:5] * 0 + 200, 0),
             "one_row.npy": (x[:1], 0), "inf.npy": (np.where(np.eye(5, 4) > 0, np.inf, x[:5]), 1)}
    for name, (arr, code) in cases.items():
        np.save(tmp_path / name, arr)
        result = run("evaluate", d / "model", tmp_path / name, "--k", 2, "--json")
        assert_intended(result, code, name)
        if code == 0:
            assert np.isfinite(json.loads(result.stdout)["nll_iwae_nats_per_sample"])


def test_sample_arguments_and_output_paths(mixed_model, tmp_path):
    model = mixed_model[0]
    (tmp_path / "adir.npy").mkdir()
    (tmp_path / "afile").write_text("x")
    cases = [(("-n", 0, "-o", tmp_path / "s.npy"), 2), (("-n", -3, "-o", tmp_path / "s.npy"), 2),
             (("--seed", -1, "-o", tmp_path / "s.npy"), 2), (("-o", tmp_path / "s.txt"), 2),
             (("-o", tmp_path / "adir.npy", "--force"), 1), (("-o", tmp_path / "afile" / "s.npy"), 1),
             (("-n", 3, "-o", tmp_path / "ok.csv"), 0)]
    for extra, code in cases:
        assert_intended(run("sample", model, *extra), code, extra)
    assert not (tmp_path / "s.npy").exists()
    assert len((tmp_path / "ok.csv").read_text().splitlines()) == 4
    result = run("fit", tmp_path / "afile", "--out", tmp_path / "afile" / "m", *TINY)
    assert_intended(result, 1, "fit --out under a file")
    assert "is a file, not a directory" in result.output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_damaged_models_through_every_command(mixed_model, corpus, tmp_path):
    src, _ = mixed_model
    good = corpus[0] / "good.csv"

    def damage(edit):
        path = tmp_path / f"m{len(list(tmp_path.iterdir()))}"
        shutil.copytree(src, path)
        edit(path)
        return path

    def edit_json(name, change):
        def edit(path):
            doc = json.loads((path / name).read_text())
            change(doc)
            (path / name).write_text(json.dumps(doc))
        return edit

    damaged = [
        damage(lambda p: (p / "weights.safetensors").write_bytes(b"\0" * 10)),
        damage(lambda p: (p / "preprocessor.json").write_text("{")),
        damage(edit_json("autolik.json", lambda m: m["architecture"].update(hidden=["8"]))),
        damage(edit_json("autolik.json", lambda m: m["architecture"].update(n_inputs=9))),
        damage(edit_json("autolik.json", lambda m: m["output"].update(used_columns=[0, 1, 9]))),
        damage(edit_json("autolik.json", lambda m: m.update(split={"seed": "zero", "n_samples": 1}))),
        damage(edit_json("preprocessor.json", lambda m: m["features"][0].update(scale=0))),
        damage(lambda p: (p / "history.json").unlink()),
    ]
    for path in damaged:
        for args in (("sample", path, "-o", tmp_path / "s.npy", "--force"), ("encode", path, good, "-o",
                     tmp_path / "z.npy", "--force"), ("evaluate", path, good, "--k", 2)):
            result = run(*args)
            assert_intended(result, 1, args)
            assert "is damaged" in result.output or "is incomplete" in result.output, result.output


def test_image_model_refuses_values_beyond_its_levels(tmp_path):
    x = np.random.default_rng(0).integers(0, 17, (120, 8, 8)).astype(np.uint8)  # like scikit-learn's digits
    autolik.fit(x, likelihood="beta_binomial", hidden=(8,), latent_dim=2, epochs=1, k=2).save(tmp_path / "model")
    bad = x[:3].astype(np.int64)
    bad[1, 2, 3] = 200
    np.save(tmp_path / "bad.npy", bad)
    np.save(tmp_path / "one.npy", x[:1])
    result = run("evaluate", tmp_path / "model", tmp_path / "bad.npy", "--k", 2)
    assert_intended(result, 1, "200 in a 0..16 image model")
    assert "data row 2, pixel (2, 3) (= 200)" in result.output and "integers 0..16" in result.output
    for args in (("evaluate", tmp_path / "model", tmp_path / "one.npy", "--k", 2),
                 ("reconstruct", tmp_path / "model", tmp_path / "one.npy", "-o", tmp_path / "r.npy")):
        assert_intended(run(*args), 0, args)
    r = np.load(tmp_path / "r.npy")
    assert r.shape == (1, 8, 8) and r.dtype == np.uint8 and r.max() <= 16


def test_out_of_memory_is_one_line(mixed_model, tmp_path, monkeypatch):
    def exhausted(self, n, seed=None):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")
        yield

    monkeypatch.setattr(autolik.api.FittedVAE, "sample_chunks", exhausted)
    result = run("sample", mixed_model[0], "-n", 10, "-o", tmp_path / "s.npy")
    assert_intended(result, 1, "out of memory")
    assert "out of memory" in result.output and not (tmp_path / "s.npy").exists()


def test_bad_options_of_fit_and_demo(count_model, tmp_path):
    d, x = count_model
    (tmp_path / "afile").write_text("x")
    train = d / "train.npy"
    np.save(tmp_path / "inf.npy", np.where(np.eye(len(x), 4) > 0, np.inf, x))
    cases = [(("fit", train, "--test-fraction", 2), 2), (("fit", train, "--latent-dim", 0, "--epochs", 1), 2),
             (("fit", train, "--batch-size", 0), 2), (("fit", train, "--lr", -1), 2), (("fit", train, "--k", 0), 2),
             (("fit", train, "--hidden", "0"), 2), (("fit", train, "--device", "tpu"), 2),
             (("fit", tmp_path / "inf.npy", *TINY), 1), (("fit", train, *TINY, "--out", tmp_path / "afile"), 1),
             (("demo", "--epochs", 0, "--quiet"), 2), (("demo", "--out", tmp_path / "afile" / "m", "--quiet"), 1)]
    for args, code in cases:
        assert_intended(run(*args, "--quiet") if args[0] == "fit" else run(*args), code, args)
