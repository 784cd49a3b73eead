"""The administrators' storage page: totals, a dry-run estimate, past gc runs."""

from __future__ import annotations

from flask.testing import FlaskClient

from dataworkflow.services.changes import Put
from tests.web.conftest import Forms, page


def test_storage_page_shows_totals_and_estimates(client: FlaskClient, forms: Forms, sample) -> None:
    html = page(client, "/admin/storage")
    assert "Stored objects in use" in html and "not estimated yet" in html
    sample.repo.create_branch("doomed", "main")
    sample.repo.commit("doomed", [Put("only-here.bin", b"\x00" * 5000)], "soon garbage")
    sample.repo.delete_branch("doomed")
    response = forms.post("/admin/storage/estimate", {}, form_page="/admin/storage")
    assert response.status_code == 303
    html = page(client, "/admin/storage")
    assert "dry run" in html
    assert "could be reclaimed" in html
    assert sample.repo.list_branches()  # a dry run changes nothing


def test_storage_page_is_for_administrators(anonymous: FlaskClient, sample) -> None:
    response = anonymous.get("/admin/storage")
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")
