"""Garbage collection on SQLite and PostgreSQL: what goes, what stays, and concurrent writers."""

import hashlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from dataworkflow.errors import Conflict, InvalidInput, ObjectNotFound
from dataworkflow.metadata.tables import (
    BlobRow,
    CommitMetadataRow,
    CommitParentRow,
    CommitRow,
    GcRunRow,
    TreeEntryRow,
    TreeRow,
)
from dataworkflow.services.changes import Put, PutBlob
from dataworkflow.services.fsck import check_integrity
from dataworkflow.services.gc import collect_garbage, last_runs
from dataworkflow.services.installation import create_repository, delete_repository
from dataworkflow.services.repository import Repository

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
RETENTION = timedelta(days=90)
ROW_TABLES = (BlobRow, TreeRow, TreeEntryRow, CommitRow, CommitParentRow, CommitMetadataRow)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def later(delta: timedelta) -> datetime:
    return datetime.now(UTC) + delta


def gc(repo_or_db, storage=None, *, grace=timedelta(0), dry_run=False, **kwargs):
    """Collect with no grace and ``now`` a second ahead, unless told otherwise."""
    db = getattr(repo_or_db, "db", repo_or_db)
    storage = storage if storage is not None else repo_or_db.storage
    kwargs.setdefault("now", later(timedelta(seconds=1)))
    kwargs.setdefault("retention", RETENTION)
    return collect_garbage(db, storage, grace=grace, dry_run=dry_run, **kwargs)


def row_counts(db) -> dict[str, int]:
    with db.reading() as session:
        return {
            t.__tablename__: session.scalar(select(func.count()).select_from(t)) for t in ROW_TABLES
        }


def stored(storage) -> set[str]:
    return set(storage.iter_ids())


def reachable_blobs(repo: Repository) -> set[str]:
    """Every blob id reachable from the repository's branches and tags, walking history."""
    found: set[str] = set()
    for _, head in repo.list_branches() + repo.list_tags():
        cursor = None
        while True:
            page = repo.log(head, limit=100, cursor=cursor)
            for entry in page.commits:
                found.update(e.entry.id for e in repo.walk(entry.id) if e.entry.kind == "blob")
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    return found


def assert_consistent(repo: Repository) -> None:
    problems = list(check_integrity(repo.db, repo.storage, full=True))
    assert problems == []


@pytest.fixture
def history(repo):
    """main with two commits; a deleted branch with a file of its own; orphan bytes."""
    repo.commit("main", [Put("a.txt", b"a"), Put("d/b.txt", b"b")], "one")
    repo.commit("main", [Put("c.txt", b"c")], "two", metadata={"source": "test"})
    repo.create_branch("exp")
    repo.commit("exp", [Put("exp.txt", b"only on exp")], "experiment")
    repo.delete_branch("exp")
    repo.storage.put_bytes(b"orphan bytes")
    return repo


# --- what goes and what stays ---------------------------------------------------------


def test_dry_run_deletes_nothing_and_reports_what_a_real_run_reclaims(history):
    before_rows, before_objects = row_counts(history.db), stored(history.storage)
    far = later(RETENTION + DAY)

    dry = gc(history, dry_run=True, now=far)

    assert (row_counts(history.db), stored(history.storage)) == (before_rows, before_objects)
    assert (dry.objects_deleted, dry.bytes_reclaimed) == (2, len(b"orphan bytes" + b"only on exp"))
    assert (dry.commits, dry.trees, dry.blobs) == (1, 1, 1)
    real = gc(history, now=far)
    assert (real.objects_deleted, real.bytes_reclaimed, real.rows_deleted) == (
        dry.objects_deleted,
        dry.bytes_reclaimed,
        dry.rows_deleted,
    )
    assert (real.commits, real.trees, real.blobs) == (dry.commits, dry.trees, dry.blobs)
    assert stored(history.storage) == before_objects - {sha(b"orphan bytes"), sha(b"only on exp")}


def test_a_deleted_branch_survives_until_its_ref_log_rows_leave_the_retention_window(history):
    exp_blob = sha(b"only on exp")

    gc(history, retention=RETENTION)
    assert exp_blob in stored(history.storage)
    gc(history, retention=RETENTION, now=later(RETENTION - DAY))
    assert exp_blob in stored(history.storage)

    report = gc(history, retention=RETENTION, now=later(RETENTION + DAY))

    assert exp_blob not in stored(history.storage)
    assert (report.commits, report.blobs) == (1, 1)
    assert history.read_file("main", "d/b.txt") == b"b"
    assert history.log("main").commits[0].commit.metadata == (("source", "test"),)
    assert_consistent(history)


def test_a_forced_move_keeps_the_old_commits_for_the_retention_window(repo):
    first = repo.commit("main", [Put("old.txt", b"old")], "old").commit_id
    repo.commit("main", [Put("new.txt", b"new")], "new")
    repo.create_branch("side", first)
    side = repo.commit("side", [Put("side.txt", b"side")], "side").commit_id
    repo.create_or_update_ref("main", side, force=True)
    repo.delete_branch("side")

    gc(repo)
    assert sha(b"new") in stored(repo.storage)

    gc(repo, now=later(RETENTION + DAY))
    assert sha(b"new") not in stored(repo.storage)
    assert repo.read_file("main", "side.txt") == b"side"
    assert_consistent(repo)


def test_an_object_uploaded_within_the_grace_period_survives_and_can_be_committed(repo):
    repo.commit("main", [Put("a.txt", b"a")], "one")
    upload = repo.create_blob(b"uploaded, not committed yet")
    loose = repo.storage.put_bytes(b"bytes without a row").id

    report = gc(repo, grace=HOUR)

    assert {upload, loose} <= stored(repo.storage)
    assert report.objects_kept_young == 2
    result = repo.commit("main", [PutBlob("up.txt", upload)], "commit the upload")
    assert repo.read_file(result.commit_id, "up.txt") == b"uploaded, not committed yet"
    gc(repo, grace=HOUR, now=later(2 * HOUR))
    assert upload in stored(repo.storage)  # committed now
    assert loose not in stored(repo.storage)  # its grace period is over


def test_an_upload_older_than_the_grace_period_goes_and_a_later_commit_fails_cleanly(repo):
    head = repo.commit("main", [Put("a.txt", b"a")], "one").commit_id
    upload = repo.create_blob(b"uploaded long ago")

    report = gc(repo, grace=HOUR, now=later(2 * HOUR))

    assert upload not in stored(repo.storage)
    assert report.blobs == 1
    with pytest.raises(ObjectNotFound):
        repo.commit("main", [PutBlob("up.txt", upload)], "too late")
    assert repo.head("main") == head
    assert repo.create_blob(b"uploaded long ago") == upload  # uploading again fixes it
    repo.commit("main", [PutBlob("up.txt", upload)], "again")
    assert repo.read_file("main", "up.txt") == b"uploaded long ago"


def test_a_young_commit_made_with_the_low_level_api_survives_until_its_ref_is_set(repo):
    blob = repo.create_blob(b"low level")
    tree = repo.create_tree([{"name": "f", "type": "blob", "hash": blob}])
    commit = repo.create_commit(tree, "made before its ref")

    gc(repo, grace=HOUR)

    repo.create_or_update_ref("main", commit)
    assert repo.read_file("main", "f") == b"low level"


def test_unreachable_low_level_objects_older_than_the_grace_period_go(repo):
    blob = repo.create_blob(b"forgotten")
    tree = repo.create_tree([{"name": "f", "type": "blob", "hash": blob}])
    repo.create_commit(tree, "never referenced", committed_at=1_600_000_000)

    report = gc(repo, grace=HOUR, now=later(2 * HOUR))

    assert (report.commits, report.trees, report.blobs, report.objects_deleted) == (1, 1, 1, 1)
    assert row_counts(repo.db) == dict.fromkeys(row_counts(repo.db), 0)
    assert stored(repo.storage) == set()


def test_deleting_a_repository_reclaims_its_unique_bytes_but_not_shared_ones(db, storage):
    create_repository(db, "gone")
    create_repository(db, "kept")
    gone = Repository(db, storage, "gone")
    kept = Repository(db, storage, "kept")
    gone.commit("main", [Put("shared.txt", b"shared"), Put("mine.txt", b"unique")], "one")
    kept.commit("main", [Put("shared.txt", b"shared")], "one")

    delete_repository(db, "gone")
    report = gc(db, storage)

    assert stored(storage) == {sha(b"shared")}
    assert (report.objects_deleted, report.bytes_reclaimed) == (1, len(b"unique"))
    assert kept.read_file("main", "shared.txt") == b"shared"
    assert_consistent(kept)


def test_rows_of_another_repository_keep_the_bytes(db, storage):
    create_repository(db, "a")
    create_repository(db, "b")
    a, b = Repository(db, storage, "a"), Repository(db, storage, "b")
    a.commit("main", [Put("f", b"same bytes")], "one")
    b.commit("main", [Put("f", b"same bytes")], "one")
    b.create_branch("tmp")
    b.commit("tmp", [Put("g", b"b only")], "two")
    b.delete_branch("tmp")

    gc(db, storage, now=later(RETENTION + DAY))

    assert stored(storage) == {sha(b"same bytes")}
    assert a.read_file("main", "f") == b.read_file("main", "f") == b"same bytes"


@pytest.fixture
def s3_storage(moto_server, s3_bucket):
    from dataworkflow.storage.s3 import S3Storage

    return S3Storage(
        bucket=s3_bucket,
        prefix="gc/",
        endpoint_url=moto_server,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
    )


@pytest.mark.parametrize("backend", ["filesystem", pytest.param("s3", marks=pytest.mark.s3)])
def test_storage_ends_with_exactly_the_reachable_set(request, db, storage, backend):
    if backend == "s3":
        storage = request.getfixturevalue("s3_storage")
    create_repository(db, "one")
    create_repository(db, "two")
    one, two = Repository(db, storage, "one"), Repository(db, storage, "two")
    one.commit("main", [Put(f"data/{i}.csv", f"row {i}\n".encode()) for i in range(12)], "load")
    one.commit("main", [Put("data/0.csv", b"changed\n")], "change")
    one.create_tag("v1")
    one.commit("main", [Put("data/1.csv", b"changed again\n")], "after the tag")
    one.create_branch("scratch")
    one.commit("scratch", [Put("tmp.bin", b"scratch only")], "scratch")
    one.delete_branch("scratch")
    two.commit("main", [Put("copy.csv", b"row 3\n"), Put("own.csv", b"two's own")], "two")
    two.create_blob(b"an upload never committed")
    tree = two.create_tree([{"name": "x", "type": "blob", "hash": two.create_blob(b"x")}])
    two.create_commit(tree, "orphan", committed_at=1_600_000_000)
    storage.put_bytes(b"stray bytes")

    gc(db, storage, retention=timedelta(0))

    expected = reachable_blobs(one) | reachable_blobs(two)
    assert sha(b"row 0\n") in expected and sha(b"changed\n") in expected  # history is kept
    assert stored(storage) == expected
    with db.reading() as session:
        blob_rows = set(session.scalars(select(BlobRow.id)))
    assert blob_rows == expected
    assert list(check_integrity(db, storage, full=True)) == []


# --- concurrent writers ----------------------------------------------------------------


class PausingStorage:
    """Delegates to a storage; ``on_put`` runs after every put (a writer's test seam)."""

    def __init__(self, storage, on_put):
        self._storage = storage
        self._on_put = on_put

    def __getattr__(self, name):
        return getattr(self._storage, name)

    def put_bytes(self, data):
        result = self._storage.put_bytes(data)
        self._on_put(result)
        return result

    def iter_objects(self):  # protocol checks do not see __getattr__
        return self._storage.iter_objects()


def run_in_thread(target):
    errors: list[BaseException] = []

    def run():
        try:
            target()
        except BaseException as exc:  # re-raised by join()
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def join():
        thread.join(timeout=60)
        assert not thread.is_alive(), "thread did not finish"
        if errors:
            raise errors[0]

    return join


def test_a_commit_that_lands_while_gc_runs_keeps_all_its_objects(repo):
    """The writer reuses bytes and a blob row gc has marked as garbage, mid-gc."""
    base = repo.commit("main", [Put("a.txt", b"a")], "base").commit_id
    old_bytes = repo.storage.put_bytes(b"old unreferenced bytes").id
    old_upload = repo.create_blob(b"old upload")
    doomed = repo.storage.put_bytes(b"really garbage").id
    gc_marked, writer_stored = threading.Event(), threading.Event()
    head_when_locked: list[str | None] = []

    def on_put(result):
        if result.id == old_bytes:
            assert not result.written  # deduplicated: storage had it already
            writer_stored.set()

    writer = Repository(repo.db, PausingStorage(repo.storage, on_put), "test")

    def write():
        assert gc_marked.wait(30)
        writer.commit(
            "main",
            [
                Put("reused.txt", b"old unreferenced bytes"),
                PutBlob("upload.txt", old_upload),
                Put("fresh.txt", b"fresh"),
            ],
            "lands while gc runs",
        )

    def marked():  # gc has marked old_bytes and old_upload as garbage
        gc_marked.set()
        assert writer_stored.wait(30)  # the writer is past its put, before its commit

    join_writer = run_in_thread(write)
    report = gc(
        repo,
        now=later(DAY),  # every object is older than the grace period: only the guard helps
        grace=HOUR,
        hooks={"marked": marked, "locked": lambda: head_when_locked.append(repo.head())},
    )
    join_writer()

    assert head_when_locked != [base]  # gc got the guard only once the commit had landed
    assert {old_bytes, old_upload, sha(b"fresh")} <= stored(repo.storage)
    assert doomed not in stored(repo.storage)
    assert report.objects_deleted == 1
    assert repo.read_file("main", "reused.txt") == b"old unreferenced bytes"
    assert repo.read_file("main", "upload.txt") == b"old upload"
    assert_consistent(repo)


def test_a_commit_that_starts_while_gc_deletes_waits_and_stores_its_bytes_again(repo):
    repo.commit("main", [Put("a.txt", b"a")], "base")
    old_bytes = repo.storage.put_bytes(b"garbage until committed").id
    writer_started = threading.Event()
    joins = []

    def write():
        writer_started.set()
        repo.commit("main", [Put("late.txt", b"garbage until committed")], "waits for gc")

    def locked():  # gc holds the guard: the writer must wait for it
        joins.append(run_in_thread(write))
        assert writer_started.wait(30)

    report = gc(repo, now=later(DAY), grace=HOUR, hooks={"locked": locked})
    joins[0]()

    assert report.objects_deleted == 1  # gc deleted the bytes ...
    assert old_bytes in stored(repo.storage)  # ... and the commit stored them again
    assert repo.read_file("main", "late.txt") == b"garbage until committed"
    assert_consistent(repo)


def test_rows_written_after_the_mark_keep_what_they_point_at(repo):
    """A tree made mid-gc from an orphan subtree keeps it, though no ref reaches either."""
    repo.commit("main", [Put("a.txt", b"a")], "base")
    leaf = repo.create_blob(b"leaf")
    orphan = repo.create_tree([{"name": "leaf", "type": "blob", "hash": leaf}])
    made: list[str] = []

    def marked():  # the orphan tree and leaf are garbage by now
        made.append(repo.create_tree([{"name": "sub", "type": "tree", "hash": orphan}]))

    gc(repo, now=later(DAY), grace=HOUR, hooks={"marked": marked})

    assert leaf in stored(repo.storage)
    commit = repo.create_commit(made[0], "uses the new tree")
    repo.create_or_update_ref("main", commit)
    assert repo.read_file("main", "sub/leaf") == b"leaf"
    assert_consistent(repo)


def test_a_repository_deleted_while_gc_runs_is_reclaimed_by_the_next_run(db, storage):
    create_repository(db, "gone")
    create_repository(db, "kept")
    gone = Repository(db, storage, "gone")
    kept = Repository(db, storage, "kept")
    gone.commit("main", [Put("shared.txt", b"shared"), Put("mine.txt", b"unique")], "one")
    kept.commit("main", [Put("shared.txt", b"shared")], "one")

    gc(db, storage, hooks={"marked": lambda: delete_repository(db, "gone")})
    assert_consistent(kept)
    gc(db, storage)

    assert stored(storage) == {sha(b"shared")}
    assert_consistent(kept)


def test_gc_gives_up_when_writers_hold_the_guard_past_its_timeout(repo):
    release, held = threading.Event(), threading.Event()

    def writer():
        with repo.db.gc_lock(shared=True):
            held.set()
            assert release.wait(30)

    join = run_in_thread(writer)
    assert held.wait(30)
    try:
        with pytest.raises(Conflict, match="busy"):
            gc(repo, lock_timeout=0.2)
    finally:
        release.set()
        join()
    assert [r.status for r in last_runs(repo.db)] == ["failed"]
    assert gc(repo, dry_run=True, lock_timeout=0.2).dry_run  # a dry run takes no lock


def test_the_guard_is_shared_by_writers_and_exclusive_for_gc(db):
    events: list[str] = []
    gc_holds, writer_waiting = threading.Event(), threading.Event()

    def writer():
        assert gc_holds.wait(30)
        writer_waiting.set()
        with db.gc_lock(shared=True):
            events.append("writer")

    join = run_in_thread(writer)
    with db.gc_lock(shared=True), db.gc_lock(shared=True):  # re-entrant, and shared ...
        with db.gc_lock(shared=True):
            pass
    with db.gc_lock(shared=False):
        with db.gc_lock(shared=True):  # ... gc may call writers' code while it holds it
            pass
        gc_holds.set()
        assert writer_waiting.wait(30)
        events.append("gc")
    join()

    assert events == ["gc", "writer"]
    with db.gc_lock(shared=True), pytest.raises(RuntimeError):
        with db.gc_lock(shared=False):
            pass


# --- the record of runs and bad input --------------------------------------------------


def test_every_run_is_recorded(history):
    gc(history, dry_run=True, grace=HOUR)
    gc(history, grace=timedelta(0))

    runs = last_runs(history.db)
    assert [(r.dry_run, r.status, r.grace_seconds) for r in runs] == [
        (False, "finished", 0),
        (True, "finished", 3600),
    ]
    assert (runs[0].objects_deleted, runs[0].bytes_reclaimed) == (1, len(b"orphan bytes"))
    assert all(r.finished_at is not None and r.finished_at >= r.started_at for r in runs)


def test_a_failed_run_is_recorded_as_failed(history):
    class BrokenDeletes(PausingStorage):
        def delete(self, object_id):
            raise OSError("disk on fire")

        def delete_many(self, object_ids):
            raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        gc(history.db, BrokenDeletes(history.storage, lambda _: None))

    with history.db.reading() as session:
        assert session.scalars(select(GcRunRow.status)).all() == ["failed"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"grace": -HOUR},
        {"retention": -DAY},
        {"hooks": {"sometime": lambda: None}},
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(repo, kwargs):
    with pytest.raises(InvalidInput):
        gc(repo, **kwargs)
    assert last_runs(repo.db) == []
