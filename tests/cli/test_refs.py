"""`dw branch` and `dw tag`."""

from __future__ import annotations

import pytest

from tests.cli.conftest import write_tree


@pytest.fixture
def two_commits(dw, repo_name, tmp_path):
    folder = write_tree(tmp_path / "src", {"a": b"1"})
    dw.ok("import", str(folder), repo_name, "-m", "one")
    write_tree(folder, {"a": b"22"})
    dw.ok("import", str(folder), repo_name, "-m", "two")
    return [c["id"] for c in dw.json("log", repo_name)]


def test_branches(dw, repo_name, two_commits):
    head, first = two_commits
    assert (
        dw.ok("branch", "create", repo_name, "dev").stdout == f"created branch dev at {head[:12]}\n"
    )
    dw.ok("branch", "create", repo_name, "feature/x", "--from", "main~1")
    assert dw.json("branch", "list", repo_name) == [
        {"name": "dev", "commit": head, "default": False},
        {"name": "feature/x", "commit": first, "default": False},
        {"name": "main", "commit": head, "default": True},
    ]
    assert dw.ok("branch", "list", repo_name).stdout.splitlines() == [
        f"  dev       {head}",
        f"  feature/x {first}",
        f"* main      {head}",
    ]
    assert dw.json("log", repo_name, "feature/x")[0]["id"] == first
    result = dw.ok("branch", "delete", repo_name, "feature/x")
    assert result.stdout == f"deleted branch feature/x (was {first[:12]})\n"
    assert [b["name"] for b in dw.json("branch", "list", repo_name)] == ["dev", "main"]


def test_branch_errors(dw, repo_name, two_commits):
    dw.ok("branch", "create", repo_name, "dev")
    dw.fails("branch", "create", repo_name, "dev", message="branch 'dev' already exists")
    dw.fails("branch", "create", repo_name, "bad..name", message="bad..name")
    dw.fails(
        "branch", "create", repo_name, "x", "--from", "nope", message="revision 'nope' not found"
    )
    dw.fails("branch", "delete", repo_name, "ghost", message="ref 'ghost' not found")
    dw.fails("branch", "delete", repo_name, "main", message="cannot delete the default branch")
    dw.fails("branch", "list", "ghost", message="repository 'ghost' not found")
    dw.fails("branch", "create", repo_name, code=2, message="Missing argument 'NAME'")


def test_branch_of_an_empty_repository(dw, repo_name):
    dw.fails("branch", "create", repo_name, "dev", message="revision 'main' not found")
    assert dw.json("branch", "list", repo_name) == []


def test_tags(dw, repo_name, two_commits):
    head, first = two_commits
    assert dw.ok("tag", "create", repo_name, "v1", "--from", "main~1").stdout == (
        f"created tag v1 at {first[:12]}\n"
    )
    dw.ok("tag", "create", repo_name, "v2")
    assert dw.json("tag", "list", repo_name) == [
        {"name": "v1", "commit": first},
        {"name": "v2", "commit": head},
    ]
    assert dw.ok("tag", "list", repo_name).stdout.splitlines() == [f"v1 {first}", f"v2 {head}"]
    dw.fails("tag", "create", repo_name, "v1", message="tag 'v1' already exists")
    dw.ok("tag", "create", repo_name, "v1", "--force")
    assert dw.json("tag", "list", repo_name)[0] == {"name": "v1", "commit": head}
    assert dw.json("log", repo_name, "v2")[0]["id"] == head
    assert dw.ok("tag", "delete", repo_name, "v1").stdout == f"deleted tag v1 (was {head[:12]})\n"
    assert [t["name"] for t in dw.json("tag", "list", repo_name)] == ["v2"]


def test_tag_errors(dw, repo_name, two_commits):
    dw.fails("tag", "create", repo_name, "bad tag", message="bad tag")
    dw.fails("tag", "create", repo_name, "v1", "--from", "deadbeef00", message="not found")
    dw.fails("tag", "delete", repo_name, "ghost", message="ref 'ghost' not found")
