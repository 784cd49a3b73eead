"""Maintenance benchmark: ``dw gc`` and ``dw fsck`` of a 100,000-object repository.

Figures (issue 8, "How fast"): objects per second of

  1. gc, dry run and real, of a repository with 100,000 objects (quick: 10,000) of which
     a tenth are garbage: a deleted branch's files, its commit and trees;
  2. fsck (ids recomputed, references and sizes checked) and ``fsck --full`` (every
     stored object read back and hashed), of the repository after gc.

Objects are the repository's commits, trees and blobs. Each figure is printed beside git
doing the same on the same files in the same run, as loose objects: ``git prune -n`` and
``git prune`` after the branch is deleted and its reflog expired,
``git fsck --connectivity-only`` and ``git fsck`` (which inflates and hashes every object).

The repository is built with ``Repository.commit_folder`` of generated folders (in
/dev/shm when there is one): 80% of the files in a first commit, 20 per folder two levels
deep; a second commit changes a tenth of them and adds the rest; a branch adds a folder
of its own files (a tenth of the total) and is deleted. gc runs with no grace period and
no ref-log retention, so that branch is what it reclaims. SQLite and filesystem storage;
every timed section starts after an ``os.sync()``.

Run ``.venv/bin/python bench/maintenance.py [--quick] [--workdir DIR] [--keep]``.
Exit status: 0 whether or not the goals are met, 1 if something is functionally wrong
(gc must reclaim exactly the branch's files and rows, fsck must find nothing).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from _common import (
    BenchError,
    BenchRepo,
    Figure,
    MiB,
    Timer,
    check,
    new_repo,
    print_summary,
    print_table,
)

from dataworkflow.services.fsck import check_integrity
from dataworkflow.services.gc import GcReport, collect_garbage

BENCH_DIR = Path(__file__).resolve().parent
SEED = 20240601
LEAF_FILES = 20
GIT_CONFIG = ("-c", "gc.auto=0", "-c", "core.fsync=none")
GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@localhost",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@localhost",
}
GOAL_OBJECTS_PER_SECOND = 10_000
"""The goal of every figure: a 100,000-object repository in ten seconds or less."""
T = TypeVar("T")


@dataclass(frozen=True)
class Sizes:
    files: int
    """Files on main after the second commit; the branch adds a tenth more."""


FULL = Sizes(files=90_000)
QUICK = Sizes(files=9_000)


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def scratch_folder(work: Path) -> Path:
    """Where to generate the folders to import: tmpfs when there is one."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="dataworkflow-maintenance-bench-", dir=shm))
    return work


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    os.sync()
    with Timer() as t:
        result = fn()
    return result, t.seconds


# --- the data ---------------------------------------------------------------------------


def paths(prefix: str, first: int, count: int) -> list[str]:
    """``count`` paths ``{prefix}pNN/qNN/fNNNNNN.txt``, LEAF_FILES per folder."""
    leaves = max(1, math.ceil((first + count) / LEAF_FILES))
    fan = max(1, math.ceil(math.sqrt(leaves)))
    return [
        f"{prefix}p{(i // LEAF_FILES) // fan:03d}/q{(i // LEAF_FILES) % fan:03d}/f{i:06d}.txt"
        for i in range(first, first + count)
    ]


def write(folder: Path, names: list[str], rng: random.Random, tag: str = "") -> None:
    made: set[Path] = set()
    for name in names:
        target = folder / name
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        target.write_bytes(f"{name} {tag}\n{rng.randbytes(rng.randint(16, 160)).hex()}\n".encode())


@dataclass
class Built:
    bench: BenchRepo
    git_dir: Path | None
    objects: int
    """Commits, trees and blobs of the repository before gc."""
    garbage_blobs: set[str]
    garbage_bytes: int


def build(work: Path, scratch: Path, sizes: Sizes, with_git: bool) -> Built:
    rng = random.Random(SEED)
    source = scratch / "source"
    first = int(sizes.files * 0.8)
    write(source, paths("", 0, first), rng)
    bench = new_repo(work / "dw")
    repo = bench.repo
    git_dir = work / "git" if with_git else None
    if git_dir is not None:
        git(git_dir, source, "init", "-q", "-b", "main")

    def commit_both(message: str) -> None:
        repo.commit_folder(source, "main", message)
        if git_dir is not None:
            git(git_dir, source, "add", "-A")
            git(git_dir, source, "commit", "-q", "-m", message)

    with Timer() as t:
        commit_both("first")
        changed = paths("", 0, first)[:: max(1, first // (sizes.files // 10))]
        write(source, changed, rng, "changed")
        write(source, paths("", first, sizes.files - first), rng)
        commit_both("second")
        # The branch: its own folder of files, then deleted.
        repo.create_branch("scratch")
        branch_files = paths("", 0, sizes.files // 10)
        branch_source = scratch / "branch"
        write(branch_source, branch_files, rng, "branch")
        repo.commit_folder(branch_source, "scratch", "branch", path="branch")
        blobs = {
            e.entry.id: e.size or 0
            for e in repo.walk("scratch", "branch")
            if e.entry.kind == "blob"
        }
        repo.delete_branch("scratch")
        if git_dir is not None:
            shutil.copytree(branch_source, source / "branch")
            git(git_dir, source, "checkout", "-q", "-b", "scratch")
            git(git_dir, source, "add", "-A")
            git(git_dir, source, "commit", "-q", "-m", "branch")
            git(git_dir, source, "checkout", "-q", "main")
            git(git_dir, source, "branch", "-q", "-D", "scratch")
            git(git_dir, source, "reflog", "expire", "--expire=now", "--all")
    log(f"built in {t.seconds:.0f} s")
    objects = count_objects(bench)
    return Built(bench, git_dir, objects, set(blobs), sum(blobs.values()))


def count_objects(bench: BenchRepo) -> int:
    from sqlalchemy import func, select

    from dataworkflow.metadata.tables import BlobRow, CommitRow, TreeRow

    with bench.repo.db.reading() as session:
        return sum(
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (BlobRow, TreeRow, CommitRow)
        )


def git(git_dir: Path, work_tree: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", f"--git-dir={git_dir}", f"--work-tree={work_tree}", *GIT_CONFIG, *args],
        cwd=work_tree,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"git {args[0]} failed: {(done.stderr or done.stdout).strip()[:200]}")
    return done.stdout


def git_objects(git_dir: Path) -> int:
    out = git(git_dir, git_dir, "count-objects", "-v")
    fields = dict(line.split(": ", 1) for line in out.splitlines())
    return int(fields["count"]) + int(fields["in-pack"])


# --- the figures ------------------------------------------------------------------------


def figure(name: str, objects: int, seconds: float, baseline: tuple[int, float] | None) -> Figure:
    rate = objects / seconds
    measured = f"{rate:,.0f} obj/s ({seconds:.2f} s)"
    if baseline is None:
        base, ratio = "-", "-"
    else:
        base_rate = baseline[0] / baseline[1]
        base = f"{base_rate:,.0f} obj/s ({baseline[1]:.2f} s)"
        ratio = f"{rate / base_rate:.2f}x"
    return Figure(
        name,
        measured,
        base,
        ratio,
        f">= {GOAL_OBJECTS_PER_SECOND:,} obj/s",
        rate >= GOAL_OBJECTS_PER_SECOND,
    )


def run_gc(built: Built, dry_run: bool) -> tuple[GcReport, float]:
    bench = built.bench
    return timed(
        lambda: collect_garbage(
            bench.repo.db,
            bench.storage,
            grace=timedelta(0),
            dry_run=dry_run,
            retention=timedelta(0),
        )
    )


def check_gc(report: GcReport, built: Built) -> None:
    check(
        report.objects_deleted == len(built.garbage_blobs),
        f"gc reclaimed {report.objects_deleted} objects, expected {len(built.garbage_blobs)}",
    )
    check(
        report.bytes_reclaimed == built.garbage_bytes,
        f"gc reclaimed {report.bytes_reclaimed} bytes, expected {built.garbage_bytes}",
    )
    check(report.commits == 1, f"gc deleted {report.commits} commits, expected the branch's")


def bench_all(work: Path, scratch: Path, sizes: Sizes, with_git: bool) -> list[Figure]:
    built = build(work, scratch, sizes, with_git)
    bench = built.bench
    log(f"{built.objects:,} objects, {len(built.garbage_blobs):,} garbage blobs")
    git_dir = built.git_dir

    def git_timed(*args: str) -> tuple[int, float] | None:
        if git_dir is None:
            return None
        objects = git_objects(git_dir)
        _, seconds = timed(lambda: git(git_dir, git_dir, *args))
        return objects, seconds

    figures = []
    dry, seconds = run_gc(built, dry_run=True)
    check_gc(dry, built)
    figures.append(
        figure("gc --dry-run", built.objects, seconds, git_timed("prune", "-n", "--expire=now"))
    )
    real, seconds = run_gc(built, dry_run=False)
    check_gc(real, built)
    check(not (built.garbage_blobs & set(bench.storage.iter_ids())), "gc left garbage in storage")
    figures.append(figure("gc", built.objects, seconds, git_timed("prune", "--expire=now")))
    after = count_objects(bench)
    check(after == built.objects - real.commits - real.trees - real.blobs, "object count is off")
    for full, label, git_args in (
        (False, "fsck", ("fsck", "--connectivity-only", "--no-dangling")),
        (True, "fsck --full", ("fsck", "--no-dangling")),
    ):
        check_run = check_integrity(bench.repo.db, bench.storage, full=full)
        problems, seconds = timed(lambda run=check_run: list(run))
        check(problems == [], f"{label} found {len(problems)} problems, e.g. {problems[:1]}")
        checked = check_run.checked
        objects = checked["commit"] + checked["tree"] + checked["blob"]
        check(objects == after, f"{label} checked {objects} objects, expected {after}")
        row = figure(label, objects, seconds, git_timed(*git_args))
        if full:
            row.measured += f", {check_run.bytes_hashed / MiB / seconds:.0f} MiB/s"
        figures.append(row)
    return figures


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the size: a smoke test")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="folder to work in (a temporary folder is made inside it); default bench/.work/",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--no-git", action="store_true", help="skip the git baselines")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    with_git = not args.no_git and shutil.which("git") is not None
    parent = args.workdir or BENCH_DIR / ".work"
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="maintenance-", dir=parent))
    scratch = scratch_folder(work)
    log(f"{'quick' if args.quick else 'full'} run in {work}; seed {SEED}, {os.cpu_count()} CPUs")
    try:
        with Timer() as elapsed:
            figures = bench_all(work, scratch, sizes, with_git)
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if scratch != work:
            shutil.rmtree(scratch, ignore_errors=True)
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(
        f"gc and fsck: {sizes.files + sizes.files // 10:,} files written, {LEAF_FILES} per"
        " folder; SQLite + filesystem storage; baseline: git on the same files, loose objects"
        + ("" if with_git else " (git not run)")
    )
    print_table(figures)
    print_summary(figures, quick=args.quick, minutes=elapsed.seconds / 60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
