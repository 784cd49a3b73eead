"""Home page and repository home."""

from dataworkflow.services.installation import create_repository
from dataworkflow.services.repository import Repository
from tests.web.conftest import Tags, commit, page


def test_home_lists_repositories(client, sample, db) -> None:
    create_repository(db, "blank", description="Nothing here yet", default_branch="trunk")
    html = page(client, "/")
    assert 'href="/sample/"' in html
    assert "Weather readings, daily" in html
    assert "4 commits" in html
    assert "Nothing here yet" in html
    assert "trunk" in html
    assert "0 commits" in html


def test_home_shows_repository_size(client, db, storage) -> None:
    create_repository(db, "sized")
    repo = Repository(db, storage, "sized")
    commit(repo, "main", {"a.bin": b"a" * 1500, "b.bin": b"b" * 500}, "Two files", 1)
    commit(repo, "main", {"a.bin": b"c" * 1000}, "Replace one", 2)
    html = page(client, "/")
    assert "3.0 KB" in html  # every version stored: 1500 + 500 + 1000 bytes
    assert "2 commits" in html


def test_home_of_an_empty_installation(client) -> None:
    html = page(client, "/")
    assert "No repositories yet" in html
    assert "dw repo create" in html


def test_repository_home_renders_readme(client, sample) -> None:
    html = page(client, "/sample")
    assert "<h1>Sample data</h1>" in html
    assert "<strong>three cities</strong>" in html
    assert 'href="https://example.com/docs"' in html


def test_repository_home_sanitizes_readme(client, sample) -> None:
    html = page(client, "/sample/")
    tags = Tags(html)
    assert all(script.get("src") for script in tags.all("script"))
    assert not any(href.lower().startswith("javascript:") for href in tags.hrefs())
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert" in html  # shown as text


def test_repository_home_counts_and_latest_commit(client, sample) -> None:
    html = page(client, "/sample")
    assert "<strong>4</strong> commits" in html
    assert "<strong>2</strong> branches" in html
    assert "<strong>1</strong> tags" in html
    assert "Update README, drop notes" in html
    assert f'href="/sample/commit/{sample.head}"' in html


def test_repository_home_lists_root_folders_first(client, sample) -> None:
    html = page(client, "/sample")
    names = ["bin", "data", "images", "src", "README.md", "empty.txt"]
    positions = [html.index(f">{name}</a>") for name in names]
    assert positions == sorted(positions)
    assert "notes.txt" not in html  # deleted on main


def test_branch_switcher_lists_branches_and_tags(client, sample) -> None:
    hrefs = Tags(page(client, "/sample")).hrefs()
    assert "/sample/tree/main" in hrefs
    assert "/sample/tree/feature/x" in hrefs
    assert "/sample/tree/v1.0" in hrefs


def test_empty_repository(client, db) -> None:
    create_repository(db, "blank")
    html = page(client, "/blank")
    assert "This repository is empty" in html
    assert "dw import DIR blank" in html


def test_repository_whose_default_branch_has_no_commits(client, db, storage) -> None:
    create_repository(db, "odd")
    commit(Repository(db, storage, "odd"), "dev", {"a.txt": b"a"}, "On dev", 1)
    html = page(client, "/odd")
    assert "This repository is empty" not in html
    assert "has no commits yet" in html
    assert 'href="/odd/tree/dev">dev</a>' in html
