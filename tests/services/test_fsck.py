"""The integrity check on SQLite and PostgreSQL: a clean installation passes, and each kind
of damage is found and named."""

import os
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from dataworkflow.errors import RepositoryNotFound
from dataworkflow.services import fsck as fsck_module
from dataworkflow.services.changes import Put
from dataworkflow.services.fsck import check_integrity
from dataworkflow.services.installation import create_repository
from dataworkflow.services.merging import merge_branch
from dataworkflow.services.repository import Repository
from dataworkflow.storage.memory import MemoryStorage


def problems(repo_or_db, storage=None, *, full=False, repository=None):
    db = getattr(repo_or_db, "db", repo_or_db)
    storage = storage if storage is not None else repo_or_db.storage
    return [
        (p.repository, p.kind, p.id, p.code)
        for p in check_integrity(db, storage, full=full, repository=repository)
    ]


def execute(db, sql: str, **params) -> None:
    with db.transaction() as session:
        session.execute(text(sql), params)


@contextmanager
def foreign_keys_off(db):
    """A connection that may break foreign keys, to plant damage they would refuse."""
    with db.engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        if db.dialect == "sqlite":  # only outside a transaction, so on the raw connection
            raw.execute("PRAGMA foreign_keys=OFF")
        else:
            connection.exec_driver_sql("SET session_replication_role = replica")
        try:
            yield connection
            connection.commit()
        finally:
            if db.dialect == "sqlite":
                raw.execute("PRAGMA foreign_keys=ON")
            else:
                connection.exec_driver_sql("SET session_replication_role = DEFAULT")
                connection.commit()


@pytest.fixture
def data(repo):
    """Two commits (one with metadata), nested folders, a branch merged back, a tag."""
    repo.commit(
        "main",
        [
            Put("a.csv", b"x,y\n1,2\n"),
            Put("d/e/f.txt", b"deep"),
            Put("run.sh", b"#!/bin/sh\n", True),
        ],
        "one",
        metadata={"source": "sensor", "run": "7"},
    )
    repo.create_branch("side")
    repo.commit("side", [Put("side.txt", b"side")], "side")
    repo.commit("main", [Put("d/g.txt", b"g")], "two")
    merge_branch(repo, "side", "main", message="merge side")
    repo.create_tag("v1")
    return repo


def blob_id(repo, path):
    return repo.stat("main", path).entry.id


def test_a_clean_installation_passes(data, db, storage):
    create_repository(db, "other")
    other = Repository(db, storage, "other")
    other.commit("main", [Put("a.csv", b"x,y\n1,2\n")], "shares a blob with test")

    check = check_integrity(db, storage, full=True)

    assert list(check) == []
    assert check.checked == {"ref": 4, "commit": 5, "tree": 8, "blob": 6, "object": 5}
    stored_once = (b"x,y\n1,2\n", b"deep", b"#!/bin/sh\n", b"side", b"g")
    assert check.bytes_hashed == sum(len(b) for b in stored_once)


def test_a_flipped_byte_is_found_only_by_a_full_check(data):
    target = blob_id(data, "d/e/f.txt")
    path = data.storage.root / "objects" / target[:2] / target
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.write(b"D")  # "deep" -> "Deep": same size

    assert problems(data) == []
    assert problems(data, full=True) == [("test", "blob", target, "hash-mismatch")]


def test_deleted_bytes_are_found(data):
    target = blob_id(data, "a.csv")
    data.storage.delete(target)

    assert problems(data) == [("test", "blob", target, "missing-object")]


def test_a_deleted_blob_row_is_found_and_the_tree_naming_it_too(data):
    target = blob_id(data, "d/e/f.txt")
    folder = data.stat("main", "d/e").entry.id
    execute(data.db, "DELETE FROM blobs WHERE id = :id", id=target)

    assert problems(data) == [("test", "tree", folder, "missing-blob")]


def test_a_wrong_size_is_found(data):
    target = blob_id(data, "a.csv")
    execute(data.db, "UPDATE blobs SET size = 3 WHERE id = :id", id=target)

    assert problems(data) == [("test", "blob", target, "size-mismatch")]


def test_an_edited_tree_entry_is_found(data):
    folder = data.stat("main", "d").entry.id
    execute(
        data.db,
        "UPDATE tree_entries SET object_id = :other WHERE tree_id = :tree AND name = 'g.txt'",
        other=blob_id(data, "a.csv"),
        tree=folder,
    )

    assert problems(data) == [("test", "tree", folder, "tree-id-mismatch")]


def test_an_edited_entry_name_and_a_kind_that_contradicts_the_mode_are_found(data):
    root = data.stat("main", "").entry.id
    execute(
        data.db,
        "UPDATE tree_entries SET name = 'b.csv' WHERE tree_id = :t AND name = 'a.csv'",
        t=root,
    )
    execute(
        data.db,
        "UPDATE tree_entries SET kind = 'tree' WHERE tree_id = :t AND name = 'run.sh'",
        t=root,
    )

    found = problems(data)

    assert ("test", "tree", root, "tree-id-mismatch") in found
    assert ("test", "tree", root, "entry-kind-mismatch") in found
    assert len(found) == 2


def test_an_edited_commit_message_is_found(data):
    first = data.log("main", limit=10).commits[-1].id
    execute(data.db, "UPDATE commits SET message = 'rewritten' WHERE id = :id", id=first)

    assert problems(data) == [("test", "commit", first, "commit-id-mismatch")]


def test_edited_commit_metadata_is_found(data):
    first = data.log("main", limit=10).commits[-1].id
    execute(data.db, "UPDATE commit_metadata SET value = '8' WHERE commit_id = :id", id=first)

    assert problems(data) == [("test", "commit", first, "commit-id-mismatch")]


def test_a_dangling_ref_and_a_missing_parent_are_found(data):
    head = data.head("main")
    first = data.log("main", limit=10).commits[-1].id
    second = data.log("main", limit=10).commits[-2].id  # "two" or "side": a child of first
    missing = "f" * 64
    with foreign_keys_off(data.db) as connection:
        connection.execute(
            text("UPDATE refs SET commit_id = :m WHERE name = 'refs/tags/v1'"), {"m": missing}
        )
        connection.execute(text("DELETE FROM commit_metadata WHERE commit_id = :c"), {"c": first})
        connection.execute(text("DELETE FROM commit_parents WHERE commit_id = :c"), {"c": first})
        connection.execute(text("DELETE FROM commits WHERE id = :c"), {"c": first})

    found = problems(data)

    assert ("test", "ref", "refs/tags/v1", "dangling-ref") in found
    assert ("test", "commit", second, "missing-parent") in found
    assert data.head("main") == head


def test_a_commit_whose_tree_is_missing_is_found(repo):
    commit = repo.commit("main", [Put("a", b"a")], "one").commit_id
    tree = repo.get_commit("main").commit.tree
    with foreign_keys_off(repo.db) as connection:
        connection.execute(text("DELETE FROM tree_entries WHERE tree_id = :t"), {"t": tree})
        connection.execute(text("DELETE FROM trees WHERE id = :t"), {"t": tree})

    assert problems(repo) == [("test", "commit", commit, "missing-tree")]


def test_one_repository_can_be_checked_alone(data, db, storage):
    create_repository(db, "other")
    other = Repository(db, storage, "other")
    other.commit("main", [Put("o.txt", b"other's")], "one")
    storage.delete(other.stat("main", "o.txt").entry.id)

    assert problems(db, storage, repository="test") == []
    assert [p[:2] for p in problems(db, storage, repository="other")] == [("other", "blob")]
    with pytest.raises(RepositoryNotFound):
        problems(db, storage, repository="nope")


def test_pages_of_trees_commits_and_blobs(repo, monkeypatch):
    monkeypatch.setattr(fsck_module, "PAGE", 3)
    for i in range(8):
        repo.commit("main", [Put(f"f{i}/x.txt", f"{i}".encode())], f"commit {i}")
    second = repo.log("main", limit=10).commits[-2].id
    execute(repo.db, "UPDATE commits SET author_name = 'someone else' WHERE id = :id", id=second)

    check = check_integrity(repo.db, repo.storage, full=True)
    found = [(p.kind, p.id, p.code) for p in check]

    assert found == [("commit", second, "commit-id-mismatch")]
    assert check.checked["commit"] == 8
    assert check.checked["blob"] == 8


def test_storage_without_listing_is_checked_object_by_object(data):
    class NoListing:
        def __init__(self, storage):
            self._storage = storage

        def open(self, object_id):
            return self._storage.open(object_id)

        def size(self, object_id):
            return self._storage.size(object_id)

    target = blob_id(data, "a.csv")
    data.storage.delete(target)

    assert problems(data.db, NoListing(data.storage), full=True) == [
        ("test", "blob", target, "missing-object")
    ]


def test_memory_storage(db):
    storage = MemoryStorage()
    create_repository(db, "m")
    repo = Repository(db, storage, "m")
    repo.commit("main", [Put("a", b"a"), Put("b", b"b")], "one")
    assert problems(db, storage, full=True) == []

    storage.delete(repo.stat("main", "b").entry.id)
    assert [p[3] for p in problems(db, storage, full=True)] == ["missing-object"]


@pytest.mark.s3
def test_s3_storage(db, moto_server, s3_bucket):
    from dataworkflow.storage.s3 import S3Storage

    storage = S3Storage(
        bucket=s3_bucket,
        prefix="fsck/",
        endpoint_url=moto_server,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
    )
    create_repository(db, "s3")
    repo = Repository(db, storage, "s3")
    repo.commit("main", [Put(f"{i}.txt", f"file {i}".encode()) for i in range(5)], "one")
    assert problems(db, storage, full=True) == []

    gone = repo.stat("main", "3.txt").entry.id
    storage.delete(gone)
    storage.client.put_object(  # same size, other bytes
        Bucket=s3_bucket,
        Key=f"fsck/objects/{(bad := repo.stat('main', '1.txt').entry.id)[:2]}/{bad[2:4]}/{bad}",
        Body=b"FILE 1",
    )

    assert sorted(p[2:] for p in problems(db, storage, full=True)) == sorted(
        [(gone, "missing-object"), (bad, "hash-mismatch")]
    )
