"""Protected branches and the ref log, on SQLite and PostgreSQL."""

import pytest

from dataworkflow.core.names import branch_pattern_matches
from dataworkflow.errors import InvalidName, PermissionDenied, ProtectedBranch
from dataworkflow.services.changes import Put
from dataworkflow.services.installation import create_repository
from dataworkflow.services.merging import cherry_pick, merge_branch, revert
from dataworkflow.services.repository import Repository
from tests.cli.conftest import write_tree


@pytest.fixture
def repo(db, storage):
    """Repository 'test' whose ref moves are made by 'alice'."""
    create_repository(db, "test")
    return Repository(db, storage, "test", actor="alice")


def put(repo, branch, path, data, message=None):
    return repo.commit(branch, [Put(path, data)], message or f"write {path}").commit_id


@pytest.fixture
def forked(repo):
    """main: a -> b (protected); feature: from a, with c. Returns the commit ids."""
    a = put(repo, "main", "a.txt", b"a")
    repo.create_branch("feature", a)
    b = put(repo, "main", "b.txt", b"b")
    c = put(repo, "feature", "c.txt", b"c")
    repo.protect_branches("main")
    return {"a": a, "b": b, "c": c}


def log_size(repo):
    return len(repo.ref_log(limit=1000))


# --- patterns ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "branch", "matches"),
    [
        ("main", "main", True),
        ("main", "main2", False),
        ("release/*", "release/1.0", True),
        ("release/*", "release/1.0/x", False),
        ("release/*", "release", False),
        ("release/**", "release/1.0/x", True),
        ("*", "main", True),
        ("*", "feature/x", False),
        ("hotfix-*", "hotfix-12", True),
        ("a.b", "axb", False),  # not a regular expression
    ],
)
def test_branch_pattern_matches(pattern, branch, matches):
    assert branch_pattern_matches(pattern, branch) is matches


def test_protection_patterns_are_listed_and_removed(repo):
    assert repo.protect_branches("release/*") is True
    assert repo.protect_branches("release/*") is False
    assert repo.protect_branches("main") is True
    assert repo.protected_branches() == ["main", "release/*"]
    assert repo.unprotect_branches("release/*") is True
    assert repo.unprotect_branches("release/*") is False
    assert repo.protected_branches() == ["main"]
    for bad in ("", "refs/heads/main", "a..b", "x/", "a b"):
        with pytest.raises(InvalidName):
            repo.protect_branches(bad)


def test_a_pattern_protects_only_the_branches_it_matches(repo):
    repo.protect_branches("release/*")
    with pytest.raises(ProtectedBranch):
        put(repo, "release/1.0", "a", b"1")
    assert put(repo, "release/1.0/x", "a", b"1")
    assert put(repo, "main", "a", b"1")


# --- protected branches -----------------------------------------------------------------


def refused(repo, operation, what):
    """Run an operation that must be refused, and check it changed no ref."""
    heads, size = repo.list_branches(), log_size(repo)
    with pytest.raises(ProtectedBranch) as error:
        operation()
    assert isinstance(error.value, PermissionDenied)
    assert error.value.branch == "main" and what in str(error.value)
    assert repo.list_branches() == heads and log_size(repo) == size


def test_a_protected_branch_refuses_direct_commits(forked, repo, tmp_path):
    refused(repo, lambda: put(repo, "main", "x.txt", b"x"), "direct commit")
    folder = write_tree(tmp_path / "folder", {"x.txt": b"x"})
    refused(repo, lambda: repo.commit_folder(folder, "main", "import"), "direct commit")
    refused(repo, lambda: revert(repo, forked["b"], "main"), "revert")
    refused(repo, lambda: cherry_pick(repo, forked["c"], "main"), "cherry-pick")


def test_a_protected_branch_refuses_force_moves_and_deletion(forked, repo):
    refused(repo, lambda: repo.create_or_update_ref("main", forked["c"]), "force move")
    refused(repo, lambda: repo.create_or_update_ref("main", forked["a"]), "force move")
    repo.create_branch("release/1.0", forked["b"])
    repo.protect_branches("release/*")
    heads, size = repo.list_branches(), log_size(repo)
    with pytest.raises(ProtectedBranch, match="deletion"):
        repo.delete_branch("release/1.0")
    with pytest.raises(ProtectedBranch, match="force move"):
        repo.create_or_update_ref("release/1.0", forked["c"])
    assert repo.list_branches() == heads and log_size(repo) == size


def test_a_protected_branch_accepts_merges_and_fast_forwards(forked, repo):
    merged = merge_branch(repo, "feature", "main")
    assert merged.status == "merged" and repo.head("main") == merged.commit_id
    # Fast-forward merge: feature catches up with main, moves on, and main follows.
    assert merge_branch(repo, "main", "feature").status == "fast-forward"
    ahead = put(repo, "feature", "d.txt", b"d")
    assert merge_branch(repo, "feature", "main").status == "fast-forward"
    assert repo.head("main") == ahead
    # A fast-forward ref update is not a force move either.
    after = repo.create_commit(repo.get_commit(ahead).commit.tree, "next", parent_hash=ahead)
    repo.create_or_update_ref("main", after)
    assert repo.head("main") == after
    # Unprotected again, direct commits land.
    repo.unprotect_branches("main")
    assert put(repo, "main", "z.txt", b"z")


# --- the ref log ------------------------------------------------------------------------


def moves(repo, ref=None, limit=100):
    return [(e.reason, e.ref, e.old, e.new) for e in repo.ref_log(ref, limit=limit)]


def test_every_movement_is_logged_newest_first(repo):
    main, feature = "refs/heads/main", "refs/heads/feature"
    a = put(repo, "main", "a.txt", b"a", "first\n\nbody")
    repo.create_branch("feature", a)
    c = put(repo, "feature", "c.txt", b"c")
    b = put(repo, "main", "b.txt", b"b")
    m = merge_branch(repo, "feature", "main").commit_id
    ff = merge_branch(repo, "main", "feature").commit_id
    r = revert(repo, c, "main").commit_id
    p = cherry_pick(repo, c, "main").commit_id
    repo.create_tag("v1", a)
    repo.create_tag("v1", b, force=True)
    repo.delete_tag("v1")
    u = repo.create_commit(repo.get_commit(p).commit.tree, "update", parent_hash=p)
    repo.create_or_update_ref("main", u)
    repo.create_or_update_ref("main", a)  # force: back to an ancestor
    repo.delete_branch("feature")
    assert moves(repo) == [
        ("delete", feature, m, None),
        ("force", main, u, a),
        ("update", main, p, u),
        ("delete", "refs/tags/v1", b, None),
        ("force", "refs/tags/v1", a, b),
        ("create", "refs/tags/v1", None, a),
        ("cherry-pick", main, r, p),
        ("revert", main, m, r),
        ("merge", feature, c, ff),
        ("merge", main, b, m),
        ("commit", main, a, b),
        ("commit", feature, a, c),
        ("create", feature, None, a),
        ("commit", main, None, a),
    ]
    assert ff == m
    entries = repo.ref_log()
    assert {e.actor for e in entries} == {"alice"}
    assert entries[-1].message == "first"  # the commit's title
    assert entries[-5].message == "Merge feature into main"
    assert entries[-6].message == "fast-forward main into feature"
    assert entries[0].message == ""
    ids = [e.id for e in entries]
    assert ids == sorted(ids, reverse=True)
    assert all(isinstance(e.at, int) and e.at > 1_600_000_000 for e in entries)


def test_the_log_of_one_ref_and_pages(repo):
    ids = [put(repo, "main", f"{n}.txt", str(n).encode()) for n in range(7)]
    repo.create_branch("side", ids[0])
    repo.create_tag("v1", ids[0])
    assert [e.new for e in repo.ref_log("main")] == ids[::-1]
    assert [e.new for e in repo.ref_log("refs/heads/main")] == ids[::-1]
    assert moves(repo, "refs/tags/v1") == [("create", "refs/tags/v1", None, ids[0])]
    assert moves(repo, "side") == [("create", "refs/heads/side", None, ids[0])]
    assert repo.ref_log("nothing") == []
    seen, before = [], None
    while page := repo.ref_log("main", before=before, limit=3):
        assert len(page) <= 3
        seen.extend(e.new for e in page)
        before = page[-1].id
    assert seen == ids[::-1]
    everything = repo.ref_log(limit=1000)
    assert len(everything) == 9
    assert repo.ref_log(before=everything[1].id, limit=2) == everything[2:4]


def test_nothing_is_lost_after_a_force_move(repo):
    a = put(repo, "main", "a.txt", b"a")
    lost = put(repo, "main", "b.txt", b"precious")
    repo.create_or_update_ref("main", a)
    forced = repo.ref_log("main")[0]
    assert (forced.reason, forced.old, forced.new) == ("force", lost, a)
    # The commit no branch points at any more is still found through the log.
    assert repo.read_file(forced.old, "b.txt") == b"precious"
    repo.create_or_update_ref("main", lost)
    assert repo.head("main") == lost


def test_refused_and_no_op_moves_are_not_logged(repo):
    a = put(repo, "main", "a.txt", b"a")
    size = log_size(repo)
    repo.create_or_update_ref("main", a)  # already there
    assert put(repo, "main", "a.txt", b"a") == a  # nothing changed: no commit
    repo.protect_branches("main")
    with pytest.raises(ProtectedBranch):
        put(repo, "main", "b.txt", b"b")
    assert log_size(repo) == size


def test_each_repository_has_its_own_log(db, storage, repo):
    put(repo, "main", "a.txt", b"a")
    create_repository(db, "other")
    other = Repository(db, storage, "other", actor="bob")
    put(other, "main", "a.txt", b"a")
    assert [e.actor for e in other.ref_log()] == ["bob"]
    assert len(repo.ref_log()) == 1
