"""REST API benchmark: a gunicorn server (2 workers) on loopback, driven over HTTP.

Figures (issue 5, "How fast"; see bench/README.md):
  1. a tree listing (200 entries) and a 4 KiB file download at 16 concurrent keep-alive
     clients: requests/s and p99 latency, next to a bare WSGI app under the same gunicorn;
  2. upload and download throughput of a 256 MiB file vs ``shutil.copyfile`` + fsync;
  3. the gunicorn workers' RSS growth while a 1 GiB generated stream is uploaded chunked.

Run ``.venv/bin/python bench/api.py [--quick] [--workdir DIR] [--keep]``.
Exit status: 0 whether or not the goals are met, 1 if something is functionally wrong.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import BenchError, Figure, MiB, Timer, check, print_summary, print_table

BENCH_DIR = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
SEED = 20240605
REPO = "bench"
FOLDER_FILES = 200
SMALL_FILE_BYTES = 4096
CLIENTS = 16
WORKERS = 2
THREADS = 4
ROUNDS = 2
API = "/api/v1"


@dataclass(frozen=True)
class Sizes:
    seconds_per_figure: float
    max_requests: int
    transfer_bytes: int
    stream_bytes: int


FULL = Sizes(
    seconds_per_figure=5.0, max_requests=20_000, transfer_bytes=256 * MiB, stream_bytes=1024 * MiB
)
QUICK = Sizes(
    seconds_per_figure=1.5, max_requests=3_000, transfer_bytes=32 * MiB, stream_bytes=128 * MiB
)


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def bare_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The baseline WSGI app: 4 KiB of constant bytes, no framework, no database."""
    body = b"x" * SMALL_FILE_BYTES
    start_response(
        "200 OK",
        [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))],
    )
    return [body]


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """gunicorn in its own process group; ``stop`` kills the group (always call it)."""

    def __init__(self, app: str, env: dict[str, str], log_path: Path, chdir: Path | None) -> None:
        self.port = free_port()
        args = [
            str(VENV_BIN / "gunicorn"),
            "--workers",
            str(WORKERS),
            "--threads",
            str(THREADS),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--timeout",
            "300",
        ]
        if chdir is not None:
            args += ["--chdir", str(chdir)]
        self._log = open(log_path, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            [*args, app],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.log_path = log_path

    def wait_ready(self, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            check(self.proc.poll() is None, f"gunicorn exited; see {self.log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", path)
                status = conn.getresponse().status
                conn.close()
                if status < 500:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchError(f"gunicorn did not answer within {timeout:.0f} s; see {self.log_path}")

    def workers(self) -> list[int]:
        """The pids of the master's children (the workers)."""
        pids = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            pids += [int(p) for p in (task / "children").read_text().split()]
        return pids

    def stop(self) -> None:
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self._log.close()


def server_env(work: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{work / 'db.sqlite'}",
        "STORAGE_PATH": str(work / "store"),
    }


# --- HTTP helpers ----------------------------------------------------------------------------


def connect(port: int) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300, blocksize=MiB)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


AUTH: dict[str, str] = {}
"""The bench user's bearer token, sent with every write (reads of the public repo need none)."""


def call(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    expect: int = 200,
) -> bytes:
    headers = {**(headers or {}), **(AUTH if method != "GET" else {})}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    check(
        response.status == expect,
        f"{method} {path}: {response.status} (expected {expect}): {data[:300]!r}",
    )
    return data


def post_json(conn: http.client.HTTPConnection, path: str, payload: object, expect: int) -> Any:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    return json.loads(call(conn, "POST", path, body, headers, expect))


def commit(
    conn: http.client.HTTPConnection, changes: list[dict[str, Any]], head: str | None
) -> str:
    payload = {"branch": "main", "message": "bench", "expected_head": head, "changes": changes}
    result = post_json(conn, f"{API}/repos/{REPO}/commits", payload, 201)
    commit_id = result.get("commit") or result.get("id")
    check(isinstance(commit_id, str), f"commit answer without an id: {result}")
    return str(commit_id)


def head_of(conn: http.client.HTTPConnection) -> str:
    data = json.loads(call(conn, "GET", f"{API}/repos/{REPO}/commits?ref=main&limit=1"))
    items = data.get("commits") or data.get("items") or []
    check(bool(items), f"no commit on main: {data}")
    return str(items[0]["id"])


def setup_repository(port: int, rng: random.Random) -> bytes:
    """The repository: ``folder/`` with FOLDER_FILES files and a 4 KiB ``small.bin``."""
    conn = connect(port)
    try:
        post_json(conn, f"{API}/repos", {"name": REPO}, 201)
        small = rng.randbytes(SMALL_FILE_BYTES)
        changes: list[dict[str, Any]] = [
            {"op": "put", "path": f"folder/f{i:04d}.txt", "content": f"file {i}\n" * 20}
            for i in range(FOLDER_FILES)
        ]
        changes.append(
            {
                "op": "put",
                "path": "small.bin",
                "content": base64.b64encode(small).decode(),
                "encoding": "base64",
            }
        )
        commit(conn, changes, None)
        return small
    finally:
        conn.close()


# --- 1. small requests under load ------------------------------------------------------------


@dataclass
class LoadResult:
    rps: float
    p99_ms: float
    p50_ms: float
    requests: int


def load(port: int, path: str, expect_body: Callable[[bytes], bool], sizes: Sizes) -> LoadResult:
    """CLIENTS threads, each on its own keep-alive connection, until time or count runs out."""
    per_client = sizes.max_requests // CLIENTS
    start_gate = threading.Barrier(CLIENTS + 1)
    deadline = [0.0]

    def client() -> list[float]:
        conn = connect(port)
        try:
            for _ in range(3):  # warm up this connection and the server's code paths
                check(expect_body(call(conn, "GET", path)), f"GET {path}: wrong body")
            start_gate.wait()
            latencies = []
            for _ in range(per_client):
                t0 = time.perf_counter()
                conn.request("GET", path)
                response = conn.getresponse()
                data = response.read()
                latencies.append(time.perf_counter() - t0)
                check(response.status == 200, f"GET {path}: {response.status}")
                check(len(latencies) > 1 or expect_body(data), f"GET {path}: wrong body")
                if t0 > deadline[0]:
                    break
            return latencies
        finally:
            conn.close()

    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(client) for _ in range(CLIENTS)]
        deadline[0] = time.perf_counter() + sizes.seconds_per_figure  # before any client starts
        start_gate.wait()
        with Timer() as t:
            latencies = sorted(x for f in futures for x in f.result())
    n = len(latencies)
    return LoadResult(
        rps=n / t.seconds,
        p99_ms=latencies[max(0, -(-99 * n // 100) - 1)] * 1000,  # nearest rank
        p50_ms=latencies[n // 2] * 1000,
        requests=n,
    )


def best(results: list[LoadResult]) -> LoadResult:
    return min(results, key=lambda r: r.p99_ms)


def bench_small_requests(work: Path, port: int, small: bytes, sizes: Sizes) -> list[Figure]:
    log("small requests: starting the baseline, a bare WSGI app under the same gunicorn")
    bare = Server("api:bare_app", dict(os.environ), work / "bare.log", BENCH_DIR)
    try:
        bare.wait_ready("/")
        tree_path = f"{API}/repos/{REPO}/tree?ref=main&path=folder"
        file_path = f"{API}/repos/{REPO}/files?ref=main&path=small.bin"

        def tree_ok(body: bytes) -> bool:
            return len(json.loads(body)["entries"]) == FOLDER_FILES

        contenders: dict[str, tuple[int, str, Callable[[bytes], bool]]] = {
            "tree": (port, tree_path, tree_ok),
            "file": (port, file_path, lambda b: b == small),
            "bare": (bare.port, "/", lambda b: len(b) == SMALL_FILE_BYTES),
        }
        results: dict[str, list[LoadResult]] = {name: [] for name in contenders}
        for round_no in range(ROUNDS):
            names = list(contenders) if round_no % 2 == 0 else list(reversed(contenders))
            for name in names:
                p, path, ok = contenders[name]
                r = load(p, path, ok, sizes)
                log(
                    f"small requests: round {round_no + 1} {name}: {r.rps:,.0f} req/s, "
                    f"p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms ({r.requests} requests)"
                )
                results[name].append(r)
    finally:
        bare.stop()

    base = best(results["bare"])
    figures = []
    for name, label in (("tree", f"tree listing, {FOLDER_FILES} entries"), ("file", "4 KiB file")):
        r = best(results[name])
        figures.append(
            Figure(
                f"{label}, {CLIENTS} clients",
                f"{r.rps:,.0f} req/s, p99 {r.p99_ms:.1f} ms",
                f"bare WSGI {base.rps:,.0f} req/s, p99 {base.p99_ms:.1f} ms",
                f"{r.rps / base.rps:.2f}",
                "p99 < 50 ms",
                r.p99_ms < 50,
            )
        )
    return figures


# --- 2. large transfers ----------------------------------------------------------------------


def make_file(path: Path, size: int, rng: random.Random) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            block = rng.randbytes(MiB)
            digest.update(block)
            f.write(block)
    return digest.hexdigest()


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recycle_pages(work: Path, size: int) -> None:
    """Write and delete ``size`` bytes, so the next timed writer reuses those pages.

    On this VM the first write into memory the guest has not used before ran 3-4 times
    slower than a write into pages freed by a deleted file (the host backs the pages on
    first touch). Whichever step wrote first into fresh memory lost: mostly the
    download, which came after the upload had taken the freed pages.
    """
    scratch = work / "scratch.bin"
    block = bytes(MiB)
    with open(scratch, "wb") as f:
        for _ in range(size // MiB):
            f.write(block)
    scratch.unlink()


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    os.sync()  # start every timed section without another phase's dirty pages to flush
    with Timer() as t:
        result = fn()
    return result, t.seconds


def upload_file(port: int, path: Path) -> dict[str, Any]:
    conn = connect(port)
    try:
        with open(path, "rb") as f:
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Length": str(path.stat().st_size),
            }
            return dict(
                json.loads(call(conn, "POST", f"{API}/repos/{REPO}/objects", f, headers, 201))
            )
    finally:
        conn.close()


def download_file(port: int, url: str, target: Path) -> str:
    """GET ``url`` into ``target`` (fsynced, like the copy); return the SHA-256 of the body.

    Each chunk is written and hashed on two helper threads while the next is received
    into another reused buffer, as a careful client would (all three let go of the GIL).
    Done one after the other, with a new buffer per chunk, they made this client the
    limit: it managed 0.44-0.47 of the copy rate from a server that sends at 1.5-2.2
    times that rate to a client that only receives.
    """
    conn = connect(port)
    digest = hashlib.sha256()
    try:
        conn.request("GET", url)
        response = conn.getresponse()
        check(response.status == 200, f"GET {url}: {response.status}")
        with (
            open(target, "wb") as f,
            ThreadPoolExecutor(1) as writer,
            ThreadPoolExecutor(1) as hasher,
        ):
            # Three reused buffers: one being received, the one before it being written
            # and hashed, and one more so the receiver never waits for a free buffer.
            buffers = [memoryview(bytearray(4 * MiB)) for _ in range(3)]
            in_flight: list[list[Any]] = [[] for _ in buffers]
            turn = 0
            while True:
                for future in in_flight[turn]:
                    future.result()  # this buffer's last chunk is written and hashed
                n = response.readinto(buffers[turn])
                if not n:
                    break
                chunk = buffers[turn][:n]
                in_flight[turn] = [
                    writer.submit(f.write, chunk),
                    hasher.submit(digest.update, chunk),
                ]
                turn = (turn + 1) % len(buffers)
            for futures in in_flight:
                for future in futures:
                    future.result()
            f.flush()
            os.fsync(f.fileno())
    finally:
        conn.close()
    return digest.hexdigest()


def bench_transfers(work: Path, port: int, sizes: Sizes) -> list[Figure]:
    size = sizes.transfer_bytes
    log(f"transfers: generating {ROUNDS} files of {size // MiB} MiB")
    sources = []
    for round_no in range(ROUNDS):
        path = work / f"transfer-{round_no}.bin"
        sources.append((path, make_file(path, size, random.Random(f"{SEED}-transfer-{round_no}"))))

    copy_times: list[float] = []
    up_times: list[float] = []
    down_times: list[float] = []
    c0 = connect(port)
    head = head_of(c0)
    c0.close()
    for round_no, (source, digest) in enumerate(sources):
        with open(source, "rb", buffering=0) as f:  # page cache: both read from memory
            while f.read(MiB):
                pass
        order = ("copy", "up", "down") if round_no % 2 == 0 else ("up", "down", "copy")
        for step in order:
            recycle_pages(work, size)
            if step == "copy":
                target = work / "copy.bin"
                _, seconds = timed(
                    lambda s=source, t=target: (shutil.copyfile(s, t), fsync_path(t))
                )
                copy_times.append(seconds)
                target.unlink()
            elif step == "up":
                answer, seconds = timed(lambda s=source: upload_file(port, s))
                up_times.append(seconds)
                check(answer.get("id") == digest, f"upload answered id {answer.get('id')}")
                check(answer.get("size") == size, f"upload answered size {answer.get('size')}")
                # Put it in a commit so the download goes through /files like a client's would.
                c = connect(port)
                try:
                    put = [{"op": "put", "path": f"large-{round_no}.bin", "blob": digest}]
                    head = commit(c, put, head)
                finally:
                    c.close()
            else:
                target = work / "download.bin"
                url = f"{API}/repos/{REPO}/files?ref=main&path=large-{round_no}.bin"
                got, seconds = timed(lambda t=target, u=url: download_file(port, u, t))
                down_times.append(seconds)
                check(got == digest, "the downloaded file's SHA-256 differs from the upload's")
                target.unlink()
        log(f"transfers: round {round_no + 1} done")
        source.unlink()

    copy = size / MiB / min(copy_times)
    figures = []
    for label, times in (("upload", up_times), ("download", down_times)):
        rate = size / MiB / min(times)
        figures.append(
            Figure(
                f"{label}, {size // MiB} MiB file",
                f"{rate:,.0f} MiB/s",
                f"{copy:,.0f} MiB/s (copyfile+fsync)",
                f"{rate / copy:.2f}",
                "ratio >= 0.50",
                rate / copy >= 0.5,
            )
        )
    return figures


# --- 3. server memory during a streamed upload -----------------------------------------------


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise BenchError(f"no {field} in /proc/{pid}/status")


def generated(size: int, seed: str, digest: Any) -> Iterator[bytes]:
    rng = random.Random(seed)
    while size > 0:
        block = rng.randbytes(min(MiB, size))
        size -= len(block)
        digest.update(block)
        yield block


def bench_memory(server: Server, sizes: Sizes) -> Figure:
    size = sizes.stream_bytes
    log(f"memory: uploading a {size // MiB} MiB generated stream, chunked")
    workers = server.workers()
    check(len(workers) == WORKERS, f"found {len(workers)} gunicorn workers, expected {WORKERS}")
    # Warm up: small chunked uploads, enough to reach both workers.
    for i in range(8):
        c = connect(server.port)
        try:
            call(
                c,
                "POST",
                f"{API}/repos/{REPO}/objects",
                iter([f"warm-up {i}".encode()]),
                {"Content-Type": "application/octet-stream"},
                201,
            )
        finally:
            c.close()
    before = {pid: status_kib(pid, "VmRSS") for pid in workers}
    hwm_reset = True
    for pid in workers:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            hwm_reset = False
    peak = dict(before)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            for pid in workers:
                peak[pid] = max(peak[pid], status_kib(pid, "VmRSS"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    digest = hashlib.sha256()
    conn = connect(server.port)
    try:
        with Timer() as t:
            answer = json.loads(
                call(
                    conn,
                    "POST",
                    f"{API}/repos/{REPO}/objects",
                    generated(size, f"{SEED}-stream", digest),
                    {"Content-Type": "application/octet-stream"},
                    201,
                )
            )
    finally:
        conn.close()
        stop.set()
        sampler.join()
    if hwm_reset:
        for pid in workers:
            peak[pid] = max(peak[pid], status_kib(pid, "VmHWM"))
    check(answer.get("id") == digest.hexdigest(), f"streamed upload answered id {answer.get('id')}")
    check(answer.get("size") == size, f"streamed upload answered size {answer.get('size')}")
    growth = max(peak[pid] - before[pid] for pid in workers) / 1024
    method = "VmHWM (reset) + VmRSS samples" if hwm_reset else "VmRSS samples every 20 ms"
    return Figure(
        f"server RSS growth, {size // MiB} MiB chunked upload",
        f"{growth:.1f} MiB ({method})",
        f"{size / MiB / t.seconds:,.0f} MiB/s, worker RSS before "
        + "/".join(f"{before[p] // 1024}" for p in workers)
        + " MiB",
        "-",
        "< 100 MiB",
        growth < 100,
    )


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="folder to work in (a temporary folder is made inside it); default bench/.work/",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args(argv)


def bench_token(env: dict[str, str], work: Path) -> dict[str, str]:
    """An administrator and a write token for the writes, made with `dw` like an operator."""
    dw = str(VENV_BIN / "dw")
    run = {"env": env, "check": True, "cwd": work, "capture_output": True, "text": True}
    subprocess.run(
        [dw, "user", "create", "bench", "--email", "bench@example.com", "--admin"], **run
    )
    made = subprocess.run([dw, "token", "create", "bench", "--scope", "write"], **run)
    return {"Authorization": f"Bearer {made.stdout.strip().splitlines()[-1]}"}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    parent = args.workdir or BENCH_DIR / ".work"
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="api-", dir=parent)).resolve()
    log(f"{'quick' if args.quick else 'full'} run in {work}; seed {SEED}, {os.cpu_count()} CPUs")
    server: Server | None = None
    try:
        env = server_env(work)
        subprocess.run([str(VENV_BIN / "dw"), "db", "upgrade"], env=env, check=True, cwd=work)
        AUTH.update(bench_token(env, work))
        server = Server("dataworkflow.web:create_app()", env, work / "gunicorn.log", None)
        server.wait_ready(f"{API}/repos")
        log(f"gunicorn ({WORKERS} workers x {THREADS} threads) on port {server.port}")
        small = setup_repository(server.port, random.Random(f"{SEED}-small"))
        figures = [
            *bench_small_requests(work, server.port, small, sizes),
            *bench_transfers(work, server.port, sizes),
            bench_memory(server, sizes),
        ]
    except (BenchError, subprocess.CalledProcessError, OSError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print_table(figures)
    print_summary(figures, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
