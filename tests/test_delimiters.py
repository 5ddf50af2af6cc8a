"""The delimiter of a text table is detected: ',', ';', tab or '|', whatever the file's extension."""
from __future__ import annotations

import pytest

from autolik.io import load
from autolik.io.tables import sniff_delimiter


@pytest.mark.parametrize("text, expected", [
    ("a,b,c\n1,2,3\n4,5,6\n", ","),
    ("a;b;c\n1;2;3\n4;5;6\n", ";"),
    ("a\tb\n1\t2\n", "\t"),
    ("a|b\n1|2\n", "|"),
    ('name,note\n"x;y;z",1\n"p;q;r",2\n', ","),  # ';' inside quoted fields does not count
    ("a;b\n1,5;2,5\n3,0;4,0\n", ";"),  # decimal commas: ';' splits every line the same way
    ("value\n1\n2\n", ","),  # one column: the default
    ("a,b\n1,2\n3\n", ","),  # ragged: the default, so the loader names the bad line
])
def test_sniff_delimiter(tmp_path, text, expected):
    path = tmp_path / "t.csv"
    path.write_text(text)
    assert sniff_delimiter(path, ",") == expected


def test_semicolon_csv_loads_as_columns(tmp_path):
    (tmp_path / "t.csv").write_text("count;colour\n1;red\n2;blue\n3;red\n")
    ds = load(tmp_path / "t.csv")
    assert ds.names == ["count", "colour"] and ds.levels == {1: ["blue", "red"]}
    assert ds.data[:, 0].tolist() == [1, 2, 3]


def test_a_tsv_holding_commas_stays_tab_separated(tmp_path):
    (tmp_path / "t.tsv").write_text("a\tb\n1,5\t2\n3,5\t4\n")
    assert load(tmp_path / "t.tsv").names == ["a", "b"]
