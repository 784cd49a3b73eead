"""`dw search`: commits and content by default, --paths, --history, --all, --json, errors."""

from pathlib import Path

import pytest

from tests.cli.conftest import Dw, write_tree


@pytest.fixture
def searchable(dw: Dw, tmp_path: Path) -> Dw:
    """Repositories alpha (public) and secret (private), each with an imported folder."""
    dw.ok("repo", "create", "alpha")
    dw.ok("repo", "create", "secret", "--private")
    alpha = write_tree(
        tmp_path / "alpha",
        {
            "README.md": b"# Alpha\nThis repository holds the ingestion outputs.\nSee data/.\n",
            "data/x.csv": b"station,temperature\noslo,12\n",
            "data/raw/x.csv": b"station,temperature\ntromso,-3\n",
            "data/events/01.parquet": b"PAR1\x00binary\x00PAR1",
        },
    )
    dw.ok("import", str(alpha), "alpha", "-m", "Add ingest pipeline")
    secret = write_tree(tmp_path / "secret", {"keys.txt": b"ingestion token: hunter2\n"})
    dw.ok("import", str(secret), "secret", "-m", "Add ingest secrets")
    return dw


def test_default_searches_commits_and_content(searchable: Dw):
    out = searchable.ok("search", "alpha", "ingest").stdout
    assert out.startswith("Commits\nalpha ")
    assert "Add ingest pipeline (Test Author, " in out
    assert "\nContent\nalpha:main:README.md\n" in out
    assert "1-# Alpha\n2:This repository holds the ingestion outputs.\n3-See data/.\n" in out
    assert "secret" not in out


def test_json_is_one_document(searchable: Dw):
    document = searchable.json("search", "alpha", "ingest")
    assert document["query"] == "ingest"
    assert [c["message"] for c in document["commits"]] == ["Add ingest pipeline"]
    assert document["commits"][0]["repository"] == "alpha"
    assert document["commits"][0]["score"] == 3
    (hit,) = document["content"]
    assert (hit["repository"], hit["branch"], hit["path"]) == ("alpha", "main", "README.md")
    assert {"number": 2, "text": "This repository holds the ingestion outputs.", "match": True} in (
        hit["lines"]
    )
    log = searchable.json("log", "alpha")
    assert hit["commit"] == log[0]["id"]


def test_all_searches_every_repository_private_ones_too(searchable: Dw):
    document = searchable.json("search", "--all", "ingest", "--commits")
    assert sorted((c["repository"], c["message"]) for c in document["commits"]) == [
        ("alpha", "Add ingest pipeline"),
        ("secret", "Add ingest secrets"),
    ]
    assert "content" not in document
    content = searchable.json("search", "--all", "hunter2", "--content")
    assert [(h["repository"], h["path"]) for h in content["content"]] == [("secret", "keys.txt")]


def test_content_follows_new_commits(searchable: Dw, tmp_path: Path):
    assert searchable.json("search", "alpha", "humidity", "--content")["content"] == []
    folder = write_tree(tmp_path / "more", {"x.csv": b"station,humidity\noslo,80\n"})
    searchable.ok("import", str(folder), "alpha", "--path", "data", "-m", "Humidity")
    hits = searchable.json("search", "alpha", "humidity", "--content")["content"]
    assert [h["path"] for h in hits] == ["data/x.csv"]
    assert searchable.json("search", "alpha", "tromso", "--content")["content"] == []


def test_content_of_one_branch(searchable: Dw):
    searchable.ok("branch", "create", "alpha", "side")
    hits = searchable.json("search", "alpha", "oslo", "--content")["content"]
    assert [(h["branch"], h["path"]) for h in hits] == [
        ("main", "data/x.csv"),
        ("side", "data/x.csv"),
    ]
    only = searchable.json("search", "alpha", "oslo", "--content", "--rev", "side")["content"]
    assert [(h["branch"], h["path"]) for h in only] == [("side", "data/x.csv")]


def test_paths_by_glob(searchable: Dw):
    assert searchable.ok("search", "alpha", "x.csv", "--paths").stdout == (
        "data/raw/x.csv\ndata/x.csv\n"
    )
    assert searchable.ok("search", "alpha", "*.parquet", "--paths", "--rev", "main").stdout == (
        "data/events/01.parquet\n"
    )
    searchable.ok("repo", "create", "empty")  # no default branch yet: skipped by --all
    document = searchable.json("search", "--all", "*.txt", "--paths")
    assert [(p["repository"], p["path"]) for p in document["paths"]] == [("secret", "keys.txt")]
    assert document["truncated"] is False
    all_text = searchable.ok("search", "--all", "*.txt", "--paths").stdout
    assert all_text == "secret:keys.txt\n"


def test_history_of_a_path(searchable: Dw, tmp_path: Path):
    folder = write_tree(tmp_path / "edit", {"x.csv": b"station,temperature\noslo,13\n"})
    searchable.ok("import", str(folder), "alpha", "--path", "data", "-m", "Warmer")
    out = searchable.ok("search", "alpha", "data/x.csv", "--history").stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in out] == [
        "M data/x.csv  Warmer",
        "A data/x.csv  Add ingest pipeline",
    ]
    document = searchable.json("search", "alpha", "data/x.csv", "--history", "-n", "1")
    assert [(c["change"], c["message"]) for c in document["history"]] == [("modified", "Warmer")]


def test_reindex(searchable: Dw):
    result = searchable.ok("search", "alpha", "--reindex")
    assert result.stdout == ""
    assert "indexed 1 branch" in result.stderr
    assert searchable.json("search", "alpha", "--reindex") == {"indexed_branches": 1}
    result = searchable.ok("search", "--all", "--reindex", "hunter2", "--content")
    assert "indexed 2 branches" in result.stderr
    assert "secret:main:keys.txt" in result.stdout


def test_no_matches(searchable: Dw):
    result = searchable.ok("search", "alpha", "zeppelin")
    assert result.stdout == ""
    assert "no matches" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["alpha", ""], "the search query is empty"),
        (["alpha", "%%%"], "no letters or digits"),
        (["alpha", "x" * 300], "longer than 256 characters"),
        (["alpha", "[abc", "--paths"], "'[' is not closed"),
        (["alpha", "a//b", "--paths"], "empty, '.' or '..' component"),
        (["nope", "ingest"], "repository 'nope' not found"),
        (["alpha", "ingest", "-n", "500"], "limit must be between 1 and 100"),
        (["alpha", "*.csv", "--paths", "--rev", "nope"], "nope"),
    ],
)
def test_bad_input_is_one_error_line(searchable: Dw, args, message):
    searchable.fails("search", *args, message=message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["alpha"], "give REPO and QUERY"),
        (["--all"], "give REPO and QUERY"),
        (["--all", "alpha", "ingest"], "give REPO and QUERY"),
        (["alpha", "x", "--paths", "--history"], "each go alone"),
        (["alpha", "x", "--paths", "--commits"], "each go alone"),
        (["--all", "x", "--history"], "needs a REPO"),
        (["alpha", "x", "--rev", "main"], "--rev goes with"),
    ],
)
def test_usage_errors(searchable: Dw, args, message):
    searchable.fails("search", *args, code=2, message=message)
