"""The warm agent, as real processes: commands run in it behave as in a process of their own."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataworkflow.cli import launcher
from tests.cli.conftest import DW_SCRIPT, base_env, filesystem_env, write_tree

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the agent is used on Linux only"
)
READY_SECONDS = 60.0  # an agent imports for ~1-3 s; a loaded CI machine may be slower


def wait_for(condition, what: str, seconds: float = READY_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def answers(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def agent_children(runtime: Path) -> list[int]:
    """Pids of the commands the agent of ``runtime`` runs (forked: the same command line)."""
    forks, parents = set(), {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        ppid = next(int(line.split()[1]) for line in status.splitlines() if line[:5] == "PPid:")
        parents[int(entry.name)] = ppid
        if b"dataworkflow.cli.agent" in cmdline and str(runtime).encode() in cmdline:
            forks.add(int(entry.name))
    return [pid for pid in forks if parents[pid] in forks]


def reading_stdin(runtime: Path) -> bool:
    """Whether a command of the agent is blocked reading its stdin (x86-64: read is 0)."""
    if os.uname().machine != "x86_64":  # pragma: no cover - another syscall table
        time.sleep(2)
        return True
    for pid in agent_children(runtime):
        try:
            syscall = Path(f"/proc/{pid}/syscall").read_text().split()
        except OSError:
            continue
        if syscall[:2] == ["0", "0x0"]:
            return True
    return False


def agent_gone(path: str) -> bool:
    """Whether no agent holds the lock of ``path`` any more."""
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Path]:
    """A runtime folder of this test's own (short path); its agents leave with it."""
    folder = Path(tempfile.mkdtemp(prefix="dw-a-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def env(tmp_path: Path, runtime: Path) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")
    return {
        **{k: v for k, v in os.environ.items() if k in keep},
        **base_env(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path),
        **filesystem_env(tmp_path),
        "DW_RUNTIME_DIR": str(runtime),
        "DW_AGENT_IDLE": "60",
    }


def dw(*args: str, env: dict[str, str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(DW_SCRIPT), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        timeout=120,
        check=False,
        **kwargs,
    )


def warm_agent(env: dict[str, str], cwd: Path, runtime: Path) -> str:
    """Run one command (which starts the agent), then wait until the agent answers."""
    assert dw("repo", "create", "data", env=env, cwd=cwd).returncode == 0
    sockets: list[Path] = []

    def listening() -> bool:
        sockets[:] = list(runtime.glob("agent-*.sock"))
        return len(sockets) == 1 and answers(str(sockets[0]))

    wait_for(listening, "the agent to listen")
    return str(sockets[0])


def test_commands_in_the_agent_behave_like_their_own_process(env, tmp_path, runtime):
    cwd = tmp_path / "cwd"
    path = warm_agent(env, cwd, runtime)
    write_tree(tmp_path / "src", {"a.csv": b"x,y\n1,2\n", "sub/b.bin": bytes(range(256))})

    # Arguments, environment and working folder are the caller's: a relative DIR works.
    imported = dw("import", "../src", "data", "-m", "first", "--json", env=env, cwd=cwd)
    assert imported.returncode == 0, imported.stderr
    report = json.loads(imported.stdout)
    assert report["created"] and report["files"] == 2

    # Binary stdout through a pipe, byte for byte.
    cat = dw("cat", "data", "main", "sub/b.bin", env=env, cwd=cwd)
    assert cat.returncode == 0 and cat.stdout == bytes(range(256))

    # stdin is the caller's too.
    created = dw(
        "user", "create", "ann", "--email", "a@x.org", "--password-stdin",
        env=env, cwd=cwd, input=b"correct horse battery\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr

    # Errors: one line on stderr and the command's exit status.
    missing = dw("show", "data", "nope", env=env, cwd=cwd)
    assert missing.returncode == 1
    assert missing.stderr.decode().strip().splitlines()[-1].startswith("error: ")
    assert b"Traceback" not in missing.stderr
    usage = dw("log", env=env, cwd=cwd)
    assert usage.returncode == 2

    # A .env in the caller's folder is read, as without the agent.
    (cwd / ".env").write_text(f"DATABASE_URL=sqlite:///{tmp_path / 'other.db'}\n")
    other = {k: v for k, v in env.items() if k != "DATABASE_URL"}
    listed = dw("repo", "list", "--json", env=other, cwd=cwd)
    assert listed.returncode == 0 and json.loads(listed.stdout) == []

    assert answers(path)  # all of it went to one agent, still up
    assert len(list(runtime.glob("agent-*.sock"))) == 1


def test_run_in_agent_reports_the_status_of_a_command_it_ran(
    env, tmp_path, runtime, monkeypatch, capfd
):
    """Called directly: a status (not None) shows the agent, not this process, ran it."""
    cwd = tmp_path / "cwd"
    path = warm_agent(env, cwd, runtime)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(cwd)
    capfd.readouterr()
    assert launcher.run_in_agent(path, ["dw", "repo", "list", "--json"]) == 0
    out, _ = capfd.readouterr()
    assert [r["name"] for r in json.loads(out)] == ["data"]
    assert launcher.run_in_agent(path, ["dw", "repo", "show", "missing"]) == 1
    _, err = capfd.readouterr()
    assert err.startswith("error: ")


def test_a_child_reports_its_status_before_its_housekeeping(tmp_path):
    """The client gets the status, and its stdout's end, while housekeeping still runs."""
    from dataworkflow.cli import agent

    client, child_end = socket.socketpair()
    out_read, out_write = os.pipe()  # the client's stdout
    go_read, go_write = os.pipe()  # lets the housekeeping finish
    marker = tmp_path / "housekept"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        try:
            client.close()
            os.dup2(out_write, 1)
            os.close(out_write)
            sys.stdout = open(1, "w", closefd=False)
            sys.stdout.write("the output\n")

            def housekeeping() -> None:
                os.read(go_read, 1)
                marker.write_text("done")

            agent.finish(child_end, 3, housekeeping)
        finally:
            os._exit(0)
    for fd in (out_write, go_read):
        os.close(fd)
    child_end.close()
    client.settimeout(READY_SECONDS)
    try:
        assert launcher.REPLY.unpack(client.recv(launcher.REPLY.size)) == (b"X", 3)
        with os.fdopen(out_read, "rb") as out:
            assert out.read() == b"the output\n"  # EOF: no copy of it is left open
        assert not marker.exists()
    finally:
        os.write(go_write, b"x")
        os.close(go_write)
        os.waitpid(pid, 0)
        client.close()
    assert marker.read_text() == "done"


def test_a_commit_reaches_the_database_file_after_the_command_returns(env, tmp_path, runtime):
    """The agent's child copies SQLite's log into the database file once it has replied."""
    import sqlite3

    cwd = tmp_path / "cwd"
    warm_agent(env, cwd, runtime)
    write_tree(tmp_path / "src", {f"f{i}.txt": str(i).encode() for i in range(50)})
    imported = dw("import", "../src", "data", "-m", "first", "--json", env=env, cwd=cwd)
    assert imported.returncode == 0, imported.stderr
    commit = json.loads(imported.stdout)["commit"]
    database = tmp_path / "db.sqlite"
    wait_for(lambda: not Path(f"{database}-wal").exists(), "the log to be checkpointed")
    alone = tmp_path / "copy.sqlite"  # the database file by itself, without a log
    shutil.copyfile(database, alone)
    with sqlite3.connect(alone) as connection:
        found = connection.execute("SELECT count(*) FROM commits WHERE id = ?", (commit,))
        assert found.fetchone() == (1,)


def create_user_reading_stdin(name: str, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """``dw user create NAME --password-stdin``, its stdin a pipe left open for the test."""
    return subprocess.Popen(
        [str(DW_SCRIPT), "user", "create", name, "--email", f"{name}@x.org", "--password-stdin"],
        env=env,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_ctrl_c_reaches_the_command_in_the_agent(env, tmp_path, runtime):
    cwd = tmp_path / "cwd"
    warm_agent(env, cwd, runtime)
    with create_user_reading_stdin("bob", env, cwd) as process:
        # Ctrl-C once the command waits for a line on stdin (stdin stays open: at EOF the
        # command would fail on its own).
        wait_for(lambda: reading_stdin(runtime), "the command to wait for its password")
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:  # pragma: no cover - the bug this guards against
            process.kill()
            raise
        assert process.stderr is not None
        stderr = process.stderr.read()
    assert process.returncode == 130
    assert stderr.decode().strip().splitlines()[-1] == "error: interrupted"
    assert b"Traceback" not in stderr
    again = dw(
        "user", "create", "bob", "--email", "b@x.org", "--password-stdin",
        env=env, cwd=cwd, input=b"a long enough password\n",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr  # the interrupted one created nothing


def test_agent_survives_a_malformed_request(env, tmp_path, runtime):
    cwd = tmp_path / "cwd"
    path = warm_agent(env, cwd, runtime)
    for garbage in (b"", b"\x00\x00\x00\x05hello", b"not even a header"):
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(path)
        client.sendall(garbage)
        client.shutdown(socket.SHUT_WR)
        assert client.recv(16) == b""  # the agent hangs up
        client.close()
    assert dw("repo", "list", env=env, cwd=cwd).returncode == 0
    assert answers(path)


def test_agent_leaves_when_idle(env, tmp_path, runtime):
    cwd = tmp_path / "cwd"
    path = warm_agent({**env, "DW_AGENT_IDLE": "1"}, cwd, runtime)
    wait_for(lambda: agent_gone(path), "the idle agent to leave", seconds=30)
    assert not os.path.exists(path)


def test_agent_leaves_when_its_socket_is_removed(env, tmp_path, runtime):
    cwd = tmp_path / "cwd"
    path = warm_agent(env, cwd, runtime)
    os.unlink(path)
    wait_for(lambda: agent_gone(path), "the agent to notice its socket is gone", seconds=30)
    # The next command runs in its own process and starts a new agent.
    assert dw("repo", "list", env=env, cwd=cwd).returncode == 0
    wait_for(lambda: answers(path), "a new agent")


def test_dw_agent_off_starts_no_agent(env, tmp_path, runtime):
    cwd = tmp_path / "cwd"
    done = dw("repo", "create", "data", env={**env, "DW_AGENT": "off"}, cwd=cwd)
    assert done.returncode == 0
    time.sleep(0.5)
    assert list(runtime.glob("agent-*")) == []


def syscall_of(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/syscall").read_text().split()[0]
    except (OSError, IndexError):
        return None


RECVMSG = "47"  # x86-64: what a spare waits in (socket.recv_fds)


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="reads x86-64 syscall numbers")
def test_the_next_command_runs_in_the_spare_child_made_ready_in_advance(env, tmp_path, runtime):
    cwd = tmp_path / "cwd"
    warm_agent(env, cwd, runtime)
    spares: list[int] = []

    def one_spare_waiting() -> bool:
        spares[:] = agent_children(runtime)
        return len(spares) == 1 and syscall_of(spares[0]) == RECVMSG

    wait_for(one_spare_waiting, "a spare child waiting for a request")
    spare = spares[0]
    with create_user_reading_stdin("cy", env, cwd) as process:
        wait_for(lambda: syscall_of(spare) == "0", "the spare to run the command (read stdin)")
        _, stderr = process.communicate(b"a long enough password\n", timeout=60)
    assert process.returncode == 0, stderr
    wait_for(one_spare_waiting, "a new spare once the command is done")
    assert spares[0] != spare


def test_the_spare_leaves_with_the_agent(env, tmp_path, runtime):
    cwd = tmp_path / "cwd"
    path = warm_agent({**env, "DW_AGENT_IDLE": "2"}, cwd, runtime)
    wait_for(lambda: len(agent_children(runtime)) == 1, "a spare child")
    (spare,) = agent_children(runtime)
    wait_for(lambda: agent_gone(path), "the idle agent to leave", seconds=30)
    wait_for(lambda: not Path(f"/proc/{spare}").exists(), "the spare to leave", seconds=30)


def test_a_spare_copies_the_agents_memory_before_it_is_needed():
    """Written pages after populate_memory() cost no fault each (counted, not timed)."""
    import mmap
    import resource

    from dataworkflow.cli import agent

    probe = mmap.mmap(-1, mmap.PAGESIZE)
    madvise = agent._madvise()
    if madvise is None or madvise(ctypes_address(probe), mmap.PAGESIZE, agent._MADV_POPULATE_WRITE):
        pytest.skip("MADV_POPULATE_WRITE needs Linux 5.14")
    pages = 4096
    shared = bytearray(b"x" * (pages * mmap.PAGESIZE))  # the "agent's" memory

    def faults_writing(populate: bool) -> int:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - measured here, reported through the pipe
            try:
                if populate:
                    agent.populate_memory()
                before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                for page in range(pages):
                    shared[page * mmap.PAGESIZE] = 0
                after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                os.write(write_end, str(after - before).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            counted = int(pipe.read())
        os.waitpid(pid, 0)
        return counted

    assert faults_writing(populate=False) >= pages * 0.9
    assert faults_writing(populate=True) < pages * 0.1


def ctypes_address(buffer) -> int:
    import ctypes

    return ctypes.addressof(ctypes.c_char.from_buffer(buffer))
