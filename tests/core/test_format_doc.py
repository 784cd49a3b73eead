"""docs/FORMAT.md is normative: recompute its worked example from the document's bytes."""

import hashlib
import re
from pathlib import Path

from dataworkflow.core.hashing import hash_bytes
from dataworkflow.core.objects import Commit, FileMode, Signature, Tree, TreeEntry

DOC = Path(__file__).resolve().parents[2] / "docs" / "FORMAT.md"
BLOCK = re.compile(r"^```(dw-tree|dw-commit) ([0-9a-f]{64})\n(.*?)^```$", re.M | re.S)


def blocks() -> list[tuple[str, str, bytes]]:
    text = DOC.read_text(encoding="utf-8")
    found = [(kind, oid, body.encode()) for kind, oid, body in BLOCK.findall(text)]
    assert len(found) == 4, "the worked example should show two trees and two commits"
    return found


def test_every_example_block_hashes_to_the_id_written_beside_it():
    for _kind, object_id, body in blocks():
        assert hashlib.sha256(body).hexdigest() == object_id


def test_blob_ids_in_the_document_are_sha256_of_the_contents():
    assert (
        hash_bytes(b"# Example\n")
        == "8ef0b048ad51a9d2ccaf9177716d7c83159a1d8c22fd37aa2b7d03c11b21b40d"
    )
    assert hash_bytes(b"id,value\n1,3.5\n") in DOC.read_text()


def test_the_code_produces_the_documented_bytes():
    readme = hash_bytes(b"# Example\n")
    csv = hash_bytes(b"id,value\n1,3.5\n")
    data = Tree([TreeEntry.make("a.csv", "100644", csv)])
    root = Tree(
        [
            TreeEntry.make("data", FileMode.TREE, data.id),
            TreeEntry.make("README.md", 0o100644, readme),
        ]
    )
    ada = Signature("Ada Lovelace", "ada@example.com", 1767601800, 60)
    first = Commit(
        root.id,
        (),
        ada,
        ada,
        "Add example data\n\nFirst import.",
        (("source", "s3://raw/2026-01"),),
    )
    grace = Signature("Grace Hopper", "grace@example.com", 1767605400, -300)
    second = Commit(root.id, (first.id,), grace, grace, "Empty follow-up")
    documented = {object_id: body for _kind, object_id, body in blocks()}
    for obj in (data, root, first, second):
        assert documented[obj.id] == obj.canonical_bytes()
