"""The Repository API: objects, commits of changes, refs and reads, on SQLite and PostgreSQL."""

import contextlib
import hashlib
import io
import os
import shutil
import threading
import time

import pytest
from sqlalchemy import func, select

from dataworkflow.core.hashing import hash_bytes
from dataworkflow.core.objects import EMPTY_TREE_ID
from dataworkflow.errors import (
    AlreadyExists,
    InvalidInput,
    InvalidName,
    InvalidObjectId,
    InvalidRevision,
    NotAFile,
    ObjectNotFound,
    PathNotFound,
    RefConflict,
    RefNotFound,
    RepositoryNotFound,
    RevisionNotFound,
)
from dataworkflow.metadata.tables import BlobRow, CommitRow, RefRow, TreeEntryRow, TreeRow
from dataworkflow.services.changes import Delete, Put, PutBlob
from dataworkflow.services.installation import (
    create_repository,
    delete_repository,
    get_repository_info,
    list_repositories,
)
from dataworkflow.services.repository import Repository
from tests.factories import build_commit_graph


def count(db, table) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(table))


def files(repo, rev="main") -> dict[str, bytes]:
    return {e.path: repo.read_file(rev, e.path) for e in repo.walk(rev) if e.entry.kind == "blob"}


# --- blobs, trees, commits ------------------------------------------------------------


def test_blob_id_is_sha256_and_same_content_is_stored_once(repo):
    first = repo.create_blob(b"same bytes")
    second = repo.create_blob(io.BytesIO(b"same bytes"))
    assert first == second == hashlib.sha256(b"same bytes").hexdigest()
    assert list(repo.storage.iter_ids()) == [first]
    assert count(repo.db, BlobRow) == 1


def test_create_tree_accepts_entries_in_any_order(repo):
    a, b = repo.create_blob(b"a"), repo.create_blob(b"b")
    entries = [
        {"name": "a", "type": "blob", "hash": a, "mode": "100644"},
        {"name": "b", "type": "blob", "hash": b, "mode": "100755"},
    ]
    assert repo.create_tree(entries) == repo.create_tree(list(reversed(entries)))
    assert count(repo.db, TreeRow) == 1


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "x", "type": "blob", "hash": "0" * 64, "mode": "100644"},
        {"name": "x", "type": "tree", "hash": "0" * 64, "mode": "040000"},
    ],
)
def test_entries_must_point_at_existing_objects(repo, entry):
    with pytest.raises(ObjectNotFound):
        repo.create_tree([entry])
    assert count(repo.db, TreeRow) == 0


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ({"name": "a/b", "type": "blob"}, InvalidName),
        ({"name": "..", "type": "blob"}, InvalidName),
        ({"name": "a", "type": "blob", "hash": "xyz"}, InvalidObjectId),
        ({"name": "a", "type": "link"}, InvalidInput),
        ({"name": "a", "type": "tree", "mode": "100644"}, InvalidInput),
        ({"name": "a", "type": "blob", "colour": "red"}, InvalidInput),
    ],
)
def test_malformed_tree_entries_are_rejected(repo, entry, error):
    blob = repo.create_blob(b"x")
    with pytest.raises(error):
        repo.create_tree([{"hash": blob, **entry}])


def test_duplicate_names_in_create_tree_are_rejected(repo):
    blob = repo.create_blob(b"x")
    with pytest.raises(InvalidName):
        repo.create_tree([{"name": "a", "type": "blob", "hash": blob}] * 2)


def test_commit_needs_existing_tree_and_parents(repo):
    with pytest.raises(ObjectNotFound):
        repo.create_commit("1" * 64, "m", "A", "a@x")
    tree = repo.create_tree([])
    with pytest.raises(ObjectNotFound):
        repo.create_commit(tree, "m", "A", "a@x", parent_hash="2" * 64)
    assert count(repo.db, CommitRow) == 0


def test_objects_of_another_repository_are_invisible(db, storage, repo):
    secret = repo.create_blob(b"secret")
    create_repository(db, "other")
    other = Repository(db, storage, "other")
    with pytest.raises(ObjectNotFound):
        other.create_tree([{"name": "s", "type": "blob", "hash": secret}])
    with pytest.raises(ObjectNotFound):
        other.read_blob(secret)
    with pytest.raises(ObjectNotFound):
        other.commit("main", [PutBlob("s", secret)], "steal")


def test_commit_keeps_metadata_committer_and_merge_parents(repo):
    ids = build_commit_graph(repo, [[1], [2, 1], [3, 1], [4, 2, 3]])
    merge = repo.get_commit(ids[4])
    assert merge.commit.parents == (ids[2], ids[3])
    tree = repo.create_tree([])
    commit_id = repo.create_commit(
        tree,
        "with lineage",
        "A",
        "a@x",
        committer="Bot",
        committer_email="bot@x",
        metadata={"source": "s3://raw", "pipeline run": "42"},
        parent_hash=ids[4],
    )
    stored = repo.get_commit(commit_id).commit
    assert dict(stored.metadata) == {"source": "s3://raw", "pipeline run": "42"}
    assert (stored.committer.name, stored.author.name) == ("Bot", "A")
    assert stored.id == commit_id  # recomputed from rows, equals the id written


# --- refs ------------------------------------------------------------------------------


def test_refs_branches_and_tags(repo):
    ids = build_commit_graph(repo, [[1], [2, 1]])
    repo.create_or_update_ref("main", ids[2])
    assert repo.create_branch("feature/x", "main~1") == ids[1]
    assert repo.list_branches() == [("feature/x", ids[1]), ("main", ids[2])]
    with pytest.raises(AlreadyExists):
        repo.create_branch("feature/x")
    repo.create_tag("v1", "main")
    with pytest.raises(AlreadyExists):
        repo.create_tag("v1", ids[1])
    with pytest.raises(AlreadyExists):
        repo.create_or_update_ref("refs/tags/v1", ids[1])
    repo.create_tag("v1", ids[1], force=True)
    assert repo.list_tags() == [("v1", ids[1])]
    assert repo.delete_branch("feature/x") == ids[1]
    with pytest.raises(RefNotFound):
        repo.delete_branch("feature/x")
    with pytest.raises(InvalidInput):
        repo.delete_branch("main")
    repo.delete_tag("v1")
    assert repo.list_tags() == []


def test_create_or_update_ref_with_expected_value(repo):
    ids = build_commit_graph(repo, [[1], [2, 1], [3, 2]])
    repo.create_or_update_ref("main", ids[1], expected=None)
    with pytest.raises(RefConflict):
        repo.create_or_update_ref("main", ids[2], expected=None)
    with pytest.raises(RefConflict):
        repo.create_or_update_ref("main", ids[3], expected=ids[2])
    repo.create_or_update_ref("main", ids[2], expected=ids[1])
    assert repo.resolve("main") == ids[2]
    with pytest.raises(ObjectNotFound):
        repo.create_or_update_ref("main", "e" * 64)
    with pytest.raises(InvalidName):
        repo.create_or_update_ref("bad name", ids[1])


# --- resolving revisions ----------------------------------------------------------------


def test_resolve_revisions(repo):
    ids = build_commit_graph(repo, [[1], [2, 1], [3, 1], [4, 2, 3], [5, 4]])
    repo.create_or_update_ref("main", ids[5])
    repo.create_tag("v1", ids[2])
    assert repo.resolve() == ids[5]
    assert repo.resolve("HEAD") == ids[5]
    assert repo.resolve("refs/heads/main") == ids[5]
    assert repo.resolve("main~1") == ids[4]
    assert repo.resolve("main~2") == ids[2]
    assert repo.resolve("main^^2") == ids[3]
    assert repo.resolve("main~1^2") == ids[3]
    assert repo.resolve("main^0") == ids[5]
    assert repo.resolve("v1") == ids[2]
    assert repo.resolve(ids[3]) == ids[3]
    assert repo.resolve(ids[3][:7]) == ids[3]
    assert repo.resolve(ids[3][:12] + "~1") == ids[1]
    for bad in ("main~5", "main^3", "nope", ids[1][:6], "f" * 64):
        with pytest.raises(RevisionNotFound):
            repo.resolve(bad)
    with pytest.raises(InvalidRevision):
        repo.resolve("main~x")


def test_locate_reads_each_revision_form_with_its_own_tree(repo):
    # locate() takes the commit and its tree from one lookup for a ref or a full id;
    # the tree must be the commit's own whichever way the revision was written.
    ids = build_commit_graph(repo, [[1], [2, 1], [3, 1], [4, 2, 3], [5, 4]])
    repo.create_or_update_ref("main", ids[5])
    repo.create_tag("v1", ids[2])
    forms = {
        None: 5,
        "HEAD": 5,
        "main": 5,
        "refs/heads/main": 5,
        "v1": 2,
        "refs/tags/v1": 2,
        "main~1": 4,
        "main^^2": 3,
        ids[3]: 3,
        ids[3][:9]: 3,
        ids[4][:9] + "~1": 2,
    }
    for rev, number in forms.items():
        commit_id, root = repo.locate(rev, "")
        assert commit_id == ids[number], rev
        assert root.entry.id == repo.get_commit(ids[number]).commit.tree, rev
        assert repo.locate(rev, f"{number}.txt")[1].size == len(f"{number}\n"), rev
    with pytest.raises(RevisionNotFound):
        repo.locate("f" * 64, "")


def test_ambiguous_short_id_is_an_error(repo):
    tree = repo.create_tree([])
    seen: dict[str, str] = {}
    for n in range(5000):  # find two commits sharing a 4-hex prefix, then ask for 3 more
        commit_id = repo.create_commit(tree, f"m{n}", "A", "a@x", authored_at=n)
        if commit_id[:4] in seen:
            break
        seen[commit_id[:4]] = commit_id
    other = seen[commit_id[:4]]
    prefix = commit_id[:4]
    if other[:7] != commit_id[:7]:
        with pytest.raises(RevisionNotFound):
            repo.resolve(prefix)  # too short: at least 7 characters
        return
    with pytest.raises(InvalidRevision, match="ambiguous"):  # pragma: no cover - rare
        repo.resolve(commit_id[:7])


# --- commits of changes ---------------------------------------------------------------


def test_commit_puts_replaces_and_deletes(repo, tmp_path):
    local = tmp_path / "local.bin"
    local.write_bytes(b"\x00local")
    first = repo.commit(
        "main",
        [
            Put("README.md", b"# hi\n"),
            Put("data/a.csv", io.BytesIO(b"a\n1\n")),
            Put("data/deep/b.bin", local),
            Put("run.sh", b"#!/bin/sh\n", executable=True),
        ],
        "first",
        author="Ann",
        author_email="ann@x",
    )
    assert first.created and first.parent_id is None
    assert files(repo) == {
        "README.md": b"# hi\n",
        "data/a.csv": b"a\n1\n",
        "data/deep/b.bin": b"\x00local",
        "run.sh": b"#!/bin/sh\n",
    }
    assert repo.stat("main", "run.sh").entry.mode.value == "100755"
    second = repo.commit("main", [Put("data/a.csv", b"a\n2\n"), Delete("data/deep")], "second")
    assert second.parent_id == first.commit_id
    assert files(repo) == {
        "README.md": b"# hi\n",
        "data/a.csv": b"a\n2\n",
        "run.sh": b"#!/bin/sh\n",
    }
    assert repo.read_file("main~1", "data/deep/b.bin") == b"\x00local"
    assert repo.stat("main", "data/a.csv").size == 4


def test_unchanged_commit_makes_no_commit(repo):
    first = repo.commit("main", [Put("a", b"1")], "first")
    again = repo.commit("main", [Put("a", b"1")], "again")
    assert not again.created and again.commit_id == first.commit_id
    assert count(repo.db, CommitRow) == 1
    forced = repo.commit("main", [Put("a", b"1")], "empty", allow_empty=True)
    assert forced.created and forced.tree_id == first.tree_id


def test_a_one_file_change_adds_only_the_trees_on_its_path(repo):
    changes = [
        Put(f"d{i}/e{j}/f{k}.txt", f"{i}{j}{k}".encode())
        for i in range(3)
        for j in range(3)
        for k in range(3)
    ]
    repo.commit("main", changes, "many")
    trees_before = count(repo.db, TreeRow)
    entries_before = count(repo.db, TreeEntryRow)
    repo.commit("main", [Put("d1/e2/f0.txt", b"changed")], "one file")
    assert count(repo.db, TreeRow) - trees_before == 3  # root, d1, d1/e2
    assert count(repo.db, TreeEntryRow) - entries_before == 3 + 3 + 3


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ([Delete("missing.txt")], PathNotFound),
        ([Delete("dir/missing.txt")], PathNotFound),
        ([Put("a.txt/inner", b"x")], NotAFile),
        ([Put("dir", b"x")], NotAFile),
        ([Put("x", b"1"), Put("x", b"2")], InvalidInput),
        ([Put("x", b"1"), Put("x/y", b"2")], InvalidInput),
        ([Put("", b"1")], InvalidInput),
        ([Put("a/../b", b"1")], InvalidName),
        ([Put("x", "text is ambiguous")], InvalidInput),
        ([PutBlob("x", "0" * 64)], ObjectNotFound),
        ([PutBlob("x", "nothex")], InvalidObjectId),
    ],
)
def test_bad_changes_change_nothing(repo, changes, error):
    head = repo.commit("main", [Put("a.txt", b"a"), Put("dir/b.txt", b"b")], "base").commit_id
    commits = count(repo.db, CommitRow)
    with pytest.raises(error):
        repo.commit("main", changes, "bad")
    assert repo.resolve("main") == head
    assert count(repo.db, CommitRow) == commits


def test_deleting_the_last_file_removes_empty_folders(repo):
    repo.commit("main", [Put("a/b/c.txt", b"c"), Put("top.txt", b"t")], "first")
    repo.commit("main", [Delete("a/b/c.txt")], "second")
    assert [e.path for e in repo.walk()] == ["top.txt"]
    repo.commit("main", [Delete("top.txt")], "third")
    assert repo.stat("main", "").entry.id == EMPTY_TREE_ID


def test_put_blob_references_an_uploaded_blob(repo):
    blob = repo.create_blob(io.BytesIO(b"uploaded earlier"))
    repo.commit("main", [PutBlob("data/u.txt", blob)], "use it")
    assert repo.read_file("main", "data/u.txt") == b"uploaded earlier"


def test_expected_head_guards_against_lost_updates(repo):
    first = repo.commit("main", [Put("a", b"1")], "first").commit_id
    repo.commit("main", [Put("a", b"2")], "second", expected_head=first)
    with pytest.raises(RefConflict):
        repo.commit("main", [Put("a", b"3")], "stale", expected_head=first)
    with pytest.raises(RefConflict):
        repo.commit("new", [Put("a", b"3")], "must not exist", expected_head=first)
    repo.commit("new", [Put("a", b"3")], "creates", expected_head=None)
    assert repo.read_file("main", "a") == b"2"


def test_concurrent_commits_all_land_when_not_pinned(repo):
    repo.commit("main", [Put("start", b"0")], "start")
    barrier = threading.Barrier(4)
    errors: list[Exception] = []

    def writer(n: int) -> None:
        barrier.wait()
        try:
            repo.commit("main", [Put(f"w{n}", str(n).encode())], f"writer {n}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert set(files(repo)) == {"start", "w0", "w1", "w2", "w3"}
    assert len(repo.log("main").commits) == 5


def test_commit_to_a_new_branch_starts_a_root_commit(repo):
    result = repo.commit("feature/new", [Put("f", b"f")], "root")
    assert result.parent_id is None
    assert repo.list_branches() == [("feature/new", result.commit_id)]


# --- failure injection: nothing half-written -----------------------------------------


def _all_blob_rows_have_bytes(repo) -> bool:
    with repo.db.reading() as session:
        ids = list(session.scalars(select(BlobRow.id)))
    return all(repo.storage.exists(i) for i in ids)


def test_failure_after_bytes_are_stored_leaves_branch_unchanged(repo, monkeypatch):
    head = repo.commit("main", [Put("a", b"1")], "first").commit_id
    rows = {t: count(repo.db, t) for t in (BlobRow, TreeRow, CommitRow, RefRow)}
    from dataworkflow.metadata import commits as commit_queries

    def boom(*args, **kwargs):
        raise RuntimeError("crash between bytes and metadata")

    monkeypatch.setattr(commit_queries, "insert_commit", boom)
    with pytest.raises(RuntimeError):
        repo.commit("main", [Put("b", b"new bytes"), Put("a", b"2")], "doomed")
    monkeypatch.undo()
    assert repo.resolve("main") == head
    assert {t: count(repo.db, t) for t in rows} == rows
    assert repo.storage.exists(hashlib.sha256(b"new bytes").hexdigest())  # garbage, for gc
    assert _all_blob_rows_have_bytes(repo)


class FailingStorage:
    """Delegates to real storage but fails on the n-th write."""

    def __init__(self, inner, fail_at: int):
        self.inner, self.fail_at, self.calls = inner, fail_at, 0

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if name == "put_files":  # many writes in one call: fail at the n-th object

            def each(*args, **kwargs):
                for stored in attr(*args, **kwargs):
                    self.calls += 1
                    if self.calls == self.fail_at:
                        raise OSError("disk failed mid-commit")
                    yield stored

            return each
        if name.startswith("put_"):

            def wrapped(*args, **kwargs):
                self.calls += 1
                if self.calls == self.fail_at:
                    raise OSError("disk failed mid-commit")
                return attr(*args, **kwargs)

            return wrapped
        return attr


def test_failure_in_the_middle_of_a_many_file_commit(db, storage, repo, tmp_path):
    head = repo.commit("main", [Put("keep", b"k")], "first").commit_id
    folder = tmp_path / "many"
    for i in range(40):
        (folder / f"d{i % 4}").mkdir(parents=True, exist_ok=True)
        (folder / f"d{i % 4}" / f"f{i}.txt").write_bytes(f"file {i}".encode())
    flaky = Repository(db, FailingStorage(storage, fail_at=20), "test")
    rows = {t: count(db, t) for t in (BlobRow, TreeRow, TreeEntryRow, CommitRow)}
    with pytest.raises(OSError):
        flaky.commit_folder(folder, "main", "import")
    with pytest.raises(OSError):
        Repository(db, FailingStorage(storage, fail_at=3), "test").commit(
            "main", [Put(f"x{i}", bytes([i])) for i in range(10)], "puts"
        )
    assert repo.resolve("main") == head
    assert {t: count(db, t) for t in rows} == rows
    assert _all_blob_rows_have_bytes(repo)
    assert repo.commit_folder(folder, "main", "import").created  # works once storage does


# --- commit a folder -------------------------------------------------------------------


def blob_lookups(monkeypatch) -> list[str]:
    """The blob ids commit_folder will look up in the repository, as it asks."""
    from dataworkflow.metadata import objects as object_queries

    asked: list[str] = []
    lookup = object_queries.existing_blob_ids

    def spy(session, repository_id, ids):
        ids = list(ids)
        asked.extend(ids)
        return lookup(session, repository_id, ids)

    monkeypatch.setattr(object_queries, "existing_blob_ids", spy)
    return asked


def make_folder(root, spec: dict[str, bytes]):
    for rel, data in spec.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_commit_folder_mirrors_the_folder(repo, tmp_path):
    src = tmp_path / "src"
    make_folder(src, {"a.csv": b"a", "sub/b.csv": b"b", "sub/deeper/c.bin": b"\x00" * 10})
    (src / "empty").mkdir()
    (src / "run.sh").write_bytes(b"#!/bin/sh\n")
    (src / "run.sh").chmod(0o755)
    (src / "link").symlink_to(src / "a.csv")
    first = repo.commit_folder(src, "main", "import")
    assert first.created and first.files_stored == 4
    assert files(repo) == {
        "a.csv": b"a",
        "sub/b.csv": b"b",
        "sub/deeper/c.bin": b"\x00" * 10,
        "run.sh": b"#!/bin/sh\n",
    }
    assert repo.stat("main", "run.sh").entry.mode.value == "100755"

    writes = repo.storage.writes
    again = repo.commit_folder(src, "main", "again")
    assert not again.created and again.commit_id == first.commit_id
    assert repo.storage.writes == writes

    (src / "a.csv").write_bytes(b"changed")
    (src / "sub" / "b.csv").unlink()
    (src / "new.txt").write_bytes(b"new")
    third = repo.commit_folder(src, "main", "third")
    assert third.files_stored == 2
    assert set(files(repo)) == {"a.csv", "new.txt", "sub/deeper/c.bin", "run.sh"}


@pytest.mark.parametrize("count", [10, 300])  # one by one, and in forked processes
def test_commit_folder_reads_each_file_once_and_reports_each_once(
    repo, tmp_path, monkeypatch, count
):
    from dataworkflow.services import folder as folder_module

    contents = {f"d{n % 9}/f{n}.txt": f"file {n % 150}".encode() * 3 for n in range(count)}
    contents["big.bin"] = os.urandom(2 * 1024 * 1024 + 3)  # above SMALL_FILE
    make_folder(tmp_path / "src", contents)
    reads = []
    monkeypatch.setattr(folder_module, "_read_small", lambda path: reads.append(path))
    monkeypatch.setattr(folder_module, "_hash_file", lambda path: reads.append(path))
    phases: dict[str, tuple[int, int]] = {}
    reports: list[str] = []

    def progress(phase: str, files: int, size: int) -> None:
        phases[phase] = (files, size)
        reports.append(phase)

    result = repo.commit_folder(tmp_path / "src", "main", "many", progress=progress)

    assert reads == []  # filesystem storage hashes while it copies: nothing read twice
    total = sum(map(len, contents.values()))
    assert phases["scan"] == phases["hash"] == (count + 1, total)
    # Reported every PROGRESS_FILES files (or 8 MiB: big.bin), and at the end.
    assert reports.count("hash") <= (count + 1) // 32 + 3
    assert phases["plan"] == (0, 0)  # everything was stored while hashing
    assert result.files_stored == len(set(contents.values()))
    assert files(repo) == contents
    assert repo.storage.writes == len(set(contents.values()))


@pytest.mark.parametrize("count", [5, 600])  # stored on this thread, and in processes
def test_commit_folder_commits_only_once_the_stored_bytes_are_durable(
    repo, tmp_path, monkeypatch, count
):
    # The storage syncs in the background while rows are inserted; the commit waits.
    from dataworkflow.metadata import refs as ref_queries

    events: list[str] = []
    storage_type = type(repo.storage)
    sync = storage_type.sync

    def slow_sync(self):
        time.sleep(0.3)
        sync(self)
        events.append("synced")

    cas = ref_queries.compare_and_swap_ref

    def moving_the_branch(*args, **kwargs):
        events.append("ref")
        return cas(*args, **kwargs)

    monkeypatch.setattr(storage_type, "sync", slow_sync)
    monkeypatch.setattr(ref_queries, "compare_and_swap_ref", moving_the_branch)
    make_folder(tmp_path / "src", {f"d{n % 7}/f{n}": f"file {n}".encode() for n in range(count)})
    result = repo.commit_folder(tmp_path / "src", "main", "import")
    assert result.created and result.files_stored == count
    assert events == ["synced", "ref"]  # one sync, before the branch moved


def test_commit_folder_looks_up_only_blobs_outside_known_folders(repo, tmp_path, monkeypatch):
    # A folder whose tree the repository has already has all its blobs: a re-import
    # looks up only the files of changed folders, and a copied folder stores nothing.
    contents = {
        "top.txt": b"top",
        "a/x.txt": b"ax",
        "a/deep/y.txt": b"ay",
        "b/z.txt": b"bz",
        "b/c/w.txt": b"bcw",
    }
    src = tmp_path / "src"
    make_folder(src, contents)
    repo.commit_folder(src, "main", "first")
    asked = blob_lookups(monkeypatch)
    (src / "b" / "c" / "w.txt").write_bytes(b"changed")
    changed = repo.commit_folder(src, "main", "second")
    assert changed.created and changed.files_stored == 1
    blob = {path: repo.stat("main", path).entry.id for path in contents}
    # Folders b/c, b and the root changed; a and a/deep did not. w.txt's new bytes were
    # written to storage, so no repository can have them: not looked up either.
    assert sorted(asked) == sorted({blob["top.txt"], blob["b/z.txt"]})
    assert files(repo) == {**contents, "b/c/w.txt": b"changed"}

    asked.clear()
    writes = repo.storage.writes
    shutil.copytree(src / "a", src / "a2")
    copied = repo.commit_folder(src, "main", "copy")
    assert copied.created and copied.files_stored == 0
    assert repo.storage.writes == writes
    assert blob["a/x.txt"] not in asked  # a2's tree is a's: known, not looked into
    assert files(repo)["a2/deep/y.txt"] == b"ay"


def backdate(root, seconds=3600):
    """Set the mtime of ``root`` (a file) or of every file below it to ``seconds`` ago.

    Outside the stat cache's racy window, as files imported a while after a change are.
    """
    when = time.time_ns() - seconds * 10**9
    paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
    for path in paths:
        os.utime(path, ns=(when, when))


def commit_with_cache(repo, src, cache_file, message, **options):
    """``commit_folder`` to main with the stat cache in ``cache_file``, saved after."""
    from dataworkflow.services.statcache import FileStatCache

    with FileStatCache(cache_file) as cache:
        result = repo.commit_folder(src, "main", message, stat_cache=cache, **options)
        cache.save()
    return result


def test_commit_folder_rebuilds_only_changed_folders_with_a_stat_cache(repo, tmp_path, monkeypatch):
    from dataworkflow.services import repository as repository_module

    contents = {
        "top.txt": b"top",
        "a/x.txt": b"ax",
        "a/deep/y.txt": b"ay",
        "b/z.txt": b"bz",
        "b/c/w.txt": b"bcw",
    }
    src = tmp_path / "src"
    make_folder(src, contents)
    (src / "empty" / "deeper").mkdir(parents=True)
    backdate(src)
    built: list[set[tuple[str, ...]]] = []
    build = repository_module.build_trees

    def spy(*args, **kwargs):
        trees, ids = build(*args, **kwargs)
        built.append(set(trees))
        return trees, ids

    monkeypatch.setattr(repository_module, "build_trees", spy)

    def commit(message):
        return commit_with_cache(repo, src, tmp_path / "cache", message)

    first = commit("first")
    assert built[-1] == {(), ("a",), ("a", "deep"), ("b",), ("b", "c")}  # not empty/*
    assert not commit("unchanged").created
    assert built[-1] == {()}

    (src / "b" / "c" / "w.txt").write_bytes(b"changed")
    backdate(src / "b" / "c" / "w.txt", 60)
    second = commit("second")
    assert second.created and second.files_stored == 1
    assert built[-1] == {(), ("b",), ("b", "c")}
    assert files(repo) == {**contents, "b/c/w.txt": b"changed"}

    shutil.rmtree(src / "a" / "deep")
    (src / "empty" / "deeper" / "now.txt").write_bytes(b"now")
    backdate(src / "empty" / "deeper" / "now.txt", 60)
    third = commit("third")
    assert built[-1] == {(), ("a",), ("empty",), ("empty", "deeper")}
    expected = {**contents, "b/c/w.txt": b"changed", "empty/deeper/now.txt": b"now"}
    del expected["a/deep/y.txt"]
    assert files(repo) == expected
    assert first.tree_id != third.tree_id


def test_blobs_storage_had_to_write_are_not_looked_up(repo, db, storage, tmp_path, monkeypatch):
    # Bytes the storage did not have cannot be a blob of any repository (bytes are
    # stored before any row refers to them): only deduplicated files are looked up.

    src = tmp_path / "src"
    make_folder(src, {"a.txt": b"a", "b/c.txt": b"c", "b/same.txt": b"a"})
    asked = blob_lookups(monkeypatch)
    first = repo.commit_folder(src, "main", "first")
    assert first.files_stored == 2
    assert asked == [hash_bytes(b"a")]  # b/same.txt: stored already, by a.txt
    create_repository(db, "other")
    other = Repository(db, storage, "other")
    asked.clear()
    again = other.commit_folder(src, "main", "first")
    assert sorted(asked) == sorted(hash_bytes(d) for d in (b"a", b"c", b"a"))
    assert again.files_stored == 2 and files(other) == files(repo)


def test_a_stat_cache_sees_mode_ignore_and_racy_changes(repo, tmp_path):
    # What a folder's tree depends on besides file bytes: the executable bit (no mtime
    # change), the ignore rules, and a rewrite within the racy window that keeps the
    # size and mtime: each must make a new tree, with a warm cache.
    from dataworkflow.services.ignore import load_ignore_rule

    src = tmp_path / "src"
    make_folder(src, {"d/run.sh": b"#!/bin/sh\n", "d/log.txt": b"log", "d/e/f.txt": b"f"})
    backdate(src)

    def commit(message):
        ignore = load_ignore_rule(src)
        return commit_with_cache(repo, src, tmp_path / "cache", message, ignore=ignore)

    commit("first")
    assert not commit("same").created
    (src / "d" / "run.sh").chmod(0o755)
    assert commit("chmod").created
    assert repo.stat("main", "d/run.sh").entry.mode.value == "100755"

    (src / ".dwignore").write_text("*.txt\n")
    backdate(src / ".dwignore")
    assert commit("ignore").created
    assert set(files(repo)) == {".dwignore", "d/run.sh"}
    (src / ".dwignore").write_text("log.txt\n")
    backdate(src / ".dwignore")
    assert commit("ignore less").created
    assert set(files(repo)) == {".dwignore", "d/run.sh", "d/e/f.txt"}

    racy = src / "d" / "e" / "f.txt"
    racy.write_bytes(b"1")  # now: within the racy window of the next import
    commit("racy")
    mtime = racy.stat().st_mtime_ns
    racy.write_bytes(b"2")  # same size, same mtime: only a re-read can tell
    os.utime(racy, ns=(mtime, mtime))
    assert commit("rewritten").created
    assert repo.read_file("main", "d/e/f.txt") == b"2"


def test_with_a_stat_cache_only_changed_files_are_looked_up(repo, tmp_path, monkeypatch):
    # In a changed folder whose previous tree the repository has, the files the cache
    # knew are blobs of that tree: only the changed file is looked up (if at all).

    contents = {"top.txt": b"top", "b/z.txt": b"bz", "b/c/w.txt": b"bcw", "b/c/v.txt": b"v"}
    src = tmp_path / "src"
    make_folder(src, contents)
    backdate(src)
    asked = blob_lookups(monkeypatch)

    def commit(message):
        return commit_with_cache(repo, src, tmp_path / "cache", message)

    commit("first")
    asked.clear()
    (src / "b" / "c" / "w.txt").write_bytes(b"changed")
    backdate(src / "b" / "c" / "w.txt", 60)
    assert commit("second").files_stored == 1
    assert asked == []  # ...and its new bytes were written: no repository has them
    (src / "b" / "c" / "w.txt").write_bytes(b"v")  # now bytes storage has
    backdate(src / "b" / "c" / "w.txt", 30)
    commit("third")
    assert asked == [hash_bytes(b"v")]
    assert files(repo) == {**contents, "b/c/w.txt": b"v"}


def test_a_warm_stat_cache_does_not_skip_what_another_repository_lacks(repo, db, storage, tmp_path):
    # The cache says which trees the folder makes, not which repository has them: a
    # folder imported into one repository and then into another must be complete there.
    from dataworkflow.services.fsck import check_integrity

    contents = {"top.txt": b"top", "a/x.txt": b"ax", "a/deep/y.txt": b"ay", "b/z.txt": b"bz"}
    src = tmp_path / "src"
    make_folder(src, contents)
    backdate(src)
    for target in (repo, None):
        if target is None:
            create_repository(db, "other")
            target = Repository(db, storage, "other")
        result = commit_with_cache(target, src, tmp_path / "cache", "import")
        assert result.created
        assert files(target) == contents
    assert list(check_integrity(db, storage, full=True)) == []


def test_outside_known_trees_skips_every_file_below_a_known_folder(tmp_path):
    from dataworkflow.services.folder import build_trees, outside_known_trees, scan_folder

    for path in ("r.txt", "a/b/c/d.txt", "a/b/e.txt", "a/f.txt"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(path.encode())
    (tmp_path / "empty" / "deeper").mkdir(parents=True)  # no files below: no tree
    scan = scan_folder(tmp_path)
    found = scan.files
    for local in found:
        local.id = hash_bytes(local.relpath.encode())
    trees, ids = build_trees(scan, found)
    assert ids[("empty",)] == ids[("empty", "deeper")] == "" and ("empty",) not in trees
    assert trees[()].get("empty") is None
    known = {trees[("a", "b")].id}
    outside = outside_known_trees(found, trees, known)
    assert sorted(f.relpath for f in outside) == ["a/f.txt", "r.txt"]
    assert outside_known_trees(found, trees, {trees[()].id}) == []
    assert outside_known_trees(found, trees, set()) == found


def test_build_trees_takes_fixed_folders_as_they_are(tmp_path):
    from dataworkflow.services.folder import build_trees, scan_folder

    for path in ("r.txt", "a/b/e.txt", "a/f.txt"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(path.encode())
    scan = scan_folder(tmp_path)
    for local in scan.files:
        local.id = hash_bytes(local.relpath.encode())
    whole, ids = build_trees(scan, scan.files)
    fixed = {("a", "b"): ids[("a", "b")]}
    rest = scan.local_files(skip=fixed)
    for local in rest:
        local.id = hash_bytes(local.relpath.encode())
    assert sorted(f.relpath for f in rest) == ["a/f.txt", "r.txt"]
    partial, partial_ids = build_trees(scan, rest, fixed)
    assert ("a", "b") not in partial and partial_ids == ids
    assert partial[()].id == whole[()].id


def test_commit_folder_into_a_path_keeps_the_rest(repo, tmp_path):
    repo.commit("main", [Put("other/keep.txt", b"keep"), Put("data/old.txt", b"old")], "base")
    make_folder(tmp_path / "in", {"x.csv": b"x", "y/z.csv": b"z"})
    repo.commit_folder(tmp_path / "in", "main", "import", path="data/2026")
    assert set(files(repo)) == {
        "other/keep.txt",
        "data/old.txt",
        "data/2026/x.csv",
        "data/2026/y/z.csv",
    }
    with pytest.raises(NotAFile):
        repo.commit_folder(tmp_path / "in", "main", "import", path="other/keep.txt")


def test_commit_folder_errors(repo, tmp_path):
    with pytest.raises(InvalidInput):
        repo.commit_folder(tmp_path / "missing", "main", "m")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / b"\xff\xfe.bin".decode("utf-8", "surrogateescape")).write_bytes(b"x")
    with pytest.raises(InvalidName, match="UTF-8"):
        repo.commit_folder(bad, "main", "m")
    assert repo.head() is None


def test_commit_folder_skips_what_is_not_a_file_or_folder(repo, tmp_path):
    src = tmp_path / "src"
    make_folder(src, {"a.csv": b"a", "sub/b.csv": b"b"})
    os.mkfifo(src / "sub" / "pipe")
    (src / "to-sub").symlink_to(src / "sub", target_is_directory=True)
    (src / "to-a").symlink_to(src / "a.csv")
    repo.commit_folder(src, "main", "import")
    assert files(repo) == {"a.csv": b"a", "sub/b.csv": b"b"}


def test_commit_folder_refuses_a_folder_swapped_for_a_symlink_while_scanned(
    repo, tmp_path, monkeypatch
):
    """The listing saw a folder; if a symlink replaces it before it is read, it is not
    followed (the import fails and commits nothing)."""
    src = tmp_path / "src"
    make_folder(src, {"a.csv": b"a", "sub/b.csv": b"b", "elsewhere/secret": b"s"})
    real_scandir = os.scandir
    swapped = []

    def swapping_scandir(target):
        with real_scandir(target) as listing:
            entries = list(listing)
        if not swapped:  # right after the root was listed
            swapped.append(True)
            os.rename(src / "sub", tmp_path / "moved")
            (src / "sub").symlink_to(src / "elsewhere", target_is_directory=True)
        return contextlib.nullcontext(iter(entries))

    monkeypatch.setattr(os, "scandir", swapping_scandir)
    with pytest.raises(InvalidInput, match="stopped being a folder"):
        repo.commit_folder(src, "main", "import")
    assert repo.head() is None


def test_identical_files_are_stored_once(repo, tmp_path):
    make_folder(tmp_path / "dup", {f"copy{i}.txt": b"same" for i in range(5)})
    result = repo.commit_folder(tmp_path / "dup", "main", "dups")
    assert result.files_stored == 1
    assert len(list(repo.storage.iter_ids())) == 1


# --- reads -----------------------------------------------------------------------------


def test_list_tree_paginates_folders_first_by_name(repo):
    repo.commit(
        "main", [Put(f"dir/f{i:02d}", b"x" * i) for i in range(25)] + [Put("top", b"t")], "m"
    )
    page1 = repo.list_tree("main", "dir", limit=10)
    page2 = repo.list_tree("main", "dir", limit=10, after=page1[-1].name)
    page3 = repo.list_tree("main", "dir", limit=10, after=page2[-1].name)
    names = [e.name for e in page1 + page2 + page3]
    assert names == [f"f{i:02d}" for i in range(25)]
    assert page1[3].size == 3 and page1[3].path == "dir/f03"
    assert [e.path for e in repo.list_tree("main")] == ["dir", "top"]
    assert len(repo.list_tree("main", recursive=True)) == 27
    with pytest.raises(NotAFile):
        repo.list_tree("main", "top")
    with pytest.raises(PathNotFound):
        repo.list_tree("main", "nope")
    with pytest.raises(NotAFile):
        repo.read_file("main", "dir")
    with pytest.raises(PathNotFound):
        repo.read_file("main", "top/inner")


def test_recursive_pages_continue_the_walk_exactly_and_load_only_their_folders(repo, monkeypatch):
    names = ["a-b", "a/x", "a/y/z", "a/y-1", "a.c", "b", "é/1", "z/z/z/z", "a/y/zz"]
    names += [f"wide/d{i}/f{j}" for i in range(20) for j in range(3)]
    repo.commit("main", [Put(name, name.encode()) for name in names], "tricky")
    full = repo.list_tree("main", recursive=True)
    paths = [e.path for e in full]
    assert paths.index("a/y/zz") < paths.index("a/y-1") < paths.index("a-b")  # name by name
    for start in range(-1, len(full)):
        after = full[start].path if start >= 0 else None
        for limit in (1, 4):
            page = repo.list_tree("main", recursive=True, after=after, limit=limit)
            assert page == full[start + 1 : start + 1 + limit], (after, limit)
    inside = repo.list_tree("main", "a", recursive=True)
    assert repo.list_tree("main", "a", recursive=True, after="y", limit=2) == inside[2:4]

    from dataworkflow.metadata import objects

    loaded: list[str] = []
    load = objects.get_trees_with_sizes

    def recording(session, repository_id, ids, **kwargs):
        ids = list(ids)
        loaded.extend(ids)
        return load(session, repository_id, ids, **kwargs)

    monkeypatch.setattr(objects, "get_trees_with_sizes", recording)
    page = repo.list_tree("main", recursive=True, after="a/y/z", limit=2)
    assert [e.path for e in page] == ["a/y/zz", "a/y-1"]
    wide = {e.entry.id for e in full if e.path.startswith("wide")}
    assert loaded and not wide & set(loaded)  # only the folders on the way: root, a, a/y


def test_a_recursive_listing_loads_a_level_of_folders_per_query(repo):
    """Not a query per folder: 10,000 folders took 12 s that way."""
    from sqlalchemy import event

    repo.commit(
        "main",
        [Put(f"a{i}/b{j}/f{k}", b"x" * k) for i in range(6) for j in range(6) for k in range(3)],
        "many",
    )
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(repo.db.engine, "before_cursor_execute", count)
    try:
        listed = repo.list_tree("main", recursive=True)
    finally:
        event.remove(repo.db.engine, "before_cursor_execute", count)

    assert len(listed) == 6 + 36 + 108
    assert [e.path for e in listed[:4]] == ["a0", "a0/b0", "a0/b0/f0", "a0/b0/f1"]
    assert {e.path: e.size for e in listed}["a5/b5/f2"] == 2 and listed[0].size is None
    assert len(statements) < 15, statements


def test_open_file_streams(repo):
    data = bytes(range(256)) * 8192  # 2 MiB
    repo.commit("main", [Put("big.bin", io.BytesIO(data))], "big")
    with repo.open_file("main", "big.bin") as stream:
        assert stream.read(10) == data[:10]
        assert (
            hashlib.sha256(data[:10] + stream.read()).hexdigest()
            == hashlib.sha256(data).hexdigest()
        )


def test_log_pages_through_linear_history(repo):
    for i in range(7):
        repo.commit("main", [Put("n", str(i).encode())], f"c{i}")
    messages, cursor = [], None
    while True:
        page = repo.log("main", limit=3, cursor=cursor)
        messages += [e.commit.message for e in page.commits]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert messages == [f"c{i}" for i in reversed(range(7))]
    with pytest.raises(InvalidInput):
        repo.log("main", cursor="garbage")
    with pytest.raises(InvalidInput):
        repo.log("main", limit=0)


def test_log_of_a_merge_history_lists_each_commit_once_in_topological_order(repo):
    ids = build_commit_graph(repo, [[1], [2, 1], [3, 1], [4, 2, 3], [5, 4], [6, 3], [7, 5, 6]])
    repo.create_or_update_ref("main", ids[7])
    full = [e.id for e in repo.log("main", limit=100).commits]
    assert sorted(full) == sorted(ids.values()) and len(full) == 7
    position = {cid: i for i, cid in enumerate(full)}
    for number, parents in [(2, [1]), (3, [1]), (4, [2, 3]), (5, [4]), (6, [3]), (7, [5, 6])]:
        for parent in parents:
            assert position[ids[number]] < position[ids[parent]]
    paged, cursor = [], None
    while True:
        page = repo.log("main", limit=2, cursor=cursor)
        paged += [e.id for e in page.commits]
        if (cursor := page.next_cursor) is None:
            break
    assert paged == full


def test_log_of_a_path(repo):
    repo.commit("main", [Put("a", b"1"), Put("b", b"1")], "both")
    repo.commit("main", [Put("b", b"2")], "b only")
    repo.commit("main", [Put("a", b"2")], "a only")
    repo.commit("main", [Delete("a")], "delete a")
    assert [e.commit.message for e in repo.log("main", path="a").commits] == [
        "delete a",
        "a only",
        "both",
    ]
    assert [e.commit.message for e in repo.log("main", path="b").commits] == ["b only", "both"]
    page = repo.log("main", path="a", limit=1)
    assert [
        e.commit.message for e in repo.log("main", path="a", cursor=page.next_cursor).commits
    ] == [
        "a only",
        "both",
    ]


# --- repositories ------------------------------------------------------------------------


def test_repositories_are_created_listed_and_deleted(db, storage):
    info = create_repository(db, "alpha", description="first", default_branch="trunk", private=True)
    assert (info.name, info.default_branch, info.private) == ("alpha", "trunk", True)
    create_repository(db, "beta")
    with pytest.raises(AlreadyExists):
        create_repository(db, "alpha")
    with pytest.raises(InvalidName):
        create_repository(db, "bad/name")
    with pytest.raises(InvalidName):
        create_repository(db, "ok", default_branch="bad..branch")
    assert [r.name for r in list_repositories(db)] == ["alpha", "beta"]
    alpha = Repository(db, storage, "alpha")
    alpha.commit("trunk", [Put("x", b"x")], "first")
    assert alpha.resolve() == alpha.head("trunk")
    delete_repository(db, "alpha")
    assert [r.name for r in list_repositories(db)] == ["beta"]
    assert count(db, CommitRow) == 0
    with pytest.raises(RepositoryNotFound):
        Repository(db, storage, "alpha")
    with pytest.raises(RepositoryNotFound):
        get_repository_info(db, "alpha")
    with pytest.raises(RepositoryNotFound):
        delete_repository(db, "alpha")


def test_two_argument_form_opens_the_default_repository(db, storage):
    first = Repository(db, storage)
    second = Repository(db, storage)
    assert first.id == second.id and first.name == "default"
