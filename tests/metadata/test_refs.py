"""Compare-and-swap refs: exactly one of many racing writers wins, on both databases."""

import threading

import pytest

from dataworkflow.errors import RefConflict
from dataworkflow.metadata import refs


@pytest.fixture
def commits(repo):
    first = repo.create_commit(repo.create_tree([]), "root", "A", "a@x", authored_at=1)
    return [first] + [
        repo.create_commit(
            repo.create_tree([]), f"c{i}", "A", "a@x", parent_hash=first, authored_at=i + 2
        )
        for i in range(8)
    ]


def test_create_requires_absence(repo, commits):
    with repo.db.transaction() as session:
        refs.compare_and_swap_ref(
            session, repo.id, "refs/heads/x", None, commits[0], actor="t", reason="update"
        )
    with pytest.raises(RefConflict), repo.db.transaction() as session:
        refs.compare_and_swap_ref(
            session, repo.id, "refs/heads/x", None, commits[1], actor="t", reason="update"
        )
    with repo.db.reading() as session:
        assert refs.get_ref(session, repo.id, "refs/heads/x") == commits[0]


def test_update_requires_expected_value(repo, commits):
    repo.create_or_update_ref("main", commits[0])
    with pytest.raises(RefConflict), repo.db.transaction() as session:
        refs.compare_and_swap_ref(
            session, repo.id, "refs/heads/main", commits[1], commits[2], actor="t", reason="update"
        )
    with pytest.raises(RefConflict), repo.db.transaction() as session:
        refs.delete_ref(session, repo.id, "refs/heads/main", commits[1], actor="t")
    assert repo.resolve("main") == commits[0]


def test_racing_writers_exactly_one_wins(repo, commits):
    repo.create_or_update_ref("main", commits[0])
    contenders = commits[1:]
    barrier = threading.Barrier(len(contenders))
    outcomes: list[str] = []
    lock = threading.Lock()

    def race(target: str) -> None:
        barrier.wait()
        try:
            repo.create_or_update_ref("main", target, expected=commits[0])
            result = "won"
        except RefConflict:
            result = "conflict"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=race, args=(c,)) for c in contenders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * (len(contenders) - 1) + ["won"]
    assert repo.resolve("main") in contenders
