"""Text and table diffs: keyed and unkeyed rows, quoting, headers, a million rows."""

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataworkflow.errors import InvalidInput
from dataworkflow.services.content_diff import csv_rows, parquet_table, table_diff, text_diff


def opener(data: bytes):
    return lambda: io.BytesIO(data)


def diff_csv(old: str, new: str, key=()):
    old_cols, old_rows = csv_rows(opener(old.encode()))
    new_cols, new_rows = csv_rows(opener(new.encode()))
    return table_diff(old_cols, old_rows, new_cols, new_rows, key=key)


def test_text_diff_is_unified():
    result = text_diff(b"a\nb\nc\n", b"a\nB\nc\n", "f.txt", "f.txt")
    assert result.lines[:2] == ["--- a/f.txt", "+++ b/f.txt"]
    assert "-b" in result.lines and "+B" in result.lines


def test_text_diff_limits():
    assert text_diff(b"x" * (2 * 1024 * 1024), b"y", "f", "f").too_large
    assert text_diff(b"\0\1", b"\0\2", "f", "f").binary
    assert text_diff(None, b"new\n", "f", "f").lines[-1] == "+new"


def test_unkeyed_rows_added_and_removed():
    result = diff_csv("id,v\n1,a\n2,b\n3,c\n", "id,v\n1,a\n3,c\n4,d\n")
    assert result.removed == [(2, ("2", "b"))]
    assert result.added == [(3, ("4", "d"))]
    assert (result.added_count, result.removed_count, result.changed_count) == (1, 1, 0)


def test_reordered_rows_are_not_changes():
    result = diff_csv("id,v\n1,a\n2,b\n", "id,v\n2,b\n1,a\n")
    assert (result.added, result.removed, result.changed) == ([], [], [])


def test_keyed_rows_report_changed_cells():
    result = diff_csv("id,v,w\n1,a,x\n2,b,y\n3,c,z\n", "id,v,w\n1,a,x\n2,B,y\n4,d,q\n", key=["id"])
    assert [(c.key, c.columns) for c in result.changed] == [(("2",), ["v"])]
    assert [r for _, r in result.added] == [("4", "d", "q")]
    assert [r for _, r in result.removed] == [("3", "c", "z")]


def test_quoted_fields_with_commas_and_newlines():
    old = 'id,text\n1,"hello, world"\n2,"two\nlines"\n'
    new = 'id,text\n1,"hello, world"\n2,"two\nlines!"\n'
    result = diff_csv(old, new, key=["id"])
    assert [(c.key, c.new) for c in result.changed] == [(("2",), ("2", "two\nlines!"))]


def test_header_change_is_a_schema_change():
    result = diff_csv("id,v\n1,a\n", "id,v,extra\n1,a,x\n", key=["id"])
    assert result.schema_changes == ["column added: extra"]
    assert result.changed == []  # compared on the columns both sides have
    with pytest.raises(InvalidInput):
        diff_csv("id,v\n1,a\n", "id,v\n1,a\n", key=["missing"])
    with pytest.raises(InvalidInput, match="twice"):
        diff_csv("id,v\n1,a\n1,b\n", "id,v\n1,a\n", key=["id"])


def test_a_million_rows_with_one_changed_row():
    rows = [f"{i},{i * 7 % 1000},name{i}\n" for i in range(1_000_000)]
    old = "id,score,name\n" + "".join(rows)
    rows[654_321] = "654321,999999,changed\n"
    new = "id,score,name\n" + "".join(rows)
    result = diff_csv(old, new, key=["id"])
    assert [(c.key, c.columns) for c in result.changed] == [(("654321",), ["score", "name"])]
    assert result.added == [] and result.removed == []
    unkeyed = diff_csv(old, new)
    assert unkeyed.removed == [(654_322, ("654321", str(654321 * 7 % 1000), "name654321"))]
    assert unkeyed.added == [(654_322, ("654321", "999999", "changed"))]


def parquet_bytes(table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def test_parquet_schema_and_rows():
    old = parquet_bytes(pa.table({"id": [1, 2, 3], "v": [1.0, 2.0, 3.0]}))
    new = parquet_bytes(pa.table({"id": [1, 2, 4], "v": [1.0, 2.5, 4.0], "tag": ["a", "b", "c"]}))
    old_names, _, old_rows = parquet_table(opener(old))
    new_names, _, new_rows = parquet_table(opener(new))
    result = table_diff(old_names, old_rows, new_names, new_rows, key=["id"])
    assert result.schema_changes == ["column added: tag"]
    assert [c.key for c in result.changed] == [("2",)]
    assert [r[0] for _, r in result.added] == ["4"] and [r[0] for _, r in result.removed] == ["3"]
    with pytest.raises(InvalidInput):
        parquet_table(opener(b"not parquet"))


def test_repeated_rows_are_counted():
    result = diff_csv("id,v\n1,a\n1,a\n1,a\n2,b\n", "id,v\n1,a\n2,b\n2,b\n")
    assert [r for _, r in result.removed] == [("1", "a"), ("1", "a")]
    assert [r for _, r in result.added] == [("2", "b")]
