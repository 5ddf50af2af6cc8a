"""A damaged model directory gives one DataError line naming the file (and field), never another error.

The fuzz test changes every leaf of the JSON files (and deletes every key) one at a time, with
the manifest's digests updated so that the schema itself is tested (a digest mismatch would
catch the edit first), then loads the model and, when it loads, uses it: every outcome is
either a DataError naming the damaged file, or a working model with finite outputs.
"""
from __future__ import annotations

import copy
import hashlib
import json
import shutil
import warnings

import numpy as np
import pytest

import autolik
from autolik import persist
from autolik.errors import DataError, DataWarning, UsageError

pd = pytest.importorskip("pandas")
pytestmark = pytest.mark.filterwarnings("ignore::autolik.errors.DataWarning")  # fuzzed transforms move the support

FILES = ("autolik.json", "preprocessor.json", "recommendation.json", "history.json", "profile.json")


@pytest.fixture(scope="module")
def saved(mixed_model):
    path, frame = mixed_model
    head = frame.iloc[:6]
    codes = head.assign(colour=head["colour"].map({"b": 0, "g": 1, "r": 2})).to_numpy(dtype=np.float64)
    return path, codes  # the array path: the fuzz loop stays fast


def _leaves(obj, path=()):
    """(path, value) of every leaf, and of every list/dict (as a whole) below the top."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:4]):  # the first items stand for the rest
            yield from _leaves(v, path + (i,))
    if path:
        yield path, obj


def _mutants(value):
    if isinstance(value, bool):
        return ["true", None]
    if isinstance(value, int):
        return [-1, value + 1, "7", 10 ** 12]
    if isinstance(value, float):
        return ["x", -1.0, 0.0, 1e308]
    if isinstance(value, str):
        return [7, "zzz"]
    if value is None:
        return [1, "x"]
    if isinstance(value, list):
        return [[], value[:-1], value + value[:1]]
    return [[], {}]  # dict


def _set(obj, path, value):
    for k in path[:-1]:
        obj = obj[k]
    if value is _DELETE:
        if isinstance(obj, dict):
            del obj[path[-1]]
    else:
        obj[path[-1]] = value


_DELETE = object()


def _cases(name, doc, stride):
    """(path, mutant) pairs; every ``stride``-th one (the default suite samples, the slow one takes all)."""
    cases = [(path, m) for path, value in _leaves(doc)
             if name not in ("profile.json", "history.json") or len(path) <= 2  # informational files: top levels
             for m in _mutants(value) + [_DELETE]]
    return cases[::stride]


def _write(path, name, doc, original_manifest):
    (path / name).write_text(json.dumps(doc))
    manifest = json.loads((path / "autolik.json").read_text()) if name != "autolik.json" else doc
    if name != "autolik.json" and "files" in original_manifest:
        manifest = copy.deepcopy(original_manifest)
        manifest["files"][name] = hashlib.sha256((path / name).read_bytes()).hexdigest()
        (path / "autolik.json").write_text(json.dumps(manifest))


def _use(model, frame):
    """Every method a loaded model offers; outputs must be finite."""
    for call in (lambda: model.sample(3, seed=1), lambda: model.encode(frame), lambda: model.reconstruct(frame),
                 lambda: model.score_samples(frame), lambda: model.evaluate(frame, k=2)["nats_per_dim"]):
        try:
            out = call()
        except (DataError, UsageError):
            continue
        values = np.asarray(out, dtype=np.float64) if not isinstance(out, float) else np.asarray([out])
        assert np.isfinite(values).all(), "a loaded model wrote non-finite values"


@pytest.mark.parametrize("stride", [pytest.param(1, marks=pytest.mark.slow), 9])
@pytest.mark.parametrize("name", FILES)
def test_fuzz_json_leaves(saved, tmp_path, name, stride):
    src, frame = saved
    path = tmp_path / "m"
    shutil.copytree(src, path)
    original = {f: (path / f).read_bytes() for f in FILES}
    manifest = json.loads(original["autolik.json"])
    doc0 = json.loads(original[name])
    outcomes = {"refused": 0, "loaded": 0}
    for where, mutant in _cases(name, doc0, stride):
        doc = copy.deepcopy(doc0)
        _set(doc, where, mutant)
        if doc == doc0:
            continue
        _write(path, name, doc, manifest)
        try:
            model = autolik.load(path)
        except DataError as e:
            message = str(e)
            assert "\n" not in message and (name in message or "version" in message or "format" in message), \
                (where, mutant, message)
            outcomes["refused"] += 1
        else:
            outcomes["loaded"] += 1
            _use(model, frame)
        finally:
            for f, data in original.items():
                (path / f).write_bytes(data)
    if name in ("autolik.json", "preprocessor.json", "recommendation.json"):
        assert outcomes["refused"] > 0
    if name == "autolik.json" and stride == 1:
        assert outcomes["refused"] > outcomes["loaded"]


@pytest.mark.parametrize("field, value, message", [
    (("architecture", "hidden"), ["16"],
     "autolik.json field architecture.hidden[0]: expected an integer >= 1, found '16'"),
    (("architecture", "n_inputs"), 9, "autolik.json field architecture.n_inputs: expected 3"),
    (("output", "used_columns"), [0, 1, 7], "output.used_columns: expected distinct column numbers below 5"),
    (("output", "dtype"), "object", "output.dtype: expected a numeric numpy dtype"),
    (("architecture", "latent_dim"), 3, "tensor"),
])
def test_named_field_errors(saved, tmp_path, field, value, message):
    path = tmp_path / "m"
    shutil.copytree(saved[0], path)
    manifest = json.loads((path / "autolik.json").read_text())
    _set(manifest, field, value)
    (path / "autolik.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="is damaged") as e:
        autolik.load(path)
    assert message in str(e.value)


def test_zero_scale_and_cut_file_are_refused(saved, tmp_path):
    path = tmp_path / "m"
    shutil.copytree(saved[0], path)
    text = (path / "preprocessor.json").read_text()
    (path / "preprocessor.json").write_text(text[: len(text) // 2])
    with pytest.raises(DataError, match="preprocessor.json: not valid JSON"):
        autolik.load(path)
    doc = json.loads(text)
    doc["features"][1]["scale"] = 0.0
    (path / "preprocessor.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"preprocessor.json field features\[1\].scale: expected a finite number"):
        autolik.load(path)


def test_edited_file_is_caught_by_its_digest(saved, tmp_path):
    path = tmp_path / "m"
    shutil.copytree(saved[0], path)
    doc = json.loads((path / "preprocessor.json").read_text())
    doc["features"][1]["shift"] = 0.25  # valid, but not what was trained
    (path / "preprocessor.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="preprocessor.json: its contents changed"):
        autolik.load(path)


def _weights(path):
    return next(p for p in path.iterdir() if p.name.startswith("weights."))


@pytest.mark.parametrize("digests", [True, False])
def test_fuzz_weight_file(saved, tmp_path, digests):
    src, frame = saved
    path = tmp_path / "m"
    shutil.copytree(src, path)
    if not digests:
        manifest = json.loads((path / "autolik.json").read_text())
        del manifest["files"]
        (path / "autolik.json").write_text(json.dumps(manifest))
    wfile = _weights(path)
    good = wfile.read_bytes()
    rng = np.random.default_rng(0)
    damage = [b"", good[:8], good[: len(good) // 2], good[:-1], good + b"\0" * 7, b"garbage" * 40]
    for pos in sorted(set(rng.integers(0, len(good), 25).tolist()) | {0, 9, 20}):
        flipped = bytearray(good)
        flipped[pos] ^= 0xFF
        damage.append(bytes(flipped))
    loaded = 0
    for data in damage:
        wfile.write_bytes(data)
        try:
            model = autolik.load(path)
        except DataError as e:
            assert wfile.name in str(e) and "\n" not in str(e)
        else:
            assert not digests, "a changed weight file passed its digest"
            loaded += 1
            _use(model, frame)
    assert loaded < len(damage)
    wfile.unlink()
    with pytest.raises(DataError, match=f"{wfile.name} is missing"):
        autolik.load(path)


_LATTICE = {  # continuous families on integer or grid data: dequantised, so the support is a cell range
    "beta on integers": ("beta", lambda rng, n: rng.binomial(10, 0.3, (n, 3))),
    "continuous_bernoulli on pixels": ("continuous_bernoulli",
                                       lambda rng, n: rng.integers(0, 256, (n, 4)).astype(np.uint8)),
    "lognormal on counts": ("lognormal", lambda rng, n: rng.poisson(3, (n, 3))),
    "beta on a 1/255 grid": ("beta", lambda rng, n: rng.integers(0, 256, (n, 3)) / 255),
    "bernoulli on -1/+1": ("bernoulli", lambda rng, n: rng.choice([-1, 1], (n, 3))),
    "poisson with missing values": ("poisson", lambda rng, n: np.where(rng.random((n, 3)) < 0.1, np.nan,
                                                                       rng.poisson(3, (n, 3)))),
}


def _families():
    from test_api import DATA

    return {**{name: (name, DATA[name]) for name in autolik.available_likelihoods()}, **_LATTICE}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(_families()))
def test_every_family_saves_loads_and_accepts_its_own_training_data(case, tmp_path):
    """No false refusals: the schema passes every family's directory, and the training rows are in support."""
    name, make = _families()[case]
    x = make(np.random.default_rng(3), 120)
    model = autolik.fit(x, likelihood=name, hidden=(8,), latent_dim=2, epochs=1, k=2)
    loaded = autolik.load(model.save(tmp_path / "m"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        assert np.isfinite(loaded.score_samples(x)).all()
        assert np.isfinite(loaded.encode(x)).all()
    assert loaded.evaluate(x, k=2) == model.evaluate(x, k=2)
