"""Tiny builders for histories (after dulwich's make_commit / build_commit_graph)."""

from dataworkflow.core.ids import ObjectId


def build_commit_graph(repo, spec: list[list[int]]) -> dict[int, ObjectId]:
    """Build commits from ``[[1], [2, 1], [3, 1, 2]]``: each row is a commit then its parents.

    Commit n holds one file ``n.txt`` (so every tree differs) and is authored at time n.
    """
    ids: dict[int, ObjectId] = {}
    for number, *parents in spec:
        blob = repo.create_blob(f"{number}\n".encode())
        tree = repo.create_tree(
            [{"name": f"{number}.txt", "type": "blob", "hash": blob, "mode": "100644"}]
        )
        ids[number] = repo.create_commit(
            tree,
            f"commit {number}",
            "Tester",
            "tester@example.com",
            parent_hashes=[ids[p] for p in parents],
            authored_at=1_700_000_000 + number,
        )
    return ids
