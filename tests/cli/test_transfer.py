"""`dw import` and `dw export`: round trips, no-op re-imports, the stat cache, .dwignore."""

from __future__ import annotations

import hashlib
import json
import os
from io import StringIO

import pytest

from tests.cli.conftest import (
    AUTHOR,
    OLD_MTIME_NS,
    Dw,
    base_env,
    deny_mkdir_below,
    deny_open,
    generated_files,
    snapshot,
    write_tree,
)

# --- every database x every storage -------------------------------------------------------


def test_import_export_round_trip(dw_any, tmp_path):
    folder = write_tree(tmp_path / "src", generated_files(), executable={"bin/run.sh"})
    dw_any.ok("repo", "create", "data")
    result = dw_any.ok("import", str(folder), "data", "-m", "first import")
    commit_id = result.stdout.strip()
    assert len(commit_id) == 64
    assert "committed" in result.stderr and "to main" in result.stderr

    dw_any.ok("export", "data", "main", str(tmp_path / "out"))

    assert snapshot(tmp_path / "out") == snapshot(folder)
    assert snapshot(tmp_path / "out")["bin/run.sh"][1] is True
    assert snapshot(tmp_path / "out")["empty.txt"] == (b"", False)


def test_second_import_of_unchanged_folder_creates_no_commit(dw_any, tmp_path, storage_counter):
    folder = write_tree(tmp_path / "src", generated_files(count=10))
    dw_any.ok("repo", "create", "data")
    first = json.loads(dw_any.ok("import", str(folder), "data", "-m", "one", "--json").stdout)
    assert first["created"] is True and first["parent"] is None
    assert first["files_stored"] == len(generated_files(count=10))
    objects = dw_any.object_count()
    storage_counter.clear()

    result = dw_any.ok("import", str(folder), "data", "-m", "two")

    assert result.stdout.strip() == first["commit"]
    assert "nothing changed" in result.stderr
    assert [s.writes for s in storage_counter] == [0]
    assert dw_any.object_count() == objects
    assert len(dw_any.json("log", "data")) == 1
    again = json.loads(dw_any.ok("import", str(folder), "data", "-m", "three", "--json").stdout)
    assert again == {
        **first,
        "created": False,
        "parent": first["commit"],
        "files_stored": 0,
        "bytes_stored": 0,
    }


# --- the stat cache -------------------------------------------------------------------------


def test_unchanged_files_are_not_read_again(dw, repo_name, tmp_path, hash_counter):
    files = generated_files(count=12)
    folder = write_tree(tmp_path / "src", files)
    dw.ok("import", str(folder), repo_name, "-m", "one")
    assert len(hash_counter) == len(files)
    hash_counter.clear()

    dw.ok("import", str(folder), repo_name, "-m", "two")
    assert hash_counter == []

    changed = folder / "dir1/sub1/file1.bin"
    changed.write_bytes(b"new content")
    os.utime(changed, ns=(OLD_MTIME_NS - 10**9, OLD_MTIME_NS - 10**9))
    (folder / "empty.txt").unlink()
    result = dw.ok("import", str(folder), repo_name, "-m", "three")
    assert hash_counter == [str(changed)]
    assert "committed" in result.stderr


def test_recently_modified_files_are_always_read_again(dw, repo_name, tmp_path, hash_counter):
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "fresh.txt").write_bytes(b"written just now")  # mtime within the racy window
    dw.ok("import", str(folder), repo_name, "-m", "one")
    dw.ok("import", str(folder), repo_name, "-m", "two")
    assert hash_counter == [str(folder / "fresh.txt")] * 2


def test_corrupt_stat_cache_is_ignored(dw, repo_name, tmp_path, hash_counter):
    folder = write_tree(tmp_path / "src", {"a": b"a", "b": b"b"})
    dw.ok("import", str(folder), repo_name, "-m", "one")
    caches = list((tmp_path / "cache" / "statcache").glob("*.cache"))
    assert len(caches) == 1
    caches[0].write_bytes(b"this is not a stat cache" * 100)
    hash_counter.clear()
    result = dw.ok("import", str(folder), repo_name, "-m", "two")
    assert "nothing changed" in result.stderr
    assert len(hash_counter) == 2  # read again, and the cache was rebuilt
    hash_counter.clear()
    dw.ok("import", str(folder), repo_name, "-m", "three")
    assert hash_counter == []


# --- what a diff shows after re-imports ------------------------------------------------------


def test_deleted_changed_added_files_show_in_diff(dw, repo_name, tmp_path):
    folder = write_tree(
        tmp_path / "src",
        {
            "keep.txt": b"k",
            "change.txt": b"v1",
            "gone.txt": b"g",
            "dir/gone.bin": b"x",
            "x.sh": b"#",
        },
    )
    dw.ok("import", str(folder), repo_name, "-m", "one")
    (folder / "gone.txt").unlink()
    (folder / "dir/gone.bin").unlink()
    (folder / "dir").rmdir()
    write_tree(folder, {"change.txt": b"version 2", "new/added.csv": b"a,b\n"})
    (folder / "x.sh").chmod(0o755)

    dw.ok("import", str(folder), repo_name, "-m", "two")
    result = dw.ok("diff", repo_name, "main~1", "main", "--name-status")

    assert result.stdout.splitlines() == [
        "M\tchange.txt",
        "D\tdir/gone.bin",
        "D\tgone.txt",
        "A\tnew/added.csv",
        "T\tx.sh",
    ]
    patch = dw.ok("diff", repo_name, "main~1", "main").stdout.splitlines()
    assert "diff --dw a/change.txt b/change.txt" in patch
    assert "-v1" in patch and "+version 2" in patch
    assert "@ column added: a" in patch  # new/added.csv (a header only), diffed as a table
    assert "old mode 100644" in patch and "new mode 100755" in patch
    stat = dw.ok("diff", repo_name, "main~1", "main", "--stat").stdout.splitlines()
    assert stat[0].split() == ["change.txt", "|", "M", "2", "B", "->", "9", "B", "(+7", "B)"]
    assert stat[-1] == " 5 files changed, +11 B, -2 B"
    changes = dw.json("diff", repo_name, "main~1", "main")
    assert changes[0] == {
        "status": "M",
        "path": "change.txt",
        "old_path": None,
        "old_id": hashlib.sha256(b"v1").hexdigest(),
        "new_id": hashlib.sha256(b"version 2").hexdigest(),
        "old_mode": "100644",
        "new_mode": "100644",
    }
    assert changes[1]["new_id"] is None and changes[3]["old_mode"] is None
    sized = dw.json("diff", repo_name, "main~1", "main", "--stat")
    assert (sized[0]["old_size"], sized[0]["new_size"]) == (2, 9)


def test_import_into_a_path_of_another_branch(dw, repo_name, tmp_path):
    base = write_tree(tmp_path / "base", {"README": b"r"})
    dw.ok("import", str(base), repo_name, "-m", "base")
    dw.ok("branch", "create", repo_name, "dev")
    raw = write_tree(tmp_path / "raw", {"a.csv": b"1", "b/c.csv": b"2"})
    dw.ok("import", str(raw), repo_name, "--branch", "dev", "--path", "data/raw", "-m", "raw")
    paths = [e["path"] for e in dw.json("ls", repo_name, "dev", "-r")]
    assert paths == ["README", "data/raw/a.csv", "data/raw/b/c.csv"]
    assert [e["path"] for e in dw.json("ls", repo_name, "main", "-r")] == ["README"]
    dw.ok("export", repo_name, "dev", "data/raw", str(tmp_path / "out"))
    assert snapshot(tmp_path / "out") == snapshot(raw)


def test_import_into_a_new_branch_starts_at_the_default_branch(dw, repo_name, tmp_path):
    base = write_tree(tmp_path / "base", {"README": b"r", "data/old.csv": b"0"})
    head = dw.ok("import", str(base), repo_name, "-m", "base").stdout.strip()
    raw = write_tree(tmp_path / "raw", {"a.csv": b"1"})

    made = dw.json("import", str(raw), repo_name, "--branch", "exp", "--path", "data", "-m", "x")

    assert made["created"] is True and made["parent"] == head
    assert [e["path"] for e in dw.json("ls", repo_name, "exp", "-r")] == ["README", "data/a.csv"]
    assert [c["id"] for c in dw.json("log", repo_name, "exp")][1:] == [head]
    # the same folder as the default branch's: the new branch points at its head
    same = dw.json("import", str(base), repo_name, "--branch", "same", "-m", "y")
    assert (same["created"], same["commit"]) == (False, head)
    assert dw.json("log", repo_name, "same")[0]["id"] == head


def test_import_into_a_new_branch_of_an_empty_repository_has_no_history(dw, tmp_path):
    dw.ok("repo", "create", "empty")
    folder = write_tree(tmp_path / "src", {"a": b"1"})
    made = dw.json("import", str(folder), "empty", "--branch", "first", "-m", "x")
    assert made["created"] is True and made["parent"] is None


def test_import_names_what_it_left_out(dw, repo_name, tmp_path):
    folder = write_tree(tmp_path / "src", {"a.txt": b"1"})
    (folder / "link").symlink_to("a.txt")
    os.mkfifo(folder / "pipe")

    result = dw.ok("import", str(folder), repo_name, "-m", "x")

    assert (
        "warning: left out 2 entries that are not regular files:"
        " link (symbolic link), pipe (not a regular file)\n"
    ) in result.stderr
    assert "committed" in result.stderr and "1 file (1 B)" in result.stderr
    for n in range(6):
        (folder / f"more{n}").symlink_to("a.txt")
    report = dw.json("import", str(folder), repo_name, "-m", "y")
    assert report["skipped"][:2] == [
        {"path": "link", "reason": "symbolic link"},
        {"path": "more0", "reason": "symbolic link"},
    ]
    assert len(report["skipped"]) == 8
    text = dw.ok("import", str(folder), repo_name, "-m", "z").stderr
    assert "left out 8 entries" in text and "more3 (symbolic link) and 3 more\n" in text
    assert [e["path"] for e in dw.json("ls", repo_name, "main", "-r")] == ["a.txt"]


def test_import_leaves_out_the_installations_own_files(tmp_path):
    project = write_tree(tmp_path / "project", {"a.csv": b"1", "raw/b.csv": b"2"})
    dw = Dw(
        {
            **base_env(f"sqlite:///{project / 'meta.db'}", tmp_path),
            "STORAGE_PATH": str(project / ".dataworkflow"),
            "DW_CACHE_DIR": str(project / "cache"),
            "S3_BUCKET": "",
        }
    )
    dw.ok("repo", "create", "data")

    first = dw.json("import", str(project), "data", "-m", "one")

    assert (first["files"], first["files_stored"]) == (2, 2)
    assert [e["path"] for e in dw.json("ls", "data", "main", "-r")] == ["a.csv", "raw/b.csv"]
    assert dw.json("import", str(project), "data", "-m", "two")["created"] is False
    for own in (project / ".dataworkflow", project / ".dataworkflow" / "objects"):
        dw.fails("import", str(own), "data", "-m", "x", message="keeps its own data")
    assert len(dw.json("log", "data")) == 1


def test_author_from_option_and_environment(dw, repo_name, tmp_path):
    folder = write_tree(tmp_path / "src", {"a": b"1"})
    dw.ok("import", str(folder), repo_name, "-m", "one")
    write_tree(folder, {"a": b"2"})
    dw.ok(
        "import", str(folder), repo_name, "-m", "two", "--author", "Ada Lovelace <ada@example.org>"
    )
    log = dw.json("log", repo_name)
    assert log[0]["author"]["name"] == "Ada Lovelace"
    assert log[0]["author"]["email"] == "ada@example.org"
    assert (log[1]["author"]["name"], log[1]["author"]["email"]) == AUTHOR


def test_bad_author_is_a_usage_error(dw, repo_name, tmp_path):
    folder = write_tree(tmp_path / "src", {"a": b"1"})
    dw.fails(
        "import",
        str(folder),
        repo_name,
        "-m",
        "x",
        "--author",
        "nobody",
        code=2,
        message="Name <email>",
    )


# --- .dwignore -------------------------------------------------------------------------------


def test_dwignore_patterns_negation_and_folders(dw, repo_name, tmp_path):
    folder = write_tree(
        tmp_path / "src",
        {
            ".dwignore": b"# scratch files\n*.log\n!keep.log\nbuild/\n/top.tmp\ncache/**/*.bin\n",
            "a.csv": b"a",
            "debug.log": b"x",
            "keep.log": b"k",
            "sub/deep.log": b"x",
            "build/out.o": b"x",
            "src/build/nested.o": b"x",
            "top.tmp": b"x",
            "sub/top.tmp": b"kept: only the root one is anchored",
            "cache/a/b/c.bin": b"x",
            "cache/a/b/c.txt": b"t",
        },
    )
    dw.ok("import", str(folder), repo_name, "-m", "one")
    paths = [e["path"] for e in dw.json("ls", repo_name, "main", "-r")]
    assert paths == [".dwignore", "a.csv", "cache/a/b/c.txt", "keep.log", "sub/top.tmp"]


def test_dwignore_can_ignore_itself(dw, repo_name, tmp_path):
    folder = write_tree(tmp_path / "src", {".dwignore": b".dwignore\n", "a": b"a"})
    dw.ok("import", str(folder), repo_name, "-m", "one")
    assert [e["path"] for e in dw.json("ls", repo_name, "main", "-r")] == ["a"]


def test_unreadable_dwignore_is_an_error(dw, repo_name, tmp_path):
    folder = write_tree(tmp_path / "src", {".dwignore": b"\xff\xfe bad", "a": b"a"})
    dw.fails("import", str(folder), repo_name, "-m", "x", message="is not valid UTF-8")


# --- errors ------------------------------------------------------------------------------------


def test_import_of_unreadable_folder_fails_and_changes_nothing(
    dw, repo_name, tmp_path, monkeypatch
):
    folder = write_tree(tmp_path / "src", {"ok.txt": b"ok", "locked/inner.txt": b"i"})
    dw.ok("import", str(folder), repo_name, "-m", "one")
    head = dw.json("log", repo_name)[0]["id"]
    write_tree(folder, {"new.txt": b"n"})
    deny_open(monkeypatch, folder / "locked")
    try:
        dw.fails(
            "import",
            str(folder),
            repo_name,
            "-m",
            "two",
            message=f"permission denied reading folder {str(folder / 'locked')!r}",
        )
    finally:
        (folder / "locked").chmod(0o755)
    assert [c["id"] for c in dw.json("log", repo_name)] == [head]


def test_import_of_unreadable_file_fails_and_changes_nothing(dw, repo_name, tmp_path, monkeypatch):
    folder = write_tree(tmp_path / "src", {"ok.txt": b"ok", "secret.bin": b"s"})
    dw.ok("import", str(folder), repo_name, "-m", "one")
    head = dw.json("log", repo_name)[0]["id"]
    write_tree(folder, {"secret.bin": b"changed", "new.txt": b"n"})
    deny_open(monkeypatch, folder / "secret.bin")

    dw.fails(
        "import",
        str(folder),
        repo_name,
        "-m",
        "two",
        message=f"permission denied reading {str(folder / 'secret.bin')!r}",
    )

    assert [c["id"] for c in dw.json("log", repo_name)] == [head]


def test_ctrl_c_during_import_leaves_the_branch_unchanged(dw, repo_name, tmp_path, monkeypatch):
    from dataworkflow.services.repository import Repository

    folder = write_tree(tmp_path / "src", {"a": b"1"})
    dw.ok("import", str(folder), repo_name, "-m", "one")
    head = dw.json("log", repo_name)[0]["id"]
    write_tree(folder, {"b": b"2"})

    def interrupted(self, files, progress):
        raise KeyboardInterrupt

    monkeypatch.setattr(Repository, "_store_local_files", interrupted)
    dw.fails(
        "import",
        str(folder),
        repo_name,
        "-m",
        "two",
        code=130,
        message="interrupted; branch main unchanged",
    )
    assert [c["id"] for c in dw.json("log", repo_name)] == [head]


def test_import_errors(dw, repo_name, tmp_path):
    folder = write_tree(tmp_path / "src", {"a": b"1"})
    dw.fails("import", str(folder), "nope", "-m", "x", message="repository 'nope' not found")
    dw.fails(
        "import", str(folder), repo_name, "-m", "x", "--branch", "bad..name", message="bad..name"
    )
    dw.fails("import", str(folder), repo_name, "-m", "x", "--path", "../up", message="'..'")
    dw.fails(
        "import", str(tmp_path / "missing"), repo_name, "-m", "x", code=2, message="does not exist"
    )
    dw.fails("import", str(folder), repo_name, code=2, message="Missing option '-m'")
    for blank in ("", " \n"):
        dw.fails("import", str(folder), repo_name, "-m", blank, code=2, message="message is empty")
    assert [b["name"] for b in dw.json("branch", "list", repo_name)] == []


def test_export_refuses_a_non_empty_destination(dw, repo_name, tmp_path):
    folder = write_tree(tmp_path / "src", {"a": b"1"})
    dw.ok("import", str(folder), repo_name, "-m", "one")
    dest = write_tree(tmp_path / "dest", {"mine.txt": b"mine"})
    dw.fails("export", repo_name, "main", str(dest), message="is not empty")
    assert snapshot(dest) == {"mine.txt": (b"mine", False)}


def test_export_to_an_unwritable_destination(dw, repo_name, tmp_path, monkeypatch):
    folder = write_tree(tmp_path / "src", {"a": b"1"})
    dw.ok("import", str(folder), repo_name, "-m", "one")
    locked = tmp_path / "locked"
    locked.mkdir()
    deny_mkdir_below(monkeypatch, locked)
    try:
        dw.fails(
            "export",
            repo_name,
            "main",
            str(locked / "out"),
            message=f"permission denied: {str(locked / 'out')!r}",
        )
    finally:
        locked.chmod(0o755)


def test_export_errors(dw, repo_name, tmp_path):
    folder = write_tree(tmp_path / "src", {"a": b"1"})
    dw.ok("import", str(folder), repo_name, "-m", "one")
    out = str(tmp_path / "out")
    dw.fails("export", repo_name, "nope", out, message="revision 'nope' not found")
    dw.fails("export", repo_name, "main", "missing", out, message="path 'missing' not found")
    dw.fails("export", repo_name, "main", "a", out, "extra", code=2, message="[PATH] DEST")
    dw.fails("export", repo_name, "main", code=2, message="Missing argument")
    assert not os.path.exists(out)


def test_export_of_a_single_file(dw, repo_name, tmp_path):
    folder = write_tree(tmp_path / "src", {"d/a.txt": b"alpha"})
    dw.ok("import", str(folder), repo_name, "-m", "one")
    stats = json.loads(
        dw.ok("export", repo_name, "main", "d/a.txt", str(tmp_path / "out"), "--json").stdout
    )
    assert stats["files"] == 1 and stats["bytes"] == 5
    assert snapshot(tmp_path / "out") == {"a.txt": (b"alpha", False)}


# --- progress bars on a terminal ------------------------------------------------------------


def test_progress_bars_on_a_terminal(dw, repo_name, tmp_path, monkeypatch):
    from rich.console import Console

    from dataworkflow.cli import progress

    screen = StringIO()
    monkeypatch.setattr(progress, "stdout_is_terminal", lambda: True)
    monkeypatch.setattr(
        progress, "make_console", lambda: Console(file=screen, force_terminal=True, width=120)
    )
    folder = write_tree(tmp_path / "src", generated_files(count=5))
    dw.ok("import", str(folder), repo_name, "-m", "one")
    dw.ok("export", repo_name, "main", str(tmp_path / "out"))
    shown = screen.getvalue()
    assert "hashing" in shown and "storing" in shown and "writing" in shown
    assert "files" in shown
    assert snapshot(tmp_path / "out") == snapshot(folder)


def test_no_progress_output_when_not_a_terminal(dw, repo_name, tmp_path):
    folder = write_tree(tmp_path / "src", generated_files(count=5))
    result = dw.ok("import", str(folder), repo_name, "-m", "one")
    assert len(result.stdout.splitlines()) == 1
    assert len(result.stderr.splitlines()) == 1
    result = dw.ok("export", repo_name, "main", str(tmp_path / "out"))
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("phase", ["hash", "store"])
def test_import_progress_reports_totals_first(phase):
    from dataworkflow.cli.progress import ImportProgress

    with ImportProgress(enabled=False) as bars:
        bars("scan", 3, 30)
        bars(phase, 1, 10)
        bars("plan", 2, 20)
    assert (bars.scanned_files, bars.scanned_bytes) == (3, 30)


# --- Ctrl-C, for real: a signal, handled at the next progress report ----------------------


def _send_sigint_while_hashing(monkeypatch, after: int, times: int = 1) -> list[str]:
    import signal

    from dataworkflow.services import folder as folder_module
    from dataworkflow.storage.filesystem import FileSystemStorage

    calls: list[str] = []
    original = folder_module._read_small
    original_local = FileSystemStorage.put_local

    def read(path):
        calls.append(path)
        if len(calls) == after:
            for _ in range(times):
                os.kill(os.getpid(), signal.SIGINT)

    def read_small(path):
        read(path)
        return original(path)

    def put_local(self, path, pack=None):  # filesystem storage reads (and stores) files
        read(path)
        return original_local(self, path, pack)

    monkeypatch.setattr(folder_module, "_read_small", read_small)
    monkeypatch.setattr(FileSystemStorage, "put_local", put_local)
    return calls


def test_sigint_stops_the_import_at_the_next_report(dw, repo_name, tmp_path, monkeypatch):
    import signal

    from dataworkflow.services import repository as repository_module

    folder = write_tree(tmp_path / "src", {f"f{i}": str(i).encode() for i in range(20)})
    calls = _send_sigint_while_hashing(monkeypatch, after=3)
    monkeypatch.setattr(repository_module, "PROGRESS_FILES", 1)  # a report per file
    handler_before = signal.getsignal(signal.SIGINT)

    dw.fails(
        "import",
        str(folder),
        repo_name,
        "-m",
        "x",
        code=130,
        message="interrupted; branch main unchanged",
    )

    assert len(calls) == 3  # stopped right after the file being read when Ctrl-C came
    assert dw.json("branch", "list", repo_name) == []
    assert signal.getsignal(signal.SIGINT) is handler_before


def test_second_sigint_exits_at_once(dw, repo_name, tmp_path, monkeypatch):
    from dataworkflow.cli import interrupt

    exits: list[str] = []

    def fake_hard_exit(message):
        exits.append(message)
        raise SystemExit(130)

    monkeypatch.setattr(interrupt, "hard_exit", fake_hard_exit)
    folder = write_tree(tmp_path / "src", {f"f{i}": str(i).encode() for i in range(5)})
    _send_sigint_while_hashing(monkeypatch, after=2, times=2)
    result = dw("import", str(folder), repo_name, "-m", "x")
    assert result.exit_code == 130
    assert exits == ["interrupted"]


def test_sigint_after_the_last_report_lets_the_import_finish(dw, repo_name, tmp_path, monkeypatch):
    import signal

    from dataworkflow.services.repository import Repository

    original = Repository._commit_tree

    def commit_tree(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # the metadata transaction is about to start
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Repository, "_commit_tree", commit_tree)
    folder = write_tree(tmp_path / "src", {"a": b"1"})
    result = dw.ok("import", str(folder), repo_name, "-m", "x")
    assert "interrupted too late" in result.stderr
    assert dw.json("log", repo_name)[0]["id"] == result.stdout.strip()


def test_real_ctrl_c_in_a_process(tmp_path):
    """SIGINT to a real `dw import` (slowed down), mid-hash: exit 130, no hang, no commit."""
    import signal
    import subprocess
    import sys

    from tests.cli.conftest import base_env, filesystem_env

    env = {
        **os.environ,
        **base_env(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path),
        **filesystem_env(tmp_path),
    }
    folder = write_tree(tmp_path / "src", {f"d{i % 7}/f{i}": os.urandom(64) for i in range(600)})
    script = (
        "import sys, time\n"
        "from dataworkflow.storage.filesystem import FileSystemStorage\n"
        "original = FileSystemStorage.put_local\n"
        "def slow(self, path, pack=None):\n"
        "    sys.stderr.write('hashing\\n'); sys.stderr.flush(); time.sleep(0.02)\n"
        "    return original(self, path, pack)\n"
        "FileSystemStorage.put_local = slow  # 600 files: stored by forked processes\n"
        "from dataworkflow.cli import main\n"
        "main(sys.argv[1:], prog_name='dw')\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, "repo", "create", "r"],
        env=env,
        check=True,
        capture_output=True,
        cwd=tmp_path / "cwd",
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, "import", str(folder), "r", "-m", "x"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path / "cwd",
        text=True,
    )
    assert process.stderr is not None
    assert process.stderr.readline() == "hashing\n"
    process.send_signal(signal.SIGINT)
    try:
        stdout, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # pragma: no cover - the bug this guards against
        process.kill()
        raise
    assert process.returncode == 130
    assert stderr.rstrip().splitlines()[-1] == "error: interrupted; branch main unchanged"
    assert "Traceback" not in stderr and stdout == ""
    listed = subprocess.run(
        [sys.executable, "-c", script, "branch", "list", "r"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path / "cwd",
    )
    assert listed.returncode == 0 and listed.stdout == ""


def test_a_new_installation_stores_what_the_stat_cache_knows_in_packs(dw, tmp_path):
    files = {f"d{n % 3}/f{n}.txt": f"file {n}\n".encode() * (n % 4 + 1) for n in range(40)}
    folder = write_tree(tmp_path / "src", files)
    dw.ok("repo", "create", "a")
    dw.ok("import", str(folder), "a", "-m", "first")  # the stat cache now knows every file
    other = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}",
        "STORAGE_PATH": str(tmp_path / "other-store"),
    }
    dw.ok("repo", "create", "b", **other)

    dw.ok("import", str(folder), "b", "-m", "again, elsewhere", **other)

    store = tmp_path / "other-store"
    assert len(list((store / "packs").glob("*.idx"))) == 1
    assert not list((store / "objects").glob("??/*"))  # not one object file each
    dw.ok("export", "b", "main", str(tmp_path / "out"), **other)
    assert {
        p.relative_to(tmp_path / "out").as_posix(): p.read_bytes()
        for p in (tmp_path / "out").rglob("*.txt")
    } == files
    assert dw.ok("fsck", "--full", **other).stdout.startswith("ok: ")


@pytest.mark.parametrize("count", [5, 20])  # stored one by one, and in bulk
def test_a_file_changed_behind_the_stat_cache_fails_the_import(dw, tmp_path, count):
    files = {f"f{n}.txt": b"%04d\n" % n for n in range(count)}
    folder = write_tree(tmp_path / "src", files)
    dw.ok("repo", "create", "a")
    dw.ok("import", str(folder), "a", "-m", "first")
    changed = folder / "f3.txt"
    info = changed.stat()
    changed.write_bytes(b"9999\n")  # same size, and the mtime put back
    os.utime(changed, ns=(info.st_atime_ns, info.st_mtime_ns))
    other = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}",
        "STORAGE_PATH": str(tmp_path / "other-store"),
    }
    dw.ok("repo", "create", "b", **other)

    result = dw.fails("import", str(folder), "b", "-m", "elsewhere", **other)

    assert "f3.txt' changed without a new size or modification time" in result.stderr
    assert dw.ok("branch", "list", "b", "--json", **other).stdout.strip() == "[]"
