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


def register_filters(app: Flask) -> None:
    """Make the filters available to every template."""
    app.jinja_env.filters.update(
        short_id=short_id, filesize=filesize, timesince=timesince, isodate=isodate
    )
