"""Jinja filters, registered in one place."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask


def short_id(object_id: str) -> str:
    """The first 10 characters of an id."""
    return object_id[:10]


def filesize(size: int | None) -> str:
    """A human size: ``1.5 MB``."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"  # pragma: no cover


def timesince(when: datetime | int, now: datetime | None = None) -> str:
    """``3 days ago``."""
    moment = when if isinstance(when, datetime) else datetime.fromtimestamp(when, UTC)
    if moment.tzinfo is None:  # SQLite hands back naive UTC timestamps
        moment = moment.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "in the future"
    for unit, length in (
        ("year", 365 * 86400),
        ("month", 30 * 86400),
        ("day", 86400),
        ("hour", 3600),
        ("minute", 60),
    ):
        if seconds >= length:
            n = seconds // length
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def isodate(when: datetime) -> str:
    """ISO 8601 with offset, to the minute."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.isoformat(timespec="minutes")


def split_pairs(lines: list[str]) -> list[tuple[tuple[str, int | None, str], ...]]:
    """Unified diff lines as side-by-side rows of ``(class, line number, text)`` pairs."""
    rows: list[tuple[tuple[str, int | None, str], ...]] = []
    old_no = new_no = 0
    removed: list[tuple[int, str]] = []
    added: list[tuple[int, str]] = []

    def flush() -> None:
        for i in range(max(len(removed), len(added))):
            left = ("del", *removed[i]) if i < len(removed) else ("empty", None, "")
            right = ("ins", *added[i]) if i < len(added) else ("empty", None, "")
            rows.append((left, right))
        removed.clear()
        added.clear()

    for line in lines:
        if line.startswith(("---", "+++")) and not rows and not removed and not added:
            continue
        if line.startswith("@@"):
            flush()
            try:
                old_part, new_part = line.split()[1:3]
                old_no = int(old_part[1:].split(",")[0]) - 1
                new_no = int(new_part[1:].split(",")[0]) - 1
            except (ValueError, IndexError):
                pass
            rows.append((("hunk", None, line), ("hunk", None, "")))
        elif line.startswith("-"):
            old_no += 1
            removed.append((old_no, line[1:]))
        elif line.startswith("+"):
            new_no += 1
            added.append((new_no, line[1:]))
        else:
            flush()
            old_no += 1
            new_no += 1
            rows.append((("ctx", old_no, line[1:]), ("ctx", new_no, line[1:])))
    flush()
    return rows


def register_filters(app: Flask) -> None:
    """Make the filters available to every template."""
    app.jinja_env.filters.update(
        short_id=short_id,
        filesize=filesize,
        timesince=timesince,
        isodate=isodate,
        split_pairs=split_pairs,
    )
