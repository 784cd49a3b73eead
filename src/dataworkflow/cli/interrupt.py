"""Ctrl-C during long commands, handled at safe points.

Python raises KeyboardInterrupt wherever the main thread happens to be, including inside
the locks of ``concurrent.futures`` and ``queue``: an import interrupted that way can
leave a lock held and hang forever, waiting for its worker threads. So the first Ctrl-C
only sets a flag, and the command raises KeyboardInterrupt itself at its next progress
report, a point where no lock is held and no metadata has been written yet. A second
Ctrl-C stops the process at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType, TracebackType

from dataworkflow.cli.errors import EXIT_INTERRUPTED


def hard_exit(message: str) -> None:
    """Print ``error: <message>`` and leave immediately, skipping all clean-up."""
    try:
        sys.stderr.write(f"error: {message}\n")
        sys.stderr.flush()
    finally:
        os._exit(EXIT_INTERRUPTED)


class DeferredInterrupt:
    """Within the block, Ctrl-C sets ``requested``; :meth:`check` turns it into an exception.

    Outside the main thread (where signal handlers cannot be set) it does nothing.

    Attributes:
        requested: Whether Ctrl-C was pressed.
    """

    def __init__(self, hard_message: str = "interrupted") -> None:
        self.requested = False
        self._hard_message = hard_message
        self._installed = False
        self._previous: signal.Handlers | object = signal.SIG_DFL

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            self._previous = previous if previous is not None else signal.SIG_DFL
            signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]
            self._installed = False

    def check(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C was pressed; call it only at safe points."""
        if self.requested:
            raise KeyboardInterrupt

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # pressed twice: the user does not want to wait
            hard_exit(self._hard_message)
        self.requested = True
