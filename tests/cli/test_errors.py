"""Every failure is one `error: ...` line and an exit status, whatever raised it."""

from __future__ import annotations

import errno

import pytest

from dataworkflow.cli.errors import CliError, describe
from dataworkflow.errors import RefConflict


def _raise_in_list_repositories(monkeypatch, exc: BaseException) -> None:
    from dataworkflow.services import installation

    def boom(db):
        raise exc

    monkeypatch.setattr(installation, "list_repositories", boom)


def _sqlalchemy_error():
    from sqlalchemy.exc import OperationalError

    return OperationalError("SELECT 1", {}, Exception("server closed the connection\nDETAIL: x"))


def _botocore_error():
    from botocore.exceptions import EndpointConnectionError

    return EndpointConnectionError(endpoint_url="http://s3.invalid")


@pytest.mark.parametrize(
    ("exc", "code", "message"),
    [
        (RefConflict("refs/heads/main", "a" * 64), 1, "error: ref refs/heads/main has moved"),
        (_sqlalchemy_error(), 1, "error: database error: server closed the connection"),
        (
            _botocore_error(),
            1,
            'error: storage error: Could not connect to the endpoint URL: "http://s3.invalid"',
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "/x/y"),
            1,
            "error: permission denied: '/x/y'",
        ),
        (
            OSError(errno.ENOSPC, "No space left on device", "/x"),
            1,
            "error: no space left on device: '/x'",
        ),
        (KeyboardInterrupt(), 130, "error: interrupted"),
        (
            RuntimeError("boom\nsecond line"),
            1,
            "error: unexpected RuntimeError: boom (set DW_DEBUG=1",
        ),
    ],
    ids=["domain", "sqlalchemy", "botocore", "permission", "oserror", "ctrl-c", "unexpected"],
)
def test_errors_become_one_line(dw_sqlite, monkeypatch, exc, code, message):
    _raise_in_list_repositories(monkeypatch, exc)
    result = dw_sqlite("repo", "list")
    assert result.exit_code == code
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(message), result.stderr
    assert "Traceback" not in result.stderr


def test_dw_debug_shows_unexpected_errors(dw_sqlite, monkeypatch):
    _raise_in_list_repositories(monkeypatch, RuntimeError("boom"))
    result = dw_sqlite("repo", "list", DW_DEBUG="1")
    assert isinstance(result.exception, RuntimeError)


def test_broken_pipe_exits_quietly(dw_sqlite, monkeypatch):
    _raise_in_list_repositories(monkeypatch, BrokenPipeError(errno.EPIPE, "Broken pipe"))
    result = dw_sqlite("repo", "list")
    assert result.exit_code == 141
    assert result.stderr == ""


def test_describe_leaves_unknown_errors_alone():
    assert describe(ValueError("x")) is None
    assert isinstance(describe(FileNotFoundError(errno.ENOENT, "No such file", "/a")), CliError)
    assert describe(FileNotFoundError(errno.ENOENT, "x", "/a")).message == (
        "no such file or folder: '/a'"
    )
    assert describe(OSError(errno.EXDEV, "Cross-device link", "/a", None, "/b")).message == (
        "cross-device link: '/a' -> '/b'"
    )


def test_messages_are_one_line():
    assert CliError("two\nlines  here").message == "two lines here"
    assert CliError("").message == "unknown error"


def test_usage_errors_exit_2(dw_sqlite):
    result = dw_sqlite("no-such-command")
    assert result.exit_code == 2 and "No such command" in result.stderr
    result = dw_sqlite("ls")
    assert result.exit_code == 2 and "Missing argument 'REPO'" in result.stderr


def test_help_and_version_need_no_database(tmp_path):
    from tests.cli.conftest import Dw

    dw = Dw({"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x"})
    assert "import" in dw.ok("--help").stdout
    assert "Make a branch" in dw.ok("import", "--help").stdout
    assert dw.ok("--version").stdout.startswith("dw, version ")
