"""Read commands: cat, ls, log, show, diff; text formats and --json documents."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

import pytest

from dataworkflow.cli.output import quote_path
from tests.cli.conftest import AUTHOR, write_tree

SMALL = {"a.txt": b"alpha\n", "d/b.bin": bytes(range(256)) * 3, "d/e/c.txt": b"c"}


@pytest.fixture
def history(dw, repo_name, tmp_path):
    """Two commits on main: SMALL, then a.txt changed, d/e removed, run.sh added."""
    folder = write_tree(tmp_path / "src", SMALL)
    dw.ok("import", str(folder), repo_name, "-m", "first\n\nwith a body")
    write_tree(folder, {"a.txt": b"alpha, again\n", "run.sh": b"#!/bin/sh\n"}, {"run.sh"})
    (folder / "d/e/c.txt").unlink()
    dw.ok("import", str(folder), repo_name, "-m", "second")
    return repo_name


def test_cat_streams_the_exact_bytes(dw, history):
    result = dw.ok("cat", history, "main", "d/b.bin")
    assert result.stdout_bytes == bytes(range(256)) * 3
    assert dw.ok("cat", history, "main~1", "a.txt").stdout_bytes == b"alpha\n"


def test_cat_errors(dw, history):
    dw.fails("cat", history, "main", "d", message="'d' is a folder")
    dw.fails("cat", history, "main", "nope.txt", message="path 'nope.txt' not found at main")
    dw.fails("cat", history, "v9", "a.txt", message="revision 'v9' not found")
    dw.fails("cat", "ghost", "main", "a.txt", message="repository 'ghost' not found")
    dw.fails("cat", history, "main", "../etc/passwd", message="'..'")


def test_cat_detects_corrupt_bytes(dw, history, tmp_path):
    blob = hashlib.sha256(b"alpha, again\n").hexdigest()
    stored = tmp_path / "objects-root" / "objects" / blob[:2] / blob
    stored.chmod(0o644)
    stored.write_bytes(b"tampered!!!!!")
    dw.fails("cat", history, "main", "a.txt", message=f"checksum mismatch: expected {blob}")


def test_ls_like_git_ls_tree(dw, history):
    lines = dw.ok("ls", history, "main").stdout.splitlines()
    a_id = hashlib.sha256(b"alpha, again\n").hexdigest()
    assert lines[0] == f"100644 blob {a_id}      13\ta.txt"
    assert lines[1].startswith("040000 tree ") and lines[1].endswith("       -\td")
    assert lines[2].startswith("100755 blob ") and lines[2].endswith("\trun.sh")
    assert len(lines) == 3
    recursive = [
        line.split("\t")[1] for line in dw.ok("ls", history, "main", "-r").stdout.splitlines()
    ]
    assert recursive == ["a.txt", "d/b.bin", "run.sh"]
    with_trees = dw.ok("ls", history, "main", "-r", "-t").stdout.splitlines()
    assert [line.split("\t")[1] for line in with_trees] == ["a.txt", "d", "d/b.bin", "run.sh"]
    assert dw.ok("ls", history, "main~1", "d").stdout.count("\n") == 2


def test_ls_json(dw, history):
    entries = dw.json("ls", history, "main", "d")
    assert entries == [
        {
            "path": "d/b.bin",
            "name": "b.bin",
            "mode": "100644",
            "type": "blob",
            "id": hashlib.sha256(bytes(range(256)) * 3).hexdigest(),
            "size": 768,
        }
    ]
    assert dw.json("ls", history, "main", "run.sh")[0]["mode"] == "100755"  # a file lists itself
    assert dw.json("ls", history, "main")[1]["size"] is None


def test_ls_errors(dw, history):
    dw.fails("ls", history, "main", "nowhere", message="path 'nowhere' not found")
    dw.fails("ls", history, "main~5", message="goes past the first commit")
    dw.fails("ls", history, "zzzzzzz", message="revision 'zzzzzzz' not found")


def test_log_text_like_git(dw, history):
    text = dw.ok("log", history).stdout
    blocks = text.split("\ncommit ")
    assert len(blocks) == 2
    lines = text.splitlines()
    assert lines[0].startswith("commit ") and len(lines[0]) == 7 + 64
    assert lines[1] == f"Author: {AUTHOR[0]} <{AUTHOR[1]}>"
    assert lines[2].startswith("Date:   ")
    assert lines[3:5] == ["", "    second"]
    assert "    first\n\n    with a body" in text
    oneline = dw.ok("log", history, "--oneline").stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in oneline] == ["second", "first"]
    assert all(len(line.split(" ")[0]) == 12 for line in oneline)


def test_log_json_is_a_list_of_commits(dw, history):
    commits = dw.json("log", history)
    assert [c["message"] for c in commits] == ["second", "first\n\nwith a body"]
    newest, oldest = commits
    assert set(newest) == {"id", "tree", "parents", "author", "committer", "message", "metadata"}
    assert newest["parents"] == [oldest["id"]] and oldest["parents"] == []
    assert newest["author"]["name"] == AUTHOR[0]
    when = datetime.fromisoformat(newest["author"]["time"])
    assert when.utcoffset() is not None
    assert newest["metadata"] == {}


def test_log_options(dw, history):
    assert len(dw.json("log", history, "-n", "1")) == 1
    assert dw.json("log", history, "-n", "0") == []
    assert len(dw.json("log", history, "main~1")) == 1
    assert [c["message"] for c in dw.json("log", history, "--path", "a.txt")] == [
        "second",
        "first\n\nwith a body",
    ]
    assert [c["message"] for c in dw.json("log", history, "--path", "run.sh")] == ["second"]
    assert [c["message"] for c in dw.json("log", history, "--path", "d/b.bin")] == [
        "first\n\nwith a body"
    ]
    dw.fails("log", history, "-n", "-1", code=2, message="-1")
    dw.fails("log", history, "nope", message="revision 'nope' not found")


def test_log_pages_through_long_histories(dw, repo_name, tmp_path, monkeypatch):
    from dataworkflow.cli import read

    monkeypatch.setattr(read, "LOG_PAGE", 2)
    folder = tmp_path / "src"
    for number in range(5):
        write_tree(folder, {"n.txt": str(number).encode() * (number + 1)})
        dw.ok("import", str(folder), repo_name, "-m", f"c{number}")
    assert [c["message"] for c in dw.json("log", repo_name)] == ["c4", "c3", "c2", "c1", "c0"]
    assert [c["message"] for c in dw.json("log", repo_name, "-n", "3")] == ["c4", "c3", "c2"]


def test_log_of_an_empty_repository(dw, repo_name):
    dw.fails("log", repo_name, message="revision 'main' not found")


def test_show(dw, history):
    text = dw.ok("show", history, "main").stdout
    assert text.startswith("commit ")
    assert text.endswith("\n    second\n\nM\ta.txt\nD\td/e/c.txt\nA\trun.sh\n")
    root = dw.ok("show", history, "main~1").stdout
    assert root.endswith("\nA\ta.txt\nA\td/b.bin\nA\td/e/c.txt\n")


def test_show_json(dw, history):
    shown = dw.json("show", history, "main")
    assert {"id", "tree", "parents", "author", "committer", "message", "metadata"} <= set(shown)
    assert shown["id"] == dw.json("log", history)[0]["id"]
    assert [(c["status"], c["path"]) for c in shown["changes"]] == [
        ("M", "a.txt"),
        ("D", "d/e/c.txt"),
        ("A", "run.sh"),
    ]
    assert shown["changes"][2]["new_mode"] == "100755"
    short = shown["id"][:12]
    assert dw.json("show", history, short)["id"] == shown["id"]
    assert dw.json("show", history)["id"] == shown["id"]  # default: the default branch


def test_diff_of_a_folder_and_errors(dw, history):
    assert dw.ok("diff", history, "main~1", "main", "d", "--name-status").stdout == "D\td/e/c.txt\n"
    assert dw.ok("diff", history, "main", "main").stdout == ""
    assert dw.json("diff", history, "main", "main") == []
    dw.fails("diff", history, "main", "nope", message="revision 'nope' not found")
    dw.fails("diff", history, "main~1", "main", "a.txt", message="is a file")


def test_diff_quotes_unusual_paths(dw, repo_name, tmp_path):
    folder = write_tree(tmp_path / "src", {"x": b"1"})
    dw.ok("import", str(folder), repo_name, "-m", "one")
    write_tree(folder, {'tab\there "q"': b"2", "été": b"3"})
    dw.ok("import", str(folder), repo_name, "-m", "two")
    assert dw.ok("diff", repo_name, "main~1", "main", "--name-status").stdout.splitlines() == [
        'A\t"tab\\there \\"q\\""',
        "A\tété",
    ]
    assert [c["path"] for c in dw.json("diff", repo_name, "main~1", "main")] == [
        'tab\there "q"',
        "été",
    ]


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("plain/path.csv", "plain/path.csv"),
        ("données/été", "données/été"),
        ("new\nline", '"new\\nline"'),
        ('a"b', '"a\\"b"'),
        ("back\\slash", '"back\\\\slash"'),
        ("bell\x07", '"bell\\a"'),
        ("esc\x1b", '"esc\\033"'),
    ],
)
def test_quote_path(path, shown):
    assert quote_path(path) == shown


def test_every_read_command_prints_one_json_document(dw, history):
    for args in (
        ("ls", history, "main"),
        ("log", history),
        ("show", history, "main"),
        ("diff", history, "main~1", "main"),
        ("branch", "list", history),
        ("tag", "list", history),
        ("repo", "list"),
        ("repo", "show", history),
    ):
        json.loads(dw.ok(*args, "--json").stdout)
