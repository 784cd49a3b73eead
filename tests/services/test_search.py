"""Search on a fixed corpus, on SQLite and PostgreSQL: the same ranked results on both.

Every expectation below is a literal list, and every test runs on both databases, so a
difference between FTS5 and PostgreSQL's full-text search fails a test.
"""

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from dataworkflow.errors import InvalidInput
from dataworkflow.metadata import search as index
from dataworkflow.metadata.search import SearchBlobRow, SearchBranchRow, SearchPathRow
from dataworkflow.services.changes import Delete, Put, PutBlob
from dataworkflow.services.installation import create_repository, delete_repository
from dataworkflow.services.repository import Repository
from dataworkflow.services.search import (
    catch_up,
    compile_glob,
    find_paths,
    matching_lines,
    path_history,
    rebuild_index,
    search_commits,
    search_content,
)

T0 = 1_700_000_000
PARQUET = b"PAR1\x00\x15\x04binary columns\x00PAR1"
README = b"# Alpha\nThis repository holds the ingestion outputs.\nSee data/ for the tables.\n"
STATIONS = b"station,temperature\noslo,12\nbergen,9\n"


@dataclass
class Corpus:
    db: object
    storage: object
    alpha: Repository
    beta: Repository
    secret: Repository
    commits: dict[str, str]

    @property
    def public(self) -> set[int]:
        return {self.alpha.id, self.beta.id}


@pytest.fixture
def corpus(db, storage) -> Corpus:
    for name in ("alpha", "beta"):
        create_repository(db, name)
    create_repository(db, "secret", private=True)
    alpha, beta, secret = (Repository(db, storage, n) for n in ("alpha", "beta", "secret"))
    alice = {"author": "Alice Smith", "author_email": "alice@example.com"}
    commits = {}
    commits["ingest"] = alpha.commit(
        "main",
        [
            Put("README.md", README),
            Put("data/x.csv", STATIONS),
            Put("data/raw/deep/x.csv", b"station,temperature\ntromso,-3\n"),
            Put("data/y.csv", b"id,value\n1,2\n"),
            Put("data/events/2024/01.parquet", PARQUET + b"1"),
            Put("data/events/2024/02.parquet", PARQUET + b"2"),
            Put("data/events/notes.txt", b"parquet files of ingested events\n"),
            Put("src/clean.py", b"def clean(rows):\n    return [r for r in rows if r]\n"),
        ],
        "Add ingest pipeline",
        authored_at=T0,
        metadata={"source": "s3://raw-bucket/events"},
        **alice,
    ).commit_id
    commits["tweaks"] = alpha.commit(
        "main",
        [Put("notes.txt", b"pipelines are flaky on mondays\n")],
        "Ingestion tweaks for late events",
        author="Bob Jones",
        author_email="bob@example.org",
        authored_at=T0 + 60,
    ).commit_id
    readme = alpha.stat("main", "README.md").entry.id
    commits["move"] = alpha.commit(
        "main",
        [Delete("README.md"), PutBlob("docs/README.md", readme)],
        "Move the readme to docs",
        authored_at=T0 + 120,
        **alice,
    ).commit_id
    commits["maintainers"] = alpha.commit(
        "main",
        [Put("docs/README.md", README + b"Maintained by the data team.\n")],
        "Document the maintainers",
        authored_at=T0 + 180,
        **alice,
    ).commit_id
    commits["weather"] = beta.commit(
        "main",
        [
            Put("weather/2024.csv", b"day,temperature\nmon,11\n"),
            Put("report.md", b"Weather report: temperatures rose.\n"),
        ],
        "Reingested weather data",
        author="Carol White",
        author_email="carol@weather.test",
        authored_at=T0 + 240,
        metadata={"pipeline run": "run-42"},
    ).commit_id
    commits["secret"] = secret.commit(
        "main",
        [Put("keys.txt", b"ingestion token: hunter2\nstation,temperature\n")],
        "Add ingest secrets",
        author="Mallory",
        author_email="mallory@evil.test",
        authored_at=T0 + 300,
    ).commit_id
    return Corpus(db, storage, alpha, beta, secret, commits)


def commit_titles(page) -> list[tuple[str, str, int]]:
    return [(hit.repository, hit.commit.title, hit.score) for hit in page.items]


def content_keys(page) -> list[tuple[str, str, str, int]]:
    return [(hit.repository, hit.branch, hit.path, hit.score) for hit in page.items]


def count(db, query) -> int:
    with db.reading() as session:
        return session.scalar(query)


# --- commits -----------------------------------------------------------------------------


def test_whole_word_ranks_above_prefix_above_substring(corpus):
    page = search_commits(corpus.db, "ingest", repository_ids=corpus.public)
    assert commit_titles(page) == [
        ("alpha", "Add ingest pipeline", 3),
        ("alpha", "Ingestion tweaks for late events", 2),
        ("beta", "Reingested weather data", 1),
    ]
    assert page.next_offset is None


def test_equal_scores_put_newer_commits_first(corpus):
    page = search_commits(corpus.db, "ingest", repository_ids=None)
    assert commit_titles(page) == [
        ("secret", "Add ingest secrets", 3),
        ("alpha", "Add ingest pipeline", 3),
        ("alpha", "Ingestion tweaks for late events", 2),
        ("beta", "Reingested weather data", 1),
    ]


def test_private_repositories_appear_only_when_readable(corpus):
    for readable in (corpus.public, {corpus.beta.id}, set()):
        for query in ("ingest", "mallory", "secrets", "evil test"):
            titles = commit_titles(search_commits(corpus.db, query, repository_ids=readable))
            assert all(repo != "secret" for repo, _, _ in titles), (query, readable)
    assert search_commits(corpus.db, "ingest", repository_ids=set()).items == []
    only_secret = search_commits(corpus.db, "secrets", repository_ids={corpus.secret.id})
    assert commit_titles(only_secret) == [("secret", "Add ingest secrets", 3)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(
            "alice",
            ["Document the maintainers", "Move the readme to docs", "Add ingest pipeline"],
            id="author-name",
        ),
        pytest.param("bob@example.org", ["Ingestion tweaks for late events"], id="author-email"),
        pytest.param(
            "example",
            [
                "Document the maintainers",
                "Move the readme to docs",
                "Ingestion tweaks for late events",
                "Add ingest pipeline",
            ],
            id="email-domain",
        ),
        pytest.param("raw-bucket", ["Add ingest pipeline"], id="metadata-value"),
        pytest.param("run 42", ["Reingested weather data"], id="metadata-words"),
        pytest.param("ingest pipeline", ["Add ingest pipeline"], id="every-word-must-match"),
        pytest.param("LATE Events", ["Ingestion tweaks for late events"], id="case-insensitive"),
        pytest.param("maint", ["Document the maintainers"], id="prefix"),
        pytest.param("nothing-like-this", [], id="no-match"),
    ],
)
def test_commits_by_message_author_and_metadata(corpus, query, expected):
    page = search_commits(corpus.db, query, repository_ids=corpus.public)
    assert [hit.commit.title for hit in page.items] == expected


def test_commit_hits_carry_the_commit(corpus):
    (hit,) = search_commits(corpus.db, "raw bucket", repository_ids=corpus.public).items
    assert hit.id == corpus.commits["ingest"]
    assert hit.repository_id == corpus.alpha.id
    assert dict(hit.commit.metadata) == {"source": "s3://raw-bucket/events"}
    assert hit.commit.author.email == "alice@example.com"


def test_commit_search_pages(corpus):
    first = search_commits(corpus.db, "alice", repository_ids=corpus.public, limit=2)
    assert [h.commit.title for h in first.items] == [
        "Document the maintainers",
        "Move the readme to docs",
    ]
    assert first.next_offset == 2
    second = search_commits(
        corpus.db, "alice", repository_ids=corpus.public, limit=2, offset=first.next_offset
    )
    assert [h.commit.title for h in second.items] == ["Add ingest pipeline"]
    assert second.next_offset is None


def test_commits_are_indexed_as_they_are_written(corpus):
    assert search_commits(corpus.db, "zeppelin", repository_ids=None).items == []
    corpus.beta.commit("main", [Put("z.txt", b"z")], "Zeppelin sightings", authored_at=T0 + 999)
    page = search_commits(corpus.db, "zeppelin", repository_ids=None)
    assert commit_titles(page) == [("beta", "Zeppelin sightings", 3)]


def test_a_deleted_repository_leaves_no_commit_documents(corpus):
    delete_repository(corpus.db, "secret")
    assert search_commits(corpus.db, "secrets", repository_ids=None).items == []
    assert count(corpus.db, select(func.count()).select_from(index.SearchCommitDocRow)) == 5


# --- hostile and bad input -----------------------------------------------------------------

HOSTILE = [
    '"ingest',
    'ingest"',
    "ingest*",
    "NEAR(ingest pipeline)",
    "ingest NEAR pipeline",
    "-ingest",
    "ingest OR pipeline",
    "NOT",
    "AND",
    "ingest AND",
    "message:ingest",
    "^ingest",
    "(ingest",
    "ingest)",
    "a' OR '1'='1",
    "ingest & | ! <-> :*",
    "50%",
    "%ingest%",
    "in_gest",
    "\x00ingest",
    "ingest\u200b",
    "ing\u0000est",
    "x" * 100,
    "word " * 8,
    "été café Straße",
]
BAD = [
    "",
    "   ",
    "%",
    "_",
    '"',
    "*",
    "'",
    "\\",
    "***",
    "x" * 257,
    "a b c d e f g h i",
    "y" * 101,
    "z" * 256,
]


def test_hostile_queries_give_results_or_invalid_input(corpus):
    catch_up(corpus.db, corpus.storage)
    for query in HOSTILE + BAD:
        for run in (search_commits, search_content):
            try:
                page = run(corpus.db, query, repository_ids=None)
            except InvalidInput as error:
                assert query in BAD, (query, error)
                assert str(error)
            else:
                assert query not in BAD, query
                assert isinstance(page.items, list)


def test_bad_pages_are_invalid_input(corpus):
    for kwargs, message in [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 10_001}, "offset"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            search_commits(corpus.db, "ingest", repository_ids=None, **kwargs)
        with pytest.raises(InvalidInput, match=message):
            search_content(corpus.db, "ingest", repository_ids=None, **kwargs)


# --- content -------------------------------------------------------------------------------


def test_content_shows_matching_lines_with_context(corpus):
    assert catch_up(corpus.db, corpus.storage) == 3
    (hit,) = search_content(corpus.db, "ingestion outputs", repository_ids=corpus.public).items
    assert (hit.repository, hit.branch, hit.path) == ("alpha", "main", "docs/README.md")
    assert hit.commit_id == corpus.commits["maintainers"]
    assert hit.blob_id == corpus.alpha.stat("main", "docs/README.md").entry.id
    assert [(line.number, line.text, line.match) for line in hit.lines] == [
        (1, "# Alpha", False),
        (2, "This repository holds the ingestion outputs.", True),
        (3, "See data/ for the tables.", False),
    ]


def test_content_ranks_whole_words_first_then_by_repository_and_path(corpus):
    catch_up(corpus.db, corpus.storage)
    page = search_content(corpus.db, "temperature", repository_ids=corpus.public)
    assert content_keys(page) == [
        ("alpha", "main", "data/raw/deep/x.csv", 2),
        ("alpha", "main", "data/x.csv", 2),
        ("beta", "main", "weather/2024.csv", 2),
        ("beta", "main", "report.md", 1),
    ]
    first = search_content(corpus.db, "temperature", repository_ids=corpus.public, limit=3)
    assert first.next_offset == 3
    rest = search_content(corpus.db, "temperature", repository_ids=corpus.public, offset=3)
    assert content_keys(rest) == [("beta", "main", "report.md", 1)]


def test_private_content_appears_only_when_readable(corpus):
    catch_up(corpus.db, corpus.storage)
    for query in ("hunter2", "ingestion", "station temperature"):
        for readable in (corpus.public, {corpus.alpha.id}, set()):
            keys = content_keys(search_content(corpus.db, query, repository_ids=readable))
            assert all(repo != "secret" for repo, *_ in keys), (query, readable)
    everything = content_keys(search_content(corpus.db, "hunter2", repository_ids=None))
    assert everything == [("secret", "main", "keys.txt", 2)]


def test_binary_and_large_files_are_not_indexed(corpus):
    catch_up(corpus.db, corpus.storage, max_file_bytes=60)
    assert search_content(corpus.db, "binary columns", repository_ids=None).items == []
    parquet = content_keys(search_content(corpus.db, "parquet", repository_ids=None))
    assert parquet == [("alpha", "main", "data/events/notes.txt", 2)]
    # docs/README.md is larger than 60 bytes: not indexed at this setting.
    assert search_content(corpus.db, "maintained", repository_ids=None).items == []
    assert rebuild_index(corpus.db, corpus.storage) == 3
    assert content_keys(search_content(corpus.db, "maintained", repository_ids=None)) == [
        ("alpha", "main", "docs/README.md", 2)
    ]


def test_content_follows_commits_and_branches(corpus):
    db, alpha = corpus.db, corpus.alpha
    catch_up(db, corpus.storage)
    assert catch_up(db, corpus.storage) == 0

    alpha.create_branch("feature")
    alpha.commit("feature", [Put("data/x.csv", b"station,humidity\noslo,80\n")], "Humidity")
    assert catch_up(db, corpus.storage) == 1
    humid = search_content(db, "humidity", repository_ids=None).items
    assert content_keys_of(humid) == [("alpha", "feature", "data/x.csv", 2)]
    assert humid[0].commit_id == alpha.head("feature")
    oslo = content_keys(search_content(db, "oslo", repository_ids=None))
    assert oslo == [("alpha", "feature", "data/x.csv", 2), ("alpha", "main", "data/x.csv", 2)]
    on_feature = search_content(db, "temperature", repository_ids=None, branch="feature")
    assert content_keys(on_feature) == [("alpha", "feature", "data/raw/deep/x.csv", 2)]

    # A commit on main: the new text is found there, the old one no longer.
    alpha.commit("main", [Put("data/y.csv", b"id,pressure\n1,1013\n")], "Pressure")
    alpha.commit("main", [Delete("notes.txt")], "Drop notes")
    assert catch_up(db, corpus.storage) == 1
    assert content_keys(search_content(db, "pressure", repository_ids=None)) == [
        ("alpha", "main", "data/y.csv", 2)
    ]
    assert content_keys(search_content(db, "value", repository_ids=None)) == [
        ("alpha", "feature", "data/y.csv", 2)
    ]
    assert search_content(db, "flaky mondays", repository_ids=None, branch="main").items == []

    # A deleted branch drops out, and so does text only it held.
    alpha.delete_branch("feature")
    assert catch_up(db, corpus.storage) == 1
    assert search_content(db, "humidity", repository_ids=None).items == []
    assert count(db, select(func.count()).where(SearchBranchRow.branch == "feature")) == 0
    assert count(db, select(func.count()).where(SearchPathRow.branch == "feature")) == 0
    assert count(db, select(func.count()).where(SearchBlobRow.text.contains("humidity"))) == 0


def content_keys_of(hits) -> list[tuple[str, str, str, int]]:
    return [(hit.repository, hit.branch, hit.path, hit.score) for hit in hits]


def test_a_blob_at_many_paths_and_branches_is_indexed_once(corpus):
    db, alpha = corpus.db, corpus.alpha
    alpha.commit("main", [Put("copies/a.csv", STATIONS), Put("copies/b.csv", STATIONS)], "Copy")
    alpha.create_branch("twin")
    catch_up(db, corpus.storage)
    blob = alpha.stat("main", "data/x.csv").entry.id
    assert count(db, select(func.count()).where(SearchBlobRow.blob_id == blob)) == 1
    assert count(db, select(func.count()).where(SearchPathRow.blob_id == blob)) == 6
    hits = search_content(db, "bergen", repository_ids={alpha.id}).items
    assert [(h.branch, h.path) for h in hits] == [
        ("main", "copies/a.csv"),
        ("main", "copies/b.csv"),
        ("main", "data/x.csv"),
        ("twin", "copies/a.csv"),
        ("twin", "copies/b.csv"),
        ("twin", "data/x.csv"),
    ]


def test_catch_up_with_a_limit_resumes(corpus):
    assert catch_up(corpus.db, corpus.storage, limit=1) == 1
    assert catch_up(corpus.db, corpus.storage, limit=1) == 1
    assert catch_up(corpus.db, corpus.storage, limit=1) == 1
    assert catch_up(corpus.db, corpus.storage, limit=1) == 0
    with pytest.raises(InvalidInput):
        catch_up(corpus.db, corpus.storage, limit=0)


def test_catch_up_of_one_repository(corpus):
    assert catch_up(corpus.db, corpus.storage, repository_id=corpus.beta.id) == 1
    assert search_content(corpus.db, "oslo", repository_ids=None).items == []
    assert len(search_content(corpus.db, "weather", repository_ids=None).items) == 1


def test_catch_up_repairs_a_branch_whose_log_entry_was_missed(corpus):
    """A ref-log entry committed after a later id was read (PostgreSQL) is re-checked."""
    db = corpus.db
    catch_up(db, corpus.storage)
    corpus.beta.commit("main", [Put("late.txt", b"straggler arrives\n")], "Late")
    with db.transaction() as session:  # pretend the entry was skipped over
        newest = session.scalar(select(func.max(index.RefLogRow.id)))
        index.set_watermark(session, corpus.beta.id, newest)
    assert catch_up(db, corpus.storage) == 1
    assert len(search_content(db, "straggler", repository_ids=None).items) == 1


def test_matching_lines_prefers_lines_with_every_word():
    text = "alpha\nbeta gamma\nalpha beta\n" + "x\n" * 10 + "gamma delta\n"
    lines = matching_lines(text, ["alpha", "beta"], context=0)
    assert [(line.number, line.match) for line in lines] == [(3, True)]
    some = matching_lines(text, ["gamma", "zeta"], context=1)
    assert [(line.number, line.match) for line in some] == [
        (1, False),
        (2, True),
        (3, False),
        (13, False),
        (14, True),
    ]
    long = matching_lines("x" * 1000 + " needle " + "y" * 1000, ["needle"])
    assert "needle" in long[0].text and len(long[0].text) < 310


# --- paths by glob -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*.parquet", ["data/events/2024/01.parquet", "data/events/2024/02.parquet"]),
        ("data/**/x.csv", ["data/raw/deep/x.csv", "data/x.csv"]),
        ("?.csv", ["data/raw/deep/x.csv", "data/x.csv", "data/y.csv"]),
        ("data/?.csv", ["data/x.csv", "data/y.csv"]),
        ("data/*.csv", ["data/x.csv", "data/y.csv"]),
        ("[xy].csv", ["data/raw/deep/x.csv", "data/x.csv", "data/y.csv"]),
        ("/x.csv", []),
        ("x.csv", ["data/raw/deep/x.csv", "data/x.csv"]),
        ("**/deep/*", ["data/raw/deep/x.csv"]),
        (
            "data/events/**",
            [
                "data/events/2024/01.parquet",
                "data/events/2024/02.parquet",
                "data/events/notes.txt",
            ],
        ),
        ("docs/", ["docs/README.md"]),
        ("src/*.py", ["src/clean.py"]),
        ("*.PARQUET", []),
        (
            "data/events/2024/0?.parquet",
            [
                "data/events/2024/01.parquet",
                "data/events/2024/02.parquet",
            ],
        ),
        (
            "**",
            [
                "data/events/2024/01.parquet",
                "data/events/2024/02.parquet",
                "data/events/notes.txt",
                "data/raw/deep/x.csv",
                "data/x.csv",
                "data/y.csv",
                "docs/README.md",
                "notes.txt",
                "src/clean.py",
            ],
        ),
    ],
)
def test_glob_semantics(corpus, pattern, expected):
    found = find_paths(corpus.alpha, "main", pattern)
    assert [entry.path for entry in found.entries] == expected
    assert found.commit_id == corpus.commits["maintainers"]
    assert not found.truncated


def test_find_paths_at_an_older_revision_with_sizes(corpus):
    found = find_paths(corpus.alpha, corpus.commits["ingest"], "README.md")
    assert [(e.path, e.size) for e in found.entries] == [("README.md", len(README))]
    assert [e.path for e in find_paths(corpus.alpha, None, "README.md").entries] == [
        "docs/README.md"
    ]


def test_find_paths_stops_at_the_limit(corpus):
    found = find_paths(corpus.alpha, "main", "*.csv", limit=1)
    assert [e.path for e in found.entries] == ["data/x.csv"]
    assert found.truncated


def test_find_paths_reads_only_folders_the_pattern_can_match(corpus, monkeypatch):
    read: list[str] = []
    original = index.tree_entries

    def spy(session, repository_id, tree_ids, **kwargs):
        read.extend(tree_ids)
        return original(session, repository_id, tree_ids, **kwargs)

    monkeypatch.setattr(index, "tree_entries", spy)
    assert [e.path for e in find_paths(corpus.alpha, "main", "src/*.py").entries] == [
        "src/clean.py"
    ]
    data_tree = corpus.alpha.stat("main", "data").entry.id
    assert data_tree not in read
    assert len(read) == 2  # the root (for "src" alone) and src


BAD_GLOBS = ["", "/", "a//b", "../x", "data/./x", "[abc", "data/[x", "x" * 1025, "a\x00b"]


def test_bad_globs_are_invalid_input(corpus):
    for pattern in BAD_GLOBS:
        with pytest.raises(InvalidInput):
            find_paths(corpus.alpha, "main", pattern)
        with pytest.raises(InvalidInput):
            compile_glob(pattern)


# --- history of a path ---------------------------------------------------------------------


def history_rows(history) -> list[tuple[str, str, str, str | None]]:
    return [(c.commit.title, c.kind, c.path, c.old_path) for c in history.changes]


def test_path_history_follows_renames(corpus):
    history = path_history(corpus.alpha, "docs/README.md")
    assert history_rows(history) == [
        ("Document the maintainers", "modified", "docs/README.md", None),
        ("Move the readme to docs", "renamed", "docs/README.md", "README.md"),
        ("Add ingest pipeline", "added", "README.md", None),
    ]
    assert history.next_cursor is None
    assert [c.id for c in history.changes] == [
        corpus.commits["maintainers"],
        corpus.commits["move"],
        corpus.commits["ingest"],
    ]


def test_path_history_pages_across_the_rename(corpus):
    seen = []
    cursor = None
    while True:
        page = path_history(corpus.alpha, "docs/README.md", limit=1, cursor=cursor)
        seen += history_rows(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [row[0] for row in seen] == [
        "Document the maintainers",
        "Move the readme to docs",
        "Add ingest pipeline",
    ]


def test_path_history_of_a_deleted_file_and_at_a_revision(corpus):
    corpus.alpha.commit("main", [Delete("data/y.csv")], "Drop y", authored_at=T0 + 500)
    assert history_rows(path_history(corpus.alpha, "data/y.csv")) == [
        ("Drop y", "deleted", "data/y.csv", None),
        ("Add ingest pipeline", "added", "data/y.csv", None),
    ]
    old = path_history(corpus.alpha, "README.md", corpus.commits["tweaks"])
    assert history_rows(old) == [("Add ingest pipeline", "added", "README.md", None)]


def test_path_history_bad_input(corpus):
    with pytest.raises(InvalidInput):
        path_history(corpus.alpha, "docs/README.md", cursor="not a cursor")
    with pytest.raises(InvalidInput):
        path_history(corpus.alpha, "")
    with pytest.raises(InvalidInput):
        path_history(corpus.alpha, "docs/README.md", limit=0)


def test_concurrent_catch_ups_agree(corpus):
    import threading

    corpus.alpha.create_branch("one")
    corpus.alpha.create_branch("two")
    corpus.alpha.commit("two", [Put("data/x.csv", b"station,wind\n")], "Wind")
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            catch_up(corpus.db, corpus.storage)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert catch_up(corpus.db, corpus.storage) == 0
    oslo = search_content(corpus.db, "oslo", repository_ids={corpus.alpha.id})
    assert [(h.branch, h.path) for h in oslo.items] == [
        ("main", "data/x.csv"),
        ("one", "data/x.csv"),
    ]
    wind = search_content(corpus.db, "wind", repository_ids=None)
    assert [(h.branch, h.path) for h in wind.items] == [("two", "data/x.csv")]
