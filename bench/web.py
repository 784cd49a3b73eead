"""Web benchmark: render times of the main pages of a large repository, and their growth.

Builds, with the Repository API into SQLite + filesystem storage, a repository with
100,000 files (10,000 of them in one folder), 5,000 commits on ``main`` and a 1 GiB CSV
file, then measures with the Flask test client, in this process, the median and p90
render time of four pages: the repository home, the 10,000-entry folder, the file page
of the CSV, and the history page 4,000 commits deep (goal: medians under 100 ms).

"No page grows more than 2x when the repository doubles" compares the same pages on a
repository of twice that size (files, big folder, commits, history depth; the same CSV);
``--halve`` compares with half the size instead, which takes about half as long. A tiny
repository of the same shape is the baseline every time is printed next to.

Run ``.venv/bin/python bench/web.py [--quick] [--halve] [--workdir DIR] [--keep]
[--profile]``.
Exit status: 0 whether or not the goals are met, 1 if something is functionally wrong.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import io
import os
import pstats
import random
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
from flask.testing import FlaskClient

from dataworkflow import Put, Settings
from dataworkflow.web import create_app

BENCH_DIR = Path(__file__).resolve().parent
SEED = 20240601
T0 = 1_700_000_000  # commit times: 2023-11-14, one minute apart
REPO = "bench"
BRANCH = "main"
WIDE = "wide"  # the one big folder
CSV_PATH = "data/measurements.csv"
LOG_FILES = 10  # log/part-N.txt, one of them changed by each history commit
LEAF_FILES = 100  # files per leaf folder of the bulk tree
LEAVES_PER_GROUP = 50
README_TITLE = "Benchmark repository"
TREE_PAGE = 500  # entries on the first page of a folder (ui/tree.py)
WARMUPS = 2
SAMPLES = 15
GOAL_MS = 100.0
GOAL_GROWTH = 2.0
PROFILE_REQUESTS = 5


@dataclass(frozen=True)
class Shape:
    """One repository's size. Files include README, log files and the CSV."""

    files: int
    wide: int
    commits: int
    depth: int
    """How many commits deep the measured history page starts."""
    csv_bytes: int

    def doubled(self) -> Shape:
        return Shape(
            self.files * 2, self.wide * 2, self.commits * 2, self.depth * 2, self.csv_bytes
        )

    def halved(self) -> Shape:
        return Shape(
            self.files // 2, self.wide // 2, self.commits // 2, self.depth // 2, self.csv_bytes
        )

    @property
    def label(self) -> str:
        return f"{self.files:,} files"


# The size the goals are stated for (issue 4), and a tenth of it for --quick.
FULL = Shape(files=100_000, wide=10_000, commits=5_000, depth=4_000, csv_bytes=1024 * MiB)
QUICK = Shape(files=10_000, wide=1_000, commits=500, depth=400, csv_bytes=64 * MiB)
# The baseline: the same shape, tiny (its CSV is still large enough for an estimated count).
TINY = Shape(files=1_000, wide=600, commits=120, depth=40, csv_bytes=16 * MiB)


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


# --- building a repository -------------------------------------------------------------------


class CsvStream(io.RawIOBase):
    """A CSV file of at least ``size`` bytes made row by row, never held whole in memory.

    Rows are ``id,time,sensor,reading,status,note``; the stream hashes what it hands out
    so the stored blob's id can be checked.
    """

    HEADER = b"id,time,sensor,reading,status,note\n"
    COLUMNS = HEADER.count(b",") + 1
    ROWS_PER_BLOCK = 16_384

    def __init__(self, size: int, seed: str) -> None:
        self.digest = hashlib.sha256()
        self.produced = 0
        self._blocks = self._generate(size, random.Random(seed))
        self._pending = memoryview(b"")

    @classmethod
    def _generate(cls, size: int, rng: random.Random) -> Iterator[bytes]:
        statuses = ("ok", "ok", "ok", "warn", "fail")
        tails = [
            f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z,"
            f"sensor-{rng.randint(1, 500):03d},{rng.uniform(-50, 150):.4f},"
            f"{rng.choice(statuses)},{rng.randbytes(rng.randint(2, 10)).hex()}"
            for _ in range(4096)
        ]
        yield cls.HEADER
        produced, row = len(cls.HEADER), 1
        while produced < size:
            block = "".join(
                [
                    f"{i},{tails[(i * 2654435761) % 4096]}\n"
                    for i in range(row, row + cls.ROWS_PER_BLOCK)
                ]
            ).encode()
            row += cls.ROWS_PER_BLOCK
            produced += len(block)
            yield block

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._pending:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self.digest.update(block)
            self.produced += len(block)
            self._pending = memoryview(block)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def bulk_count(shape: Shape) -> int:
    """Files outside the wide folder, README, log files and the CSV."""
    return shape.files - shape.wide - LOG_FILES - 2


def make_source(folder: Path, shape: Shape, rng: random.Random) -> int:
    """The folder committed first: README, ``wide/``, ``log/``, ``files/gNNN/dNNNN/``.

    Returns how many files it holds (every one with distinct content).
    """
    folder.mkdir()
    (folder / "README.md").write_text(
        f"# {README_TITLE}\n\nGenerated by `bench/web.py`: {shape.files:,} files, "
        f"{shape.wide:,} of them in `{WIDE}/`, {shape.commits:,} commits.\n\n"
        "| folder | content |\n|---|---|\n| `wide/` | one big folder |\n"
        "| `files/` | the bulk |\n| `log/` | changed by every commit |\n"
        "| `data/` | a large CSV file |\n"
    )

    def content(name: str) -> bytes:
        return f"{name}\n{rng.randbytes(rng.randint(16, 192)).hex()}\n".encode()

    wide = folder / WIDE
    wide.mkdir()
    for i in range(shape.wide):
        name = f"w{i:05d}.txt"
        (wide / name).write_bytes(content(name))
    logs = folder / "log"
    logs.mkdir()
    for i in range(LOG_FILES):
        (logs / f"part-{i}.txt").write_bytes(content(f"part-{i} initial"))
    bulk = bulk_count(shape)
    leaf_dir = folder
    for i in range(bulk):
        if i % LEAF_FILES == 0:
            leaf = i // LEAF_FILES
            leaf_dir = folder / "files" / f"g{leaf // LEAVES_PER_GROUP:03d}" / f"d{leaf:05d}"
            leaf_dir.mkdir(parents=True)
        name = f"f{i:06d}.txt"
        (leaf_dir / name).write_bytes(content(name))
    return 1 + shape.wide + LOG_FILES + bulk


def history_title(number: int) -> str:
    """The title of the ``number``-th history commit (1-based)."""
    return f"Update log/part-{number % LOG_FILES}.txt (#{number})"


def build_repository(
    work: Path, scratch: Path, name: str, shape: Shape
) -> tuple[BenchRepo, dict[str, float]]:
    """A fresh installation ``work/name`` holding one repository of ``shape``.

    The folder for ``commit_folder`` is generated in ``scratch`` and removed after the
    commit. Returns the seconds of each phase.
    """
    bench = new_repo(work / name, REPO)
    repo = bench.repo
    seconds: dict[str, float] = {}
    rng = random.Random(f"{SEED}-{name}")

    source = scratch / f"{name}-source"
    with Timer() as t:
        expected = make_source(source, shape, rng)
    seconds["generate"] = t.seconds
    with Timer() as t:
        first = repo.commit_folder(source, BRANCH, "Import the files", authored_at=T0)
    seconds["folder"] = t.seconds
    check(first.created, f"{name}: commit_folder made no commit")
    check(first.files_stored == expected, f"{name}: stored {first.files_stored} of {expected}")
    shutil.rmtree(source)

    stream = CsvStream(shape.csv_bytes, f"{SEED}-csv")
    with Timer() as t:
        csv_commit = repo.commit(
            BRANCH,
            [Put(CSV_PATH, stream)],  # type: ignore[arg-type]
            "Add the measurements",
            authored_at=T0 + 60,
        )
    seconds["csv"] = t.seconds
    check(csv_commit.created, f"{name}: the CSV commit made no commit")
    csv_entry = repo.stat(BRANCH, CSV_PATH)
    check(csv_entry.entry.id == stream.digest.hexdigest(), f"{name}: wrong CSV blob id")
    check(csv_entry.size == stream.produced, f"{name}: CSV stored with a wrong size")

    # Each history commit rewrites one small log file. The objects' fsyncs are deferred to
    # one sync at the end (as commit_folder does): the history is what is being built here.
    with Timer() as t, bench.storage.deferred_sync():
        for number in range(1, shape.commits - 1):
            result = repo.commit(
                BRANCH,
                [Put(f"log/part-{number % LOG_FILES}.txt", f"update {number}\n".encode())],
                history_title(number),
                author=f"Author {number % 7}",
                author_email=f"author{number % 7}@example.org",
                authored_at=T0 + 60 * (number + 1),
            )
            check(result.created, f"{name}: history commit {number} made no commit")
    bench.storage.sync()
    seconds["log"] = t.seconds
    check(repo.count_commits() == shape.commits, f"{name}: {repo.count_commits()} commits")
    wide = repo.list_tree(BRANCH, WIDE)
    check(len(wide) == shape.wide, f"{name}: {len(wide)} entries in {WIDE}/")
    return bench, seconds


def cursor_at(bench: BenchRepo, depth: int) -> str:
    """The history cursor ``depth`` commits below the head of ``main``, walked page by page."""
    cursor: str | None = None
    walked = 0
    while walked < depth:
        page = bench.repo.log(BRANCH, limit=min(1000, depth - walked), cursor=cursor)
        check(bool(page.commits) and page.next_cursor is not None, f"history ends at {walked}")
        walked += len(page.commits)
        cursor = page.next_cursor
    assert cursor is not None
    return cursor


# --- measuring pages -------------------------------------------------------------------------


@dataclass
class Page:
    """A page of one repository: its URL and the text it must contain."""

    name: str
    url: str
    markers: tuple[str, ...]


@dataclass
class Site:
    """A built repository served by its own app."""

    label: str
    shape: Shape
    bench: BenchRepo
    client: FlaskClient
    pages: dict[str, Page]


PAGE_NAMES = ("repository home", "folder page", "CSV file page", "history page")


def open_site(label: str, folder: Path, bench: BenchRepo, shape: Shape) -> Site:
    settings = Settings(
        database_url=f"sqlite:///{folder / 'meta.db'}",
        storage_path=folder,
        flask_secret_key="bench",
    )
    app = create_app(settings, db=bench.repo.db, storage=bench.storage)
    history_top = shape.commits - 2 - shape.depth  # the history commit at that depth
    pages = [
        Page(
            "repository home",
            f"/{REPO}",
            (
                README_TITLE,
                f"<strong>{shape.commits}</strong> commits",
                f'href="/{REPO}/tree/{BRANCH}/{WIDE}"',
            ),
        ),
        Page(
            "folder page",
            f"/{REPO}/tree/{BRANCH}/{WIDE}",
            (
                f"w{0:05d}.txt",
                f"w{min(shape.wide, TREE_PAGE) - 1:05d}.txt",
                "Next page" if shape.wide > TREE_PAGE else "</table>",
            ),
        ),
        Page(
            "CSV file page",
            f"/{REPO}/blob/{BRANCH}/{CSV_PATH}",
            (f"{CsvStream.COLUMNS} columns", "≈ ", "<th>reading</th>", "Download"),
        ),
        Page(
            "history page",
            f"/{REPO}/commits/{BRANCH}?cursor={cursor_at(bench, shape.depth)}",
            (
                history_title(history_top),
                history_title(history_top - 49) if history_top > 49 else "Import the files",
                "Older" if shape.commits - shape.depth > 50 else "Newest",
            ),
        ),
    ]
    return Site(label, shape, bench, app.test_client(), {p.name: p for p in pages})


def fetch(site: Site, page: Page) -> float:
    """One request, checked; returns its seconds."""
    with Timer() as t:
        response = site.client.get(page.url)
        body = response.get_data(as_text=True)
    check(
        response.status_code == 200,
        f"{site.label}: {page.name} {page.url[:80]} answered {response.status}",
    )
    for marker in page.markers:
        check(marker in body, f"{site.label}: {page.name} lacks {marker!r}")
    return t.seconds


@dataclass
class Timing:
    median_ms: float
    p90_ms: float

    def __str__(self) -> str:
        return f"{self.median_ms:.1f} ms (p90 {self.p90_ms:.1f})"


def summarize(samples: list[float]) -> Timing:
    ordered = sorted(samples)
    p90 = ordered[max(0, -(-len(ordered) * 9 // 10) - 1)]  # nearest rank
    return Timing(statistics.median(ordered) * 1000, p90 * 1000)


def measure(sites: list[Site]) -> dict[tuple[str, str], Timing]:
    """Every page of every site: warm-ups, then samples taken round-robin across sites."""
    results: dict[tuple[str, str], Timing] = {}
    for name in PAGE_NAMES:
        for site in sites:
            for _ in range(WARMUPS):
                fetch(site, site.pages[name])
        samples: dict[str, list[float]] = {site.label: [] for site in sites}
        gc.collect()
        for round_no in range(SAMPLES):
            for site in sites if round_no % 2 == 0 else reversed(sites):
                samples[site.label].append(fetch(site, site.pages[name]))
        for site in sites:
            results[(site.label, name)] = summarize(samples[site.label])
            log(f"{site.label}: {name}: {results[(site.label, name)]}")
    return results


def profile_pages(site: Site) -> None:
    """cProfile a few requests of every page and print the top hotspots to stderr."""
    for name in PAGE_NAMES:
        page = site.pages[name]
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(PROFILE_REQUESTS):
            fetch(site, page)
        profiler.disable()
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(20)
            log(f"profile of {site.label}: {name}, {PROFILE_REQUESTS} requests, by {order}:")
            print(out.getvalue(), file=sys.stderr)


# --- main ------------------------------------------------------------------------------------


def figures_for(
    tiny: Site, goal: Site, small: Site, large: Site, timings: dict[tuple[str, str], Timing]
) -> list[Figure]:
    """Goals at the issue's size, growth from ``small`` to ``large``, the rest as info."""
    figures = []
    for name in PAGE_NAMES:
        ours, baseline = timings[(goal.label, name)], timings[(tiny.label, name)]
        figures.append(
            Figure(
                f"{name}, {goal.shape.label}",
                str(ours),
                f"tiny repo {baseline.median_ms:.1f} ms",
                f"{ours.median_ms / baseline.median_ms:.2f}",
                f"median < {GOAL_MS:.0f} ms",
                ours.median_ms < GOAL_MS,
            )
        )
    for name in PAGE_NAMES:
        before, after = timings[(small.label, name)], timings[(large.label, name)]
        growth = after.median_ms / before.median_ms
        figures.append(
            Figure(
                f"  growth x2: {name}",
                f"{after.median_ms:.1f} ms at {large.shape.files:,}",
                f"{before.median_ms:.1f} ms at {small.shape.files:,}",
                f"{growth:.2f}",
                f"ratio <= {GOAL_GROWTH:.1f}",
                growth <= GOAL_GROWTH,
            )
        )
    other = small if goal is large else large
    for name in PAGE_NAMES:
        figures.append(
            Figure(
                f"  (info) {name}, {other.shape.label}",
                str(timings[(other.label, name)]),
                "-",
                "-",
                "-",
                None,
            )
        )
    return figures


def describe(shape: Shape) -> str:
    return (
        f"{shape.files:,} files ({shape.wide:,} in {WIDE}/), {shape.commits:,} commits, "
        f"history page {shape.depth:,} deep, CSV {shape.csv_bytes / MiB:,.0f} MiB"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes: a smoke test")
    parser.add_argument(
        "--halve",
        action="store_true",
        help="check growth from half the goals' size to it, instead of from it to twice it "
        "(a full run of about 3.5 minutes instead of 6)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="folder to work in (a temporary folder is made inside it); default bench/.work/",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after measuring, cProfile each page at the goals' size and print hotspots",
    )
    return parser.parse_args(argv)


def scratch_folder(work: Path) -> Path:
    """Where to generate the folders to import: tmpfs when there is one.

    Only the repositories belong on the disk under test; generating 100,000 source files
    there costs more than importing them (the import's one ``syncfs`` flushes them too).
    """
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="dataworkflow-web-bench-", dir=shm))
    return work


def run(work: Path, scratch: Path, target: Shape, double_up: bool, profile: bool) -> list[Figure]:
    small, large = (target, target.doubled()) if double_up else (target.halved(), target)
    sites: list[Site] = []
    build_figures: list[Figure] = []
    for label, shape in (("tiny", TINY), ("small", small), ("large", large)):
        log(f"building {label}: {describe(shape)}")
        bench, seconds = build_repository(work, scratch, label, shape)
        total = sum(seconds.values())
        phases = ", ".join(f"{phase} {s:.0f}" for phase, s in seconds.items()) + " s"
        log(
            f"built {label} in {total:.1f} s: "
            + ", ".join(f"{p} {s:.1f} s" for p, s in seconds.items())
        )
        with Timer() as t:
            sites.append(open_site(label, work / label, bench, shape))
        log(f"history cursor {shape.depth:,} deep found in {t.seconds:.1f} s")
        if label != "tiny":
            build_figures.append(
                Figure(f"  (info) build, {shape.label}", f"{total:.0f} s", phases, "-", "-", None)
            )
    tiny, small_site, large_site = sites
    goal = small_site if double_up else large_site
    log(f"measuring: {WARMUPS} warm-ups, then {SAMPLES} requests per page and repository")
    timings = measure(sites)
    if profile:
        profile_pages(goal)
    return figures_for(tiny, goal, small_site, large_site, timings) + build_figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    target = QUICK if args.quick else FULL
    parent = args.workdir or BENCH_DIR / ".work"
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="web-", dir=parent))
    scratch = scratch_folder(work)
    log(f"{'quick' if args.quick else 'full'} run in {work}; seed {SEED}, {os.cpu_count()} CPUs")
    try:
        with Timer() as elapsed:
            figures = run(work, scratch, target, not args.halve, args.profile)
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

    print(f"goals at: {describe(target)}")
    if args.halve:
        print(f"growth: from half of that (--halve): {describe(target.halved())}")
    else:
        print(f"growth: to twice that: {describe(target.doubled())}")
    print(f"baseline: a tiny repository of the same shape: {describe(TINY)}")
    print_table(figures)
    print_summary(figures, quick=args.quick, minutes=elapsed.seconds / 60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
