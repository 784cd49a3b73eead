"""Comparing two revisions: changed paths with status, ids and modes; pages; errors."""

import hashlib

import pytest

from dataworkflow.services.changes import Delete, Put
from tests.api.helpers import assert_problem, json_of
from tests.web.conftest import CSV, README, SCRIPT, TSV

COMPARE = "/api/v1/repos/sample/compare"


def test_changes_between_two_commits(client, sample) -> None:
    body = json_of(client.get(f"{COMPARE}?base=v1.0&head=main"))
    assert body["base"] == sample.tag
    assert body["head"] == sample.head
    assert body["next"] is None
    assert body["changes"] == [
        {
            "status": "M",
            "path": "README.md",
            "old_path": None,
            "old_id": hashlib.sha256(README).hexdigest(),
            "new_id": hashlib.sha256(README + b"\nUpdated.\n").hexdigest(),
            "old_mode": "100644",
            "new_mode": "100644",
        },
        {
            "status": "D",
            "path": "notes.txt",
            "old_path": None,
            "old_id": hashlib.sha256(b"to be deleted\n").hexdigest(),
            "new_id": None,
            "old_mode": "100644",
            "new_mode": None,
        },
    ]


def test_additions_a_folder_filter_and_no_change(client, sample) -> None:
    body = json_of(client.get(f"{COMPARE}?base=main~2&head=main~1&path=bin"))
    assert [(c["status"], c["path"]) for c in body["changes"]] == [
        ("A", "bin/blob.bin"),
        ("A", "bin/run.sh"),
    ]
    assert body["changes"][1]["new_mode"] == "100755"
    assert json_of(client.get(f"{COMPARE}?base=main&head=main"))["changes"] == []


def test_a_mode_change_is_status_t(client, sample) -> None:
    sample.repo.commit("main", [Put("bin/run.sh", SCRIPT, executable=False)], "not executable")
    body = json_of(client.get(f"{COMPARE}?base=main~1&head=main"))
    assert body["changes"] == [
        {
            "status": "T",
            "path": "bin/run.sh",
            "old_path": None,
            "old_id": hashlib.sha256(SCRIPT).hexdigest(),
            "new_id": hashlib.sha256(SCRIPT).hexdigest(),
            "old_mode": "100755",
            "new_mode": "100644",
        }
    ]


def test_renames_and_copies_name_where_they_came_from(client, sample) -> None:
    sample.repo.commit(
        "main",
        [
            Delete("data/ids.tsv"),
            Put("tables/ids.tsv", TSV),  # the same blob elsewhere: a rename
            Put("data/weather.csv", b"changed\n"),
            Put("copy/weather.csv", CSV),  # the old content of a changed file: a copy
        ],
        "Move, change and copy",
    )
    body = json_of(client.get(f"{COMPARE}?base=main~1&head=main"))
    assert [(c["status"], c["path"], c["old_path"]) for c in body["changes"]] == [
        ("C", "copy/weather.csv", "data/weather.csv"),
        ("M", "data/weather.csv", None),
        ("R", "tables/ids.tsv", "data/ids.tsv"),
    ]
    renamed = body["changes"][2]
    assert renamed["old_id"] == renamed["new_id"] == hashlib.sha256(TSV).hexdigest()


def test_pages_follow_byte_order_across_folders(client, db, storage) -> None:
    # "a-b" sorts before "a/x" as bytes: a page boundary between them loses nothing.
    from dataworkflow.services.installation import create_repository
    from dataworkflow.services.repository import Repository

    create_repository(db, "order")
    repo = Repository(db, storage, "order")
    repo.commit("main", [Put("base.txt", b"0")], "base")
    repo.commit("main", [Put(p, p.encode()) for p in ("a/x", "a-b", "a/y/z", "b")], "files")
    url = "/api/v1/repos/order/compare?base=main~1&head=main"
    full = [c["path"] for c in json_of(client.get(url))["changes"]]
    assert full == ["a-b", "a/x", "a/y/z", "b"]
    for limit in (1, 2, 3):
        paths, after = [], None
        while True:
            page = json_of(
                client.get(f"{url}&limit={limit}" + (f"&after={after}" if after else ""))
            )
            paths += [c["path"] for c in page["changes"]]
            after = page["next"]
            if after is None:
                break
        assert paths == full


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_pages_cover_the_changes_once(client, sample, limit) -> None:
    url = f"{COMPARE}?base={sample.commits[0]}&head={sample.feature}&limit={limit}"
    full = json_of(client.get(f"{COMPARE}?base={sample.commits[0]}&head={sample.feature}"))
    paths, after = [], None
    while True:
        body = json_of(client.get(url + (f"&after={after}" if after else "")))
        assert len(body["changes"]) <= limit
        paths += [c["path"] for c in body["changes"]]
        after = body["next"]
        if after is None:
            break
    assert paths == [c["path"] for c in full["changes"]]
    assert len(paths) == 7


@pytest.mark.parametrize(
    ("query", "status", "problem_type"),
    [
        pytest.param("base=main", 400, "invalid-parameters", id="no-head"),
        pytest.param("head=main", 400, "invalid-parameters", id="no-base"),
        pytest.param("base=nope&head=main", 404, "revision-not-found", id="unknown"),
        pytest.param("base=main^^^^&head=main", 404, "revision-not-found", id="too-far"),
        pytest.param("base=main&head=main&path=README.md", 409, "not-a-file", id="file"),
        pytest.param("base=main&head=main&limit=0", 400, "invalid-parameters", id="limit"),
        pytest.param("base=main&head=main&path=..", 400, "invalid-parameters", id="path"),
    ],
)
def test_compare_errors(client, sample, query, status, problem_type) -> None:
    assert_problem(client.get(f"{COMPARE}?{query}"), status, problem_type)
