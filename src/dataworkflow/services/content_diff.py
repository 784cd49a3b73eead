"""What changed inside a file: unified text diffs and row-level table diffs.

Row diffs stream both files twice and keep only an 8-byte hash per row in memory, so
two million-row CSVs that differ in a handful of rows cost a few tens of megabytes,
not the size of the files. Rows are matched by key columns when given, by whole-row
content otherwise.
"""

from __future__ import annotations

import csv
import difflib
import io
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from dataworkflow.core.ids import ObjectId
from dataworkflow.errors import InvalidInput

TEXT_LIMIT = 1024 * 1024
ROW_LIMIT = 1000
"""At most this many added, removed and changed rows are returned (the counts are exact)."""

Opener = Callable[[], BinaryIO]
Row = tuple[str, ...]


@dataclass
class TextDiff:
    """A unified diff, or why there is none."""

    lines: list[str]
    too_large: bool = False
    binary: bool = False


def text_diff(
    old: bytes | None, new: bytes | None, old_name: str, new_name: str, context: int = 3
) -> TextDiff:
    """Unified diff of two texts (None: the file is absent on that side)."""
    for data in (old, new):
        if data is not None and len(data) > TEXT_LIMIT:
            return TextDiff([], too_large=True)
        if data is not None and b"\0" in data[:8192]:
            return TextDiff([], binary=True)
    a = (old or b"").decode("utf-8", "replace").splitlines(keepends=True)
    b = (new or b"").decode("utf-8", "replace").splitlines(keepends=True)
    lines = list(
        difflib.unified_diff(a, b, f"a/{old_name}", f"b/{new_name}", n=context, lineterm="")
    )
    return TextDiff([line.rstrip("\n") for line in lines])


@dataclass
class ChangedRow:
    """A row present on both sides (same key) whose other cells differ."""

    key: Row
    old: Row
    new: Row
    columns: list[str]
    """Names of the columns whose values differ."""


@dataclass
class TableDiff:
    """Rows added, removed and changed between two tables, and schema changes."""

    old_columns: list[str]
    new_columns: list[str]
    key: list[str]
    added: list[tuple[int, Row]] = field(default_factory=list)
    removed: list[tuple[int, Row]] = field(default_factory=list)
    changed: list[ChangedRow] = field(default_factory=list)
    added_count: int = 0
    removed_count: int = 0
    changed_count: int = 0
    schema_changes: list[str] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        """Whether more rows differ than are listed."""
        return (
            self.added_count > len(self.added)
            or self.removed_count > len(self.removed)
            or self.changed_count > len(self.changed)
        )


_MASK = (1 << 64) - 1


def _row_hash(row: Sequence[str]) -> int:
    """A 64-bit fingerprint of a row, stable within one process (all a diff needs)."""
    return hash(tuple(row)) & _MASK


def csv_rows(opener: Opener, delimiter: str = ",") -> tuple[list[str], Callable[[], Iterator[Row]]]:
    """The header of a CSV and a function that streams its data rows (re-openable).

    Raises:
        InvalidInput: if the file is not UTF-8 text or a field is too large.
    """

    def rows() -> Iterator[Row]:
        with opener() as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="")
            reader = csv.reader(text, delimiter=delimiter)
            try:
                next(reader, None)
                for row in reader:
                    yield tuple(row)
            except (csv.Error, UnicodeDecodeError) as exc:
                raise InvalidInput(f"cannot read the CSV file: {exc}") from None

    with opener() as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        try:
            header = next(csv.reader(text, delimiter=delimiter), [])
        except csv.Error as exc:
            raise InvalidInput(f"cannot read the CSV header: {exc}") from None
    return list(header), rows


def table_diff(
    old_columns: list[str],
    old_rows: Callable[[], Iterator[Row]],
    new_columns: list[str],
    new_rows: Callable[[], Iterator[Row]],
    key: Sequence[str] = (),
    limit: int = ROW_LIMIT,
) -> TableDiff:
    """Row-level diff of two tables given as column names and re-iterable rows.

    Raises:
        InvalidInput: if a key column is missing on either side, or keys repeat.
    """
    result = TableDiff(list(old_columns), list(new_columns), list(key))
    removed_cols = [c for c in old_columns if c not in new_columns]
    added_cols = [c for c in new_columns if c not in old_columns]
    result.schema_changes += [f"column removed: {c}" for c in removed_cols]
    result.schema_changes += [f"column added: {c}" for c in added_cols]
    if not removed_cols and not added_cols and old_columns != new_columns:
        result.schema_changes.append("columns reordered")
    # Compare on the columns both sides have, in the new order.
    common = [c for c in new_columns if c in old_columns]
    old_pos = [old_columns.index(c) for c in common]
    new_pos = [new_columns.index(c) for c in common]

    def project(row: Row, positions: list[int]) -> Row:
        return tuple(row[i] if i < len(row) else "" for i in positions)

    if key:
        for column in key:
            if column not in old_columns or column not in new_columns:
                raise InvalidInput(f"key column {column!r} is not in both files")
        return _keyed(result, old_rows, new_rows, common, old_pos, new_pos, project, limit)
    old_hashes = array("Q", (_row_hash(project(r, old_pos)) for r in old_rows()))
    new_hashes = array("Q", (_row_hash(project(r, new_pos)) for r in new_rows()))
    gone, came = _multiset_difference(old_hashes, new_hashes)
    del old_hashes, new_hashes
    result.removed_count = sum(gone.values())
    result.added_count = sum(came.values())
    for number, row in enumerate(old_rows(), start=1):
        h = _row_hash(project(row, old_pos))
        if gone.get(h, 0) > 0:
            gone[h] -= 1
            if len(result.removed) < limit:
                result.removed.append((number, row))
    for number, row in enumerate(new_rows(), start=1):
        h = _row_hash(project(row, new_pos))
        if came.get(h, 0) > 0:
            came[h] -= 1
            if len(result.added) < limit:
                result.added.append((number, row))
    return result


def _as_arrow(values: array[int]) -> Any:
    """A zero-copy uint64 Arrow array over an ``array('Q')``."""
    import pyarrow as pa

    return pa.Array.from_buffers(pa.uint64(), len(values), [None, pa.py_buffer(values)])


def _multiset_difference(old: array[int], new: array[int]) -> tuple[dict[int, int], dict[int, int]]:
    """Fingerprints in ``old`` but not ``new`` and the reverse, with multiplicities.

    Arrow's hash sets keep memory near 8 bytes per row (Python dicts of ints took ~200).
    """
    import pyarrow.compute as pc

    a, b = _as_arrow(old), _as_arrow(new)
    gone = Counter(a.filter(pc.invert(pc.is_in(a, value_set=b))).to_pylist())
    came = Counter(b.filter(pc.invert(pc.is_in(b, value_set=a))).to_pylist())
    # Rows present on both sides, but a different number of times (repeated rows).
    repeated = set()
    for side in (a, b):
        counts = pc.value_counts(side)
        repeated.update(
            counts.filter(pc.greater(counts.field("counts"), 1)).field("values").to_pylist()
        )
    if repeated:
        wanted = _as_arrow(array("Q", repeated))

        def counted(side: Any) -> dict[int, int]:
            counts = pc.value_counts(side.filter(pc.is_in(side, value_set=wanted)))
            return {item["values"]: item["counts"] for item in counts.to_pylist()}

        in_old, in_new = counted(a), counted(b)
        for value in repeated:
            old_n, new_n = in_old.get(value, 0), in_new.get(value, 0)
            if old_n and new_n and old_n != new_n:
                (gone if old_n > new_n else came)[value] += abs(old_n - new_n)
    return dict(gone), dict(came)


def _first_duplicate(keys: array[int]) -> int | None:
    import pyarrow.compute as pc

    counts = pc.value_counts(_as_arrow(keys))
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    return int(repeated[0]["values"].as_py()) if len(repeated) else None


def _keyed_difference(
    old_keys: array[int], old_values: array[int], new_keys: array[int], new_values: array[int]
) -> tuple[set[int], set[int], set[int]]:
    """Key fingerprints removed, added, and present on both sides with other content."""
    import pyarrow.compute as pc

    ok, ov, nk, nv = (_as_arrow(x) for x in (old_keys, old_values, new_keys, new_values))
    position = pc.index_in(ok, value_set=nk)
    present = pc.is_valid(position)
    removed = set(ok.filter(pc.invert(present)).to_pylist())
    added = set(nk.filter(pc.invert(pc.is_in(nk, value_set=ok))).to_pylist())
    matched_new_values = pc.take(nv, position.filter(present))
    differs = pc.not_equal(ov.filter(present), matched_new_values)
    changed = set(ok.filter(present).filter(differs).to_pylist())
    return removed, added, changed


def _keyed(
    result: TableDiff,
    old_rows: Callable[[], Iterator[Row]],
    new_rows: Callable[[], Iterator[Row]],
    common: list[str],
    old_pos: list[int],
    new_pos: list[int],
    project: Callable[[Row, list[int]], Row],
    limit: int,
) -> TableDiff:
    key_index = [common.index(c) for c in result.key]

    def index(
        rows: Callable[[], Iterator[Row]], positions: list[int]
    ) -> tuple[array[int], array[int]]:
        keys, values = array("Q"), array("Q")
        for row in rows():
            projected = project(row, positions)
            keys.append(_row_hash([projected[i] for i in key_index]))
            values.append(_row_hash(projected))
        return keys, values

    old_keys, old_values = index(old_rows, old_pos)
    new_keys, new_values = index(new_rows, new_pos)
    for keys, rows in ((old_keys, old_rows), (new_keys, new_rows)):
        duplicate = _first_duplicate(keys)
        if duplicate is not None:
            for row in rows():
                projected = project(row, old_pos if rows is old_rows else new_pos)
                if _row_hash([projected[i] for i in key_index]) == duplicate:
                    shown = ", ".join(projected[i] for i in key_index)
                    break
            else:  # pragma: no cover - the hash came from these rows
                shown = "?"
            raise InvalidInput(f"key ({shown}) appears twice; choose columns that are unique")
    removed, added, changed = _keyed_difference(old_keys, old_values, new_keys, new_values)
    del old_keys, old_values, new_keys, new_values
    result.removed_count, result.added_count = len(removed), len(added)
    result.changed_count = len(changed)
    old_changed: dict[int, Row] = {}
    for number, row in enumerate(old_rows(), start=1):
        values = project(row, old_pos)
        key_hash = _row_hash([values[i] for i in key_index])
        if key_hash in removed and len(result.removed) < limit:
            result.removed.append((number, row))
        elif key_hash in changed and len(old_changed) < limit:
            old_changed[key_hash] = values
    for number, row in enumerate(new_rows(), start=1):
        values = project(row, new_pos)
        key_hash = _row_hash([values[i] for i in key_index])
        if key_hash in added and len(result.added) < limit:
            result.added.append((number, row))
        elif key_hash in old_changed:
            before = old_changed[key_hash]
            columns = [
                common[i] for i, (a, b) in enumerate(zip(before, values, strict=True)) if a != b
            ]
            result.changed.append(
                ChangedRow(tuple(values[i] for i in key_index), before, values, columns)
            )
    return result


def parquet_table(opener: Opener) -> tuple[list[str], list[str], Callable[[], Iterator[Row]]]:
    """Column names, their types, and a re-iterable stream of rows (as text) of a Parquet file.

    Raises:
        InvalidInput: if the file is not readable Parquet.
    """
    import pyarrow.parquet as pq

    def open_file(stream: BinaryIO) -> pq.ParquetFile:
        data = stream if stream.seekable() else io.BytesIO(stream.read())
        try:
            return pq.ParquetFile(data)
        except Exception as exc:  # pyarrow raises many kinds of errors for bad files
            raise InvalidInput(f"not a readable Parquet file: {type(exc).__name__}") from None

    with opener() as stream:
        schema = open_file(stream).schema_arrow
    names = [f.name for f in schema]
    types = [str(f.type) for f in schema]

    def rows() -> Iterator[Row]:
        with opener() as stream:
            for batch in open_file(stream).iter_batches(batch_size=10_000):
                columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
                for r in range(batch.num_rows):
                    yield tuple("" if col[r] is None else str(col[r]) for col in columns)

    return names, types, rows


TABLE_EXTENSIONS = {".csv": ",", ".tsv": "\t"}
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"}


@dataclass
class FileDiff:
    """How one changed file differs: ``kind`` is text, table, image, binary or error."""

    kind: str
    text: TextDiff | None = None
    table: TableDiff | None = None
    old_size: int | None = None
    new_size: int | None = None
    message: str = ""


def _extension(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def diff_file(
    open_blob: Callable[[ObjectId], BinaryIO],
    path: str,
    old_id: ObjectId | None,
    new_id: ObjectId | None,
    old_size: int | None,
    new_size: int | None,
    key: Sequence[str] = (),
) -> FileDiff:
    """Diff one file's two versions (an id is None where the file is absent)."""
    ext = _extension(path)
    if ext in IMAGE_EXTENSIONS:
        return FileDiff("image", old_size=old_size, new_size=new_size)

    def opener(blob_id: ObjectId | None) -> Opener:
        if blob_id is None:
            return lambda: io.BytesIO(b"")
        return lambda: open_blob(blob_id)

    try:
        if ext in TABLE_EXTENSIONS or ext == ".parquet":
            if ext == ".parquet":
                empty: tuple[list[str], list[str], Callable[[], Iterator[Row]]] = (
                    [],
                    [],
                    lambda: iter(()),
                )
                old_cols, _, old_rows = parquet_table(opener(old_id)) if old_id else empty
                new_cols, _, new_rows = parquet_table(opener(new_id)) if new_id else empty
            else:
                delimiter = TABLE_EXTENSIONS[ext]
                old_cols, old_rows = csv_rows(opener(old_id), delimiter)
                new_cols, new_rows = csv_rows(opener(new_id), delimiter)
            usable_key = list(key) if all(k in old_cols and k in new_cols for k in key) else []
            table = table_diff(old_cols, old_rows, new_cols, new_rows, key=usable_key)
            return FileDiff("table", table=table, old_size=old_size, new_size=new_size)
    except InvalidInput as exc:
        return FileDiff("error", message=str(exc), old_size=old_size, new_size=new_size)
    if (old_size or 0) > TEXT_LIMIT or (new_size or 0) > TEXT_LIMIT:
        return FileDiff(
            "text", text=TextDiff([], too_large=True), old_size=old_size, new_size=new_size
        )
    old = new = None
    if old_id:
        with open_blob(old_id) as stream:
            old = stream.read()
    if new_id:
        with open_blob(new_id) as stream:
            new = stream.read()
    text = text_diff(old, new, path, path)
    return FileDiff(
        "binary" if text.binary else "text", text=text, old_size=old_size, new_size=new_size
    )
