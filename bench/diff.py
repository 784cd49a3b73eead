"""Diff benchmark: tree diff cost against the size of the change, and row diffs beside git.

Figures (issue 6, "How fast"; see bench/README.md):
  1. ``Repository.diff`` of two commits of a 100,000-file repository that differ in 10
     files, as a ratio of the same diff on a 10-file repository whose two commits differ in
     its 10 files (goal: under 20: the cost follows the change, not the size);
  2. the row diff of two 1,000,000-row CSV files that differ in 100 rows, unkeyed and keyed
     by ``id``: rows per second and peak memory, each in a subprocess, printed beside
     ``git diff --no-index --stat`` on the same files (information, no goal).

Run ``.venv/bin/python bench/diff.py [--quick] [--workdir DIR] [--keep] [--profile]``.
Exit status: 0 whether or not the goals are met, 1 if something is functionally wrong.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import math
import os
import pstats
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    proc_status_kib,
    reset_peak_rss,
)

from dataworkflow import Put
from dataworkflow.services.diff import Change

BENCH_DIR = Path(__file__).resolve().parent
SEED = 20240601
T0 = 1_700_000_000
BRANCH = "main"
LEAF_FILES = 100  # files per leaf folder of the large tree (3 levels of folders)
CHANGED_FILES = 10
CHANGED_ROWS = 100
WARMUPS = 2
SAMPLES = 15
GOAL_RATIO = 20.0
GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


@dataclass(frozen=True)
class Sizes:
    tree_files: int
    csv_rows: int


FULL = Sizes(tree_files=100_000, csv_rows=1_000_000)
QUICK = Sizes(tree_files=10_000, csv_rows=100_000)


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def scratch_folder(work: Path) -> Path:
    """Where to generate the folders to import: tmpfs when there is one (as in web.py)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="dataworkflow-diff-bench-", dir=shm))
    return work


# --- 1. tree diff ----------------------------------------------------------------------------


def content(path: str, rng: random.Random) -> bytes:
    return f"{path}\n{rng.randbytes(rng.randint(16, 192)).hex()}\n".encode()


def nested_paths(files: int) -> list[str]:
    """``files`` paths ``pNN/qNN/rNN/fNNNNNN.txt``: LEAF_FILES per leaf folder, fan-out even."""
    leaves = max(1, math.ceil(files / LEAF_FILES))
    fan = max(1, math.ceil(leaves ** (1 / 3) - 1e-9))
    paths = []
    for i in range(files):
        leaf = i // LEAF_FILES
        paths.append(
            f"p{leaf // fan**2:02d}/q{leaf // fan % fan:02d}/r{leaf % fan:02d}/f{i:06d}.txt"
        )
    return paths


def write_files(folder: Path, paths: list[str], rng: random.Random) -> None:
    made: set[Path] = set()
    for path in paths:
        target = folder / path
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        target.write_bytes(content(path, rng))


@dataclass
class DiffCase:
    """Two commits of one repository, and the paths a diff between them must return."""

    label: str
    bench: BenchRepo
    old: str
    new: str
    expected: set[str]

    def diff(self) -> list[Change]:
        return self.bench.repo.diff(self.old, self.new)

    def verify(self, changes: list[Change]) -> None:
        paths = {c.path for c in changes}
        missing, extra = sorted(self.expected - paths), sorted(paths - self.expected)
        check(
            len(changes) == len(self.expected) and not missing and not extra,
            f"{self.label}: diff returned {len(changes)} changes, expected"
            f" {len(self.expected)} (missing {missing[:3]}, extra {extra[:3]})",
        )
        check(all(c.kind == "modified" for c in changes), f"{self.label}: not all 'modified'")


def build_case(
    work: Path, scratch: Path, label: str, paths: list[str], changed: list[str], rng: random.Random
) -> tuple[DiffCase, float]:
    """Import ``paths`` with commit_folder, then change ``changed`` in one commit of Puts.

    ``changed`` empty: the second commit has the same tree (``allow_empty``).
    Returns the case and the seconds the build took.
    """
    with Timer() as t:
        source = scratch / f"{label}-source"
        write_files(source, paths, rng)
        bench = new_repo(work / label)
        first = bench.repo.commit_folder(source, BRANCH, "Import the files", authored_at=T0)
        check(first.created, f"{label}: commit_folder made no commit")
        check(first.files_stored == len(paths), f"{label}: stored {first.files_stored} files")
        shutil.rmtree(source)
        second = bench.repo.commit(
            BRANCH,
            [Put(p, content(p + " changed", rng)) for p in changed],
            f"Change {len(changed)} files",
            authored_at=T0 + 60,
            allow_empty=not changed,
        )
        check(second.created, f"{label}: the second commit made no commit")
    return DiffCase(label, bench, first.commit_id, second.commit_id, set(changed)), t.seconds


def measure_cases(cases: list[DiffCase]) -> dict[str, list[float]]:
    """WARMUPS then SAMPLES timed diffs of each case, round-robin, the order rotating."""
    os.sync()
    for _ in range(WARMUPS):
        for case in cases:
            case.verify(case.diff())
    samples: dict[str, list[float]] = {case.label: [] for case in cases}
    for round_no in range(SAMPLES):
        shift = round_no % len(cases)
        for case in cases[shift:] + cases[:shift]:
            gc.collect()
            with Timer() as t:
                changes = case.diff()
            case.verify(changes)
            samples[case.label].append(t.seconds)
    return samples


def profile_case(case: DiffCase) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(SAMPLES):
        case.diff()
    profiler.disable()
    for order in ("tottime", "cumulative"):
        log(f"profile of {SAMPLES} diffs of {case.label}, by {order} (inflated by profiling):")
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(15)
        print(out.getvalue(), file=sys.stderr)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def bench_tree(work: Path, scratch: Path, sizes: Sizes, profile: bool) -> list[Figure]:
    rng = random.Random(f"{SEED}-tree")
    n = sizes.tree_files
    large_paths = nested_paths(n)
    leaves = sorted({p.rsplit("/", 1)[0] for p in large_paths})
    # One file in each of CHANGED_FILES distinct leaf folders, picked at random.
    picked = rng.sample(leaves, CHANGED_FILES)
    by_leaf: dict[str, list[str]] = {}
    for p in large_paths:
        by_leaf.setdefault(p.rsplit("/", 1)[0], []).append(p)
    large_changed = sorted(rng.choice(by_leaf[leaf]) for leaf in picked)
    log(f"tree: generating and importing {n:,} files ({len(leaves):,} leaf folders)")
    large, seconds = build_case(work, scratch, "large", large_paths, large_changed, rng)
    log(f"tree: large repository built in {seconds:.1f} s")

    flat_paths = [f"f{i:06d}.txt" for i in range(CHANGED_FILES)]
    flat, _ = build_case(work, scratch, "flat", flat_paths, flat_paths, rng)
    # The same 10 files, each as deep as the large repository's changes, in its own folder.
    deep_paths = [f"p{i:02d}/q00/r00/f{i:06d}.txt" for i in range(CHANGED_FILES)]
    deep, _ = build_case(work, scratch, "deep", deep_paths, deep_paths, rng)
    same, _ = build_case(work, scratch, "same", flat_paths, [], rng)

    cases = [large, flat, deep, same]
    log(f"tree: {WARMUPS} warm-ups, then {SAMPLES} diffs of each repository, round-robin")
    samples = measure_cases(cases)
    if profile:
        profile_case(large)
    median = {label: statistics.median(times) for label, times in samples.items()}
    ratio = median["large"] / median["flat"]
    return [
        Figure(
            f"tree diff, {n:,} files, {CHANGED_FILES} changed",
            f"{ms(median['large'])} median",
            f"10-file repo, 10 changed: {ms(median['flat'])}",
            f"{ratio:.1f}",
            f"< {GOAL_RATIO:.0f}",
            ratio < GOAL_RATIO,
        ),
        Figure(
            "  (info) vs 10 files as deep",
            f"{ms(median['large'])}",
            f"10 files in p*/q00/r00/: {ms(median['deep'])}",
            f"{median['large'] / median['deep']:.1f}",
            "-",
            None,
        ),
        Figure(
            "  (info) vs identical trees",
            f"{ms(median['large'])}",
            f"10-file repo, same tree: {ms(median['same'])}",
            f"{median['large'] / median['same']:.1f}",
            "-",
            None,
        ),
    ]


# --- 2. row diff -----------------------------------------------------------------------------

HEADER = "id,name,category,value,score,updated\n"
CATEGORIES = ("alpha", "beta", "gamma", "delta", "epsilon")


def make_csvs(folder: Path, rows: int, rng: random.Random) -> list[int]:
    """``old.csv`` and ``new.csv``: ``rows`` rows, CHANGED_ROWS of them with another value.

    Row ``i`` (1-based, after the header) has id ``i``; returns the changed ids, sorted.
    """
    changed = sorted(rng.sample(range(1, rows + 1), CHANGED_ROWS))
    wanted = set(changed)
    with (
        open(folder / "old.csv", "w", newline="") as old,
        open(folder / "new.csv", "w", newline="") as new,
    ):
        old.write(HEADER)
        new.write(HEADER)
        for i in range(1, rows + 1):
            bits = rng.getrandbits(64)
            name = f"item-{bits & 0xFFFFFF:06x}"
            if i % 7 == 0:
                name = f'"{name}, ""ltd"""'  # a quoted field with a comma and quotes
            value = rng.random() * 1000
            head = f"{i},{name},{CATEGORIES[(bits >> 24) % 5]},"
            tail = (
                f",{(bits >> 32) % 101},2024-{(bits >> 40) % 12 + 1:02d}-"
                f"{(bits >> 44) % 28 + 1:02d}T{(bits >> 50) % 24:02d}:00:00Z\n"
            )
            line = f"{head}{value:.3f}{tail}"
            old.write(line)
            new.write(f"{head}{value + 0.5:.3f}{tail}" if i in wanted else line)
    return changed


def read_through(paths: list[Path]) -> None:
    """Read every file once so that every contender reads from the page cache."""
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            while f.read(MiB):
                pass


def row_child(folder: Path, keyed: bool) -> None:
    """Runs in a fresh interpreter: one table_diff of old.csv and new.csv, print JSON."""
    from dataworkflow.services.content_diff import csv_rows, table_diff

    expected = json.loads((folder / "expect.json").read_text())
    key = ["id"] if keyed else []

    def bytes_opener(data: bytes) -> Callable[[], io.BytesIO]:
        return lambda: io.BytesIO(data)

    # Warm-up: import and run every code path on a tiny table first.
    old_cols, old_rows = csv_rows(bytes_opener(b"id,v\n1,a\n2,b\n"))
    new_cols, new_rows = csv_rows(bytes_opener(b"id,v\n1,a\n2,c\n"))
    table_diff(old_cols, old_rows, new_cols, new_rows, key=key)

    gc.collect()
    rss_before = proc_status_kib("VmRSS")
    peak_reset = reset_peak_rss()
    hwm_before = proc_status_kib("VmHWM")
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    old_path, new_path = folder / "old.csv", folder / "new.csv"
    with Timer() as t:
        old_cols, old_rows = csv_rows(lambda: open(old_path, "rb"))
        new_cols, new_rows = csv_rows(lambda: open(new_path, "rb"))
        result = table_diff(old_cols, old_rows, new_cols, new_rows, key=key)
    hwm_after = proc_status_kib("VmHWM")
    maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if hwm_after is not None and hwm_before is not None:
        base = rss_before if peak_reset and rss_before is not None else hwm_before
        growth_kib, method = hwm_after - base, "VmHWM" + (" reset" if peak_reset else "")
    else:
        growth_kib, method = maxrss_after - maxrss_before, "ru_maxrss"

    ids, numbers = set(expected["ids"]), set(expected["numbers"])
    n = len(ids)
    problems = []
    if keyed:
        counts = (result.added_count, result.removed_count, result.changed_count)
        if counts != (0, 0, n):
            problems.append(f"added/removed/changed {counts}, expected (0, 0, {n})")
        if {int(c.key[0]) for c in result.changed} != ids:
            problems.append("the changed rows are not the changed ids")
        if any(c.columns != ["value"] for c in result.changed):
            problems.append("a changed row lists columns other than 'value'")
    else:
        counts = (result.added_count, result.removed_count, result.changed_count)
        if counts != (n, n, 0):
            problems.append(f"added/removed/changed {counts}, expected ({n}, {n}, 0)")
        for side, listed in (("added", result.added), ("removed", result.removed)):
            if {number for number, _ in listed} != numbers:
                problems.append(f"the {side} row numbers are not the changed rows")
            if {int(row[0]) for _, row in listed} != ids:
                problems.append(f"the {side} rows are not the changed ids")
    print(
        json.dumps(
            {
                "problems": problems,
                "seconds": t.seconds,
                "growth_mib": growth_kib / 1024,
                "peak_mib": (hwm_after or maxrss_after) / 1024,
                "method": method,
            }
        )
    )


def run_row_child(folder: Path, keyed: bool) -> dict[str, Any]:
    mode = "keyed" if keyed else "unkeyed"
    done = subprocess.run(
        [sys.executable, __file__, "--row-child", mode, "--workdir", str(folder)],
        check=False,
        stdout=subprocess.PIPE,
        text=True,
    )
    check(done.returncode == 0, f"row diff ({mode}) subprocess failed: status {done.returncode}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    problems = report["problems"]
    check(not problems, f"row diff ({mode}) is wrong: {problems}")
    return report


def run_git_diff(folder: Path, changed: int) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of ``git diff --no-index --stat old.csv new.csv``."""
    with Timer() as t:
        proc = subprocess.Popen(
            ["git", "diff", "--no-index", "--stat", "old.csv", "new.csv"],
            cwd=folder,
            env={**os.environ, **GIT_ENV},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        output = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)  # its own rusage: peak RSS of git alone
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    # git exits 1 when the files differ, as they do here.
    check(proc.returncode == 1, f"git diff exited {proc.returncode}: {output[-500:]}")
    found = re.search(r"(\d+) insertions?\(\+\), (\d+) deletions?\(-\)", output)
    check(
        found is not None and found.groups() == (str(changed), str(changed)),
        f"git diff --stat does not show {changed} insertions and deletions: {output[-300:]}",
    )
    return t.seconds, usage.ru_maxrss / 1024


def bench_rows(work: Path, sizes: Sizes) -> tuple[list[Figure], str]:
    rows = sizes.csv_rows
    folder = work / "csv"
    folder.mkdir()
    log(f"rows: generating two CSV files of {rows:,} rows, {CHANGED_ROWS} rows differing")
    changed = make_csvs(folder, rows, random.Random(f"{SEED}-rows"))
    (folder / "expect.json").write_text(json.dumps({"ids": changed, "numbers": changed}))
    size = (folder / "old.csv").stat().st_size
    os.sync()
    read_through([folder / "old.csv", folder / "new.csv"])

    # Two rounds in alternating order (git, unkeyed, keyed; keyed, unkeyed, git): best times.
    git_times: list[float] = []
    git_peaks: list[float] = []
    reports: dict[str, list[dict[str, Any]]] = {"unkeyed": [], "keyed": []}
    steps = ["git", "unkeyed", "keyed"]
    for round_no in range(2):
        for step in steps if round_no == 0 else reversed(steps):
            log(f"rows: round {round_no + 1}, {step}")
            if step == "git":
                seconds, peak = run_git_diff(folder, CHANGED_ROWS)
                git_times.append(seconds)
                git_peaks.append(peak)
            else:
                reports[step].append(run_row_child(folder, step == "keyed"))
    shutil.rmtree(folder)

    git = min(git_times)
    figures = []
    for mode, label in (("unkeyed", "unkeyed (whole rows)"), ("keyed", 'keyed by "id"')):
        seconds = min(float(r["seconds"]) for r in reports[mode])
        worst = max(reports[mode], key=lambda r: float(r["growth_mib"]))
        figures += [
            Figure(
                f"row diff, {label}",
                f"{rows / seconds:,.0f} rows/s ({seconds:.2f} s)",
                f"git diff --no-index --stat {git:.2f} s",
                f"{seconds / git:.1f}x git's time",
                "-",
                None,
            ),
            Figure(
                f"  (info) peak memory, {mode}",
                f"+{worst['growth_mib']:.0f} MiB ({worst['method']}),"
                f" peak RSS {worst['peak_mib']:.0f} MiB",
                f"git peak RSS {max(git_peaks):.0f} MiB",
                f"{worst['peak_mib'] / max(git_peaks):.2f}",
                "-",
                None,
            ),
        ]
    described = (
        f"2 x {rows:,} rows, {size / MiB:.0f} MiB each, {CHANGED_ROWS} rows changed (one value)"
    )
    return figures, described


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
        "--profile",
        action="store_true",
        help="after measuring, cProfile the large tree diff and print hotspots to stderr",
    )
    parser.add_argument("--row-child", choices=("keyed", "unkeyed"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.row_child is not None:
        row_child(args.workdir, args.row_child == "keyed")
        return 0

    sizes = QUICK if args.quick else FULL
    parent = args.workdir or BENCH_DIR / ".work"
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="diff-", dir=parent))
    scratch = scratch_folder(work)
    log(f"{'quick' if args.quick else 'full'} run in {work}; seed {SEED}, {os.cpu_count()} CPUs")
    try:
        with Timer() as elapsed:
            figures = bench_tree(work, scratch, sizes, args.profile)
            row_figures, described = bench_rows(work, sizes)
            figures += row_figures
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if scratch != work:
            shutil.rmtree(scratch, ignore_errors=True)
        if args.keep:
            log(f"kept {work}")
        else:
            log(f"removing {work}")
            with Timer() as t:
                shutil.rmtree(work, ignore_errors=True)
            log(f"removed in {t.seconds:.0f} s")

    print(
        f"tree diff: {sizes.tree_files:,} files, {LEAF_FILES} per folder 3 levels deep, "
        f"{CHANGED_FILES} changed in distinct folders; median of {SAMPLES} diffs"
    )
    print(f"row diff: {described}; best of 2 rounds")
    print_table(figures)
    print_summary(figures, quick=args.quick, minutes=elapsed.seconds / 60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
