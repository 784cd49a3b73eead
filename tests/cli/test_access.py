"""`dw repo grant|revoke|access|visibility`, `dw branch protect|...`, `dw reflog`, exits."""

from __future__ import annotations

import re

import httpx
import pytest

from dataworkflow.cli import access as access_cli
from dataworkflow.cli.errors import describe
from dataworkflow.client import problem_error
from dataworkflow.errors import (
    AuthenticationRequired,
    PermissionDenied,
    ProtectedBranch,
    RateLimited,
)
from tests.cli.conftest import write_tree

LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ  (?P<actor>\S+)\s+(?P<reason>\S+)\s+(?P<ref>\S+)\s+"
    r"(?P<old>[0-9a-f]{12}|\(none\))\s+-> (?P<new>[0-9a-f]{12}|\(none\))\s*(?P<message>.*)$"
)


@pytest.fixture
def people(dw) -> None:
    for name in ("alice", "bob"):
        dw.ok("user", "create", name, "--email", f"{name}@example.com")


def commit(dw, tmp_path, repo: str, files: dict[str, bytes], message: str, branch="main"):
    folder = write_tree(tmp_path / f"src-{message.replace(' ', '-')}", files)
    return dw.ok("import", str(folder), repo, "--branch", branch, "-m", message).stdout.strip()


# --- roles and visibility ---------------------------------------------------------------


def test_grant_revoke_and_show_access(dw, people):
    dw.ok("repo", "create", "data", "--private")
    assert dw.json("repo", "access", "data") == {
        "repository": "data",
        "visibility": "private",
        "private": True,
        "grants": [],
    }
    assert dw.ok("repo", "access", "data").stdout.splitlines() == [
        "visibility: private (readable by administrators and the users below)",
        "no roles granted",
    ]
    assert dw.ok("repo", "grant", "data", "BOB", "write").stdout == (
        "granted write on data to bob\n"
    )
    dw.ok("repo", "grant", "data", "alice", "read")
    dw.ok("repo", "grant", "data", "alice", "admin")  # replaces the role
    assert dw.json("repo", "access", "data")["grants"] == [
        {"user": "alice", "role": "admin"},
        {"user": "bob", "role": "write"},
    ]
    dw.ok("user", "update", "bob", "--disable")
    assert dw.ok("repo", "access", "data").stdout.splitlines()[1:] == [
        "alice  admin",
        "bob    write  (disabled)",
    ]
    assert dw.ok("repo", "revoke", "data", "bob").stdout == "revoked the role of bob on data\n"
    assert [g["user"] for g in dw.json("repo", "access", "data")["grants"]] == ["alice"]


def test_visibility(dw):
    dw.ok("repo", "create", "data")
    assert dw.json("repo", "access", "data")["visibility"] == "public"
    assert dw.ok("repo", "visibility", "data", "private").stdout == (
        "repository data is now private\n"
    )
    assert dw.json("repo", "show", "data")["private"] is True
    dw.ok("repo", "visibility", "data", "public")
    assert dw.json("repo", "show", "data")["private"] is False
    assert "everyone, signed in or not" in dw.ok("repo", "access", "data").stdout


def test_access_errors(dw, people):
    dw.ok("repo", "create", "data")
    dw.fails("repo", "grant", "data", "ghost", "read", message="user 'ghost' not found")
    dw.fails("repo", "grant", "data", "alice", "owner", code=2, message="'owner'")
    dw.fails("repo", "grant", "nowhere", "alice", "read", message="repository 'nowhere' not found")
    dw.fails("repo", "revoke", "data", "alice", message="'alice' has no role on this repository")
    dw.fails("repo", "access", "nowhere", message="repository 'nowhere' not found")
    dw.fails("repo", "visibility", "data", "secret", code=2, message="'secret'")
    dw.fails("repo", "visibility", "nowhere", "public", message="repository 'nowhere' not found")


# --- protected branches -----------------------------------------------------------------


def test_protect_list_unprotect(dw, tmp_path):
    dw.ok("repo", "create", "data")
    commit(dw, tmp_path, "data", {"a": b"1"}, "one")
    dw.ok("branch", "create", "data", "release/1.0")
    dw.ok("branch", "create", "data", "release/1.0/fix")
    assert dw.ok("branch", "protect", "data", "release/*").stdout == (
        "protected branches matching 'release/*' in data\n"
    )
    assert "protected already" in dw.ok("branch", "protect", "data", "release/*").stdout
    dw.ok("branch", "protect", "data", "hotfix/*")
    assert dw.json("branch", "protected", "data") == [
        {"pattern": "hotfix/*", "branches": []},
        {"pattern": "release/*", "branches": ["release/1.0"]},
    ]
    assert dw.ok("branch", "protected", "data").stdout.splitlines() == [
        "hotfix/*   (no branch yet)",
        "release/*  release/1.0",
    ]
    dw.fails("branch", "protect", "data", "refs/heads/main", message="short branch name")
    dw.fails("branch", "protect", "data", "a..b", message="a..b")
    dw.fails("branch", "unprotect", "data", "nothing/*", message="no protection pattern")
    dw.ok("branch", "unprotect", "data", "hotfix/*")
    assert [p["pattern"] for p in dw.json("branch", "protected", "data")] == ["release/*"]


def test_a_protected_branch_takes_only_merges(dw, tmp_path):
    dw.ok("repo", "create", "data")
    first = commit(dw, tmp_path, "data", {"a": b"1"}, "one")
    dw.ok("branch", "create", "data", "feature")
    commit(dw, tmp_path, "data", {"a": b"1", "b": b"2"}, "two", branch="feature")
    dw.ok("branch", "create", "data", "old", "--from", first)
    dw.ok("branch", "protect", "data", "main")
    dw.ok("branch", "protect", "data", "old")

    # Refused, with exit 77 and one line naming the branch; nothing moves.
    refused = dw.fails(
        "import",
        str(write_tree(tmp_path / "x", {"x": b"x"})),
        "data",
        "-m",
        "direct",
        code=77,
        message="branch 'main' is protected: a direct commit refused",
    )
    assert refused.stdout == ""
    dw.fails("branch", "delete", "data", "old", code=77, message="deletion refused")
    assert dw.json("log", "data")[0]["id"] == first

    # Merges land: a merge commit, then a fast-forward.
    assert not dw.ok("merge", "data", "feature", "--into", "main", "--no-ff").stdout.startswith(
        "fast-forwarded"
    )
    assert dw.ok("cat", "data", "main", "b").stdout == "2"
    commit(dw, tmp_path, "data", {"a": b"1", "b": b"2", "c": b"3"}, "three", branch="feature")
    dw.ok("merge", "data", "main", "--into", "feature")
    merged = dw.ok("merge", "data", "feature", "--into", "main")
    assert merged.stdout.startswith("fast-forwarded to")
    assert dw.ok("cat", "data", "main", "c").stdout == "3"
    reasons = [e["reason"] for e in dw.json("reflog", "data", "main")]
    assert reasons == ["merge", "merge", "commit"]


# --- the ref log ------------------------------------------------------------------------


def test_reflog_text_and_json(dw, tmp_path):
    dw.ok("repo", "create", "data")
    one = commit(dw, tmp_path, "data", {"a": b"1"}, "one")
    two = commit(dw, tmp_path, "data", {"a": b"2"}, "two")
    dw.ok("branch", "create", "data", "side", "--from", one)
    dw.ok("tag", "create", "data", "v1", "--from", one)
    dw.ok("tag", "create", "data", "v1", "--from", two, "--force")
    dw.ok("branch", "delete", "data", "side")

    lines = dw.ok("reflog", "data").stdout.splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert [(m["reason"], m["ref"], m["old"], m["new"], m["message"]) for m in parsed] == [
        ("delete", "side", one[:12], "(none)", ""),
        ("force", "tag:v1", one[:12], two[:12], ""),
        ("create", "tag:v1", "(none)", one[:12], ""),
        ("create", "side", "(none)", one[:12], ""),
        ("commit", "main", one[:12], two[:12], "two"),
        ("commit", "main", "(none)", one[:12], "one"),
    ]
    assert len({m["actor"] for m in parsed}) == 1

    entries = dw.json("reflog", "data")
    assert [e["reason"] for e in entries] == [
        "delete",
        "force",
        "create",
        "create",
        "commit",
        "commit",
    ]
    assert set(entries[0]) == {"id", "at", "actor", "reason", "ref", "old", "new", "message"}
    assert (entries[1]["ref"], entries[1]["old"], entries[1]["new"]) == ("refs/tags/v1", one, two)
    assert entries[0]["new"] is None and entries[-1]["old"] is None
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)

    # One ref: a branch, a tag when no branch has the name, a deleted branch, a full name.
    assert [e["new"] for e in dw.json("reflog", "data", "main")] == [two, one]
    assert [e["reason"] for e in dw.json("reflog", "data", "v1")] == ["force", "create"]
    assert [e["reason"] for e in dw.json("reflog", "data", "side")] == ["delete", "create"]
    assert len(dw.json("reflog", "data", "refs/tags/v1")) == 2
    assert len(dw.json("reflog", "data", "-n", "2")) == 2
    assert len(dw.ok("reflog", "data", "main", "-n", "1").stdout.splitlines()) == 1


def test_reflog_reads_in_pages(dw, tmp_path, monkeypatch):
    monkeypatch.setattr(access_cli, "REFLOG_PAGE", 2)
    dw.ok("repo", "create", "data")
    ids = [commit(dw, tmp_path, "data", {"a": str(n).encode()}, f"c{n}") for n in range(5)]
    assert [e["new"] for e in dw.json("reflog", "data")] == ids[::-1]
    assert [e["new"] for e in dw.json("reflog", "data", "-n", "3")] == ids[:1:-1]
    assert len(dw.ok("reflog", "data").stdout.splitlines()) == 5


def test_reflog_errors(dw):
    dw.ok("repo", "create", "data")
    assert dw.ok("reflog", "data").stdout == ""
    assert dw.json("reflog", "data") == []
    dw.fails("reflog", "data", "ghost", message="ref 'ghost' not found")
    dw.fails("reflog", "data", "bad..name", message="bad..name")
    dw.fails("reflog", "nowhere", message="repository 'nowhere' not found")
    dw.fails("reflog", "data", "-n", "0", code=2, message="-n")


# --- access failures: one line, their own exit statuses ---------------------------------


@pytest.mark.parametrize(
    ("exc", "code", "message"),
    [
        (AuthenticationRequired("sign in to write to repository 'x'"), 4, "sign in to write"),
        (PermissionDenied("you need admin access"), 77, "you need admin access"),
        (ProtectedBranch("main", "a force move"), 77, "branch 'main' is protected"),
        (
            RateLimited("too many failed sign-ins: try again in 3 minutes", 170),
            75,
            "too many failed",
        ),
    ],
    ids=["authentication", "permission", "protected", "rate-limited"],
)
def test_access_failures_exit_with_their_own_status(dw_sqlite, monkeypatch, exc, code, message):
    from dataworkflow.services import installation

    def refuse(db):
        raise exc

    monkeypatch.setattr(installation, "list_repositories", refuse)
    result = dw_sqlite("repo", "list")
    assert result.exit_code == code
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"error: {message}")


def test_a_server_asking_for_a_token_says_how_to_give_one():
    answer = httpx.Response(401, json={"detail": "sign in to read repository 'x'"})
    error = describe(problem_error(answer))
    assert error.exit_code == 4
    assert error.message == (
        "sign in to read repository 'x' (set DW_TOKEN to an API token from `dw token create`)"
    )
    forbidden = describe(problem_error(httpx.Response(403, json={"detail": "read scope"})))
    assert (forbidden.exit_code, forbidden.message) == (77, "read scope")
