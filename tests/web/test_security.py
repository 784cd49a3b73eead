"""Headers on every page, no inline script anywhere, and the static files."""

import pytest

from tests.web.conftest import Tags

PAGES = [
    ("/", 200),
    ("/sample/", 200),
    ("/sample/tree/main/data", 200),
    ("/sample/tree/feature/x", 200),
    ("/sample/blob/main/README.md", 200),
    ("/sample/blob/main/src/main.py", 200),
    ("/sample/blob/main/data/weather.csv", 200),
    ("/sample/blob/main/data/cities.parquet", 200),
    ("/sample/blob/main/images/pixel.png", 200),
    ("/sample/blob/main/bin/blob.bin", 200),
    ("/sample/blob/main/empty.txt", 200),
    ("/sample/commits/main", 200),
    ("/sample/commits/main/README.md", 200),
    ("/sample/commit/main", 200),
    ("/sample/branches", 200),
    ("/sample/tags", 200),
    ("/sample/upload/main/data", 200),
    ("/nope", 404),
    ("/sample/tree/main/missing", 404),
    ("/sample/tree/main?after=", 400),
    ("/sample/upload/v1.0", 400),
]


@pytest.fixture
def pages(client, sample) -> list[tuple[str, object]]:
    """Every kind of HTML page, fetched once: ``(url, response)``."""
    fetched = []
    for url, status in PAGES:
        response = client.get(url)
        response.get_data()
        assert response.status_code == status, url
        fetched.append((url, response))
    return fetched


def test_every_page_sends_a_strict_csp(pages) -> None:
    for url, response in pages:
        policy = response.headers["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert "'unsafe-inline'" not in directives["script-src"], url
        assert directives["object-src"] == "'none'", url
        assert directives["frame-ancestors"] == "'none'", url


def test_every_page_sends_nosniff_and_html(pages) -> None:
    for url, response in pages:
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
        assert response.headers["Content-Type"] == "text/html; charset=utf-8", url


def test_no_inline_script_or_style_anywhere(pages) -> None:
    for url, response in pages:
        tags = Tags(response.get_data(as_text=True))
        scripts = tags.all("script")
        assert scripts, url
        assert all(script.get("src", "").startswith("/static/") for script in scripts), url
        for name, attributes in tags.found:
            handlers = [a for a in attributes if a.startswith("on")]
            assert not handlers, (url, name, handlers)
            # style-src 'self' would block inline styles: they would silently not apply
            assert "style" not in attributes, (url, name)
        assert not tags.all("style"), url


def test_every_form_that_posts_carries_a_csrf_token(pages) -> None:
    for url, response in pages:
        html = response.get_data(as_text=True)
        for form in html.split("<form")[1:]:
            body = form.split("</form>", 1)[0]
            if 'method="post"' in body.split(">", 1)[0]:
                assert 'name="csrf_token" value="' in body, url


@pytest.mark.parametrize(
    ("name", "mimetype"),
    [
        ("style.css", "text/css"),
        ("app.js", "text/javascript"),
        ("pygments.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_static_files(client, name: str, mimetype: str) -> None:
    response = client.get(f"/static/{name}")
    try:
        assert response.status_code == 200
        assert response.mimetype == mimetype
        assert response.get_data()
    finally:
        response.close()


def test_pygments_stylesheet_matches_the_formatter(client) -> None:
    from dataworkflow.web.previews import pygments_css

    response = client.get("/static/pygments.css")
    try:
        served = response.get_data(as_text=True)
    finally:
        response.close()
    assert ".highlight .kn" in served
    assert all(line in served for line in pygments_css().splitlines() if ".highlight .k " in line)


def test_session_cookie_is_http_only_and_same_site(client, sample) -> None:
    response = client.get("/sample/branches")  # the form creates a CSRF token
    response.get_data()
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
