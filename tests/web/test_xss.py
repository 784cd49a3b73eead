"""Every user-controlled field is shown as text: never markup, never script.

Each test puts a payload in one field, fetches every page that shows it, and checks that
the payload never appears raw, that its escaped form does, and that the page holds no
script, event handler or ``javascript:`` link it should not.
"""

import io
from urllib.parse import quote

import pytest
from markupsafe import escape

from dataworkflow.services.changes import Put
from dataworkflow.services.installation import create_repository
from dataworkflow.services.repository import Repository
from tests.web.conftest import T0, Tags, page

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = '<script>alert("x")</script>'


def assert_inert(html: str) -> None:
    """No injected element, handler or script-bearing link anywhere on the page."""
    tags = Tags(html)
    for name, attributes in tags.found:
        assert not [a for a in attributes if a.startswith("on")], (name, attributes)
        for link in (attributes.get("href"), attributes.get("src")):
            assert not (link or "").strip().lower().startswith("javascript:"), (name, link)
        assert name not in ("svg", "iframe", "object", "embed", "b"), name
        if name == "script":
            assert (attributes.get("src") or "").startswith("/static/")
        if name == "img":
            assert attributes.get("src") != "x"


def assert_shown_as_text(html: str, payload: str) -> None:
    assert payload not in html
    assert str(escape(payload)) in html
    assert_inert(html)


@pytest.fixture
def repo(db, storage) -> Repository:
    create_repository(db, "xss")
    repo = Repository(db, storage, "xss")
    repo.commit("main", [Put("README.md", b"# hi\n")], "Init", authored_at=T0)
    return repo


def put(repo: Repository, files: dict[str, bytes], message: str = "Add", **kw) -> str:
    result = repo.commit("main", [Put(p, d) for p, d in files.items()], message, **kw)
    assert result.commit_id
    return result.commit_id


def test_file_name(client, repo) -> None:
    name = f"{IMG}.txt"
    made = put(repo, {f"dir/{name}": b"hello\n"})
    urls = [
        "/xss/tree/main/dir",
        f"/xss/blob/main/dir/{quote(name)}",
        f"/xss/commit/{made}",
        f"/xss/commits/main/dir/{quote(name)}",
    ]
    for url in urls:
        assert_shown_as_text(page(client, url), name)
    response = client.get(f"/xss/raw/main/dir/{quote(name)}?download=1")
    assert response.get_data() == b"hello\n"
    assert response.headers["Content-Disposition"].startswith("attachment;")


def test_file_name_with_quotes(client, repo) -> None:
    name = "\"'><b onclick=alert(1)>.txt"  # no "/": that would make it a path
    put(repo, {name: b"q\n"})
    assert_shown_as_text(page(client, "/xss/tree/main"), name)
    assert_shown_as_text(page(client, f"/xss/blob/main/{quote(name)}"), name)


def test_text_file_content(client, repo) -> None:
    put(repo, {"page.txt": f"{SCRIPT}\n{IMG}\n".encode(), "page.html": SCRIPT.encode()})
    html = page(client, "/xss/blob/main/page.txt")
    assert '&lt;script&gt;alert("x")&lt;/script&gt;' in html  # Pygments escapes & < >
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert_inert(html)
    html = page(client, "/xss/blob/main/page.html")  # highlighted as HTML, token by token
    assert '<span class="nt">script</span>' in html
    assert_inert(html)


def test_markdown_file_content(client, repo) -> None:
    markdown = (
        f'# Title\n\n{SCRIPT}\n\n{IMG}\n\n<a href="javascript:alert(1)">raw link</a>\n\n'
        "[md link](javascript:alert(1)) ![img](javascript:alert(1))\n\n"
        "[data](data:text/html;base64,PHNjcmlwdD4=)\n"
    ).encode()
    put(repo, {"README.md": markdown})
    for url in ("/xss/", "/xss/blob/main/README.md"):
        html = page(client, url)
        assert "<h1>Title</h1>" in html
        assert SCRIPT not in html
        assert IMG not in html
        assert 'href="data:' not in html
        assert_inert(html)


def test_csv_cells(client, repo) -> None:
    put(repo, {"t.csv": f"{IMG},b\n{SCRIPT},2\n".encode()})
    html = page(client, "/xss/blob/main/t.csv")
    assert f"<th>{escape(IMG)}</th>" in html
    assert_shown_as_text(html, SCRIPT)


def test_commit_message(client, repo) -> None:
    message = f"{SCRIPT} \"quoted\" & 'single' ünïcödé\n\nBody {IMG}"
    made = put(repo, {"a.txt": b"a"}, message)
    title = message.split("\n")[0]
    for url in (
        "/xss/",
        "/xss/tree/main",
        "/xss/commits/main",
        f"/xss/commit/{made}",
        "/xss/blob/main/a.txt",
        "/xss/branches",
    ):
        assert_shown_as_text(page(client, url), title)
    assert str(escape(f"Body {IMG}")) in page(client, f"/xss/commit/{made}")
    repo.create_tag("v1", made)
    assert_shown_as_text(page(client, "/xss/tags"), title)


def test_author_name_and_email(client, repo) -> None:
    name, email = f'{IMG}"', '"><script>alert(1)</script>@example.com'
    made = put(repo, {"a.txt": b"a"}, "By someone", author=name, author_email=email)
    commit_page = page(client, f"/xss/commit/{made}")
    assert_shown_as_text(commit_page, name)
    assert_shown_as_text(commit_page, email)
    for url in ("/xss/", "/xss/commits/main", "/xss/blob/main/a.txt"):
        assert_shown_as_text(page(client, url), name)


def test_committer(client, repo) -> None:
    tree = repo.get_commit("main").commit.tree
    made = repo.create_commit(
        tree,
        "c",
        "A",
        "a@example.com",
        repo.resolve("main"),
        committer=IMG,
        committer_email=SCRIPT,
    )
    html = page(client, f"/xss/commit/{made}")
    assert_shown_as_text(html, IMG)
    assert_shown_as_text(html, SCRIPT)


BRANCH = 'x"><svg/onload=alert(1)>'


def test_branch_name(client, repo) -> None:
    repo.create_branch(BRANCH)
    assert_shown_as_text(page(client, "/xss/branches"), BRANCH)
    assert_shown_as_text(page(client, "/xss/tree/main"), BRANCH)  # the switcher
    for view in ("tree", "commits", "upload"):
        url = f"/xss/{view}/{quote(BRANCH)}"
        assert_shown_as_text(page(client, url), BRANCH)
    assert_shown_as_text(page(client, f"/xss/blob/{quote(BRANCH)}/README.md"), BRANCH)


def test_tag_name(client, repo) -> None:
    tag = "t<svg/onload=alert(1)>"
    repo.create_tag(tag)
    assert_shown_as_text(page(client, "/xss/tags"), tag)
    assert_shown_as_text(page(client, f"/xss/tree/{quote(tag)}"), tag)


def test_branch_name_in_flash_messages(client, forms, repo) -> None:
    name = "<script>alert(1)</script>"  # a valid ref name
    forms.post("/xss/branches", {"name": name})
    html = page(client, "/xss/branches")
    assert str(escape(f"Created branch {name}")) in html
    assert_shown_as_text(html, name)
    forms.post("/xss/branches", {"name": f"{IMG}"})  # invalid: has spaces
    html = page(client, "/xss/branches")
    assert "forbidden character" in html
    assert_inert(html)


def test_commit_metadata(client, repo) -> None:
    key, value = "<b onmouseover=alert(1)>k</b>", SCRIPT
    made = put(repo, {"a.txt": b"a"}, metadata={key: value})
    html = page(client, f"/xss/commit/{made}")
    assert_shown_as_text(html, key)
    assert_shown_as_text(html, value)


def test_repository_description(client, db) -> None:
    description = f"{IMG} {SCRIPT} \"'&"
    create_repository(db, "described", description=description)
    assert_shown_as_text(page(client, "/"), description)


def test_upload_form_fields(forms, repo) -> None:
    response = forms.post(
        "/xss/upload/main",
        {"message": f"</textarea>{SCRIPT}", "author": f'">{IMG}', "email": f'">{IMG}'},
        content_type="multipart/form-data",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert_shown_as_text(html, f"</textarea>{SCRIPT}")
    assert_shown_as_text(html, f'">{IMG}')


def test_uploaded_file_name(client, forms, repo) -> None:
    response = forms.post(
        "/xss/upload/main",
        {"files": [(io.BytesIO(b"x"), f"{IMG}.txt")], "message": "Upload"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    assert_shown_as_text(page(client, "/xss/tree/main"), f"{IMG}.txt")


def test_paths_in_error_messages(client, repo) -> None:
    assert_shown_as_text(page(client, f"/xss/blob/main/{quote(IMG)}", 404), IMG)
    assert_shown_as_text(page(client, f"/xss/tree/{quote(SCRIPT)}", 404), SCRIPT.split("/")[0])
    assert_inert(page(client, f"/{quote(IMG)}", 404))
