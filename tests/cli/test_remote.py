"""`dw --server`: read commands and import/export through a real server on loopback."""

from __future__ import annotations

import json
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.cli.conftest import Dw, generated_files, snapshot, write_tree


@pytest.fixture
def local(dw_sqlite: Dw) -> Dw:
    """`dw` in local mode on the server's own SQLite database and storage."""
    dw_sqlite.ok("repo", "create", "data", "--description", "remote test")
    return dw_sqlite


@pytest.fixture
def server(local: Dw) -> Iterator[str]:
    """The real app on a free loopback port, over the local run's database and storage."""
    from dataworkflow.web import create_app

    app = create_app(local.settings(), test_config={"TESTING": True})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join()
        httpd.server_close()


@pytest.fixture
def token(local: Dw) -> str:
    """A write token of an administrator of the server's installation."""
    from dataworkflow.metadata.engine import Database
    from dataworkflow.services.accounts import create_token, create_user

    db = Database(local.settings().database_url)
    try:
        create_user(db, "ops", email="ops@example.com", admin=True)
        return create_token(db, "ops", scope="write").secret
    finally:
        db.dispose()


@pytest.fixture
def remote(server: str, token: str, tmp_path: Path) -> Dw:
    """`dw --server URL`, with no database or storage settings of its own."""
    return Dw(
        {
            "DW_SERVER_URL": server,
            "DW_TOKEN": token,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'never-used.db'}",
            "STORAGE_PATH": str(tmp_path / "never-used"),
            "DW_CACHE_DIR": str(tmp_path / "remote-cache"),
            "DW_AUTHOR_NAME": "Remote Author",
            "DW_AUTHOR_EMAIL": "remote@example.com",
        }
    )


def _folder(tmp_path: Path) -> Path:
    files = generated_files(seed=11, count=24)
    return write_tree(tmp_path / "src", files, executable={"bin/run.sh"})


def test_import_export_round_trip(remote: Dw, local: Dw, tmp_path: Path) -> None:
    source = _folder(tmp_path)
    first = remote.ok("import", str(source), "data", "-m", "first")
    commit = first.stdout.strip()
    assert "committed" in first.stderr
    assert not (tmp_path / "never-used.db").exists()  # nothing local was opened

    remote.ok("export", "data", "main", str(tmp_path / "out"))
    assert snapshot(tmp_path / "out") == snapshot(source)
    remote.ok("export", "data", "main", "dir1", str(tmp_path / "sub"))
    assert snapshot(tmp_path / "sub") == snapshot(source / "dir1")

    again = remote.ok("import", str(source), "data", "-m", "again")
    assert again.stdout.strip() == commit
    assert "nothing changed" in again.stderr
    assert len(local.json("log", "data")) == 1

    # the same import, as JSON, in both modes
    assert remote.json("import", str(source), "data", "-m", "again")["created"] is False

    (source / "dir0" / "sub0" / "file0.bin").write_bytes(b"changed")
    shutil.rmtree(source / "with space")
    (source / "new.txt").write_bytes(b"new")
    (source / "bin" / "run.sh").chmod(0o644)
    second = remote.ok("import", str(source), "data", "-m", "second").stdout.strip()
    assert second != commit
    names = remote.ok("diff", "data", commit, second, "--name-status").stdout
    assert names.splitlines() == [
        "T\tbin/run.sh",
        "M\tdir0/sub0/file0.bin",
        "A\tnew.txt",
        "D\twith space/and 'quote'.txt",
    ]
    assert names == local.ok("diff", "data", commit, second, "--name-status").stdout
    shutil.rmtree(tmp_path / "out")
    remote.ok("export", "data", "main", str(tmp_path / "out"))
    assert snapshot(tmp_path / "out") == snapshot(source)


def test_output_identical_to_local(remote: Dw, local: Dw, tmp_path: Path) -> None:
    source = _folder(tmp_path)
    first = remote.ok("import", str(source), "data", "-m", "first").stdout.strip()
    (source / "empty.txt").write_bytes(b"now something")
    remote.ok("import", str(source), "data", "-m", "second\n\nwith a body")
    commands = [
        ("repo", "list"),
        ("repo", "list", "--json"),
        ("repo", "show", "data"),
        ("repo", "show", "data", "--json"),
        ("log", "data"),
        ("log", "data", "--json"),
        ("log", "data", "--oneline", "-n", "1"),
        ("log", "data", "--path", "empty.txt", "--json"),
        ("ls", "data", "main"),
        ("ls", "data", "main", "--json"),
        ("ls", "data", "main", "-r", "-t", "--json"),
        ("ls", "data", "main", "-r"),
        ("ls", "data", "main", "big.bin"),
        ("show", "data"),
        ("show", "data", "--json"),
        ("show", "data", first),
        ("show", "data", first, "--json"),
        ("diff", "data", first, "main", "--json"),
        ("diff", "data", first, "main", "dir1", "--name-status"),
        ("cat", "data", "main", "données/été.csv"),
        ("cat", "data", "main", "big.bin"),
    ]
    for command in commands:
        assert remote.ok(*command).stdout_bytes == local.ok(*command).stdout_bytes, command
    log = json.loads(remote.ok("log", "data", "--json").stdout)
    assert [entry["message"] for entry in log] == ["second\n\nwith a body", "first"]


def test_import_into_a_new_branch_starts_at_the_default_branch(
    remote: Dw, local: Dw, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = write_tree(tmp_path / "base", {"README": b"r", "data/old.csv": b"0"})
    head = remote.ok("import", str(base), "data", "-m", "base").stdout.strip()
    raw = write_tree(tmp_path / "raw", {"a.csv": b"1"})
    (raw / "link").symlink_to("a.csv")

    made = remote.json("import", str(raw), "data", "--branch", "exp", "--path", "data", "-m", "x")

    assert made["created"] is True and made["parent"] == head
    assert made["skipped"] == [{"path": "link", "reason": "symbolic link"}]
    assert [e["path"] for e in local.json("ls", "data", "exp", "-r")] == ["README", "data/a.csv"]
    same = remote.json("import", str(base), "data", "--branch", "same", "-m", "y")
    assert (same["created"], same["commit"]) == (False, head)
    assert local.json("log", "data", "same")[0]["id"] == head

    from dataworkflow.client import Client
    from dataworkflow.errors import InvalidInput

    def refused(*_args: object, **_kwargs: object) -> None:
        raise InvalidInput("the server refused the commit")

    monkeypatch.setattr(Client, "commit", refused)
    remote.fails("import", str(raw), "data", "--branch", "gone", "-m", "z", message="refused")
    assert [b["name"] for b in local.json("branch", "list", "data")] == ["exp", "main", "same"]


def test_errors(remote: Dw, tmp_path: Path) -> None:
    remote.fails("log", "nope", message="nope")
    remote.fails("cat", "data", "main", "missing.txt")
    remote.fails("branch", "list", "data", message="`dw branch` is not available with --server")
    remote.fails("repo", "create", "x", message="`dw repo create` is not available with --server")
    remote.fails("diff", "data", "main", "main", message="not available with --server")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # --server is an option of the group, so it goes before the command
    remote.fails("log", "data", "--server", f"http://127.0.0.1:{port}", code=2, message="--server")
    down = remote.fails("--server", f"http://127.0.0.1:{port}", "log", "data", message="reach")
    assert len(down.stderr.strip().splitlines()) == 1


def test_subprocess(server: str, token: str, run_dw, tmp_path: Path) -> None:
    source = _folder(tmp_path)
    env = {
        "DW_CACHE_DIR": str(tmp_path / "cache"),
        "DW_AUTHOR_NAME": "A",
        "DW_AUTHOR_EMAIL": "a@b",
        "DW_TOKEN": token,
    }
    done = run_dw("--server", server, "import", str(source), "data", "-m", "sub", env=env)
    assert done.returncode == 0, done.stderr
    done = run_dw("--server", server, "export", "data", "main", str(tmp_path / "out"), env=env)
    assert done.returncode == 0, done.stderr
    assert snapshot(tmp_path / "out") == snapshot(source)
    del env["DW_TOKEN"]
    (source / "new.txt").write_text("anonymous writes are refused\n")
    refused = run_dw("--server", server, "import", str(source), "data", "-m", "anon", env=env)
    assert refused.returncode != 0
    assert "sign in" in refused.stderr and "Traceback" not in refused.stderr
