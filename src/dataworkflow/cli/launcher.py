"""The ``dw`` script: run the command in a warm agent process when one is up.

Before it does any work, a ``dw`` process spends most of its start-up importing
SQLAlchemy, click and our modules (measured: 0.36-0.76 s of a 1.0-1.6 s re-import of
200 changed files). The agent (:mod:`dataworkflow.cli.agent`) has imported them once
and forks a child per command, so this script only has to start Python, connect to the
agent's socket and hand over its arguments, environment, working folder and its
stdin/stdout/stderr descriptors. The child writes straight to our descriptors (so
terminals, pipes and progress bars behave as in a plain process), Ctrl-C and other
signals are forwarded to it, and our exit status is the child's.

When no agent answers, the command runs here, in this process, and an agent is started
in the background for the next command: the first ``dw`` never waits for one.

Rules that keep the agent safe to share:
- One agent per interpreter, per version of our code and of the installed packages and
  per interpreter-level environment (``PYTHON*``, locale): all of that goes into the
  socket's name, so an edit or an upgrade starts a new agent and the old one idles out.
- The socket lives in a folder only this user can enter (``DW_RUNTIME_DIR``, else
  ``$XDG_RUNTIME_DIR/dataworkflow``, else ``/tmp/dataworkflow-UID``), and the agent
  also checks the peer's user id.
- ``DW_AGENT=off`` runs every command in its own process; ``dw serve`` always does, and
  so do ``dw user`` and ``dw token`` when stdin is a terminal (hidden password prompts).

This module imports only the standard library's lighter modules: it runs on every call.
The request is sent with :mod:`marshal` (built in; ``json`` alone costs ~10 ms here to
import): both ends are the same interpreter (it is part of the agent's identity) and the
same user (checked by the agent). For the same reason it uses the C modules ``_signal``,
``_socket`` and ``_sha256`` directly: ``signal`` and ``socket`` import ``enum``, and
``hashlib`` OpenSSL, which took 9 ms of a 26 ms start here.
"""

from __future__ import annotations

import _socket
import marshal
import os
import struct
import sys

TYPE_CHECKING = False  # typing and collections.abc are not imported at run time
if TYPE_CHECKING:  # the public modules have the same names, and type stubs
    import signal as _signal
    from collections.abc import Mapping, Sequence
    from typing import NoReturn
else:
    import _signal

AGENT_ENV = "DW_AGENT"
RUNTIME_DIR_ENV = "DW_RUNTIME_DIR"
IDLE_ENV = "DW_AGENT_IDLE"
DEFAULT_IDLE_SECONDS = 600
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux
HEADER = struct.Struct("!I")
REPLY = struct.Struct("!ci")
"""Agent to client: ``P`` and the child's pid, then ``X`` and its exit status."""
FORWARDED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
_RUN_HERE = frozenset({"serve"})
"""Commands that always run in their own process (long-lived servers)."""
_PROMPTS_ON_A_TERMINAL = frozenset({"user", "token"})
"""Commands that may ask for a password when stdin is a terminal. A hidden prompt needs
the controlling terminal (``/dev/tty``), which the agent's child does not have: there
the password would be read with echo on."""


def main() -> NoReturn:
    """The ``dw`` console script."""
    argv = list(sys.argv)
    path = agent_socket_path(os.environ) if agent_enabled(argv, os.environ) else None
    if path is not None:
        status = run_in_agent(path, argv)
        if status is not None:
            sys.exit(status)
        start_agent(path, os.environ)
    from dataworkflow.cli.group import main as group

    sys.exit(group())


def agent_enabled(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether this command may go to an agent (Linux, not disabled, not ``dw serve``)."""
    if environ.get(AGENT_ENV, "").strip().lower() in {"0", "off", "no", "false"}:
        return False
    if not sys.platform.startswith("linux") or not hasattr(_socket, "SCM_RIGHTS"):
        return False
    command = command_name(argv[1:])
    if command in _PROMPTS_ON_A_TERMINAL and _stdin_is_terminal():
        return False
    return command not in _RUN_HERE


def _stdin_is_terminal() -> bool:
    try:
        return os.isatty(0)
    except OSError:
        return False


def command_name(args: Sequence[str]) -> str | None:
    """The subcommand's name: the first argument that is not a group option (or its value)."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--server":
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def runtime_dir(environ: Mapping[str, str]) -> str:
    """The folder of this user's agent sockets (see the module docstring)."""
    if environ.get(RUNTIME_DIR_ENV):
        return environ[RUNTIME_DIR_ENV]
    if environ.get("XDG_RUNTIME_DIR"):
        return os.path.join(environ["XDG_RUNTIME_DIR"], "dataworkflow")
    return os.path.join(environ.get("TMPDIR") or "/tmp", f"dataworkflow-{os.getuid()}")


def private_dir(path: str) -> bool:
    """Create ``path`` (mode 0700) if needed; True if it is ours alone and not a link."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return False
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (
        (info.st_mode & 0o170000) == 0o040000
        and info.st_uid == os.getuid()
        and not info.st_mode & 0o077
    )


def agent_socket_path(environ: Mapping[str, str]) -> str | None:
    """Where this installation's agent listens; None if no safe place exists."""
    folder = runtime_dir(environ)
    if not private_dir(folder):
        return None
    path = os.path.join(folder, f"agent-{code_fingerprint(environ)[:24]}.sock")
    return path if len(os.fsencode(path)) <= MAX_SOCKET_PATH else None


def code_fingerprint(environ: Mapping[str, str]) -> str:
    """A hash of everything a warm agent would have fixed at its start.

    The interpreter and its flags, the interpreter-level environment, every module file
    of this package (path, size, mtime) and the folders on ``sys.path`` (installing or
    upgrading a package changes its folder's mtime).
    """
    if TYPE_CHECKING:
        from hashlib import sha256
    else:
        from _sha256 import sha256

    digest = sha256()
    interpreter = (sys.executable, sys.version, repr(sys.flags), sys.warnoptions, sys._xoptions)
    digest.update(repr(interpreter).encode())
    for name in sorted(environ):
        if name.startswith(("PYTHON", "LC_")) or name in ("LANG", "LANGUAGE", "TZDIR"):
            digest.update(f"{name}={environ[name]}\0".encode())
    for folder in sys.path:
        try:
            digest.update(f"{folder}:{os.stat(folder or '.').st_mtime_ns}\0".encode())
        except OSError:
            digest.update(f"{folder}:-\0".encode())
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    stack = [package]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name != "__pycache__":
                    stack.append(entry.path)
            elif entry.name.endswith(".py"):
                info = entry.stat()
                digest.update(f"{entry.path}:{info.st_size}:{info.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def run_in_agent(path: str, argv: list[str]) -> int | None:
    """Run the command in the agent at ``path``; its exit status, or None if none answered.

    None is returned only when nothing has run yet, so the caller may run it here.
    """
    try:
        cwd = os.getcwd()
    except OSError:
        return None
    request = marshal.dumps({"argv": argv, "cwd": cwd, "env": dict(os.environ), "umask": _umask()})
    message = HEADER.pack(len(request)) + request
    client = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    forwarder = _Forwarder()  # from before the request: no signal may fall between
    try:
        client.connect(path)
        rights = (_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("3i", 0, 1, 2))
        sent = client.sendmsg([message], [rights])
        client.sendall(message[sent:])
    except OSError:
        client.close()
        forwarder.restore()  # nothing ran: a pending Ctrl-C now acts on this process
        return None
    try:
        return _wait_for_child(client, forwarder)
    finally:
        client.close()


class _Forwarder:
    """Catches :data:`FORWARDED_SIGNALS` and passes them to the child once its pid is known."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.pending: list[int] = []
        self.previous = {}
        for name in FORWARDED_SIGNALS:
            signum = getattr(_signal, name)
            self.previous[signum] = _signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        if self.pid is None:
            self.pending.append(signum)
        else:
            _kill(self.pid, signum)

    def child_started(self, pid: int) -> None:
        self.pid = pid
        for signum in self.pending:
            _kill(pid, signum)
        self.pending.clear()

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            _signal.signal(signum, handler)
        for signum in self.pending:
            _signal.raise_signal(signum)


def _wait_for_child(client: _socket.socket, forwarder: _Forwarder) -> int:
    """Forward our signals to the agent's child until the agent reports its exit status."""
    while True:
        reply = _receive(client, REPLY.size)
        if reply is None:
            sys.stderr.write("error: the dw agent stopped before the command ended\n")
            return 1
        kind, value = REPLY.unpack(reply)
        if kind == b"P":
            forwarder.child_started(value)
        elif kind == b"X":
            return int(value)


def _receive(client: _socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        try:
            chunk = client.recv(size - len(data))
        except InterruptedError:  # pragma: no cover - retried by Python since PEP 475
            continue
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:
        pass


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def idle_seconds(environ: Mapping[str, str]) -> float:
    """``DW_AGENT_IDLE`` as a positive number of seconds, else the default."""
    try:
        value = float(environ.get(IDLE_ENV) or DEFAULT_IDLE_SECONDS)
    except ValueError:
        return DEFAULT_IDLE_SECONDS
    return value if 0 < value < float("inf") else DEFAULT_IDLE_SECONDS


def start_agent(path: str, environ: Mapping[str, str]) -> None:
    """Start an agent for ``path`` in the background, unless one is starting already."""
    import fcntl
    import subprocess

    try:
        lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # an agent holds the lock: it is starting or serving already
        os.close(lock)
        return
    os.close(lock)  # the agent takes it for its lifetime; a race is settled there
    idle = str(idle_seconds(environ))
    try:
        with open(f"{path[: -len('.sock')]}.log", "ab") as log:
            subprocess.Popen(
                [sys.executable, "-m", "dataworkflow.cli.agent", path, idle],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                close_fds=True,
                start_new_session=True,
                cwd="/",
            )
    except OSError:
        return
