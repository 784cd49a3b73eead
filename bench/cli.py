"""CLI benchmark: `dw import` and `dw export` against git and DVC, in the same run.

Figures (issue 3, "How fast"; see bench/README.md):
  1. first import of 20,000 files of 1-8 KiB vs ``git add -A && git commit`` and ``dvc add``;
  2. re-import after changing 1% of them vs git and DVC doing the same, and vs figure 1;
  3. import of 8 x 64 MiB vs "SHA-256 in 1 MiB chunks, copy, fsync" and ``dvc add``;
  4. ``dw export`` of the 20,000-file tree vs ``git checkout`` into an empty work tree.

Every ``dw``, ``git`` and ``dvc`` command runs as a subprocess, as a user would run it.
DVC is installed from PyPI into ``bench/.venv-dvc`` on first use (never into .venv).

Run ``.venv/bin/python bench/cli.py [--quick] [--workdir DIR] [--keep] [--profile]``.
Exit status: 0 whether or not the goals are met, 1 if something is functionally wrong.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import pstats
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _common import BenchError, Figure, MiB, check, print_summary, print_table
from ingest import SEED, Sizes, hash_and_copy, make_large_files, make_small_tree, read_through

BENCH_DIR = Path(__file__).resolve().parent
DW = Path(sys.executable).with_name("dw")
DVC_VENV = BENCH_DIR / ".venv-dvc"
DVC_REQUIREMENT = "dvc>=3,<4"
DVC_INSTALL_TIMEOUT = 1800
REPO = "bench"
ROUNDS = 2
GIT_CONFIG = ("-c", "gc.auto=0", "-c", "user.name=bench", "-c", "user.email=bench@localhost")
GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@localhost",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@localhost",
}


@dataclass(frozen=True)
class CliSizes:
    small_files: int
    touched: int
    large_files: int
    large_file_bytes: int


FULL = CliSizes(small_files=20_000, touched=200, large_files=8, large_file_bytes=64 * MiB)
QUICK = CliSizes(small_files=2_000, touched=20, large_files=8, large_file_bytes=8 * MiB)


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def first_line(text: str, limit: int = 200) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[-1] if lines else "no output"
    return line if len(line) <= limit else line[: limit - 3] + "..."


def run(
    argv: Sequence[str | Path],
    *,
    cwd: Path,
    env: dict[str, str],
    what: str,
    timed: bool = False,
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run a command; raise BenchError if it fails. Timed sections start after os.sync()."""
    if timed:
        os.sync()  # start without another phase's dirty pages to flush
    start = time.perf_counter()
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise BenchError(
            f"{what} failed with status {done.returncode}: {first_line(done.stderr + done.stdout)}"
        )
    return done, seconds


# --- the three contenders ---------------------------------------------------------------


class Installation:
    """A fresh dw installation: its own SQLite file, storage folder and stat cache folder.

    Its ``dw`` commands share the run's agent folder (see :func:`agent_folder`); the
    untimed ``dw repo create`` starts the agent, and the timed commands run once it
    answers, as every ``dw`` command after a user's first one does.
    """

    def __init__(self, folder: Path, profile_dir: Path | None = None) -> None:
        self.folder = folder
        self.profile_dir = profile_dir
        folder.mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "AWS_", "DW_"))}
        env.update(
            DATABASE_URL=f"sqlite:///{folder / 'meta.db'}",
            STORAGE_PATH=str(folder / "storage"),
            DW_CACHE_DIR=str(folder / "cache"),
            DW_AUTHOR_NAME="bench",
            DW_AUTHOR_EMAIL="bench@localhost",
            DW_RUNTIME_DIR=str(agent_folder()),
        )
        self.env = env
        # Migrates the new SQLite file, so that no timed command pays for it.
        self.dw("repo", "create", REPO)
        wait_for_agent()

    def dw(self, *args: str | Path, timed: bool = False, label: str = "") -> tuple[str, float]:
        """Run ``dw ARGS``; under --profile (and a label) in cProfile, printing its hotspots."""
        argv: list[str | Path] = [DW, *args]
        prof = None
        env = self.env
        if self.profile_dir is not None and label:
            prof = self.profile_dir / f"{label}.prof"
            argv = [sys.executable, "-m", "cProfile", "-o", prof, *argv]
            env = {**env, "DW_AGENT": "off"}  # profile this process, not a thin client
        done, seconds = run(
            argv,
            cwd=self.folder,
            env=env,
            what=f"dw {' '.join(map(str, args[:1]))}",
            timed=timed,
        )
        if prof is not None:
            print_profile(label, seconds, prof)
        return done.stdout, seconds

    def dw_json(
        self, *args: str | Path, timed: bool = False, label: str = ""
    ) -> tuple[object, float]:
        out, seconds = self.dw(*args, "--json", timed=timed, label=label)
        return json.loads(out), seconds


_AGENT_FOLDER: list[Path] = []


def agent_folder() -> Path:
    """The run's ``DW_RUNTIME_DIR``: removed with the work folder, so its agents leave."""
    if not _AGENT_FOLDER:
        _AGENT_FOLDER.append(Path(tempfile.mkdtemp(prefix="dw-bench-agents-")))
    return _AGENT_FOLDER[0]


def wait_for_agent(seconds: float = 60.0) -> None:
    """Wait until an agent answers in :func:`agent_folder` (BenchError if none does)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for path in agent_folder().glob("agent-*.sock"):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(path))
                return
            except OSError:
                pass
            finally:
                probe.close()
        time.sleep(0.05)
    raise BenchError(f"no dw agent answered in {agent_folder()} within {seconds:.0f} s")


def print_profile(label: str, seconds: float, prof: Path) -> None:
    out = io.StringIO()
    stats = pstats.Stats(str(prof), stream=out)
    stats.sort_stats("tottime").print_stats(15)
    stats.sort_stats("cumulative").print_stats(25)
    log(f"profile of {label} ({seconds:.2f} s, inflated by profiling), {prof}:")
    print(out.getvalue(), file=sys.stderr)


def git(folder: Path, *args: str, timed: bool = False, env: dict[str, str] | None = None) -> float:
    _, seconds = run(
        ["git", *GIT_CONFIG, *args],
        cwd=folder,
        env={**os.environ, **GIT_ENV, **(env or {})},
        what=f"git {args[0]}",
        timed=timed,
    )
    return seconds


def git_add_commit(folder: Path, message: str) -> float:
    """Seconds for ``git add -A && git commit`` (timed from one os.sync())."""
    return git(folder, "add", "-A", timed=True) + git(folder, "commit", "-q", "-m", message)


@dataclass
class Dvc:
    """DVC in its own virtual environment, or why it is unavailable."""

    exe: Path | None = None
    version: str = ""
    note: str = ""
    reason: str = ""
    site_cache: Path | None = None

    @property
    def available(self) -> bool:
        return self.exe is not None and not self.reason

    def fail(self, reason: str) -> None:
        """DVC is not our product: a failure of it marks its figures unavailable."""
        if not self.reason:
            self.reason = reason
            log(f"DVC unavailable from here on: {reason}")

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(self.site_cache)}

    def init(self, project: Path) -> bool:
        """``dvc init --no-scm`` in ``project`` (untimed); False if DVC failed."""
        try:
            self.cmd(project, "init", "--no-scm", "-q")
            self.cmd(project, "config", "core.analytics", "false")
            self.cmd(project, "config", "core.check_update", "false")
        except BenchError as exc:
            self.fail(str(exc))
            return False
        return True

    def add(self, project: Path, target: str) -> float | None:
        """Seconds for ``dvc add TARGET`` (timed from one os.sync()), None if it failed."""
        if not self.available:
            return None
        try:
            return self.cmd(project, "add", "-q", target, timed=True)
        except BenchError as exc:
            self.fail(str(exc))
            return None

    def cmd(self, project: Path, *args: str, timed: bool = False) -> float:
        assert self.exe is not None
        _, seconds = run(
            [self.exe, *args], cwd=project, env=self.env, what=f"dvc {args[0]}", timed=timed
        )
        return seconds


def setup_dvc(work: Path) -> Dvc:
    """Reuse bench/.venv-dvc, or make it with ``python3 -m venv`` and pip-install DVC."""
    dvc = Dvc(site_cache=work / "dvc-site-cache")
    exe = DVC_VENV / "bin" / "dvc"

    def version() -> str | None:
        try:
            done = subprocess.run(
                [exe, "--version"], capture_output=True, text=True, env=dvc.env, timeout=120
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    found = version() if exe.exists() else None
    if found:
        dvc.exe, dvc.version, dvc.note = exe, found, f"reused {DVC_VENV.name}"
        return dvc
    python = shutil.which("python3") or sys.executable
    log(f"installing '{DVC_REQUIREMENT}' into {DVC_VENV} (first use) ...")
    start = time.perf_counter()
    try:
        for argv in (
            [python, "-m", "venv", "--clear", str(DVC_VENV)],
            [str(DVC_VENV / "bin" / "python"), "-m", "pip", "install", "-q", DVC_REQUIREMENT],
        ):
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=DVC_INSTALL_TIMEOUT, check=False
            )
            if done.returncode != 0:
                dvc.reason = f"{' '.join(argv[-3:])}: {first_line(done.stderr + done.stdout)}"
                break
    except (OSError, subprocess.TimeoutExpired) as exc:
        dvc.reason = f"install failed: {exc}"
    seconds = time.perf_counter() - start
    if not dvc.reason:
        found = version()
        if found:
            dvc.exe, dvc.version = exe, found
        else:
            dvc.reason = "dvc --version failed after the install"
    dvc.note = (
        f"installed in {seconds:.0f} s" if not dvc.reason else f"install failed ({seconds:.0f} s)"
    )
    log(f"DVC {dvc.note}: {dvc.version or dvc.reason}")
    return dvc


# --- data ---------------------------------------------------------------------------------


def backdate(folder: Path, seconds: float) -> None:
    """Set the mtime (and atime) of every file and folder to now - ``seconds``."""
    when = time.time_ns() - int(seconds * 1e9)
    for dirpath, _, files in os.walk(folder):
        for name in files:
            os.utime(os.path.join(dirpath, name), ns=(when, when))
    for dirpath, _, _ in os.walk(folder, topdown=False):
        os.utime(dirpath, ns=(when, when))


def relpaths(folder: Path) -> list[str]:
    out = []
    for dirpath, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in (".git", ".dvc")]
        for name in files:
            out.append(os.path.relpath(os.path.join(dirpath, name), folder))
    return sorted(out)


def tree_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file below ``folder`` (``.git`` and ``.dvc`` left out)."""
    return {
        rel: hashlib.sha256((folder / rel).read_bytes()).hexdigest() for rel in relpaths(folder)
    }


def plan_touch(source: Path, count: int) -> list[tuple[str, bytes]]:
    """``count`` files picked by the seed, each with new content of a new random size."""
    rng = random.Random(f"{SEED}-touch")
    picked = rng.sample(relpaths(source), count)
    return [(rel, rng.randbytes(rng.randint(1024, 8192))) for rel in sorted(picked)]


def apply_touch(folder: Path, plan: list[tuple[str, bytes]]) -> None:
    """Rewrite the planned files (as new files: DVC may have linked them to its cache).

    Their mtime is then set to now - 5 s: a real edit is not within the stat cache's 2 s
    "racy" window of the next import, and neither should the benchmark's be.
    """
    for rel, data in plan:
        path = folder / rel
        path.unlink()
        path.write_bytes(data)
    when = time.time_ns() - 5_000_000_000
    for rel, _ in plan:
        os.utime(folder / rel, ns=(when, when))


# --- figures 1, 2 and 4: the 20,000 small files ------------------------------------------


@dataclass
class SmallTimes:
    first: dict[str, list[float]] = field(default_factory=dict)
    again: dict[str, list[float]] = field(default_factory=dict)
    export: dict[str, list[float]] = field(default_factory=dict)

    def add(self, kind: str, who: str, seconds: float | None) -> None:
        if seconds is not None:
            getattr(self, kind).setdefault(who, []).append(seconds)

    def best(self, kind: str, who: str) -> float | None:
        values = getattr(self, kind).get(who)
        return min(values) if values else None


def bench_small(
    work: Path, sizes: CliSizes, dvc: Dvc, profile: bool
) -> tuple[SmallTimes, tuple[float, float]]:
    n = sizes.small_files
    source = work / "small"
    log(f"small files: generating {n:,} files of 1-8 KiB (seed {SEED})")
    make_small_tree(source, n, random.Random(f"{SEED}-small"))
    backdate(source, 10)  # older than the stat cache's racy window, as real data is
    plan = plan_touch(source, sizes.touched)
    expected_paths = {rel for rel, _ in plan}
    times = SmallTimes()
    startup: list[float] = []
    cold: list[float] = []

    for round_no in range(ROUNDS):
        tools = ["git", "dvc", "ours"]
        order = tools if round_no % 2 == 0 else tools[::-1]
        root = work / f"small-round-{round_no}"
        root.mkdir()
        prof_dir = root / "profiles" if profile and round_no == 0 else None
        if prof_dir:
            prof_dir.mkdir()
        inst: Installation | None = None
        dvc_ok = False

        # 1. first import
        for who in order:
            log(f"small files: round {round_no + 1}, first import, {who}")
            if who == "git":
                shutil.copytree(source, root / "git")
                git(root / "git", "init", "-q")
                times.add("first", who, git_add_commit(root / "git", "first"))
            elif who == "dvc":
                if not dvc.available:
                    continue
                project = root / "dvc"
                project.mkdir()
                shutil.copytree(source, project / "data")
                dvc_ok = dvc.init(project)
                times.add("first", who, dvc.add(project, "data") if dvc_ok else None)
            else:
                shutil.copytree(source, root / "ours-data")
                inst = Installation(root / "ours", prof_dir)
                report, seconds = inst.dw_json(
                    "import",
                    root / "ours-data",
                    REPO,
                    "-m",
                    "first",
                    timed=True,
                    label="first-import" if prof_dir else "",
                )
                times.add("first", who, seconds)
                check(isinstance(report, dict) and report["created"], "first import: no commit")
                assert isinstance(report, dict)
                check(report["files"] == n, f"first import found {report['files']} of {n} files")
                check(report["files_stored"] == n, f"first import stored {report['files_stored']}")
        assert inst is not None

        # 2. re-import after touching 1% of the files
        for who in order:
            log(f"small files: round {round_no + 1}, re-import of {sizes.touched} changes, {who}")
            if who == "git":
                apply_touch(root / "git", plan)
                times.add("again", who, git_add_commit(root / "git", "again"))
                done, _ = run(
                    ["git", "diff", "--name-only", "HEAD~1", "HEAD"],
                    cwd=root / "git",
                    env={**os.environ, **GIT_ENV},
                    what="git diff",
                )
                check(set(done.stdout.split()) == expected_paths, "git committed other paths")
            elif who == "dvc":
                if dvc_ok and dvc.available:
                    apply_touch(root / "dvc" / "data", plan)
                    times.add("again", who, dvc.add(root / "dvc", "data"))
            else:
                apply_touch(root / "ours-data", plan)
                report, seconds = inst.dw_json(
                    "import",
                    root / "ours-data",
                    REPO,
                    "-m",
                    "again",
                    timed=True,
                    label="re-import" if prof_dir else "",
                )
                times.add("again", who, seconds)
                assert isinstance(report, dict)
                check(report["created"], "re-import after changes made no commit")
                stored = report["files_stored"]
                check(stored == sizes.touched, f"re-import stored {stored} files")
                changes, _ = inst.dw_json("diff", REPO, "main~1", "main", "--name-status")
                assert isinstance(changes, list)
                check(
                    len(changes) == sizes.touched,
                    f"the re-import changed {len(changes)} paths, not {sizes.touched}",
                )
                check(
                    {c["path"] for c in changes} == expected_paths
                    and all(c["status"] == "M" for c in changes),
                    "the re-import changed other paths than the touched ones",
                )

        # 4. export of the tree into an empty folder
        for who in order:
            if who == "dvc":
                continue
            log(f"small files: round {round_no + 1}, export, {who}")
            dest = root / f"export-{who}"
            if who == "git":
                dest.mkdir()
                seconds = git(
                    root / "git",
                    "--work-tree",
                    str(dest),
                    "checkout",
                    "HEAD",
                    "--",
                    ".",
                    timed=True,
                    env={"GIT_INDEX_FILE": str(root / "git-export-index")},
                )
                expected = root / "git"
            else:
                _, seconds = inst.dw(
                    "export",
                    REPO,
                    "main",
                    dest,
                    timed=True,
                    label="export" if prof_dir else "",
                )
                expected = root / "ours-data"
            times.add("export", who, seconds)
            got = tree_digests(dest)
            check(len(got) == n, f"{who} exported {len(got)} of {n} files")
            check(got == tree_digests(expected), f"{who}'s export differs from its source")

        # (info) start-up cost of one dw command, with the agent and without
        for _ in range(3):
            startup.append(inst.dw("repo", "list", timed=True)[1])
            cold_env = {**inst.env, "DW_AGENT": "off"}
            cold.append(
                run([DW, "repo", "list"], cwd=inst.folder, env=cold_env, what="dw", timed=True)[1]
            )

    # Nothing is deleted until the whole run is over (main() removes the work folder):
    # deleting a round's ~200,000 files kept this disk busy (discards) well into what
    # came next, and whoever ran first then paid for it.
    return times, (min(startup), min(cold))


# --- figure 3: large files ------------------------------------------------------------------


def bench_large(
    work: Path, sizes: CliSizes, dvc: Dvc, profile: bool
) -> tuple[dict[str, float], int]:
    total = sizes.large_files * sizes.large_file_bytes
    mib = sizes.large_file_bytes // MiB
    log(f"large files: generating {sizes.large_files} x {mib} MiB (seed {SEED})")
    source = work / "large"
    paths = make_large_files(
        source,
        Sizes(sizes.large_files, sizes.large_file_bytes, 0, 0),
        random.Random(f"{SEED}-large"),
    )
    backdate(source, 10)
    read_through(paths)
    times: dict[str, list[float]] = {}
    digests: set[str] = set()

    for round_no in range(ROUNDS):
        tools = ["baseline", "dvc", "ours"]
        for who in tools if round_no % 2 == 0 else tools[::-1]:
            log(f"large files: round {round_no + 1}, {who}")
            root = work / f"large-{who}-{round_no}"
            if who == "baseline":
                os.sync()
                start = time.perf_counter()
                digests = hash_and_copy(paths, root)
                times.setdefault(who, []).append(time.perf_counter() - start)
            elif who == "dvc":
                if not dvc.available:
                    continue
                root.mkdir()
                shutil.copytree(source, root / "large")
                read_through(list((root / "large").iterdir()))
                if dvc.init(root):
                    seconds = dvc.add(root, "large")
                    if seconds is not None:
                        times.setdefault(who, []).append(seconds)
            else:
                prof_dir = None
                if profile and round_no == 0:
                    prof_dir = work / "large-profiles"
                    prof_dir.mkdir()
                inst = Installation(root, prof_dir)
                report, seconds = inst.dw_json(
                    "import",
                    source,
                    REPO,
                    "-m",
                    "large",
                    timed=True,
                    label="large-import" if prof_dir else "",
                )
                times.setdefault(who, []).append(seconds)
                assert isinstance(report, dict)
                check(report["files_stored"] == len(paths), "large import: wrong file count")
                check(report["bytes_stored"] == total, "large import: wrong byte count")
                listed, _ = inst.dw_json("ls", REPO, "main")
                assert isinstance(listed, list)
                ids = {e["id"] for e in listed}
                check(len(ids) == len(paths), f"ls lists {len(ids)} files")
                check(not digests or ids == digests, "blob ids differ from the SHA-256 digests")
    # Left for main() to delete, as the small files' rounds are.
    return {who: min(values) for who, values in times.items()}, total


# --- the table --------------------------------------------------------------------------------


def unavailable(name: str, goal: str, dvc: Dvc) -> Figure:
    return Figure(name, "-", f"dvc unavailable: {first_line(dvc.reason, 60)}", "-", goal, None)


def figures(
    sizes: CliSizes,
    small: SmallTimes,
    startup: tuple[float, float],
    large: dict[str, float],
    total: int,
    dvc: Dvc,
) -> list[Figure]:
    n, k = sizes.small_files, sizes.touched
    rows: list[Figure] = []

    first = small.best("first", "ours")
    git_first = small.best("first", "git")
    dvc_first = small.best("first", "dvc")
    assert first is not None and git_first is not None
    name = f"first import, {n:,} x 1-8 KiB"
    measured = f"{first:.2f} s ({n / first:,.0f} files/s)"
    rows.append(
        Figure(
            name,
            measured,
            f"git add+commit {git_first:.2f} s",
            f"{git_first / first:.2f}",
            "git/ours >= 2",
            git_first / first >= 2,
        )
    )
    name = "  first import vs DVC"
    if dvc_first is None:
        rows.append(unavailable(name, "dvc/ours >= 5", dvc))
    else:
        rows.append(
            Figure(
                name,
                f"{first:.2f} s",
                f"dvc add {dvc_first:.2f} s",
                f"{dvc_first / first:.2f}",
                "dvc/ours >= 5",
                dvc_first / first >= 5,
            )
        )

    again = small.best("again", "ours")
    git_again = small.best("again", "git")
    dvc_again = small.best("again", "dvc")
    assert again is not None and git_again is not None
    rows.append(
        Figure(
            f"re-import, {k:,} files changed ({k / n:.0%})",
            f"{again:.2f} s, {k} paths M",
            f"git add+commit {git_again:.2f} s",
            f"{again / git_again:.2f}",
            "ours/git <= 2",
            again / git_again <= 2,
        )
    )
    rows.append(
        Figure(
            "  re-import vs our first import",
            f"{again:.2f} s",
            f"first import {first:.2f} s",
            f"{first / again:.1f}x",
            ">= 10x faster",
            first / again >= 10,
        )
    )
    name = "  (info) re-import vs DVC"
    if dvc_again is None:
        rows.append(unavailable(name, "-", dvc))
    else:
        rows.append(
            Figure(
                name,
                f"{again:.2f} s",
                f"dvc add {dvc_again:.2f} s",
                f"{dvc_again / again:.2f}",
                "-",
                None,
            )
        )
    warm, cold = startup
    rows.append(
        Figure(
            "  (info) dw start-up",
            f"{warm:.2f} s",
            "`dw repo list`, best of 6",
            "-",
            "-",
            None,
        )
    )
    rows.append(
        Figure(
            "  (info) ... with DW_AGENT=off",
            f"{cold:.2f} s",
            "the same, no agent",
            "-",
            "-",
            None,
        )
    )

    mib = sizes.large_file_bytes // MiB
    ours, base = total / MiB / large["ours"], total / MiB / large["baseline"]
    rows.append(
        Figure(
            f"import {sizes.large_files} x {mib} MiB",
            f"{ours:,.0f} MiB/s ({large['ours']:.2f} s)",
            f"{base:,.0f} MiB/s (sha256+copy+fsync)",
            f"{ours / base:.2f}",
            "ratio >= 0.70",
            ours / base >= 0.7,
        )
    )
    name = "  large import vs DVC"
    if "dvc" not in large:
        rows.append(unavailable(name, "dvc/ours >= 2", dvc))
    else:
        ratio = large["dvc"] / large["ours"]
        rows.append(
            Figure(
                name,
                f"{large['ours']:.2f} s",
                f"dvc add {large['dvc']:.2f} s",
                f"{ratio:.2f}",
                "dvc/ours >= 2",
                ratio >= 2,
            )
        )

    export = small.best("export", "ours")
    git_export = small.best("export", "git")
    assert export is not None and git_export is not None
    rows.append(
        Figure(
            f"export, {n:,} files",
            f"{export:.2f} s ({n / export:,.0f} files/s)",
            f"git checkout {git_export:.2f} s",
            f"{git_export / export:.2f}",
            "git/ours >= 1",
            git_export / export >= 1,
        )
    )
    return rows


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
        help="run our first-round commands under cProfile (inflates their times)",
    )
    return parser.parse_args(argv)


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    parent = (args.workdir or BENCH_DIR / ".work").resolve()
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cli-", dir=parent))
    load_start = loadavg()
    log(f"{'quick' if args.quick else 'full'} run in {work}; load average {load_start}")
    check_tools = subprocess.run(["git", "--version"], capture_output=True, text=True)
    git_version = check_tools.stdout.strip() or "git: not found"
    try:
        check(DW.exists(), f"{DW} not found: run `make setup`")
        check(check_tools.returncode == 0, "git is not installed")
        dvc = setup_dvc(work)
        small, startup = bench_small(work, sizes, dvc, args.profile)
        large, total = bench_large(work, sizes, dvc, args.profile)
        rows = figures(sizes, small, startup, large, total, dvc)
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
        for folder in _AGENT_FOLDER:
            shutil.rmtree(folder, ignore_errors=True)  # its agents leave within a second

    dvc_line = f"{dvc.version} ({dvc.note})" if dvc.available else f"unavailable: {dvc.reason}"
    print(
        f"# dw CLI benchmark, {'quick' if args.quick else 'full'} run; seed {SEED};"
        f" {os.cpu_count()} CPUs; Python {platform.python_version()}"
    )
    print(f"# load average (1, 5, 15 min): {load_start} at start, {loadavg()} at end")
    print(f"# {git_version}; dvc {dvc_line}")
    print(f"# best of {ROUNDS} rounds in alternating order; each timed command after os.sync()")
    print_table(rows)
    print_summary(
        rows,
        quick=args.quick,
        notes=() if dvc.available else ("DVC figures unavailable",),
        separator="; ",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
