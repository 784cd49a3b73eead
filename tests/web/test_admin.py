"""Administering users: list, create, admin flag, disable and enable."""

from __future__ import annotations

import re

import pytest

from dataworkflow.errors import AuthenticationRequired
from dataworkflow.services.accounts import (
    UserNotFound,
    authenticate,
    create_user,
    get_user,
    list_users,
    update_user,
)
from tests.web.conftest import Forms, page, sign_in

PASSWORD = "a long enough password"


def row(html: str, username: str) -> str:
    """The table row of ``username`` on the users page."""
    for found in re.findall(r"<tr>.*?</tr>", html, flags=re.S):
        if f"<strong>{username}</strong>" in found:
            return found
    raise AssertionError(f"no row for {username}")


def signed_in(app, db, name: str, *, admin: bool = False):
    create_user(db, name, email=f"{name}@example.com", password=PASSWORD, admin=admin)
    browser = app.test_client()
    assert sign_in(browser, name, PASSWORD).status_code == 303
    return browser


def act(forms: Forms, username: str, action: str):
    return forms.post(
        "/admin/users/update", {"username": username, "action": action}, form_page="/admin/users"
    )


def test_users_are_listed_with_their_flags(client, db) -> None:
    create_user(db, "bob", email="bob@example.com", display_name="Bob <B>", password=PASSWORD)
    create_user(db, "eve", email="eve@example.com", password=PASSWORD)
    update_user(db, "eve", disabled=True)
    html = page(client, "/admin/users")
    admin = row(html, "admin")
    assert '<span class="badge">admin</span>' in admin and "you</span>" in admin
    bob = row(html, "bob")
    assert "Bob &lt;B&gt;" in bob and "Bob <B>" not in html
    assert 'badge">admin' not in bob and "Make admin" in bob and "Disable" in bob
    eve = row(html, "eve")
    assert '<span class="badge">disabled</span>' in eve and ">Enable</button>" in eve


def test_create_a_user_who_can_then_sign_in(app, client, forms, db) -> None:
    response = forms.post(
        "/admin/users",
        {
            "username": "Dana",
            "email": "dana@example.com",
            "display_name": "Dana S",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert response.status_code == 303
    assert "Created user dana." in page(client, "/admin/users")
    dana = get_user(db, "dana")
    assert (dana.email, dana.display_name, dana.is_admin) == ("dana@example.com", "Dana S", False)
    assert sign_in(app.test_client(), "dana", PASSWORD).status_code == 303


def test_create_an_admin(forms, db) -> None:
    forms.post(
        "/admin/users",
        {
            "username": "root2",
            "email": "r@example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
            "admin": "on",
        },
    )
    assert get_user(db, "root2").is_admin


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"username": "admin"}, "already", id="taken"),
        pytest.param({"username": "no spaces"}, "may contain only", id="bad-name"),
        pytest.param({"email": "nope"}, "is not an email address", id="bad-email"),
        pytest.param({"confirm": "something else"}, "The passwords differ.", id="mismatch"),
        pytest.param({"password": "short", "confirm": "short"}, "at least 8", id="short"),
    ],
)
def test_bad_new_users_are_refused_with_a_message(forms, db, changes, message) -> None:
    data = {
        "username": "frank",
        "email": "frank@example.com",
        "password": PASSWORD,
        "confirm": PASSWORD,
        **changes,
    }
    response = forms.post("/admin/users", data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert f'value="{data["email"]}"' in html  # the form keeps what was typed
    assert [user.username for user in list_users(db)] == ["admin"]


def test_make_and_unmake_an_admin(client, forms, db) -> None:
    create_user(db, "bob", email="bob@example.com", password=PASSWORD)
    assert act(forms, "bob", "make-admin").status_code == 303
    assert get_user(db, "bob").is_admin
    assert "bob is now an administrator." in page(client, "/admin/users")
    act(forms, "bob", "unmake-admin")
    assert not get_user(db, "bob").is_admin


def test_disable_signs_the_user_out_and_enable_lets_them_back(app, client, forms, db) -> None:
    bob = signed_in(app, db, "bob")
    act(forms, "bob", "disable")
    assert get_user(db, "bob").disabled
    assert "Sign in" in page(bob, "/")  # their session ended
    with pytest.raises(AuthenticationRequired):
        authenticate(db, "bob", PASSWORD, address="test")
    act(forms, "bob", "enable")
    assert not get_user(db, "bob").disabled
    authenticate(db, "bob", PASSWORD, address="test")


@pytest.mark.parametrize("action", ["unmake-admin", "disable"])
def test_the_last_admin_stays(client, forms, db, action) -> None:
    response = act(forms, "admin", action)
    assert response.status_code == 303
    html = page(client, "/admin/users")
    assert "the last active administrator cannot be removed or disabled" in html
    user = get_user(db, "admin")
    assert user.is_admin and not user.disabled


@pytest.mark.parametrize(
    ("username", "action", "message"),
    [
        ("ghost", "disable", "user &#39;ghost&#39; not found"),
        ("admin", "explode", "Unknown action."),
    ],
)
def test_bad_actions_are_messages(client, forms, username, action, message) -> None:
    assert act(forms, username, action).status_code == 303
    assert message in page(client, "/admin/users")


def test_non_admins_are_refused(app, db, anonymous) -> None:
    bob = signed_in(app, db, "bob")
    assert bob.get("/admin/users").status_code == 403
    token = Forms(bob).token("/")
    response = bob.post(
        "/admin/users/update", data={"username": "bob", "action": "make-admin", "csrf_token": token}
    )
    assert response.status_code == 403
    assert not get_user(db, "bob").is_admin
    response = bob.post(
        "/admin/users",
        data={
            "username": "mallory",
            "email": "m@example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
            "csrf_token": token,
        },
    )
    assert response.status_code == 403
    with pytest.raises(UserNotFound):
        get_user(db, "mallory")
    response = anonymous.get("/admin/users")
    assert response.status_code in (302, 303)
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("csrf", [None, "forged"], ids=["missing", "invalid"])
def test_admin_forms_need_the_csrf_token(client, forms, db, csrf) -> None:
    create_user(db, "bob", email="bob@example.com", password=PASSWORD)
    forms.token("/admin/users")
    extra = {"csrf_token": csrf} if csrf else {}
    response = client.post(
        "/admin/users/update", data={"username": "bob", "action": "make-admin", **extra}
    )
    assert response.status_code == 400
    response = client.post(
        "/admin/users",
        data={
            "username": "mallory",
            "email": "m@example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
            **extra,
        },
    )
    assert response.status_code == 400
    assert [user.username for user in list_users(db)] == ["admin", "bob"]
    assert not get_user(db, "bob").is_admin
