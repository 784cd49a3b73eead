"""The warm ``dw`` agent: modules imported once, one forked child per command.

Started in the background by :mod:`dataworkflow.cli.launcher` as
``python -m dataworkflow.cli.agent SOCKET IDLE_SECONDS``. It imports what commands need,
then listens on the socket. For each request it forks; the child takes the client's
stdin/stdout/stderr, working folder, umask, environment and arguments and runs the click
group exactly as a new process would (settings, database and storage are opened per
command, never kept here). The agent sends the client the child's pid (for forwarding
signals); the child sends its exit status once the command is done and the client's
stdio is closed, before closing the database (the agent sends it again when it reaps
the child, in case the child could not).

The agent stays single-threaded (it forks) and keeps no state from one command to the
next: every child starts from the same freshly imported modules. It leaves when it has
been idle for ``IDLE_SECONDS`` with no child running, or when its socket file is
removed or replaced, after its children end.

A forked child shares the agent's memory until it writes to it, and Python writes to
every object it uses (reference counts), so a command first copies the pages it touches,
one fault each: measured for ``dw repo list``, 3,480 faults made it 34-45 ms instead of
12-15 ms, plus 5-7 ms for the fork. So while no command runs, the agent forks a *spare*
child in advance, which copies the agent's writable memory in one go
(``MADV_POPULATE_WRITE``, ~50 ms, ~70 MB) and waits; the next request goes to it
(request, descriptors and the client's connection passed over a socket pair), and a
new spare is forked once no command runs. A request that comes before the spare is
ready gets a child forked for it, as before (the spare is stopped: it would compete
for the CPU).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import gc
import importlib
import io
import marshal
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, NoReturn, cast

from dataworkflow.cli.launcher import FORWARDED_SIGNALS, HEADER, REPLY

PRELOAD = (
    "sqlite3",  # the drivers, which SQLAlchemy imports only when it first connects
    "psycopg",
    "sqlalchemy.orm",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "sqlalchemy.dialects.postgresql.psycopg",
    "dataworkflow.cli.group",
    "dataworkflow.cli.access",
    "dataworkflow.cli.db",
    "dataworkflow.cli.maintenance",
    "dataworkflow.cli.merge",
    "dataworkflow.cli.read",
    "dataworkflow.cli.refs",
    "dataworkflow.cli.remote",
    "dataworkflow.cli.repo",
    "dataworkflow.cli.search",
    "dataworkflow.cli.transfer",
    "dataworkflow.cli.users",
    "dataworkflow.metadata.engine",
    "dataworkflow.services.installation",
    "dataworkflow.services.repository",
    "dataworkflow.storage.filesystem",
    "dataworkflow.storage.s3",
    "dataworkflow.client",
    "dotenv",
    "rich.progress",
    "alembic.command",
)
"""Modules the commands import: imported once here instead of in every command."""
CHILD_SIGNALS = frozenset(getattr(signal, name) for name in FORWARDED_SIGNALS)
"""What a client forwards to its child (see :mod:`dataworkflow.cli.launcher`)."""
REQUEST_TIMEOUT = 10.0
"""Seconds a connected client has to send its request."""
_MADV_POPULATE_WRITE = 23  # <linux/mman.h>, Linux 5.14+: fault pages in writable, now
_SPARE_READY = b"R"
SPARE_FAILURES_MOST = 3
"""Spares that may die before their request before the agent stops forking them."""
CHECK_INTERVAL = 1.0
"""Seconds between checks of the socket file and the idle deadline."""


def preload() -> None:
    """Import :data:`PRELOAD` and set up the ORM's mappings; a missing module is skipped."""
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    from sqlalchemy.orm import configure_mappers

    from dataworkflow.cli.context import known_migrations

    configure_mappers()
    known_migrations()  # every command checks the schema against them (cached)
    # Keep the collector away from what was imported: a full collection in a child
    # touches every object, copying every page of the agent (measured: +0.1-0.13 s
    # on each command). See the gc.freeze() documentation.
    gc.collect()
    gc.freeze()


class Agent:
    """Accepts requests on ``path`` and forks a child for each.

    Args:
        path: The socket to listen on.
        idle_seconds: How long to stay without requests or children.
    """

    def __init__(self, path: str, idle_seconds: float, lock: int | None = None) -> None:
        self.path = path
        self.idle_seconds = idle_seconds
        self.lock = lock  # held for the agent's lifetime: children must not keep it
        self.children: dict[int, socket.socket] = {}
        self.spare: _Spare | None = None
        self.spare_failures = 0
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._wake_read, self._wake_write = socket.socketpair()
        self._identity: tuple[int, int] | None = None
        self.stopping = False

    def bind(self) -> None:
        """Replace a stale socket file and listen."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self.listener.bind(self.path)
        os.chmod(self.path, 0o600)
        self.listener.listen(64)
        info = os.stat(self.path)
        self._identity = (info.st_dev, info.st_ino)

    def serve(self) -> None:
        """Serve until idle (or the socket file is gone) and every child has ended."""
        self._wake_write.setblocking(False)
        signal.set_wakeup_fd(self._wake_write.fileno())
        signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)
        signal.signal(signal.SIGTERM, self._stop)
        deadline = time.monotonic() + self.idle_seconds
        while True:
            waiting = [self.listener, self._wake_read]
            if self.spare is not None and not self.spare.ready:
                waiting.append(self.spare.connection)
            ready, _, _ = select.select(waiting, [], [], CHECK_INTERVAL)
            if self._wake_read in ready:
                with contextlib.suppress(BlockingIOError):
                    self._wake_read.recv(4096)
            if self.spare is not None and self.spare.connection in ready:
                self._spare_reports()
            self._reap()
            if self.listener in ready and not self.stopping:
                self._accept()
                deadline = time.monotonic() + self.idle_seconds
            if self.children:
                deadline = time.monotonic() + self.idle_seconds
                continue
            if self.stopping or time.monotonic() >= deadline or not self._socket_is_ours():
                return
            if self.spare is None and self.spare_failures < SPARE_FAILURES_MOST:
                self._fork_spare()

    def close(self) -> None:
        """Stop listening and stop the spare; remove the socket file if it is still ours."""
        if self._socket_is_ours():
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        self.listener.close()
        self._drop_spare()

    def _stop(self, _signum: int, _frame: object) -> None:
        self.stopping = True

    def _socket_is_ours(self) -> bool:
        try:
            info = os.stat(self.path)
        except OSError:
            return False
        return (info.st_dev, info.st_ino) == self._identity

    def _accept(self) -> None:
        try:
            connection, _ = self.listener.accept()
        except OSError:
            return
        fds: list[int] = []
        try:
            creds = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
            _pid, uid, _gid = (int.from_bytes(creds[i : i + 4], sys.byteorder) for i in (0, 4, 8))
            if uid != os.getuid():
                raise PermissionError("a request from another user")
            connection.settimeout(REQUEST_TIMEOUT)
            request, fds = _receive_request(connection)
            pid = self._hand_to_spare(request, fds, connection)
            if pid is None:
                # Signals the client forwards wait until the child has its own handlers: one
                # arriving earlier would run the agent's code (or unwind its loop) in it.
                mask = signal.pthread_sigmask(signal.SIG_BLOCK, CHILD_SIGNALS)
                try:
                    pid = os.fork()
                except OSError:
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                    raise
                if pid == 0:
                    self._in_child()
                    run_child(request, fds, mask, connection)
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        except (OSError, ValueError):
            for fd in fds:
                os.close(fd)
            connection.close()
            return
        for fd in fds:
            os.close(fd)
        self.children[pid] = connection
        self._send(connection, b"P", pid)

    def _in_child(self) -> None:
        """In a new child: close what only the agent uses."""
        self.listener.close()
        self._wake_read.close()
        self._wake_write.close()
        if self.spare is not None:
            self.spare.connection.close()
        if self.lock is not None:
            os.close(self.lock)

    # --- the spare child ------------------------------------------------------------------

    def _fork_spare(self) -> None:
        """Fork a spare child, which gets ready for the next request (see the module doc)."""
        ours, theirs = socket.socketpair()
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, CHILD_SIGNALS)
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            ours.close()
            theirs.close()
            return
        if pid == 0:
            ours.close()
            self._in_child()
            run_spare(theirs, mask)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        theirs.close()
        self.spare = _Spare(pid, ours)

    def _spare_reports(self) -> None:
        """The spare says it is ready, or hung up (it died: a new one is forked later)."""
        assert self.spare is not None
        try:
            said = self.spare.connection.recv(1)
        except OSError:
            said = b""
        if said == _SPARE_READY:
            self.spare.ready = True
        else:
            self.spare_failures += 1
            self._drop_spare()

    def _hand_to_spare(
        self, request: dict[str, Any], fds: list[int], connection: socket.socket
    ) -> int | None:
        """Pass a request to the spare if it is ready; its pid, or None to fork instead.

        A spare not ready yet is stopped: it would compete with the command for the CPU.
        """
        spare, self.spare = self.spare, None
        if spare is None:
            return None
        if not spare.ready:  # it may have said so since the agent last looked
            with contextlib.suppress(OSError):
                spare.ready = spare.connection.recv(1, socket.MSG_DONTWAIT) == _SPARE_READY
        if not spare.ready:
            _stop_spare(spare)
            return None
        body = marshal.dumps(request)
        message = HEADER.pack(len(body)) + body
        try:
            spare.connection.settimeout(REQUEST_TIMEOUT)
            sent = socket.send_fds(spare.connection, [message], [*fds, connection.fileno()])
            if sent < len(message):  # once it has it all the spare hangs up: send no more
                spare.connection.sendall(message[sent:])
        except OSError:
            _stop_spare(spare)
            return None
        spare.connection.close()
        return spare.pid

    def _drop_spare(self) -> None:
        spare, self.spare = self.spare, None
        if spare is not None:
            _stop_spare(spare)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            if self.spare is not None and pid == self.spare.pid:  # died before its request
                self.spare_failures += 1
                self._drop_spare()
                continue
            connection = self.children.pop(pid, None)
            if connection is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            self._send(connection, b"X", code if code >= 0 else 128 - code)
            connection.close()

    @staticmethod
    def _send(connection: socket.socket, kind: bytes, value: int) -> None:
        with contextlib.suppress(OSError):  # the client went away: nothing to tell
            connection.sendall(REPLY.pack(kind, value))


class _Spare:
    """A spare child: its pid, the agent's end of their socket pair, whether it is ready."""

    def __init__(self, pid: int, connection: socket.socket) -> None:
        self.pid = pid
        self.connection = connection
        self.ready = False


def _stop_spare(spare: _Spare) -> None:
    """Stop a spare that will not get a request (the agent reaps it like any child)."""
    with contextlib.suppress(OSError):
        os.kill(spare.pid, signal.SIGKILL)
    spare.connection.close()


def run_spare(connection: socket.socket, mask: set[int | signal.Signals]) -> NoReturn:
    """In a spare child: copy the agent's pages now, say so, then run the request passed.

    Leaves when the agent hangs up instead (it left, or stopped this spare).
    """
    try:
        populate_memory()
        connection.sendall(_SPARE_READY)
        request, fds = _receive_request(connection, descriptors=4)
        connection.close()
        client = socket.socket(fileno=fds.pop())
        client.settimeout(REQUEST_TIMEOUT)  # as a child forked with it would have it
    except BaseException:
        os._exit(0)
    run_child(request, fds, mask, client)


def populate_memory() -> None:
    """Copy every private writable page of this process now, in one call per mapping.

    After a fork, that costs the kernel far less than a fault at each page's first
    write (see the module docstring). Where it is not supported, nothing happens.
    """
    madvise = _madvise()
    if madvise is None:
        return
    with open("/proc/self/maps", "rb") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) < 2 or fields[1] != b"rw-p":
                continue
            start, end = (int(bound, 16) for bound in fields[0].split(b"-"))
            madvise(start, end - start, _MADV_POPULATE_WRITE)


def _madvise() -> Callable[[int, int, int], int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    function.restype = ctypes.c_int
    return cast(Callable[[int, int, int], int], function)


def _receive_request(
    connection: socket.socket, descriptors: int = 3
) -> tuple[dict[str, Any], list[int]]:
    """Read one request: a length-prefixed :mod:`marshal` dict, with its descriptors.

    Raises:
        ValueError: if the request is malformed (the descriptors are closed then).
        OSError: if the connection fails.
    """
    data, fds, _flags, _addr = socket.recv_fds(connection, 65536, descriptors)
    try:
        if len(fds) != descriptors or len(data) < HEADER.size:
            raise ValueError("a request without its header or descriptors")
        (length,) = HEADER.unpack_from(data)
        body = data[HEADER.size :]
        while len(body) < length:
            chunk = connection.recv(min(1 << 20, length - len(body)))
            if not chunk:
                raise ValueError("a truncated request")
            body += chunk
        request = marshal.loads(body)
        if not isinstance(request, dict):
            raise ValueError("a request that is not a dict")
        return request, fds
    except BaseException as exc:
        for fd in fds:
            os.close(fd)
        if isinstance(exc, (EOFError, TypeError)):  # what marshal raises for bad bytes
            raise ValueError("a malformed request") from exc
        raise


def run_child(
    request: dict[str, Any],
    fds: list[int],
    mask: set[int | signal.Signals],
    connection: socket.socket,
) -> NoReturn:
    """In the forked child: become the client's process, run the command, exit.

    Forwarded signals stay blocked until the child has a new process's handlers and the
    client's stdio; ``mask`` is the signal mask to restore then (a signal that came
    meanwhile is delivered at that point, so its message reaches the client). The child
    reports its exit status on the client's ``connection`` itself, before the command's
    housekeeping (see :class:`~dataworkflow.cli.context.Housekeeping`); the agent's
    report when it reaps the child then finds the client gone, or is never read.
    """
    code = 1
    housekeeping: Callable[[], None] = _nothing_left
    try:
        from dataworkflow.cli.context import HOUSEKEEPING

        housekeeping = HOUSEKEEPING.run_pending
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        _reopen_stdio()
        os.chdir(request["cwd"])
        os.umask(int(request["umask"]))
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()
        sys.argv = list(request["argv"])
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # stderr is the client's now
        HOUSEKEEPING.defer()
        code = _run_command(sys.argv[1:])
    except KeyboardInterrupt:  # Ctrl-C before the command started
        code = 130
        with contextlib.suppress(Exception):
            sys.stderr.write("error: interrupted\n")
    except BaseException:  # the child must always exit, never return
        with contextlib.suppress(Exception):
            sys.stderr.write(f"error: the dw agent could not run the command: {_last_line()}\n")
    finally:
        with contextlib.suppress(BaseException):
            finish(connection, code, housekeeping)
        os._exit(code)


def _nothing_left() -> None:
    """The housekeeping of a child that could not even start its command."""


def finish(connection: socket.socket, code: int, housekeeping: Callable[[], None]) -> None:
    """Flush and hand back the client's stdio, report ``code``, then do ``housekeeping``.

    Once the client has the status and no descriptor of its stdio is open here, its
    shell (or a pipe's reader) goes on: what is left happens on the side.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    devnull = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(devnull, target)
    os.close(devnull)
    with contextlib.suppress(OSError):  # the client went away: nothing to tell
        connection.sendall(REPLY.pack(b"X", code if code >= 0 else 128 - code))
    connection.close()
    signal.pthread_sigmask(signal.SIG_BLOCK, CHILD_SIGNALS)  # the client's Ctrl-C is not ours
    housekeeping()


def _run_command(args: list[str]) -> int:
    """Run the click group as ``dw`` would; the exit status it ends with."""
    from dataworkflow.cli.group import main

    try:
        main(args=args, prog_name="dw")
    except SystemExit as exc:
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        sys.stderr.write(f"{exc.code}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    return 0


def _reopen_stdio() -> None:
    """New ``sys.stdin/stdout/stderr`` on descriptors 0-2, buffered as Python would.

    Encoding and error handler are the agent's own: they depend only on the locale and
    ``PYTHON*`` variables, which are part of the agent's identity.
    """
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        old = getattr(sys, f"__{name}__") or getattr(sys, name)
        encoding = getattr(old, "encoding", None) or "utf-8"
        errors = getattr(old, "errors", None) or "strict"
        raw: Any = open(fd, "rb" if fd == 0 else "wb", closefd=False)
        stream = io.TextIOWrapper(
            raw, encoding=encoding, errors=errors, line_buffering=fd == 2 or os.isatty(fd)
        )
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _last_line() -> str:
    lines = traceback.format_exc().strip().splitlines()
    return lines[-1] if lines else "unknown error"


def main(argv: list[str]) -> int:
    """``python -m dataworkflow.cli.agent SOCKET IDLE_SECONDS``."""
    path, idle = argv[0], float(argv[1])
    lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another agent serves this socket
    preload()
    agent = Agent(path, idle, lock)
    agent.bind()
    try:
        agent.serve()
    finally:
        agent.close()
        os.close(lock)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
