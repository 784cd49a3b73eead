"""Ingest benchmark: commit_folder and create_blob against baselines measured in the same run.

Figures (see bench/README.md):
  1. large files: commit_folder throughput vs "sha256 each file, copy it, fsync the copy";
  2. many small files: one commit_folder vs ``git add -A && git commit`` of the same folder;
  3. re-committing the unchanged folder: no commit, no object written, and how much faster;
  4. peak RSS growth while create_blob streams a large generated stream (in a subprocess).

Run ``.venv/bin/python bench/ingest.py [--quick] [--workdir DIR] [--keep] [--profile]``.
Exit status: 0 whether or not the goals are met, 1 if something is functionally wrong.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import io
import json
import os
import pstats
import random
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from _common import (
    BenchError,
    BenchRepo,
    Figure,
    MiB,
    Timer,
    check,
    count_files,
    new_repo,
    print_summary,
    print_table,
    proc_status_kib,
    reset_peak_rss,
)

from dataworkflow import CommitResult

BENCH_DIR = Path(__file__).resolve().parent
SEED = 20240601
FILES_PER_LEAF = 20
# git's default fsyncs packs but not loose objects; this makes it fsync those too.
GIT_FSYNC_OBJECTS = "core.fsync=loose-object,reference,index"
T = TypeVar("T")


@dataclass(frozen=True)
class Sizes:
    large_files: int
    large_file_bytes: int
    small_files: int
    stream_bytes: int


FULL = Sizes(large_files=4, large_file_bytes=256 * MiB, small_files=20_000, stream_bytes=1024 * MiB)
QUICK = Sizes(large_files=4, large_file_bytes=16 * MiB, small_files=2_000, stream_bytes=128 * MiB)


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def measured(label: str, profile: bool, fn: Callable[[], T]) -> tuple[T, float]:
    """Run ``fn`` once, timed; under ``--profile`` also print its top hotspots."""
    os.sync()  # start every timed section without another phase's dirty pages to flush
    profiler = cProfile.Profile() if profile else None
    with Timer() as t:
        if profiler:
            profiler.enable()
        result = fn()
        if profiler:
            profiler.disable()
    if profiler:
        log(f"profile of {label} ({t.seconds:.2f} s, inflated by profiling):")
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        print(out.getvalue(), file=sys.stderr)
    return result, t.seconds


# --- 1. large files -------------------------------------------------------------------------


def make_large_files(folder: Path, sizes: Sizes, rng: random.Random) -> list[Path]:
    folder.mkdir()
    paths = []
    for i in range(sizes.large_files):
        path = folder / f"large-{i}.bin"
        with open(path, "wb") as f:
            for _ in range(sizes.large_file_bytes // MiB):
                f.write(rng.randbytes(MiB))
        paths.append(path)
    return paths


def read_through(paths: list[Path]) -> None:
    """Read every file once so that both contenders read from the page cache."""
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            while f.read(MiB):
                pass


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def hash_and_copy(paths: list[Path], target: Path) -> set[str]:
    """The raw baseline: sha256 each file in 1 MiB chunks, copy it, fsync the copy."""
    target.mkdir()
    digests = set()
    for path in paths:
        digest = hashlib.sha256()
        with open(path, "rb", buffering=0) as f:
            while chunk := f.read(MiB):
                digest.update(chunk)
        digests.add(digest.hexdigest())
        copy = target / path.name
        shutil.copyfile(path, copy)
        fsync_path(copy)
    fsync_path(target)
    return digests


def bench_large(work: Path, sizes: Sizes, profile: bool) -> Figure:
    total = sizes.large_files * sizes.large_file_bytes
    log(f"large files: generating {sizes.large_files} x {sizes.large_file_bytes // MiB} MiB")
    paths = make_large_files(work / "large", sizes, random.Random(f"{SEED}-large"))
    read_through(paths)

    baseline_times: list[float] = []
    our_times: list[float] = []
    digests: set[str] = set()
    blob_ids: set[str] = set()
    # Two rounds in alternating order (baseline, ours, ours, baseline); keep each side's best.
    for round_no, order in enumerate((("baseline", "ours"), ("ours", "baseline"))):
        for who in order:
            if who == "baseline":
                target = work / f"copies-{round_no}"
                digests, seconds = measured(
                    "baseline", False, lambda t=target: hash_and_copy(paths, t)
                )
                baseline_times.append(seconds)
                shutil.rmtree(target)
                continue
            bench = new_repo(work / f"repo-large-{round_no}")
            result, seconds = measured(
                "commit_folder(large files)",
                profile and round_no == 0,
                lambda b=bench: b.repo.commit_folder(work / "large", "main", "large files"),
            )
            our_times.append(seconds)
            check(result.created, "commit_folder of the large files made no commit")
            check(result.files_stored == len(paths), f"stored {result.files_stored} files")
            check(result.bytes_stored == total, f"stored {result.bytes_stored} bytes")
            check(bench.storage.writes == len(paths), f"{bench.storage.writes} objects written")
            blob_ids = {e.entry.id for e in bench.repo.walk("main")}
            shutil.rmtree(bench.objects_dir.parent)
        log(f"large files: round {round_no + 1} done")
    check(blob_ids == digests, "blob ids differ from the baseline's SHA-256 digests")
    shutil.rmtree(work / "large")

    ours = total / MiB / min(our_times)
    base = total / MiB / min(baseline_times)
    ratio = ours / base
    return Figure(
        f"large files, {sizes.large_files} x {sizes.large_file_bytes // MiB} MiB",
        f"{ours:,.0f} MiB/s",
        f"{base:,.0f} MiB/s (sha256+copy+fsync)",
        f"{ratio:.2f}",
        "ratio >= 0.70",
        ratio >= 0.7,
    )


# --- 2. and 3. many small files, then the unchanged re-commit --------------------------------


def make_small_tree(folder: Path, count: int, rng: random.Random) -> int:
    """``count`` files of 1-8 KiB, FILES_PER_LEAF per leaf folder, 3 levels; returns #folders."""
    leaves = max(1, count // FILES_PER_LEAF)
    fan = max(1, round(leaves ** (1 / 3)))
    folders: set[Path] = set()
    for i in range(count):
        leaf = min(i // FILES_PER_LEAF, leaves - 1)
        rel = Path(f"a{leaf // fan**2:02d}", f"b{leaf // fan % fan:02d}", f"c{leaf % fan:02d}")
        if rel not in folders:
            (folder / rel).mkdir(parents=True, exist_ok=True)
            folders.update((rel, rel.parent, rel.parent.parent))
        (folder / rel / f"f{i:05d}.bin").write_bytes(rng.randbytes(rng.randint(1024, 8192)))
    return len(folders)


def git_add_commit(folder: Path, extra_config: tuple[str, ...] = ()) -> float:
    """Seconds for ``git add -A && git commit`` in ``folder`` (``git init`` not timed)."""
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@localhost",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@localhost",
    }
    # gc.auto=0: no detached "git gc --auto" (it would run after the timing and race the cleanup)
    config = ["-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "gc.auto=0"]
    for item in extra_config:
        config += ["-c", item]

    def git(*args: str) -> None:
        subprocess.run(["git", *config, *args], cwd=folder, env=env, check=True)

    git("init", "-q")
    _, seconds = measured("git", False, lambda: (git("add", "-A"), git("commit", "-q", "-m", "x")))
    return seconds


def git_time(source: Path, work: Path, extra_config: tuple[str, ...] = ()) -> float:
    copy = work / "small-git"
    shutil.copytree(source, copy)
    try:
        return git_add_commit(copy, extra_config)
    finally:
        shutil.rmtree(copy)


def commit_small(
    work: Path, source: Path, n: int, folders: int, name: str, profile: bool
) -> tuple[BenchRepo, CommitResult, float]:
    """The first commit of the small files into a fresh repository, checked."""
    bench = new_repo(work / name)
    first, seconds = measured(
        "commit_folder(small files)",
        profile,
        lambda: bench.repo.commit_folder(source, "main", "small files"),
    )
    check(first.created, "commit_folder of the small files made no commit")
    check(first.files_stored == n, f"stored {first.files_stored} of {n} files")
    check(bench.storage.writes == n, f"{bench.storage.writes} objects written for {n} files")
    entries = list(bench.repo.walk("main"))
    check(
        len(entries) == n + folders,
        f"walk found {len(entries)} entries, expected {n} files + {folders} folders",
    )
    return bench, first, seconds


def recommit_small(bench: BenchRepo, first: CommitResult, source: Path, profile: bool) -> float:
    """Commit the unchanged folder again: no commit, nothing written; return the seconds."""
    writes_before = bench.storage.writes
    objects_before = count_files(bench.objects_dir)
    again, seconds = measured(
        "re-commit(small files)",
        profile,
        lambda: bench.repo.commit_folder(source, "main", "again"),
    )
    check(not again.created, "re-committing an unchanged folder created a commit")
    check(again.commit_id == first.commit_id, "re-commit moved the branch")
    check(bench.storage.writes == writes_before, "re-commit wrote objects to storage")
    check(count_files(bench.objects_dir) == objects_before, "re-commit added files to storage")
    return seconds


def bench_small(work: Path, sizes: Sizes, profile: bool) -> list[Figure]:
    n = sizes.small_files
    source = work / "small"
    log(f"small files: generating {n:,} files of 1-8 KiB")
    folders = make_small_tree(source, n, random.Random(f"{SEED}-small"))

    # Metadata-heavy IO is noisy: two rounds in alternating order, best time of each side.
    git_times: list[float] = []
    git_fsync_times: list[float] = []
    our_times: list[float] = []
    for round_no in range(2):
        steps = ["git", "git-fsync", "ours"]
        for step in steps if round_no == 0 else reversed(steps):
            log(f"small files: round {round_no + 1}, {step}")
            if step == "git":
                git_times.append(git_time(source, work))
            elif step == "git-fsync":
                git_fsync_times.append(git_time(source, work, (GIT_FSYNC_OBJECTS,)))
            else:
                bench, first, seconds = commit_small(
                    work, source, n, folders, f"repo-small-{round_no}", profile and round_no == 0
                )
                our_times.append(seconds)
                if round_no == 0:
                    shutil.rmtree(bench.objects_dir.parent)

    log("small files: re-commit of the unchanged folder")
    again_seconds = recommit_small(bench, first, source, profile)
    shutil.rmtree(bench.objects_dir.parent)
    shutil.rmtree(source)

    ours, git, git_fsync = min(our_times), min(git_times), min(git_fsync_times)
    speedup = ours / again_seconds
    return [
        Figure(
            f"small files, {n:,} x 1-8 KiB",
            f"{n / ours:,.0f} files/s ({ours:.2f} s)",
            f"git add+commit {git:.2f} s",
            f"{git / ours:.2f}",
            "git/ours > 1",
            git / ours > 1,
        ),
        Figure(
            "  (info) vs git fsyncing objects",
            f"{ours:.2f} s",
            f"git core.fsync {git_fsync:.2f} s",
            f"{git_fsync / ours:.2f}",
            "-",
            None,
        ),
        Figure(
            "re-commit unchanged folder",
            f"{again_seconds:.2f} s, no commit, 0 writes",
            f"first commit {ours:.2f} s",
            f"{speedup:.1f}x",
            ">= 5x faster",
            speedup >= 5,
        ),
    ]


# --- 4. memory while streaming a large blob --------------------------------------------------


class RandomStream(io.RawIOBase):
    """``size`` pseudo-random bytes made 1 MiB at a time; hashes what it hands out."""

    def __init__(self, size: int, seed: str) -> None:
        self.digest = hashlib.sha256()
        self._blocks = self._generate(size, random.Random(seed))
        self._pending = memoryview(b"")

    @staticmethod
    def _generate(size: int, rng: random.Random) -> Iterator[bytes]:
        while size > 0:
            block = rng.randbytes(min(MiB, size))
            size -= len(block)
            yield block

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._pending:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self.digest.update(block)
            self._pending = memoryview(block)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def memory_child(folder: Path, size: int) -> None:
    """Runs in a fresh interpreter: stream ``size`` bytes into create_blob, print JSON."""
    bench = new_repo(folder)
    bench.repo.create_blob(io.BytesIO(b"warm-up: import and touch every code path first"))
    gc.collect()
    rss_before = proc_status_kib("VmRSS")
    peak_reset = reset_peak_rss()
    hwm_before = proc_status_kib("VmHWM")
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

    stream = RandomStream(size, f"{SEED}-stream")
    with Timer() as t:
        blob_id = bench.repo.create_blob(stream)  # type: ignore[arg-type]

    hwm_after = proc_status_kib("VmHWM")
    maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if hwm_after is not None and hwm_before is not None:
        base = rss_before if peak_reset and rss_before is not None else hwm_before
        growth_kib, method = hwm_after - base, "VmHWM" + (" (reset)" if peak_reset else "")
    else:
        growth_kib, method = maxrss_after - maxrss_before, "ru_maxrss"
    print(
        json.dumps(
            {
                "ok": blob_id == stream.digest.hexdigest() and bench.storage.size(blob_id) == size,
                "growth_mib": growth_kib / 1024,
                "peak_mib": (hwm_after or maxrss_after) / 1024,
                "method": method,
                "seconds": t.seconds,
            }
        )
    )


def bench_memory(work: Path, sizes: Sizes) -> Figure:
    size = sizes.stream_bytes
    log(f"memory: create_blob of a {size // MiB} MiB generated stream, in a subprocess")
    folder = work / "repo-stream"
    done = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(size), "--workdir", str(folder)],
        check=False,
        stdout=subprocess.PIPE,
        text=True,
    )
    check(done.returncode == 0, f"memory subprocess failed with status {done.returncode}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    check(report["ok"], "create_blob returned a wrong id or stored a wrong size")
    shutil.rmtree(folder)
    growth = report["growth_mib"]
    return Figure(
        f"peak RSS growth, {size // MiB} MiB stream",
        f"{growth:.1f} MiB ({report['method']})",
        f"{size / MiB / report['seconds']:,.0f} MiB/s, peak {report['peak_mib']:.0f} MiB",
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
    parser.add_argument(
        "--profile", action="store_true", help="cProfile our measured calls (inflates times)"
    )
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_child is not None:
        memory_child(args.workdir, args.memory_child)
        return 0

    sizes = QUICK if args.quick else FULL
    parent = args.workdir or BENCH_DIR / ".work"
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ingest-", dir=parent))
    log(f"{'quick' if args.quick else 'full'} run in {work}; seed {SEED}, {os.cpu_count()} CPUs")
    try:
        figures = [
            bench_large(work, sizes, args.profile),
            *bench_small(work, sizes, args.profile),
            bench_memory(work, sizes),
        ]
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print_table(figures)
    print_summary(figures, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
