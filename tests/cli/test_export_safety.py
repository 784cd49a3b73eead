"""`dw export` of a crafted tree: names the API refuses, written straight into the tables."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import insert, select

from dataworkflow.core.ids import ObjectId
from dataworkflow.core.objects import Commit, FileMode, Signature, Tree, TreeEntry
from dataworkflow.metadata.engine import Database
from dataworkflow.metadata.tables import (
    CommitRow,
    RefRow,
    RepositoryRow,
    TreeEntryRow,
    TreeRow,
)
from tests.cli.conftest import write_tree

PAYLOAD = b"pwned\n"
PAYLOAD_ID = ObjectId(hashlib.sha256(PAYLOAD).hexdigest())


def _file(name: str) -> TreeEntry:
    return TreeEntry(name, FileMode.FILE, "blob", PAYLOAD_ID)  # no validation: crafted


def _insert_tree(session, repository_id: int, tree: Tree) -> None:
    session.execute(
        insert(TreeRow).values(
            repository_id=repository_id, id=tree.id, entry_count=len(tree.entries)
        )
    )
    session.execute(
        insert(TreeEntryRow),
        [
            {
                "repository_id": repository_id,
                "tree_id": tree.id,
                "name": e.name,
                "mode": e.mode.value,
                "kind": e.kind,
                "object_id": e.id,
            }
            for e in tree.entries
        ],
    )


def plant_crafted_branch(database_url: str, repository: str, trees: list[Tree]) -> ObjectId:
    """Insert trees (children first, root last), a commit of the root and branch `evil`."""
    root = trees[-1]
    commit = Commit(
        tree=root.id,
        parents=(),
        author=Signature("Mallory", "mallory@example.com", 1_700_000_000),
        committer=Signature("Mallory", "mallory@example.com", 1_700_000_000),
        message="crafted",
    )
    db = Database(database_url)
    try:
        with db.transaction() as session:
            repository_id = session.scalar(
                select(RepositoryRow.id).where(RepositoryRow.name == repository)
            )
            for tree in trees:
                _insert_tree(session, repository_id, tree)
            session.execute(
                insert(CommitRow).values(
                    repository_id=repository_id,
                    id=commit.id,
                    tree_id=root.id,
                    author_name="Mallory",
                    author_email="mallory@example.com",
                    author_time=1_700_000_000,
                    author_offset=0,
                    committer_name="Mallory",
                    committer_email="mallory@example.com",
                    committer_time=1_700_000_000,
                    committer_offset=0,
                    message="crafted",
                    generation=1,
                )
            )
            session.execute(
                insert(RefRow).values(
                    repository_id=repository_id, name="refs/heads/evil", commit_id=commit.id
                )
            )
    finally:
        db.dispose()
    return commit.id


def _layouts() -> dict[str, list[Tree]]:
    dotdot_folder = Tree([_file("x")])
    return {
        "dotdot-file": [Tree([_file("../x"), _file("ok.txt")])],
        "absolute": [Tree([_file("/etc/x"), _file("ok.txt")])],
        "dotdot-name": [Tree([_file(".."), _file("ok.txt")])],
        "deep-escape": [Tree([_file("a/../../x"), _file("ok.txt")])],
        "dotdot-folder": [
            dotdot_folder,
            Tree([TreeEntry("..", FileMode.TREE, "tree", dotdot_folder.id), _file("ok.txt")]),
        ],
    }


@pytest.mark.parametrize("layout", sorted(_layouts()))
def test_export_refuses_entries_outside_the_destination(dw, database_url, tmp_path, layout):
    dw.ok("repo", "create", "evil")
    # store the payload the honest way first, so its bytes really are in storage
    dw.ok("import", str(write_tree(tmp_path / "honest", {"ok.txt": PAYLOAD})), "evil", "-m", "ok")
    commit_id = plant_crafted_branch(database_url, "evil", _layouts()[layout])
    jail = tmp_path / "jail"
    jail.mkdir()
    dest = jail / "dest"

    for rev in ("evil", commit_id):
        dw.fails("export", "evil", rev, str(dest), message="refusing to export")

    assert list(jail.iterdir()) == []  # not even DEST was created
    assert not (tmp_path / "x").exists() and not (jail / "x").exists()
    assert not (tmp_path / "etc").exists()
