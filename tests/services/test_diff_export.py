"""Tree diff (name-status) and export to a folder."""

import os
from pathlib import Path

import pytest

from dataworkflow.errors import ChecksumMismatch, InvalidInput, InvalidName, PathNotFound
from dataworkflow.services.changes import Delete, Put
from dataworkflow.services.export import safe_destination


@pytest.fixture
def history(repo):
    repo.commit(
        "main",
        [Put("a.txt", b"a"), Put("d/b.txt", b"b"), Put("d/e/c.txt", b"c"), Put("x", b"x")],
        "one",
    )
    repo.commit(
        "main",
        [
            Put("a.txt", b"A"),
            Delete("d/e"),
            Put("d/new.txt", b"n"),
            Put("x", b"x", executable=True),
            Put("z/y", b"y"),
        ],
        "two",
    )
    return repo


def test_name_status_between_two_commits(history):
    changes = history.diff("main~1", "main")
    assert [(c.status, c.path) for c in changes] == [
        ("M", "a.txt"),
        ("D", "d/e/c.txt"),
        ("A", "d/new.txt"),
        ("T", "x"),
        ("A", "z/y"),
    ]
    assert [(c.status, c.path) for c in history.diff("main", "main~1", "d")] == [
        ("A", "d/e/c.txt"),
        ("D", "d/new.txt"),
    ]
    assert history.diff("main", "main") == []


def test_diff_skips_identical_subtrees(history, monkeypatch):
    history.commit("main", [Put("a.txt", b"again")], "three")
    loaded = []
    original = history._load_tree
    monkeypatch.setattr(history, "_load_tree", lambda s, t: loaded.append(t) or original(s, t))
    assert [c.path for c in history.diff("main~1", "main")] == ["a.txt"]
    assert len(loaded) == 2  # the two roots only; d/ and z/ are equal by id


def test_file_replaced_by_folder(repo):
    repo.commit("main", [Put("p", b"file")], "one")
    repo.commit("main", [Delete("p")], "two")
    repo.commit("main", [Put("p/q", b"inner")], "three")
    assert [(c.status, c.path) for c in repo.diff("main~2", "main")] == [("D", "p"), ("A", "p/q")]


def test_export_round_trip_with_modes(history, tmp_path):
    stats = history.export("main", tmp_path / "out")
    out = tmp_path / "out"
    assert stats.files == 5
    assert (out / "a.txt").read_bytes() == b"A"
    assert (out / "d" / "new.txt").read_bytes() == b"n"
    assert os.access(out / "x", os.X_OK) and not os.access(out / "a.txt", os.X_OK)
    history.export("main~1", tmp_path / "sub", "d")
    assert sorted(
        p.relative_to(tmp_path / "sub").as_posix() for p in (tmp_path / "sub").rglob("*")
    ) == [
        "b.txt",
        "e",
        "e/c.txt",
    ]


def test_export_refuses_non_empty_destination_and_missing_paths(history, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep").write_text("mine")
    with pytest.raises(InvalidInput):
        history.export("main", tmp_path / "full")
    assert (tmp_path / "full" / "keep").read_text() == "mine"
    with pytest.raises(PathNotFound):
        history.export("main", tmp_path / "new", "missing")


def test_export_detects_corrupt_bytes(repo, tmp_path):
    repo.commit("main", [Put("f", b"original")], "one")
    blob = repo.stat("main", "f").entry.id
    path = Path(repo.storage._path(blob))
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    with pytest.raises(ChecksumMismatch, match=r"^'f': the stored bytes do not match") as caught:
        repo.export("main", tmp_path / "out")
    assert (caught.value.path, caught.value.expected) == ("f", blob)
    assert not (tmp_path / "out" / "f").exists()


@pytest.mark.parametrize("storage_kind", ["filesystem", "memory"])
def test_export_of_many_files_round_trips(db, repo, tmp_path, storage_kind):
    """Above BULK_MIN_FILES the filesystem storage writes in processes; others one by one."""
    from dataworkflow.services.repository import Repository
    from dataworkflow.storage.memory import MemoryStorage

    if storage_kind == "memory":
        repo = Repository(db, MemoryStorage(), "test")
    files = {f"d{n % 7}/sub{n % 3}/f{n}.txt": f"content {n}".encode() * n for n in range(600)}
    repo.commit(
        "main",
        [Put(p, data, executable=n % 5 == 0) for n, (p, data) in enumerate(files.items())],
        "many",
    )
    progress = []

    stats = repo.export("main", tmp_path / "out", progress=lambda f, b: progress.append((f, b)))

    assert (stats.files, stats.bytes, stats.folders) == (600, sum(map(len, files.values())), 28)
    assert progress[-1] == (600, stats.bytes) and len(progress) == 600
    for n, (path, data) in enumerate(files.items()):
        target = tmp_path / "out" / path
        assert target.read_bytes() == data
        assert bool(target.stat().st_mode & 0o100) == (n % 5 == 0)


def test_export_of_many_files_detects_a_corrupt_one(repo, tmp_path):
    repo.commit("main", [Put(f"f{n}", f"{n}".encode()) for n in range(300)], "many")
    blob = repo.stat("main", "f123").entry.id
    path = Path(repo.storage._path(blob))
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    with pytest.raises(ChecksumMismatch, match=r"^'f123': the stored bytes do not match"):
        repo.export("main", tmp_path / "out")
    assert not (tmp_path / "out" / "f123").exists()


@pytest.mark.parametrize("relpath", ["../x", "/etc/passwd", "a/../../x", "a//b", "..", "a\\b"])
def test_safe_destination_refuses_escapes(tmp_path, relpath):
    with pytest.raises(InvalidName):
        safe_destination(tmp_path, relpath)


# --- named cases: tree diff --------------------------------------------------------------


def build(repo, branch, spec):
    """Make ``branch`` hold exactly ``spec`` ({path: content}); "x:" marks executables."""
    existing = (
        {e.path for e in repo.walk(branch) if e.entry.kind == "blob"}
        if repo.head(branch)
        else set()
    )
    deletions = [Delete(p) for p in existing - set(spec)]
    if deletions:  # first, so a file may become a folder
        repo.commit(branch, deletions, "drop")
    puts = [
        Put(p, c.removeprefix("x:").encode(), executable=c.startswith("x:"))
        for p, c in spec.items()
    ]
    return repo.commit(branch, puts, "state", allow_empty=True).commit_id


TREE_DIFF_CASES = [
    pytest.param({"a": "1"}, {"a": "1"}, [], id="identical"),
    pytest.param({}, {"a": "1"}, [("A", "a", None)], id="added"),
    pytest.param({"a": "1"}, {}, [("D", "a", None)], id="deleted"),
    pytest.param({"a": "1"}, {"a": "2"}, [("M", "a", None)], id="modified"),
    pytest.param({"a": "1"}, {"a": "x:1"}, [("T", "a", None)], id="mode-changed"),
    pytest.param({"a": "1"}, {"b": "1"}, [("R", "b", "a")], id="renamed"),
    pytest.param(
        {"d/a": "1"}, {"e/f/a": "1"}, [("R", "e/f/a", "d/a")], id="renamed-across-folders"
    ),
    pytest.param(
        {"a": "1"},
        {"a": "2", "b": "1"},
        [("M", "a", None), ("C", "b", "a")],
        id="copied-from-modified",
    ),
    pytest.param(
        {"a": "1", "k": "0"},
        {"a": "1", "b": "1", "k": "0"},
        [("A", "b", None)],
        id="copy-of-untouched-is-an-add",
    ),
    pytest.param(
        {"p": "1"}, {"p/q": "2"}, [("D", "p", None), ("A", "p/q", None)], id="file-to-folder"
    ),
    pytest.param(
        {"d/x/1": "1", "d/y": "2", "z": "3"},
        {"d/x/1": "9", "d/y": "2", "z": "3"},
        [("M", "d/x/1", None)],
        id="nested-one-change",
    ),
    pytest.param(
        {"e/a": "1", "e/b": "2"}, {}, [("D", "e/a", None), ("D", "e/b", None)], id="folder-deleted"
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), TREE_DIFF_CASES)
def test_tree_diff_cases(repo, old, new, expected):
    repo.commit("main", [Put("keep", b"k")], "root")
    first = build(repo, "main", {"keep": "k", **old})
    second = build(repo, "main", {"keep": "k", **new})
    got = [(c.status, c.path, c.old_path) for c in repo.diff(first, second)]
    assert got == expected
