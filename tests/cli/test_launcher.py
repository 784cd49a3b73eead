"""The `dw` script's side of the agent: when to use one, where it lives, what it is keyed by."""

from __future__ import annotations

import os
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataworkflow.cli import launcher


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short path (sockets), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="dw-l-"))
    try:
        yield folder
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["repo", "list"], "repo"),
        (["--server", "http://host", "ls", "r", "main"], "ls"),
        (["--server=http://host", "serve"], "serve"),
        (["--version"], None),
        ([], None),
    ],
)
def test_command_name_skips_group_options(args, expected):
    assert launcher.command_name(args) == expected


def test_agent_can_be_turned_off_and_never_serves_dw_serve():
    assert launcher.agent_enabled(["dw", "repo", "list"], {})
    for value in ("0", "off", "OFF", "no", "false"):
        assert not launcher.agent_enabled(["dw", "repo", "list"], {"DW_AGENT": value})
    assert not launcher.agent_enabled(["dw", "serve", "--port", "1"], {})
    assert not launcher.agent_enabled(["dw", "--server", "http://h", "serve"], {})


def test_password_prompts_on_a_terminal_run_in_their_own_process(monkeypatch):
    """A hidden prompt needs the controlling terminal, which the agent's child lacks."""
    monkeypatch.setattr(launcher, "_stdin_is_terminal", lambda: True)
    assert not launcher.agent_enabled(["dw", "user", "create", "ann", "--email", "a@x"], {})
    assert not launcher.agent_enabled(["dw", "token", "create", "ann", "--scope", "read"], {})
    assert launcher.agent_enabled(["dw", "repo", "list"], {})
    monkeypatch.setattr(launcher, "_stdin_is_terminal", lambda: False)
    assert launcher.agent_enabled(["dw", "user", "create", "ann", "--email", "a@x"], {})


def test_runtime_dir_choice():
    assert launcher.runtime_dir({"DW_RUNTIME_DIR": "/x/y"}) == "/x/y"
    assert launcher.runtime_dir({"XDG_RUNTIME_DIR": "/run/user/7"}) == "/run/user/7/dataworkflow"
    assert launcher.runtime_dir({"TMPDIR": "/scratch"}) == f"/scratch/dataworkflow-{os.getuid()}"
    assert launcher.runtime_dir({}) == f"/tmp/dataworkflow-{os.getuid()}"


def test_private_dir_is_created_0700_and_refuses_shared_or_linked_folders(short_dir):
    mine = short_dir / "mine"
    assert launcher.private_dir(str(mine))
    assert stat.S_IMODE(mine.stat().st_mode) == 0o700
    assert launcher.private_dir(str(mine))  # again: exists, still fine

    shared = short_dir / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    assert not launcher.private_dir(str(shared))

    link = short_dir / "link"
    link.symlink_to(mine)
    assert not launcher.private_dir(str(link))

    assert not launcher.private_dir(str(short_dir / "missing" / "deeper"))


def test_no_agent_without_a_safe_folder_or_with_a_too_long_path(short_dir):
    shared = short_dir / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    assert launcher.agent_socket_path({"DW_RUNTIME_DIR": str(shared)}) is None
    deep = short_dir / ("d" * 90)
    assert launcher.agent_socket_path({"DW_RUNTIME_DIR": str(deep)}) is None
    path = launcher.agent_socket_path({"DW_RUNTIME_DIR": str(short_dir / "ok")})
    assert path is not None and path.startswith(str(short_dir / "ok" / "agent-"))


def test_fingerprint_follows_interpreter_settings_not_other_variables():
    base = {"PATH": "/bin", "LANG": "C.UTF-8"}
    fingerprint = launcher.code_fingerprint(base)
    assert launcher.code_fingerprint(dict(base)) == fingerprint
    assert launcher.code_fingerprint({**base, "DATABASE_URL": "sqlite://"}) == fingerprint
    assert launcher.code_fingerprint({**base, "PYTHONPATH": "/elsewhere"}) != fingerprint
    assert launcher.code_fingerprint({**base, "LANG": "de_DE.UTF-8"}) != fingerprint
    assert launcher.code_fingerprint({**base, "LC_ALL": "C"}) != fingerprint


def test_fingerprint_follows_the_code(monkeypatch, short_dir):
    """Editing a module of the package (here: a stand-in package) names a new agent."""
    package = short_dir / "pkg"
    (package / "cli").mkdir(parents=True)
    module = package / "mod.py"
    module.write_text("x = 1\n")
    monkeypatch.setattr(launcher, "__file__", str(package / "cli" / "launcher.py"))
    before = launcher.code_fingerprint({})
    module.write_text("x = 22\n")
    assert launcher.code_fingerprint({}) != before


def test_no_listener_means_run_here(short_dir):
    stale = short_dir / "agent.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(stale))
    listener.close()  # the file stays, nobody listens: an agent that died
    assert launcher.run_in_agent(str(stale), ["dw", "repo", "list"]) is None
    assert launcher.run_in_agent(str(short_dir / "missing.sock"), ["dw"]) is None


def test_start_agent_is_skipped_while_one_holds_the_lock(short_dir, monkeypatch):
    import fcntl
    import subprocess

    started: list[object] = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: started.append(a))
    path = str(short_dir / "agent-x.sock")
    lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        launcher.start_agent(path, {})
        assert started == []
    finally:
        os.close(lock)
    launcher.start_agent(path, {})
    assert len(started) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [("30", 30.0), ("0.5", 0.5), ("", 600), ("soon", 600), ("-5", 600), ("0", 600), ("inf", 600)],
)
def test_idle_seconds_falls_back_to_the_default_for_bad_values(value, expected):
    assert launcher.idle_seconds({"DW_AGENT_IDLE": value}) == expected
