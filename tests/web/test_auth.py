"""Signing in and out of the UI: cookies, rotation, CSRF, rate limits, disabled users."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from dataworkflow.metadata.tables import SignInFailureRow, UserRow, WebSessionRow
from dataworkflow.services.accounts import create_user, update_user
from tests.web.conftest import ADMIN_PASSWORD, CSRF_INPUT, page, sign_in


def _cookie_header(response: Any) -> str:
    headers = [v for k, v in response.headers.items() if k.lower() == "set-cookie"]
    found = [h for h in headers if h.startswith("dw_session=")]
    assert found, headers
    return found[-1]


def test_sign_in_sets_a_safe_cookie_and_rotates_the_session(
    anonymous: FlaskClient, admin_user
) -> None:
    anonymous.get("/login")  # the form's CSRF token starts an anonymous session
    before = anonymous.get_cookie("dw_session")
    assert before is not None
    response = sign_in(anonymous, "admin", ADMIN_PASSWORD)
    assert response.status_code == 303
    header = _cookie_header(response)
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert "Secure" not in header  # plain http in tests
    after = anonymous.get_cookie("dw_session")
    assert after is not None and after.value != before.value
    # the pre-sign-in session is gone: replaying it is anonymous
    replay = FlaskClientWithCookie(anonymous.application, before.value)
    assert "Sign in" in page(replay, "/")
    assert "Sign out" in page(anonymous, "/")


class FlaskClientWithCookie(FlaskClient):
    def __init__(self, app: Flask, value: str) -> None:
        super().__init__(app, app.response_class)
        self.set_cookie("dw_session", value)


def test_the_cookie_is_secure_over_https(anonymous: FlaskClient, admin_user) -> None:
    login = anonymous.get("/login", base_url="https://localhost")
    token = CSRF_INPUT.search(login.get_data(as_text=True))
    assert token
    assert "Secure" in _cookie_header(login)
    response = anonymous.post(
        "/login",
        base_url="https://localhost",
        data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": token.group(1)},
    )
    assert response.status_code == 303
    assert "Secure" in _cookie_header(response)


def test_sign_out_ends_the_session_on_the_server(client: FlaskClient, db) -> None:
    cookie = client.get_cookie("dw_session")
    assert cookie is not None
    token = CSRF_INPUT.search(page(client, "/"))
    assert token
    response = client.post("/logout", data={"csrf_token": token.group(1)})
    assert response.status_code == 303
    with db.reading() as session:
        assert (
            session.scalars(select(WebSessionRow).where(WebSessionRow.user_id.isnot(None))).all()
            == []
        )
    replay = FlaskClientWithCookie(client.application, cookie.value)
    assert "Sign in" in page(replay, "/")


def test_sessions_are_stored_hashed(client: FlaskClient, db) -> None:
    cookie = client.get_cookie("dw_session")
    assert cookie is not None
    with db.reading() as session:
        ids = session.scalars(select(WebSessionRow.id)).all()
    assert cookie.value not in ids
    assert all(len(i) == 64 for i in ids)


def test_csrf_missing_or_wrong_is_refused(client: FlaskClient, sample, admin_user) -> None:
    for data in ({}, {"csrf_token": "forged"}):
        response = client.post("/sample/branches", data={"name": "sneaky", **data})
        assert response.status_code == 400
        assert "form expired" in response.get_data(as_text=True)
    assert "sneaky" not in [name for name, _ in sample.repo.list_branches()]
    anonymous = FlaskClient(client.application, client.application.response_class)
    refused = anonymous.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert refused.status_code == 400  # even signing in needs the form's token


def test_wrong_password_and_unknown_user_look_the_same(anonymous: FlaskClient, admin_user) -> None:
    wrong = sign_in(anonymous, "admin", "not the password")
    unknown = sign_in(anonymous, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "wrong username or password" in wrong.get_data(as_text=True)
    assert "wrong username or password" in unknown.get_data(as_text=True)


def test_failed_sign_ins_are_rate_limited_and_recover(
    app: Flask, anonymous, admin_user, db
) -> None:
    app.config["SIGN_IN_MAX_FAILURES"] = 3
    for _ in range(3):
        assert sign_in(anonymous, "admin", "guess").status_code == 401
    locked = sign_in(anonymous, "admin", ADMIN_PASSWORD)  # even the right password waits
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "too many failed sign-ins" in locked.get_data(as_text=True)
    with db.transaction() as session:  # fifteen minutes pass
        session.execute(update(SignInFailureRow).values(at=SignInFailureRow.at - 16 * 60))
    assert sign_in(anonymous, "admin", ADMIN_PASSWORD).status_code == 303


def test_failures_are_also_limited_per_address(app: Flask, anonymous, admin_user, db) -> None:
    app.config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"] = 4
    for name in ("a1", "a2", "a3", "a4"):
        assert sign_in(anonymous, name, "guess").status_code == 401
    assert sign_in(anonymous, "admin", ADMIN_PASSWORD).status_code == 429


def test_a_disabled_user_is_signed_out_and_cannot_sign_in(client: FlaskClient, db) -> None:
    create_user(db, "other", email="o@example.com", password="other password", admin=True)
    assert "Sign out" in page(client, "/")
    update_user(db, "admin", disabled=True)
    assert "Sign in" in page(client, "/")
    response = sign_in(
        FlaskClient(client.application, client.application.response_class), "admin", ADMIN_PASSWORD
    )
    assert response.status_code == 401
    assert "disabled" in response.get_data(as_text=True)


def test_passwords_are_stored_as_argon2_hashes(admin_user, db) -> None:
    with db.reading() as session:
        row = session.scalar(select(UserRow).where(UserRow.username == "admin"))
        assert row is not None and row.password_hash is not None
        assert row.password_hash.startswith("$argon2id$")
        assert ADMIN_PASSWORD not in row.password_hash


def test_next_never_leaves_the_site(anonymous: FlaskClient, admin_user) -> None:
    for target, expected in (
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/sample/branches", "/sample/branches"),
    ):
        login = anonymous.get(f"/login?next={target}")
        token = CSRF_INPUT.search(login.get_data(as_text=True))
        assert token
        response = anonymous.post(
            "/login",
            data={
                "username": "admin",
                "password": ADMIN_PASSWORD,
                "next": target,
                "csrf_token": token.group(1),
            },
        )
        assert response.headers["Location"] == expected
        anonymous.post(
            "/logout", data={"csrf_token": CSRF_INPUT.search(page(anonymous, "/")).group(1)}
        )


def test_anonymous_writes_go_to_sign_in(anonymous: FlaskClient, sample) -> None:
    response = anonymous.get("/sample/upload/main")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?next=/sample/upload/main"


def test_first_sign_up_makes_the_admin_then_closes(anonymous: FlaskClient, db) -> None:
    form = anonymous.get("/signup")
    token = CSRF_INPUT.search(form.get_data(as_text=True))
    assert token
    response = anonymous.post(
        "/signup",
        data={
            "username": "Founder",
            "email": "founder@example.com",
            "password": "founder password",
            "confirm": "founder password",
            "csrf_token": token.group(1),
        },
    )
    assert response.status_code == 303
    assert "founder" in page(anonymous, "/")
    with db.reading() as session:
        row = session.scalar(select(UserRow))
        assert row is not None and row.username == "founder" and row.is_admin
    other = FlaskClient(anonymous.application, anonymous.application.response_class)
    assert other.get("/signup").status_code == 403


def test_sessions_without_a_user_are_short_lived(anonymous: FlaskClient, db) -> None:
    anonymous.get("/login")  # the form's CSRF token needs a session
    with db.reading() as session:
        rows = [
            (r.user_id, r.expires_at - r.created_at) for r in session.scalars(select(WebSessionRow))
        ]
    assert len(rows) == 1
    user_id, lifetime = rows[0]
    assert user_id is None and lifetime <= 2 * 3600
