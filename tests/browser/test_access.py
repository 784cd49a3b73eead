"""Private repositories in a real browser: visible to whoever may read them, 404 to others."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot, sign_in, sign_out

pytestmark = pytest.mark.browser


def test_a_private_repository_is_invisible_to_those_without_access(server, page):
    sign_in(page, server, "ada")
    page.click("a.button:has-text('New repository')")
    page.fill("input[name=name]", "ada-private")
    page.fill("textarea[name=description]", "Only for Ada")
    page.check("input[name=private]")
    screenshot(page, "20-new-private-repository")
    page.click("button:has-text('Create repository')")
    assert page.url.rstrip("/").endswith("/ada-private")
    page.goto(server + "/")
    assert page.locator("a", has_text="ada-private").count() >= 1
    screenshot(page, "21-home-with-private")

    sign_out(page)
    assert page.locator("a", has_text="ada-private").count() == 0
    response = page.goto(server + "/ada-private")
    assert response is not None and response.status == 404
    screenshot(page, "22-private-anonymous-404")

    sign_in(page, server, "bob")
    assert page.locator("a", has_text="ada-private").count() == 0
    response = page.goto(server + "/ada-private")
    assert response is not None and response.status == 404
    response = page.goto(server + "/ada-private/settings")
    assert response is not None and response.status == 404
    # The 404s above are logged by the browser; nothing else may be.
    assert [p for p in page.problems if "status of 404" not in p] == []
