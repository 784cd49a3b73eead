"""`dw serve` starts the web server on the configured database and storage."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

DW = str(Path(sys.executable).with_name("dw"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_on_the_port(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/dw.db",
        "STORAGE_PATH": str(tmp_path / "store"),
    }
    subprocess.run(
        [DW, "repo", "create", "served", "--description", "from a test"],
        env=env,
        check=True,
        cwd=tmp_path,
    )
    server = subprocess.Popen(
        [DW, "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        body = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    body = response.read().decode()
                    break
            except OSError:
                time.sleep(0.1)
        assert body is not None, "the server did not answer"
        assert "served" in body and "from a test" in body
    finally:
        server.terminate()
        server.communicate(timeout=10)


def test_the_one_worker_server_keeps_sqlite_default_checkpoints(tmp_path, monkeypatch):
    """A command may let the SQLite log grow to CHECKPOINT_PAGES; a long-lived server not."""
    from click.testing import CliRunner
    from flask import Flask
    from sqlalchemy import text

    from dataworkflow.cli import main
    from dataworkflow.web.context import Backend

    served: list[Flask] = []
    monkeypatch.setattr(Flask, "run", lambda app, **options: served.append(app))
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/dw.db", "STORAGE_PATH": str(tmp_path / "s")}

    result = CliRunner().invoke(main, ["serve"], env=env)

    assert result.exit_code == 0, result.output
    (app,) = served
    backend: Backend = app.extensions["dataworkflow"]
    with backend.db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 1000
