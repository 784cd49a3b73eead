"""File previews that read only the head of a file, so a 5 GB file opens like a small one."""

from __future__ import annotations

import csv
import io
import mimetypes
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_for_filename
from pygments.util import ClassNotFound

from dataworkflow.core.ids import ObjectId
from dataworkflow.storage.base import ObjectStorage

TEXT_LIMIT = 512 * 1024
TABLE_ROWS = 100
EXACT_COUNT_LIMIT = 8 * 1024 * 1024
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
}
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_formatter = HtmlFormatter(
    linenos="table", lineanchors="L", anchorlinenos=True, cssclass="highlight", wrapcode=True
)


@dataclass
class Preview:
    """What the file page shows: ``kind`` picks the template block."""

    kind: str  # text, markdown, table, parquet, image, binary, empty
    html: Markup = field(default_factory=Markup)
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    total_rows: int | None = None
    rows_estimated: bool = False
    schema: list[tuple[str, str]] = field(default_factory=list)
    truncated: bool = False
    mime: str = "application/octet-stream"
    lines: int = 0
    note: str = ""


def extension(name: str) -> str:
    """The lowercased extension with its dot, or ``""``."""
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def guess_mime(name: str) -> str:
    """A content type for display (never used to serve HTML)."""
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def render_markdown(text: str) -> Markup:
    """Markdown to HTML, sanitized with nh3 (raw HTML in the source is not rendered)."""
    return Markup(nh3.clean(_markdown.render(text), link_rel="nofollow noopener"))


def looks_binary(head: bytes) -> bool:
    """NUL bytes or undecodable UTF-8 in the first block mean binary."""
    if b"\0" in head[:8192]:
        return True
    try:
        head[:8192].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head[:8192]) - 4  # a split character at the end is fine
    return False


def _read_head(stream: BinaryIO, limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit:
        chunk = stream.read(min(1024 * 1024, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _decode(head: bytes, complete: bool) -> str:
    text = head.decode("utf-8", errors="replace")
    if not complete and "\n" in text:
        text = text[: text.rfind("\n") + 1]  # drop the partial last line
    return text


def _table(name: str, head: bytes, size: int, storage: ObjectStorage, blob: ObjectId) -> Preview:
    complete = len(head) >= size
    text = _decode(head, complete)
    delimiter = "\t" if extension(name) == ".tsv" else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = []
    for row in reader:
        rows.append(row)
        if len(rows) > TABLE_ROWS:
            break
    if not rows:
        return Preview("empty")
    columns, body = rows[0], rows[1 : TABLE_ROWS + 1]
    total: int | None
    estimated = False
    if complete:
        total = max(0, text.count("\n") - 1 + (0 if text.endswith("\n") else 1))
    elif size <= EXACT_COUNT_LIMIT:
        with storage.open(blob) as stream:
            newlines = sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b""))
        total = max(0, newlines - 1)
    else:
        sample = text.count("\n") or 1
        total = int(size / (len(text.encode()) / sample)) - 1
        estimated = True
    return Preview(
        "table",
        columns=columns,
        rows=body,
        total_rows=total,
        rows_estimated=estimated,
        truncated=(total or 0) > len(body),
    )


class _RangeFile(io.RawIOBase):
    """A seekable file over ranged reads (S3 streams cannot seek; Parquet needs its footer)."""

    def __init__(self, storage: ObjectStorage, blob: ObjectId, size: int) -> None:
        self._storage, self._blob, self._size, self._position = storage, blob, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        end = min(self._size, self._position + len(buffer))
        if end <= self._position:
            return 0
        data = self._storage.read_range(self._blob, self._position, end)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


def _parquet(storage: ObjectStorage, blob: ObjectId, size: int) -> Preview:
    import pyarrow.parquet as pq

    with storage.open(blob) as stream:
        source: Any = stream if stream.seekable() else _RangeFile(storage, blob, size)
        try:
            parquet = pq.ParquetFile(source)
            schema = [(f.name, str(f.type)) for f in parquet.schema_arrow]
            # Only the first row group: without row_groups pyarrow reads ahead through them all.
            first = [0] if parquet.num_row_groups else []
            batch = next(parquet.iter_batches(batch_size=TABLE_ROWS, row_groups=first), None)
        except Exception as exc:  # pyarrow raises many types for corrupt files
            return Preview("binary", note=f"not a readable Parquet file ({type(exc).__name__})")
        rows = []
        if batch is not None:
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            rows = [[_cell(col[r]) for col in columns] for r in range(batch.num_rows)]
        total = parquet.metadata.num_rows
    return Preview(
        "parquet",
        columns=[n for n, _ in schema],
        rows=rows,
        schema=schema,
        total_rows=total,
        truncated=total > len(rows),
    )


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def build_preview(name: str, blob: ObjectId, size: int, storage: ObjectStorage) -> Preview:
    """Preview a blob from its first bytes (Parquet: from its footer and first rows)."""
    ext = extension(name)
    if size == 0:
        return Preview("empty")
    if ext in IMAGE_TYPES:
        return Preview("image", mime=IMAGE_TYPES[ext])
    if ext == ".parquet":
        return _parquet(storage, blob, size)
    with storage.open(blob) as stream:
        head = _read_head(stream, TEXT_LIMIT)
    if looks_binary(head):
        return Preview("binary", mime=guess_mime(name))
    if ext in (".csv", ".tsv"):
        try:
            return _table(name, head, size, storage, blob)
        except csv.Error:
            pass  # e.g. a cell over the csv module's size limit: show the text instead
    complete = len(head) >= size
    text = _decode(head, complete)
    if ext in (".md", ".markdown"):
        return Preview("markdown", html=render_markdown(text), truncated=not complete)
    try:
        lexer = get_lexer_for_filename(name, stripnl=False)
    except ClassNotFound:
        lexer = TextLexer(stripnl=False)
    html = Markup(highlight(text, lexer, _formatter))
    return Preview("text", html=html, truncated=not complete, lines=text.count("\n"))


def pygments_css() -> str:
    """The stylesheet for highlighted code (served as a static file)."""
    return str(_formatter.get_style_defs(".highlight"))
