"""Your own settings: profile, password and API tokens (secrets shown once)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from dataworkflow.errors import AuthenticationRequired
from dataworkflow.services.accounts import (
    authenticate,
    authenticate_token,
    create_token,
    create_user,
    get_user,
    list_tokens,
)
from tests.web.conftest import ADMIN_PASSWORD, Forms, page, sign_in

SECRET = re.compile(r"dw_[A-Za-z0-9_-]{20,}")


def test_settings_page_shows_the_profile_and_no_tokens(client, admin_user) -> None:
    html = page(client, "/settings")
    assert 'value="admin@example.com"' in html
    assert "You have no API tokens." in html
    for action in ("/settings/profile", "/settings/password", "/settings/tokens"):
        assert f'action="{action}"' in html


def test_settings_needs_a_signed_in_user(anonymous) -> None:
    response = anonymous.get("/settings")
    assert response.status_code in (302, 303)
    assert response.headers["Location"].startswith("/login")


def test_update_profile(client, forms, db) -> None:
    response = forms.post(
        "/settings/profile",
        {"email": "root@example.org", "display_name": "Ada <Admin>"},
        form_page="/settings",
    )
    assert response.status_code == 303
    user = get_user(db, "admin")
    assert (user.email, user.display_name) == ("root@example.org", "Ada <Admin>")
    html = page(client, "/settings")
    assert "Saved your profile." in html
    assert "Ada &lt;Admin&gt;" in html and "Ada <Admin>" not in html


def test_a_bad_email_is_shown_and_changes_nothing(forms, db) -> None:
    response = forms.post(
        "/settings/profile", {"email": "not an address", "display_name": "X"}, form_page="/settings"
    )
    assert response.status_code == 400
    assert "is not an email address" in response.get_data(as_text=True)
    assert get_user(db, "admin").display_name == ""


def test_a_new_token_is_shown_once(client, forms, db) -> None:
    response = forms.post(
        "/settings/tokens",
        {"name": "nightly", "scope": "read", "expires_days": "30"},
        form_page="/settings",
    )
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    html = response.get_data(as_text=True)
    assert "shown only this once" in html
    secrets = set(SECRET.findall(html))
    assert len(secrets) == 1
    secret = secrets.pop()
    user, token = authenticate_token(db, secret)
    assert (user.username, token.name, token.scope) == ("admin", "nightly", "read")
    assert token.expires_at is not None
    assert token.expires_at - token.created_at == 30 * 86400
    listed = page(client, "/settings")
    assert secret not in listed and not SECRET.search(listed.replace(token.prefix, ""))
    assert token.prefix in listed and "nightly" in listed
    assert '<span class="badge state-active">active</span>' in listed


def test_a_token_without_expiry_never_expires(client, forms, db) -> None:
    forms.post(
        "/settings/tokens",
        {"name": "forever", "scope": "write", "expires_days": ""},
        form_page="/settings",
    )
    (token,) = list_tokens(db, "admin")
    assert (token.scope, token.expires_at) == ("write", None)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"scope": "delete", "expires_days": "5"}, id="bad-scope"),
        pytest.param({"scope": "read", "expires_days": "0"}, id="zero-days"),
        pytest.param({"scope": "read", "expires_days": "soon"}, id="not-a-number"),
        pytest.param({"scope": "read", "expires_days": "99999999999999999999"}, id="huge"),
    ],
)
def test_bad_token_forms_are_refused(forms, db, data) -> None:
    response = forms.post("/settings/tokens", {"name": "x", **data}, form_page="/settings")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'class="flash flash-error"' in html
    assert not SECRET.search(html)
    assert list_tokens(db, "admin") == []


def test_a_revoked_token_is_listed_as_revoked(client, forms, db) -> None:
    created = create_token(db, "admin", scope="write", name="ci")
    response = forms.post(
        "/settings/tokens/revoke", {"token_id": str(created.token.id)}, form_page="/settings"
    )
    assert response.status_code == 303
    html = page(client, "/settings")
    assert "Revoked token ci." in html
    assert '<span class="badge state-revoked">revoked</span>' in html
    assert 'name="token_id"' not in html  # nothing left to revoke
    with pytest.raises(AuthenticationRequired):
        authenticate_token(db, created.secret)


def test_expired_tokens_are_listed_as_expired(client, db) -> None:
    create_token(db, "admin", scope="read", name="gone", expires_in=timedelta(days=1), now=1000)
    html = page(client, "/settings")
    assert '<span class="badge state-expired">expired</span>' in html
    assert "1970-01-02" in html  # when it expired, as a date


@pytest.mark.parametrize("token_id", ["", "abc", "-1", "99999999999999999999"])
def test_revoking_a_bad_token_id_is_a_message(client, forms, token_id) -> None:
    response = forms.post("/settings/tokens/revoke", {"token_id": token_id}, form_page="/settings")
    assert response.status_code == 303
    assert "not found" in page(client, "/settings")


def test_you_cannot_revoke_someone_elses_token(app, client, forms, db) -> None:
    create_user(db, "bob", email="bob@example.com", password="bob's password")
    theirs = create_token(db, "bob", scope="write", name="bobs")
    forms.post("/settings/tokens/revoke", {"token_id": str(theirs.token.id)}, form_page="/settings")
    assert f"token {theirs.token.id} not found" in page(client, "/settings")
    assert list_tokens(db, "bob")[0].state() == "active"


def test_change_password_keeps_this_session_and_ends_the_others(app, client, forms, db) -> None:
    elsewhere = app.test_client()
    assert sign_in(elsewhere, "admin", ADMIN_PASSWORD).status_code == 303
    before = client.get_cookie("dw_session")
    response = forms.post(
        "/settings/password",
        {
            "current_password": ADMIN_PASSWORD,
            "new_password": "a brand new password",
            "confirm": "a brand new password",
        },
        form_page="/settings",
    )
    assert response.status_code == 303
    after = client.get_cookie("dw_session")
    assert before is not None and after is not None and after.value != before.value
    html = page(client, "/settings")  # still signed in here
    assert "every other session was signed out" in html
    assert elsewhere.get("/settings").status_code in (302, 303)  # signed out there
    authenticate(db, "admin", "a brand new password", address="test")
    with pytest.raises(AuthenticationRequired):
        authenticate(db, "admin", ADMIN_PASSWORD, address="test")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            {
                "current_password": "wrong password",
                "new_password": "12345678x",
                "confirm": "12345678x",
            },
            "The current password is wrong.",
            id="wrong-current",
        ),
        pytest.param(
            {
                "current_password": ADMIN_PASSWORD,
                "new_password": "12345678x",
                "confirm": "12345678y",
            },
            "The new passwords differ.",
            id="mismatch",
        ),
        pytest.param(
            {"current_password": ADMIN_PASSWORD, "new_password": "short", "confirm": "short"},
            "at least 8 characters",
            id="too-short",
        ),
    ],
)
def test_bad_password_changes_are_refused(client, forms, db, data, message) -> None:
    response = forms.post("/settings/password", data, form_page="/settings")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    authenticate(db, "admin", ADMIN_PASSWORD, address="test")


FORMS = [
    ("/settings/profile", {"email": "changed@example.com", "display_name": "Changed"}),
    ("/settings/tokens", {"name": "sneaky", "scope": "write", "expires_days": ""}),
    (
        "/settings/password",
        {"current_password": ADMIN_PASSWORD, "new_password": "hijacked!!", "confirm": "hijacked!!"},
    ),
]


@pytest.mark.parametrize(("url", "data"), FORMS, ids=["profile", "token", "password"])
@pytest.mark.parametrize("csrf", [None, "forged"], ids=["missing", "invalid"])
def test_settings_forms_need_the_csrf_token(client, forms, db, url, data, csrf) -> None:
    forms.token("/settings")
    sent = {**data, **({"csrf_token": csrf} if csrf else {})}
    response = client.post(url, data=sent)
    assert response.status_code == 400
    user = get_user(db, "admin")
    assert (user.email, user.display_name) == ("admin@example.com", "")
    assert list_tokens(db, "admin") == []
    authenticate(db, "admin", ADMIN_PASSWORD, address="test")


@pytest.mark.parametrize("csrf", [None, "forged"], ids=["missing", "invalid"])
def test_revoking_needs_the_csrf_token(client, forms, db, csrf) -> None:
    created = create_token(db, "admin", scope="read")
    forms.token("/settings")
    data = {"token_id": str(created.token.id), **({"csrf_token": csrf} if csrf else {})}
    assert client.post("/settings/tokens/revoke", data=data).status_code == 400
    assert list_tokens(db, "admin")[0].state() == "active"


def test_every_user_sees_only_their_own_tokens(app, client, db) -> None:
    create_token(db, "admin", scope="read", name="admins-token")
    create_user(db, "carol", email="carol@example.com", password="carol's password")
    carol = app.test_client()
    assert sign_in(carol, "carol", "carol's password").status_code == 303
    html = page(carol, "/settings")
    assert "admins-token" not in html
    assert "You have no API tokens." in html
    Forms(carol).post(
        "/settings/tokens",
        {"name": "mine", "scope": "read", "expires_days": "7"},
        form_page="/settings",
    )
    assert [t.name for t in list_tokens(db, "carol")] == ["mine"]
    assert [t.name for t in list_tokens(db, "admin")] == ["admins-token"]
