"""`dw repo create|list|show|delete`."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.cli.conftest import write_tree


def test_create_list_show(dw):
    assert dw.ok("repo", "create", "weather").stdout == (
        "created repository weather (default branch main)\n"
    )
    created = dw.json(
        "repo",
        "create",
        "census",
        "--private",
        "--description",
        "Census 2020",
        "--default-branch",
        "trunk",
    )
    assert created["name"] == "census" and created["private"] is True
    assert dw.ok("repo", "list").stdout.splitlines() == [
        "census   private  trunk  Census 2020",
        "weather  public   main",
    ]
    listed = dw.json("repo", "list")
    assert [r["name"] for r in listed] == ["census", "weather"]
    assert set(listed[0]) == {"name", "description", "default_branch", "private", "created_at"}
    shown = dw.json("repo", "show", "census")
    assert shown["default_branch"] == "trunk" and shown["description"] == "Census 2020"
    datetime.fromisoformat(shown["created_at"])
    text = dw.ok("repo", "show", "census").stdout
    assert "default branch: trunk" in text and "visibility:     private" in text


def test_default_branch_is_used_by_import_and_reads(dw, tmp_path):
    dw.ok("repo", "create", "r", "--default-branch", "trunk")
    dw.ok("import", str(write_tree(tmp_path / "src", {"a": b"1"})), "r", "-m", "one")
    assert [b["name"] for b in dw.json("branch", "list", "r")] == ["trunk"]
    assert dw.ok("cat", "r", "HEAD", "a").stdout == "1"


def test_empty_installation(dw):
    assert dw.json("repo", "list") == []
    assert dw.ok("repo", "list").stdout == ""


def test_repo_errors(dw):
    dw.ok("repo", "create", "taken")
    dw.fails("repo", "create", "taken", message="repository 'taken' already exists")
    dw.fails("repo", "create", "bad/name", message="repository name 'bad/name'")
    dw.fails("repo", "create", "x", "--default-branch", "bad..branch", message="bad..branch")
    dw.fails("repo", "show", "ghost", message="repository 'ghost' not found")
    dw.fails("repo", "delete", "ghost", "--yes", message="repository 'ghost' not found")
    dw.fails("repo", "create", code=2, message="Missing argument 'NAME'")
    dw.fails("repo", "frobnicate", code=2, message="No such command 'frobnicate'")


def test_delete_with_yes(dw, tmp_path):
    dw.ok("repo", "create", "gone")
    dw.ok("import", str(write_tree(tmp_path / "src", {"a": b"1"})), "gone", "-m", "one")
    assert dw.ok("repo", "delete", "gone", "--yes").stdout == "deleted repository gone\n"
    assert dw.json("repo", "list") == []
    dw.fails("log", "gone", message="repository 'gone' not found")


def test_delete_without_yes_refuses_when_no_one_can_answer(dw):
    dw.ok("repo", "create", "kept")
    dw.fails("repo", "delete", "kept", message="refusing to delete repository 'kept' without --yes")
    assert [r["name"] for r in dw.json("repo", "list")] == ["kept"]


@pytest.mark.parametrize(("answer", "deleted"), [("y\n", True), ("n\n", False)])
def test_delete_asks_on_a_terminal(dw, monkeypatch, answer, deleted):
    from dataworkflow.cli import repo

    monkeypatch.setattr(repo, "stdin_is_terminal", lambda: True)
    dw.ok("repo", "create", "maybe")
    result = dw("repo", "delete", "maybe", input=answer)
    assert "Delete repository 'maybe' and all of its history?" in result.stdout
    assert result.exit_code == (0 if deleted else 1)
    assert (dw.json("repo", "list") == []) is deleted
