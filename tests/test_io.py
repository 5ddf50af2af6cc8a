"""Loader: every source format, and every bad input ends in a one-line DataError naming the file."""
import numpy as np
import pytest

from autolik.errors import DataError, UsageError
from autolik.io import Dataset, load


def test_npy_is_memory_mapped_view(tmp_path):
    p = tmp_path / "a.npy"
    np.save(p, np.arange(24, dtype=np.float32).reshape(6, 4))
    ds = load(p)
    assert isinstance(ds.data, np.memmap) or isinstance(ds.data.base, np.memmap)
    assert not ds.data.flags.writeable
    assert ds.names == ["x0", "x1", "x2", "x3"] and ds.shape == (6, 4) and ds.source == str(p)


@pytest.mark.parametrize("shape,image_shape", [((5, 28, 28), (1, 28, 28)), ((5, 3, 8, 8), (3, 8, 8))])
def test_images_reshape_as_views(tmp_path, shape, image_shape):
    p = tmp_path / "img.npy"
    np.save(p, np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8))
    ds = load(p)
    assert ds.data.shape == (shape[0], int(np.prod(shape[1:]))) and ds.image_shape == image_shape
    assert np.shares_memory(ds.data, ds.data.base) and ds.shape == shape


def test_one_dimensional_is_one_feature_and_bool_is_fine():
    ds = load(np.array([True, False, True]))
    assert ds.data.shape == (3, 1) and ds.source == "<array>"


def test_npz_with_and_without_key(tmp_path):
    p = tmp_path / "m.npz"
    np.savez(p, a=np.ones((3, 2)), b=np.zeros((4, 5)))
    assert load(p, key="b").data.shape == (4, 5)
    with pytest.raises(DataError, match=r"m\.npz.*several arrays \(a, b\)"):
        load(p)
    with pytest.raises(UsageError, match="no array named 'c'"):
        load(p, key="c")
    np.savez(tmp_path / "one.npz", only=np.ones((3, 2)))
    assert load(tmp_path / "one.npz").data.shape == (3, 2)


def test_csv_strings_missing_dates_and_stray_cells(tmp_path):
    lines = ["age,eye,when,score"] + [f"{20 + i},{'blue' if i % 2 else 'brown'},2021-01-{1 + i % 28:02d},{i}"
                                      for i in range(60)]
    lines[6] = "NA,,2021-01-05,oops"  # line 7 of the file
    lines[9] = "29,blue,null,?"
    p = tmp_path / "t.csv"
    p.write_text("\n".join(lines) + "\n")
    ds = load(p)
    assert ds.names == ["age", "eye", "when", "score"]
    assert ds.levels == {1: ["blue", "brown"]} and ds.datetime_columns == {2}
    assert np.isnan(ds.data[5, 0]) and np.isnan(ds.data[5, 1]) and np.isnan(ds.data[8, 2])
    assert set(np.unique(ds.data[~np.isnan(ds.data[:, 1]), 1])) == {0.0, 1.0}
    assert np.isnan(ds.data[5, 3]) and ds.data[6, 3] == 6
    assert any("'score'" in n and "lines 7, 10" in n for n in ds.notes)


def test_tsv_and_dataframe_and_parquet(tmp_path):
    pd = pytest.importorskip("pandas")
    (tmp_path / "t.tsv").write_text("a\tb\n1\tx\n2\ty\n3\tx\n")
    ds = load(tmp_path / "t.tsv")
    assert ds.levels == {1: ["x", "y"]} and ds.data[:, 0].tolist() == [1, 2, 3]
    df = pd.DataFrame({"v": [1.5, None, 2.0], "s": ["a", None, "b"], "flag": [True, False, True]})
    ds = load(df)
    assert ds.source == "<DataFrame>" and ds.names == ["v", "s", "flag"]
    assert np.isnan(ds.data[1, 0]) and np.isnan(ds.data[1, 1]) and ds.levels == {1: ["a", "b"]}
    pytest.importorskip("pyarrow")
    df.to_parquet(tmp_path / "t.parquet")
    assert load(tmp_path / "t.parquet").levels == {1: ["a", "b"]}


def _write(tmp_path, name, content):
    p = tmp_path / name
    if isinstance(content, np.ndarray):
        np.save(p, content, allow_pickle=True)
    else:
        p.write_text(content) if isinstance(content, str) else p.write_bytes(content)
    return p


BAD = [
    ("missing.npy", None, "no such file"),
    ("data.xlsx", "x", "unsupported extension '.xlsx'; supported: .npy"),
    ("empty.npy", np.zeros((0, 3)), "empty"),
    ("one.npy", np.zeros((1, 3)), "single row"),
    ("obj.npy", np.array([{"a": 1}, 2], dtype=object), "Python objects"),
    ("pickled.npy", b"\x80\x04\x95\x00", "pickle"),
    ("complex.npy", np.ones(4, complex), "complex"),
    ("text.npy", "1,2,3\n4,5,6\n", "not a NumPy .npy file"),
    ("rank5.npy", np.zeros((2, 2, 2, 2, 2)), "rank <= 4"),
    ("ragged.csv", "a,b\n1,2\n3,4\n5\n", "line 4 has 1 fields"),
    ("header_only.csv", "a,b\n", "no data rows"),
    ("one_row.csv", "a,b\n1,2\n", "single data row"),
]


@pytest.mark.parametrize("name,content,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_data_error_naming_the_file(tmp_path, name, content, message):
    p = tmp_path / name if content is None else _write(tmp_path, name, content)
    with pytest.raises(DataError) as err:
        load(p)
    text = str(err.value)
    assert message in text and name in text and "\n" not in text


@pytest.mark.parametrize("arr,message", [([[1, 2], [3]], "different lengths"), (np.ones(3, complex), "complex"),
                                         (np.zeros((1, 4)), "single row")])
def test_bad_arrays(arr, message):
    with pytest.raises(DataError, match=message):
        load(arr)


def test_dataset_passes_through_and_key_misuse():
    ds = load(np.zeros((3, 2)))
    assert load(ds) is ds and isinstance(ds, Dataset)
    with pytest.raises(UsageError):
        load(np.zeros((3, 2)), key="a")


def test_zero_padded_digit_strings_are_codes_not_counts(tmp_path):
    """A quoted, zero-padded code ("030001") is a category or an identifier, never a count near 30,000
    (issue 10, item 3); plain integers in the same file stay numbers."""
    import autolik

    rng = np.random.default_rng(0)
    codes = [f'"{c:06d}"' for c in rng.choice([30001, 30002, 41007, 5013], size=300)]
    path = tmp_path / "codes.csv"
    path.write_text("region,visits\n" + "\n".join(f"{c},{v}" for c, v in zip(codes, rng.poisson(3, 300))) + "\n")
    ds = load(path)
    assert ds.levels[0] == ["005013", "030001", "030002", "041007"] and 1 not in ds.levels
    assert any("zero-padded" in n and "region" in n for n in ds.notes)
    rec = autolik.recommend(str(path))
    assert [f.support for f in rec.features] == ["categorical", "count"]
    ids = tmp_path / "ids.csv"  # every code distinct: an identifier, left out
    ids.write_text("fips,x\n" + "\n".join(f"{i:05d},{v}" for i, v in enumerate(rng.normal(size=300))) + "\n")
    assert autolik.recommend(str(ids)).features[0].support == "identifier"
