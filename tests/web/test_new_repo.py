"""Creating repositories from the browser, and who can see a private one afterwards."""

from __future__ import annotations

import pytest

from dataworkflow.errors import RepositoryNotFound
from dataworkflow.services import access as access_service
from dataworkflow.services.accounts import create_user
from dataworkflow.services.installation import create_repository, get_repository_info
from tests.web.conftest import Forms, Tags, page, sign_in

PASSWORD = "a long enough password"


def signed_in(app, db, name: str):
    create_user(db, name, email=f"{name}@example.com", password=PASSWORD)
    browser = app.test_client()
    assert sign_in(browser, name, PASSWORD).status_code == 303
    return browser


def listed(html: str) -> list[str]:
    """The repositories the home page lists, by name."""
    return [a["href"].strip("/") for a in Tags(html).all("a") if a.get("class") == "repo-name"]


def test_the_home_page_offers_new_repository_to_signed_in_users(client, anonymous) -> None:
    assert 'href="/new"' in page(client, "/")
    assert 'href="/new"' not in page(anonymous, "/")


def test_new_repository_needs_a_signed_in_user(anonymous) -> None:
    response = anonymous.get("/new")
    assert response.status_code in (302, 303)
    assert response.headers["Location"].startswith("/login")


def test_an_admin_creates_a_public_repository(client, forms, db) -> None:
    assert 'name="private"' in page(client, "/new")
    response = forms.post(
        "/new",
        {"name": "weather", "description": "Daily <readings>", "default_branch": "trunk"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/weather/"
    info = get_repository_info(db, "weather")
    assert (info.description, info.default_branch, info.private) == (
        "Daily <readings>",
        "trunk",
        False,
    )
    assert access_service.grants(db, info.id) == []  # admins hold admin everywhere already
    html = page(client, "/weather/")
    assert "Created repository weather." in html
    assert "weather" in listed(page(client, "/"))
    assert "Daily &lt;readings&gt;" in page(client, "/")


def test_the_default_branch_defaults_to_main(forms, db) -> None:
    forms.post("/new", {"name": "plain", "default_branch": ""})
    assert get_repository_info(db, "plain").default_branch == "main"


def test_a_private_repository_is_visible_only_to_its_creator_until_shared(
    app, db, anonymous
) -> None:
    alice = signed_in(app, db, "alice")
    bob = signed_in(app, db, "bob")
    response = Forms(alice).post("/new", {"name": "secret-data", "private": "on"}, form_page="/new")
    assert response.status_code == 303
    info = get_repository_info(db, "secret-data")
    assert info.private
    assert [(g.user.username, g.role) for g in access_service.grants(db, info.id)] == [
        ("alice", "admin")
    ]
    # the creator sees it, with its settings
    assert "secret-data" in listed(page(alice, "/"))
    assert "/secret-data/settings" in page(alice, "/secret-data/")
    # nobody else does: not listed, and 404 rather than 403
    for stranger in (anonymous, bob):
        assert "secret-data" not in listed(page(stranger, "/"))
        assert "secret-data" not in page(stranger, "/")
        for url in ("/secret-data/", "/secret-data/activity", "/secret-data/settings"):
            assert stranger.get(url).status_code == 404, url
    # shared through its settings page, bob can read it
    granted = Forms(alice).post(
        "/secret-data/settings", {"action": "grant", "username": "bob", "role": "read"}
    )
    assert granted.status_code == 303
    assert "secret-data" in listed(page(bob, "/"))
    assert page(bob, "/secret-data/")
    assert bob.get("/secret-data/settings").status_code == 403
    assert anonymous.get("/secret-data/").status_code == 404


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({"name": ""}, "non-empty", id="empty"),
        pytest.param({"name": "settings"}, "reserved", id="reserved"),
        pytest.param({"name": "new"}, "reserved", id="reserved-new"),
        pytest.param({"name": "has space"}, "may contain only", id="bad-char"),
        pytest.param({"name": "taken"}, "already exists", id="taken"),
        pytest.param({"name": "ok", "default_branch": "a..b"}, "a..b", id="bad-branch"),
        pytest.param({"name": "ok", "description": "x" * 10_001}, "longer than", id="long"),
    ],
)
def test_bad_names_are_refused_with_a_message(forms, db, data, message) -> None:
    create_repository(db, "taken")
    response = forms.post("/new", data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'class="flash flash-error"' in html and message in html
    assert f'value="{data["name"]}"' in html  # what was typed stays in the form
    with pytest.raises(RepositoryNotFound):
        get_repository_info(db, "ok")


@pytest.mark.parametrize("csrf", [None, "forged"], ids=["missing", "invalid"])
def test_new_repository_needs_the_csrf_token(client, forms, db, csrf) -> None:
    forms.token("/new")
    data = {"name": "sneaky", **({"csrf_token": csrf} if csrf else {})}
    assert client.post("/new", data=data).status_code == 400
    with pytest.raises(RepositoryNotFound):
        get_repository_info(db, "sneaky")
