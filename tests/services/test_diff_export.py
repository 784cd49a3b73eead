"""Tree diff (name-status) and export to a folder."""

import os

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
    path = repo.storage._path(blob)
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    with pytest.raises(ChecksumMismatch):
        repo.export("main", tmp_path / "out")
    assert not (tmp_path / "out" / "f").exists()


@pytest.mark.parametrize("relpath", ["../x", "/etc/passwd", "a/../../x", "a//b", "..", "a\\b"])
def test_safe_destination_refuses_escapes(tmp_path, relpath):
    with pytest.raises(InvalidName):
        safe_destination(tmp_path, relpath)
