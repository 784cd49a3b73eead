"""Raw bytes: lengths, ETags, ranges, safe content types and downloads."""

import hashlib

import pytest

from tests.web.conftest import BINARY, CSV, commit

EVIL_HTML = b"<!doctype html><script>alert(document.cookie)</script>\n"


def get(client, url: str, **kwargs):
    """GET and read the whole body, so streamed files are closed."""
    response = client.get(url, **kwargs)
    response.get_data()
    return response


def test_raw_serves_the_bytes(client, sample) -> None:
    response = get(client, "/sample/raw/main/data/weather.csv")
    assert response.status_code == 200
    assert response.data == CSV
    assert response.headers["Content-Length"] == str(len(CSV))
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_etag_is_the_blob_id(client, sample) -> None:
    response = get(client, "/sample/raw/main/data/weather.csv")
    assert response.headers["ETag"] == f'"{hashlib.sha256(CSV).hexdigest()}"'


def test_if_none_match_gives_304(client, sample) -> None:
    etag = get(client, "/sample/raw/main/data/weather.csv").headers["ETag"]
    response = get(client, "/sample/raw/main/data/weather.csv", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == etag


def test_stale_etag_gives_the_file(client, sample) -> None:
    response = get(
        client, "/sample/raw/main/data/weather.csv", headers={"If-None-Match": '"' + "0" * 64 + '"'}
    )
    assert response.status_code == 200
    assert response.data == CSV


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        pytest.param("bytes=0-9", 0, 10, id="first-ten"),
        pytest.param("bytes=-5", len(CSV) - 5, len(CSV), id="suffix"),
        pytest.param("bytes=20-", 20, len(CSV), id="open-ended"),
        pytest.param("bytes=10-100000", 10, len(CSV), id="clipped"),
    ],
)
def test_range_requests(client, sample, header: str, start: int, stop: int) -> None:
    response = get(client, "/sample/raw/main/data/weather.csv", headers={"Range": header})
    assert response.status_code == 206
    assert response.data == CSV[start:stop]
    assert response.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{len(CSV)}"
    assert response.headers["Content-Length"] == str(stop - start)


def test_unsatisfiable_range_gives_416(client, sample) -> None:
    response = get(
        client, "/sample/raw/main/data/weather.csv", headers={"Range": "bytes=1000-2000"}
    )
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(CSV)}"


def test_several_ranges_are_ignored_and_the_whole_file_sent(client, sample) -> None:
    response = get(client, "/sample/raw/main/data/weather.csv", headers={"Range": "bytes=0-1,4-5"})
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(CSV))


def test_range_with_a_stale_if_range_gives_the_whole_file(client, sample) -> None:
    response = get(
        client,
        "/sample/raw/main/data/weather.csv",
        headers={"Range": "bytes=0-9", "If-Range": '"' + "0" * 64 + '"'},
    )
    assert response.status_code == 200
    assert response.data == CSV


def test_html_is_served_as_plain_text_in_a_sandbox(client, sample) -> None:
    commit(sample.repo, "main", {"evil.html": EVIL_HTML, "evil.svg": EVIL_HTML}, "Evil", 9)
    for name in ("evil.html", "evil.svg"):
        response = get(client, f"/sample/raw/main/{name}")
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert "sandbox" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.data == EVIL_HTML


def test_text_is_inline(client, sample) -> None:
    response = get(client, "/sample/raw/main/src/main.py")
    assert response.mimetype == "text/plain"
    assert response.headers["Content-Disposition"].startswith("inline;")


def test_image_is_inline_with_its_type(client, sample) -> None:
    response = get(client, "/sample/raw/main/images/pixel.png")
    assert response.mimetype == "image/png"
    assert response.data.startswith(b"\x89PNG")


def test_binary_is_an_attachment(client, sample) -> None:
    response = get(client, "/sample/raw/main/bin/blob.bin")
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="blob.bin"')
    assert response.data == BINARY


def test_download_is_an_attachment_with_the_file_name(client, sample) -> None:
    response = get(client, "/sample/raw/main/data/weather.csv?download=1")
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"weather.csv\"; filename*=UTF-8''weather.csv"
    )
    assert response.data == CSV


def test_download_with_a_unicode_name(client, sample) -> None:
    commit(sample.repo, "main", {"données été.csv": CSV, 'a"b\\c.txt': b"q"}, "Unicode", 9)
    response = get(client, "/sample/raw/main/données été.csv?download=1")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''donn%C3%A9es%20%C3%A9t%C3%A9.csv" in disposition
    quoted = get(client, "/sample/raw/main/a%22b%5Cc.txt?download=1")
    assert quoted.headers["Content-Disposition"].startswith('attachment; filename="a_b_c.txt";')


def test_empty_file(client, sample) -> None:
    response = get(client, "/sample/raw/main/empty.txt")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "0"
    assert response.data == b""


def test_raw_at_a_commit_id_and_a_tag(client, sample) -> None:
    assert get(client, f"/sample/raw/{sample.commits[0]}/notes.txt").data == b"to be deleted\n"
    assert get(client, "/sample/raw/v1.0/notes.txt").data == b"to be deleted\n"


def test_head_gives_the_length_without_the_body(client, sample) -> None:
    response = client.head("/sample/raw/main/data/weather.csv")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(CSV))
    assert response.data == b""
