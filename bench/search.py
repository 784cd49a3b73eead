"""Search benchmark: content search latency on 10,000 indexed text files (issue 8).

Figures:
  1. content search (``search_content``, 20 results with their lines) over 50 queries:
     common words, rarer words, rare planted words, two-word queries and word prefixes;
     median latency against scanning every file at query time (what the index avoids);
     goal: median under 100 ms;
  2. the 95th percentile of the same latencies (information);
  3. building the index: ``catch_up`` after one ``commit_folder`` of the files, files/s
     (information, beside the commit's own time);
  4. keeping it up: ``catch_up`` after a commit that changes one file (information).

Run ``.venv/bin/python bench/search.py [--quick] [--workdir DIR] [--keep]``.
Exit status: 0 whether or not the goal is met, 1 if something is functionally wrong.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from _common import BenchError, Figure, Timer, check, new_repo, print_summary, print_table

from dataworkflow import Put
from dataworkflow.services.search import catch_up, search_content

BENCH_DIR = Path(__file__).resolve().parent
SEED = 20240601
FILES_PER_FOLDER = 100
VOCABULARY = 20_000
PLANTED = 10
GOAL_MS = 100.0
BASELINE_QUERIES = 3


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def scratch_folder(work: Path) -> Path:
    """Where to generate the files: tmpfs when there is one (as in the other benchmarks)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="dataworkflow-search-bench-", dir=shm))
    return work


def make_vocabulary(rng: random.Random) -> list[str]:
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    words: dict[str, None] = {}
    while len(words) < VOCABULARY:
        words["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))] = None
    return list(words)


def make_files(folder: Path, count: int, vocabulary: list[str], rng: random.Random) -> dict:
    """``count`` text files of 20-60 lines of Zipf-distributed words; some planted words."""
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(vocabulary))))
    planted = {f"needle{k:03d}": (k * count) // PLANTED for k in range(PLANTED)}
    by_file = {index: word for word, index in planted.items()}
    paths = []
    for i in range(count):
        relpath = f"docs/g{i // FILES_PER_FOLDER:03d}/f{i:05d}.{('txt', 'md', 'csv')[i % 3]}"
        lines = []
        for _ in range(rng.randint(20, 60)):
            lines.append(
                " ".join(rng.choices(vocabulary, cum_weights=cumulative, k=rng.randint(6, 12)))
            )
        if i in by_file:
            lines.insert(rng.randrange(len(lines)), f"the {by_file[i]} is here")
        path = folder / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(relpath)
    return {word: paths[index] for word, index in planted.items()}


def make_queries(vocabulary: list[str], planted: dict[str, str], rng: random.Random) -> list:
    common = vocabulary[:15]
    middle = vocabulary[200:210]
    rare = list(planted)
    pairs = [f"{rng.choice(vocabulary[:50])} {rng.choice(vocabulary[100:400])}" for _ in range(10)]
    prefixes = [word[:4] for word in vocabulary[50:55]]
    return common + middle + rare + pairs + prefixes


def scan_everything(repo, query: str) -> int:
    """The baseline: read every file at query time and look for the words in it."""
    terms = [t.lower() for t in re.findall(r"[^\W_]+", query)]
    found = 0
    for item in repo.walk("main"):
        if item.entry.kind != "blob":
            continue
        with repo.read_blob(item.entry.id) as stream:
            text = stream.read().decode("utf-8").lower()
        if all(term in text for term in terms):
            found += 1
    return found


def bench(work: Path, scratch: Path, files: int) -> list[Figure]:
    rng = random.Random(SEED)
    vocabulary = make_vocabulary(rng)
    log(f"generating {files:,} text files")
    folder = scratch / "files"
    planted = make_files(folder, files, vocabulary, rng)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    bench_repo = new_repo(work / "repo")
    repo, db, storage = bench_repo.repo, bench_repo.repo.db, bench_repo.storage

    log("committing them")
    with Timer() as committing:
        result = repo.commit_folder(folder, "main", "text files")
    check(result.created, "commit_folder made no commit")
    log("indexing them (catch_up)")
    with Timer() as indexing:
        changed = catch_up(db, storage)
    check(changed == 1, f"catch_up indexed {changed} branches, expected 1")
    check(catch_up(db, storage) == 0, "a second catch_up found work to do")

    queries = make_queries(vocabulary, planted, rng)
    check(len(queries) == 50, f"{len(queries)} queries")
    for word, path in planted.items():
        hits = search_content(db, word, repository_ids=None).items
        check([h.path for h in hits] == [path], f"{word}: {[h.path for h in hits]}")
        check(any(line.match and word in line.text for line in hits[0].lines), f"{word}: lines")
    for query in queries:  # warm the caches once, as a running server's would be
        search_content(db, query, repository_ids=None)
    latencies = []
    for query in queries:
        with Timer() as t:
            page = search_content(db, query, repository_ids=None)
        check(bool(page.items), f"no results for {query!r}")
        latencies.append(t.seconds * 1000)
    median = statistics.median(latencies)
    p95 = statistics.quantiles(latencies, n=20)[18]

    log(f"baseline: scanning every file for {BASELINE_QUERIES} queries")
    baseline = []
    for query in queries[:BASELINE_QUERIES]:
        with Timer() as t:
            check(scan_everything(repo, query) > 0, f"the scan found nothing for {query!r}")
        baseline.append(t.seconds * 1000)
    base = statistics.median(baseline)

    log("one changed file, then catch_up")
    changed_path = planted["needle000"]
    repo.commit("main", [Put(changed_path, b"the haystack moved on\n")], "one change")
    with Timer() as incremental:
        check(catch_up(db, storage) == 1, "catch_up missed the one-file change")
    check(not search_content(db, "needle000", repository_ids=None).items, "old text found")
    check(len(search_content(db, "haystack", repository_ids=None).items) == 1, "new text lost")

    return [
        Figure(
            f"content search, median of {len(queries)} queries",
            f"{median:.1f} ms",
            f"{base:,.0f} ms (scan {files:,} files)",
            f"{base / median:,.0f}x faster",
            f"median < {GOAL_MS:.0f} ms",
            median < GOAL_MS,
        ),
        Figure("content search, p95", f"{p95:.1f} ms", "", "", "", None),
        Figure(
            f"index {files:,} files ({size / 1024 / 1024:.0f} MiB)",
            f"{files / indexing.seconds:,.0f} files/s",
            f"{committing.seconds:.1f} s (commit_folder)",
            f"{indexing.seconds / committing.seconds:.2f}",
            "",
            None,
        ),
        Figure(
            "catch_up after a one-file commit",
            f"{incremental.seconds * 1000:.0f} ms",
            f"{indexing.seconds * 1000:,.0f} ms (full index)",
            f"{incremental.seconds / indexing.seconds:.3f}",
            "",
            None,
        ),
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 files, for a smoke test")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="folder to work in (a temporary folder is made inside it); default bench/.work/",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    files = 1_000 if args.quick else 10_000
    parent = args.workdir or BENCH_DIR / ".work"
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="search-", dir=parent))
    scratch = scratch_folder(work)
    log(f"{'quick' if args.quick else 'full'} run in {work}; seed {SEED}, SQLite")
    try:
        with Timer() as elapsed:
            figures = bench(work, scratch, files)
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
        f"content search: {files:,} generated text files of 20-60 lines, SQLite + filesystem;"
        " 20 results per query, each with its matching lines"
    )
    print_table(figures)
    print_summary(figures, quick=args.quick, minutes=elapsed.seconds / 60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
