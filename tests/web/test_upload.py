"""Uploading files from the browser: a commit like any other."""

import hashlib
import io

import pytest

from tests.web.conftest import GeneratedCsv, commit, page

MiB = 1024 * 1024


def files(*items: tuple[str, bytes]) -> list[tuple[io.BytesIO, str]]:
    return [(io.BytesIO(data), name) for name, data in items]


def test_upload_form(client, sample) -> None:
    html = page(client, "/sample/upload/feature/x/data")
    assert "Upload files to <code>feature/x</code> in <code>data/</code>" in html
    assert 'enctype="multipart/form-data"' in html
    assert 'name="csrf_token"' in html
    assert f'name="head" value="{sample.feature}"' in html


def test_upload_commits_the_files(client, forms, sample) -> None:
    response = forms.post(
        "/sample/upload/main/data",
        {
            "files": files(("a.csv", b"x,y\n1,2\n"), ("b.txt", b"bee\n")),
            "message": "Add two files",
            "author": "Uploader",
            "email": "up@example.com",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/sample/tree/main/data"
    head = sample.repo.get_commit("main")
    assert head.commit.parents == (sample.head,)
    assert head.commit.message == "Add two files"
    assert head.commit.author.name == "Uploader"
    assert sample.repo.read_file("main", "data/a.csv") == b"x,y\n1,2\n"
    assert sample.repo.read_file("main", "data/b.txt") == b"bee\n"
    html = page(client, "/sample/tree/main/data")
    assert f"Committed {head.id[:10]}." in html
    assert ">a.csv</a>" in html


def test_upload_replaces_a_file_and_uses_a_subfolder(forms, sample) -> None:
    forms.post(
        "/sample/upload/main",
        {
            "files": files(("README.md", b"# New\n"), ("x.txt", b"x")),
            "message": "Replace",
            "subfolder": "",
        },
        content_type="multipart/form-data",
    )
    assert sample.repo.read_file("main", "README.md") == b"# New\n"
    forms.post(
        "/sample/upload/main/data",
        {"files": files(("c.txt", b"c")), "message": "Deeper", "subfolder": "2026/01"},
        content_type="multipart/form-data",
    )
    assert sample.repo.read_file("main", "data/2026/01/c.txt") == b"c"


def test_upload_to_a_branch_with_a_slash(forms, sample) -> None:
    response = forms.post(
        "/sample/upload/feature/x",
        {"files": files(("f.txt", b"f")), "message": "On feature"},
        content_type="multipart/form-data",
    )
    assert response.headers["Location"] == "/sample/tree/feature/x"
    assert sample.repo.read_file("feature/x", "f.txt") == b"f"


@pytest.mark.parametrize(
    ("uploads", "fields", "message"),
    [
        pytest.param([("a.txt", b"a")], {}, "write a commit message", id="no-message"),
        pytest.param([("a.txt", b"a")], {"message": "  "}, "write a commit message", id="blank"),
        pytest.param([], {"message": "Nothing"}, "choose at least one file", id="no-files"),
        pytest.param([("a/b.txt", b"a")], {"message": "Slash"}, "a/b.txt", id="slash"),
        pytest.param([("..", b"a")], {"message": "Dots"}, "..", id="dotdot"),
        pytest.param(
            [("a.txt", b"a")], {"message": "Up", "subfolder": "../up"}, "..", id="subfolder-dotdot"
        ),
    ],
)
def test_bad_upload_is_refused_and_commits_nothing(
    client, forms, sample, uploads, fields, message
) -> None:
    response = forms.post(
        "/sample/upload/main/data",
        {"files": files(*uploads), **fields},
        content_type="multipart/form-data",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'class="flash flash-error"' in html
    assert message in html.replace("&#39;", "'")
    assert sample.repo.resolve("main") == sample.head


def test_failed_upload_keeps_the_message(forms, sample) -> None:
    response = forms.post(
        "/sample/upload/main",
        {"message": "Keep me", "author": "Ada"},
        content_type="multipart/form-data",
    )
    html = response.get_data(as_text=True)
    assert ">Keep me</textarea>" in html
    assert 'name="author" value="Ada"' in html


def test_upload_to_a_tag_or_commit_is_refused(client, forms, sample) -> None:
    assert client.get("/sample/upload/v1.0").status_code == 400
    assert client.get(f"/sample/upload/{sample.head}").status_code == 400
    token = forms.token("/sample/upload/main")
    response = client.post(
        "/sample/upload/v1.0",
        data={"files": files(("a.txt", b"a")), "message": "m", "csrf_token": token},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "is not a branch" in response.get_data(as_text=True)
    assert sample.repo.resolve("v1.0") == sample.tag


def test_upload_without_csrf_token_is_refused(client, forms, sample) -> None:
    forms.token("/sample/upload/main")
    response = client.post(
        "/sample/upload/main",
        data={"files": files(("a.txt", b"a")), "message": "m"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert sample.repo.resolve("main") == sample.head


def test_large_upload(forms, sample) -> None:
    size = 20 * MiB
    data = io.BufferedReader(GeneratedCsv(size)).read()
    response = forms.post(
        "/sample/upload/main",
        {"files": [(io.BytesIO(data), "big.csv")], "message": "Big upload"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    listed = sample.repo.stat("main", "big.csv")
    assert listed.size == size
    assert listed.entry.id == hashlib.sha256(data).hexdigest()


def test_upload_into_a_new_folder(forms, sample) -> None:
    response = forms.post(
        "/sample/upload/main/fresh/dir",
        {"files": files(("n.txt", b"n")), "message": "New folder"},
        content_type="multipart/form-data",
    )
    assert response.headers["Location"] == "/sample/tree/main/fresh/dir"
    assert sample.repo.read_file("main", "fresh/dir/n.txt") == b"n"


def test_upload_into_a_file_is_refused(client, sample) -> None:
    response = client.get("/sample/upload/main/README.md")
    assert response.status_code == 409
    assert "is a file, not a folder" in response.get_data(as_text=True)


def test_upload_onto_a_moved_branch_is_a_conflict(client, forms, sample) -> None:
    token = forms.token("/sample/upload/main")
    shown_head = sample.head
    commit(sample.repo, "main", {"other.txt": b"o"}, "Someone else", 9)
    response = client.post(
        "/sample/upload/main",
        data={
            "files": files(("a.txt", b"a")),
            "message": "Mine",
            "head": shown_head,
            "csrf_token": token,
        },
        content_type="multipart/form-data",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "has moved" in html
    assert sample.repo.get_commit("main").commit.title == "Someone else"
