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
