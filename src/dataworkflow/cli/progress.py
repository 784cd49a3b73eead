"""Progress bars for long commands: rich bars on a terminal, nothing otherwise.

Bars are drawn only when stdout is a terminal, and on stderr, so that stdout keeps only
the command's result. When stdout is not a terminal (a pipeline, a log file), long
commands stay quiet and print one summary line at the end instead.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


def stdout_is_terminal() -> bool:
    """Whether stdout is an interactive terminal."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def make_console() -> Console:
    """The console bars are drawn on: stderr."""
    from rich.console import Console

    return Console(stderr=True)


def _new_progress(console: Console) -> Progress:
    # rich is imported only when a bar is drawn: it is not free to import.
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("{task.description:<8}"),
        BarColumn(),
        TextColumn("{task.fields[files]:>7,}/{task.fields[files_total]:,} files"),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


class _Bars:
    """A rich Progress, started on enter when enabled; a no-op otherwise."""

    def __init__(self, enabled: bool | None = None, console: Console | None = None) -> None:
        self.enabled = stdout_is_terminal() if enabled is None else enabled
        self._console = console
        self._progress: Progress | None = None

    def __enter__(self) -> Any:
        if self.enabled:
            self._progress = _new_progress(self._console or make_console())
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _add(self, description: str, files: int, size: int) -> TaskID | None:
        if self._progress is None:
            return None
        return self._progress.add_task(description, total=size, files=0, files_total=files)

    def _update(self, task: TaskID | None, files: int, size: int) -> None:
        if self._progress is not None and task is not None:
            self._progress.update(task, completed=size, files=files)


class ImportProgress(_Bars):
    """Follows ``Repository.commit_folder``: a bar for hashing, then one for storing.

    It also keeps the totals of the scan, for the summary line.

    Attributes:
        scanned_files: Files found in the folder.
        scanned_bytes: Their total size.
    """

    def __init__(self, enabled: bool | None = None, console: Console | None = None) -> None:
        super().__init__(enabled, console)
        self.scanned_files = 0
        self.scanned_bytes = 0
        self._tasks: dict[str, TaskID | None] = {}

    def __enter__(self) -> ImportProgress:
        super().__enter__()
        return self

    def __call__(self, phase: str, files: int, size: int) -> None:
        """The ``progress(phase, files, bytes)`` callback of ``commit_folder``."""
        if phase == "scan":
            self.scanned_files, self.scanned_bytes = files, size
            self._tasks["hash"] = self._add("hashing", files, size)
        elif phase == "plan":
            self._tasks["store"] = self._add("storing", files, size)
        elif phase in self._tasks:
            self._update(self._tasks[phase], files, size)


class ExportProgress(_Bars):
    """Follows ``Repository.export``: one bar for the files written."""

    def __init__(
        self,
        files_total: int,
        bytes_total: int,
        enabled: bool | None = None,
        console: Console | None = None,
    ) -> None:
        super().__init__(enabled, console)
        self._totals = (files_total, bytes_total)
        self._task: TaskID | None = None

    def __enter__(self) -> ExportProgress:
        super().__enter__()
        self._task = self._add("writing", *self._totals)
        return self

    def __call__(self, files: int, size: int) -> None:
        """The ``progress(files, bytes)`` callback of ``export``."""
        self._update(self._task, files, size)
