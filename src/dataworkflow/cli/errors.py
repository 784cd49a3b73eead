"""Every failure of ``dw`` becomes one line on stderr and an exit status, never a traceback.

Exit status: 1 for errors (our own ``DataWorkflowError`` family, database, storage and
local file errors), 2 for usage errors (click's own), 130 for Ctrl-C, 141 when the reader
of stdout went away (``dw log | head``), as a shell reports for SIGPIPE. Access failures
get their own statuses, so a script can tell "get a token" from "ask for access" from
"try later": 4 when signing in (a valid ``DW_TOKEN``) is needed, as ``gh`` exits; 77 for
a refused permission or protected branch and 75 for rate limiting (sysexits.h
``EX_NOPERM`` and ``EX_TEMPFAIL``).
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

import click

from dataworkflow.errors import (
    AuthenticationRequired,
    DataWorkflowError,
    PermissionDenied,
    RateLimited,
)

EXIT_ERROR = 1
EXIT_AUTHENTICATION = 4
EXIT_TEMPORARY = 75
EXIT_PERMISSION = 77
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


class CliError(click.ClickException):
    """A failure shown as ``error: <message>`` on one line."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()) or "unknown error")

    def show(self, file: IO[Any] | None = None) -> None:
        """Print ``error: <message>`` to stderr."""
        click.echo(f"error: {self.format_message()}", file=file, err=file is None)


class Interrupted(CliError):
    """Ctrl-C: exit 130, like a shell reports SIGINT."""

    exit_code = EXIT_INTERRUPTED


class NeedsAuthentication(CliError):
    """The server wants a (valid) token, or a password was refused: exit 4."""

    exit_code = EXIT_AUTHENTICATION


class NotPermitted(CliError):
    """A role, token scope or branch protection refused the command: exit 77."""

    exit_code = EXIT_PERMISSION


class TryLater(CliError):
    """Rate limited: exit 75, a temporary failure worth retrying after a while."""

    exit_code = EXIT_TEMPORARY


def short_message(exc: BaseException) -> str:
    """The first line of an exception's message (or of its DB-API cause)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    first = text.splitlines()[0] if text else ""
    return first or type(exc).__name__


def describe(exc: Exception) -> CliError | None:
    """The one-line error for an exception from below the CLI, or None for unknown ones."""
    if isinstance(exc, AuthenticationRequired):
        message = str(exc)
        if getattr(exc, "status", None) == 401:  # from a server: say how to sign in
            message += " (set DW_TOKEN to an API token from `dw token create`)"
        return NeedsAuthentication(message)
    if isinstance(exc, PermissionDenied):
        return NotPermitted(str(exc))
    if isinstance(exc, RateLimited):
        return TryLater(str(exc))
    if isinstance(exc, DataWorkflowError):
        return CliError(str(exc))
    if isinstance(exc, OSError):
        return CliError(describe_os_error(exc))
    module = type(exc).__module__
    if module.startswith(("sqlalchemy", "psycopg")):
        return CliError(f"database error: {short_message(exc)}")
    if module.startswith(("botocore", "boto3", "urllib3")):
        return CliError(f"storage error: {short_message(exc)}")
    return None


def describe_os_error(exc: OSError) -> str:
    """``permission denied: '/path'`` and the like, without errno numbers."""
    where = exc.filename if exc.filename is not None else None
    if isinstance(exc, PermissionError):
        reason = "permission denied"
    elif isinstance(exc, FileNotFoundError):
        reason = "no such file or folder"
    else:
        reason = (exc.strerror or short_message(exc)).lower()
    if where is None:
        return reason
    if exc.filename2 is not None:
        return f"{reason}: {os.fsdecode(where)!r} -> {os.fsdecode(exc.filename2)!r}"
    return f"{reason}: {os.fsdecode(where)!r}"


def silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the exit flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (e.g. a test runner's buffer): nothing to protect
