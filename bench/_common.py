"""Helpers shared by the benchmarks: timing, a results table, RSS readings, a fresh repository."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from dataworkflow import Database, Repository, create_repository
from dataworkflow.storage.filesystem import FileSystemStorage

MiB = 1024 * 1024


class BenchError(Exception):
    """Something is functionally wrong (not merely slow): the benchmark exits non-zero."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchError(message)


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


@dataclass
class Figure:
    """One row of the results table."""

    name: str
    measured: str
    baseline: str
    ratio: str
    goal: str
    met: bool | None
    """None for an informational row without a goal."""


def print_table(figures: list[Figure]) -> None:
    header = ("figure", "measured", "baseline", "ratio", "goal", "result")
    rows = [header] + [
        (f.name, f.measured, f.baseline, f.ratio, f.goal, _verdict(f.met)) for f in figures
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    print("\n".join(line.rstrip() for line in lines))


def print_summary(
    figures: list[Figure],
    *,
    quick: bool,
    notes: tuple[str, ...] = (),
    minutes: float | None = None,
    separator: str = ", ",
) -> None:
    """The last line of every benchmark: goals met, which were missed, and how it ran."""
    goals = [f for f in figures if f.met is not None]
    met = sum(1 for f in goals if f.met)
    missed = separator.join(f.name.strip() for f in goals if not f.met)
    print(
        f"summary: {met}/{len(goals)} goals met"
        + (f" (missed: {missed})" if missed else "")
        + "".join(f"; {note}" for note in notes)
        + "; functional checks passed"
        + (" [quick run]" if quick else "")
        + (f"; built and measured in {minutes:.1f} min" if minutes is not None else "")
    )


def _verdict(met: bool | None) -> str:
    return "info" if met is None else "PASS" if met else "MISS"


@dataclass
class BenchRepo:
    """A repository on its own SQLite file and objects folder."""

    repo: Repository
    storage: FileSystemStorage
    objects_dir: Path


def new_repo(folder: Path, name: str = "bench") -> BenchRepo:
    """A fresh installation in ``folder`` (SQLite metadata + filesystem storage)."""
    folder.mkdir(parents=True)
    db = Database(f"sqlite:///{folder / 'meta.db'}")
    db.upgrade()
    create_repository(db, name)
    storage = FileSystemStorage(folder / "objects")
    return BenchRepo(Repository(db, storage, name), storage, folder / "objects")


def count_files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def proc_status_kib(field: str) -> int | None:
    """A ``kB`` field of /proc/self/status (``VmRSS``, ``VmHWM``), or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5); False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True
