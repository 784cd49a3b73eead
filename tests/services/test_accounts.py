"""Users, passwords, sign-in rate limits and API tokens, on SQLite and PostgreSQL."""

import hashlib
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from dataworkflow.errors import (
    AlreadyExists,
    AuthenticationRequired,
    InvalidInput,
    InvalidName,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from dataworkflow.metadata.tables import ApiTokenRow, UserRow
from dataworkflow.services import accounts, sessions
from dataworkflow.services.accounts import FAILURE_WINDOW, UserNotFound

PASSWORD = "correct horse battery staple"
T0 = 1_800_000_000


def password_hash(db, username: str) -> str | None:
    with db.reading() as session:
        return session.scalar(select(UserRow.password_hash).where(UserRow.username == username))


def raw_rows(db, table: str) -> list[tuple]:
    """Every column of every row, as the database returns it (no ORM in between)."""
    with db.reading() as session:
        return [tuple(row) for row in session.execute(text(f"SELECT * FROM {table}"))]


def make_user(db, name="alice", *, password=PASSWORD, admin=False):
    return accounts.create_user(
        db, name, email=f"{name}@example.com", password=password, admin=admin, now=T0
    )


# --- passwords --------------------------------------------------------------------------


def test_password_is_stored_only_as_an_argon2_hash(db, caplog):
    caplog.set_level(logging.DEBUG)
    user = make_user(db)
    first_hash = password_hash(db, "alice")
    assert first_hash.startswith("$argon2id$")
    assert PASSWORD not in first_hash
    for stored in raw_rows(db, "users"):
        assert not any(PASSWORD in str(value) for value in stored)
    assert "password" not in {f for f in user.__dataclass_fields__}
    assert PASSWORD not in repr(user)

    accounts.set_password(db, "alice", "another secret phrase")
    assert not any("another secret phrase" in str(v) for r in raw_rows(db, "users") for v in r)
    assert password_hash(db, "alice") != first_hash
    with pytest.raises(AuthenticationRequired):
        accounts.authenticate(db, "alice", PASSWORD, address="10.0.0.1", now=T0)
    assert accounts.authenticate(db, "ALICE", "another secret phrase", address="10.0.0.1").id == (
        user.id
    )
    assert PASSWORD not in caplog.text and "another secret phrase" not in caplog.text


def test_bad_passwords_are_refused_without_being_echoed(db):
    with pytest.raises(InvalidInput) as short:
        make_user(db, password="Zq9!x")
    assert "Zq9!x" not in str(short.value)
    with pytest.raises(InvalidInput) as long:
        make_user(db, password="Q" * 2000)
    assert "QQQQ" not in str(long.value)
    assert accounts.count_users(db) == 0


def test_a_user_without_a_password_cannot_sign_in_with_one(db):
    accounts.create_user(db, "robot", email="robot@example.com")
    assert password_hash(db, "robot") is None
    for guess in ("", PASSWORD, "not a password: equalises the time of unknown usernames"):
        with pytest.raises(AuthenticationRequired):
            accounts.authenticate(db, "robot", guess, address="10.0.0.1", now=T0)


# --- users ------------------------------------------------------------------------------


def test_create_get_list_update(db):
    alice = accounts.create_user(
        db, "Alice", email=" alice@example.com ", display_name="Alice A.", now=T0
    )
    assert (alice.username, alice.email, alice.display_name) == (
        "alice",
        "alice@example.com",
        "Alice A.",
    )
    assert (alice.is_admin, alice.disabled, alice.created_at) == (False, False, T0)
    make_user(db, "bob")
    assert accounts.get_user(db, "ALICE") == alice
    assert [u.username for u in accounts.list_users(db)] == ["alice", "bob"]
    changed = accounts.update_user(db, "alice", email="a@example.org", display_name="")
    assert (changed.email, changed.shown_name) == ("a@example.org", "alice")
    with pytest.raises(AlreadyExists):
        make_user(db, "ALICE")
    with pytest.raises(UserNotFound):
        accounts.get_user(db, "carol")
    with pytest.raises(UserNotFound):
        accounts.update_user(db, "carol", email="c@example.com")


@pytest.mark.parametrize("name", ["", "a/b", "-x", "x-", "anonymous", "a" * 65, "é"])
def test_bad_usernames(db, name):
    with pytest.raises(InvalidName):
        make_user(db, name)


@pytest.mark.parametrize("email", ["", "alice", "alice@localhost", "a b@example.com", "@x.org"])
def test_bad_emails(db, email):
    with pytest.raises(InvalidInput):
        accounts.create_user(db, "alice", email=email)


def test_first_sign_up_makes_the_admin_and_then_closes(db):
    first = accounts.create_user(db, "root", email="root@example.com", first_only=True)
    assert first.is_admin
    with pytest.raises(PermissionDenied):
        accounts.create_user(db, "second", email="s@example.com", first_only=True)
    assert accounts.count_users(db) == 1


def test_the_last_admin_cannot_be_removed(db):
    make_user(db, "alice", admin=True)
    for change in ({"admin": False}, {"disabled": True}):
        with pytest.raises(InvalidInput, match="last active administrator"):
            accounts.update_user(db, "alice", **change)
    assert accounts.get_user(db, "alice").is_admin
    make_user(db, "bob", admin=True)
    assert not accounts.update_user(db, "alice", admin=False).is_admin
    with pytest.raises(InvalidInput):
        accounts.update_user(db, "bob", disabled=True)
    # A disabled admin is no active admin: demoting one loses nothing.
    accounts.update_user(db, "alice", admin=True)
    accounts.update_user(db, "alice", disabled=True)
    assert not accounts.update_user(db, "alice", admin=False).is_admin
    with pytest.raises(InvalidInput):
        accounts.update_user(db, "bob", admin=False)


def test_a_disabled_user_is_refused_everywhere_and_signed_out(db):
    user = make_user(db)
    new = accounts.create_token(db, "alice", scope="write", now=T0)
    secret = sessions.new_secret()
    sessions.save(db, secret, sessions.StoredSession(user.id), lifetime=3600, now=T0)
    assert sessions.load(db, secret, now=T0 + 1).user_id == user.id

    accounts.update_user(db, "alice", disabled=True)
    assert sessions.load(db, secret, now=T0 + 1) is None
    with pytest.raises(AuthenticationRequired, match="disabled"):
        accounts.authenticate(db, "alice", PASSWORD, address="10.0.0.1", now=T0)
    with pytest.raises(AuthenticationRequired, match="disabled"):
        accounts.authenticate_token(db, new.secret, now=T0 + 1)

    accounts.update_user(db, "alice", disabled=False)
    assert accounts.authenticate(db, "alice", PASSWORD, address="10.0.0.1", now=T0).id == user.id
    assert accounts.authenticate_token(db, new.secret, now=T0 + 1)[0].id == user.id


def test_a_new_password_ends_every_session(db):
    user = make_user(db)
    secret = sessions.new_secret()
    sessions.save(db, secret, sessions.StoredSession(user.id), lifetime=3600, now=T0)
    accounts.set_password(db, "alice", "a brand new password")
    assert sessions.load(db, secret, now=T0 + 1) is None
    with pytest.raises(UserNotFound):
        accounts.set_password(db, "nobody", "a brand new password")


# --- sign-in rate limits ----------------------------------------------------------------


def test_failed_sign_ins_lock_the_account_until_the_window_passes(db):
    make_user(db, "alice")
    make_user(db, "bob")
    for attempt in range(5):
        with pytest.raises(AuthenticationRequired):
            accounts.authenticate(db, "alice", "wrong guess", address="10.0.0.1", now=T0 + attempt)
    # Locked: even the right password is not looked at, from any address.
    for address in ("10.0.0.1", "10.9.9.9"):
        with pytest.raises(RateLimited) as locked:
            accounts.authenticate(db, "alice", PASSWORD, address=address, now=T0 + 10)
    assert 0 < locked.value.retry_after <= FAILURE_WINDOW
    # Another account from the same address is not affected.
    assert accounts.authenticate(db, "bob", PASSWORD, address="10.0.0.1", now=T0 + 10)
    # Recovered once the failures are older than the window; success clears them.
    later = T0 + 5 + FAILURE_WINDOW
    assert accounts.authenticate(db, "alice", PASSWORD, address="10.0.0.1", now=later)
    with pytest.raises(AuthenticationRequired):
        accounts.authenticate(db, "alice", "wrong guess", address="10.0.0.1", now=later + 1)


def test_failed_sign_ins_lock_an_address_across_accounts(db):
    make_user(db, "alice")
    for attempt in range(20):  # one guess per made-up account: no account reaches its limit
        with pytest.raises(AuthenticationRequired):
            accounts.authenticate(
                db, f"ghost{attempt}", "guess", address="192.0.2.7", now=T0 + attempt
            )
    with pytest.raises(RateLimited):
        accounts.authenticate(db, "alice", PASSWORD, address="192.0.2.7", now=T0 + 30)
    assert accounts.authenticate(db, "alice", PASSWORD, address="192.0.2.8", now=T0 + 30)
    after = T0 + 20 + FAILURE_WINDOW
    assert accounts.authenticate(db, "alice", PASSWORD, address="192.0.2.7", now=after)


def test_unknown_usernames_count_as_failures(db):
    for attempt in range(5):
        with pytest.raises(AuthenticationRequired, match="wrong username or password"):
            accounts.authenticate(db, "nobody", "x", address="10.0.0.1", now=T0 + attempt)
    with pytest.raises(RateLimited):
        accounts.authenticate(db, "nobody", "x", address="10.0.0.1", now=T0 + 6)


# --- API tokens -------------------------------------------------------------------------


def test_a_token_is_shown_once_and_stored_only_as_a_hash(db):
    user = make_user(db)
    new = accounts.create_token(
        db, "alice", scope="write", name="ci", expires_in=timedelta(days=1), now=T0
    )
    assert new.secret.startswith(accounts.TOKEN_PREFIX) and len(new.secret) > 40
    rows = raw_rows(db, "api_tokens")
    assert len(rows) == 1
    assert not any(new.secret in str(value) for value in rows[0])
    with db.reading() as session:
        token_hash, prefix = session.execute(
            select(ApiTokenRow.token_hash, ApiTokenRow.prefix)
        ).one()
    assert token_hash == hashlib.sha256(new.secret.encode()).hexdigest()
    assert prefix == new.secret[:10]
    assert (new.token.scope, new.token.name, new.token.expires_at) == ("write", "ci", T0 + 86400)
    # Listing tells tokens apart by prefix; the secret is nowhere in it.
    listed = accounts.list_tokens(db, "alice")
    assert [t.id for t in listed] == [new.token.id]
    assert "secret" not in listed[0].__dataclass_fields__
    assert new.secret not in repr(listed)
    found_user, found_token = accounts.authenticate_token(db, new.secret, now=T0 + 5)
    assert (found_user.id, found_token.id, found_token.scope) == (user.id, new.token.id, "write")


def test_revoked_expired_and_unknown_tokens_are_refused(db):
    make_user(db)
    expiring = accounts.create_token(
        db, "alice", scope="read", expires_in=timedelta(hours=1), now=T0
    )
    revoked = accounts.create_token(db, "alice", scope="write", now=T0)
    assert accounts.authenticate_token(db, expiring.secret, now=T0 + 3599)
    with pytest.raises(AuthenticationRequired, match="expired"):
        accounts.authenticate_token(db, expiring.secret, now=T0 + 3600)

    assert accounts.authenticate_token(db, revoked.secret, now=T0 + 1)
    assert accounts.revoke_token(db, revoked.token.id, now=T0 + 2).revoked_at == T0 + 2
    with pytest.raises(AuthenticationRequired, match="revoked"):
        accounts.authenticate_token(db, revoked.secret, now=T0 + 3)

    states = {t.id: t.state(T0 + 3600) for t in accounts.list_tokens(db, "alice")}
    assert states == {expiring.token.id: "expired", revoked.token.id: "revoked"}
    for bogus in ("", "dw_" + "x" * 43, revoked.secret[3:], revoked.secret + "x", "dw_" * 100):
        with pytest.raises(AuthenticationRequired):
            accounts.authenticate_token(db, bogus, now=T0)


def test_last_use_is_recorded_at_most_once_a_minute(db):
    make_user(db)
    new = accounts.create_token(db, "alice", scope="read", now=T0)
    assert accounts.list_tokens(db, "alice")[0].last_used_at is None
    accounts.authenticate_token(db, new.secret, now=T0 + 10)
    accounts.authenticate_token(db, new.secret, now=T0 + 30)
    assert accounts.list_tokens(db, "alice")[0].last_used_at == T0 + 10
    accounts.authenticate_token(db, new.secret, now=T0 + 70)
    assert accounts.list_tokens(db, "alice")[0].last_used_at == T0 + 70


def test_token_requests_are_checked(db):
    make_user(db, "alice")
    make_user(db, "bob")
    with pytest.raises(InvalidInput, match="scope"):
        accounts.create_token(db, "alice", scope="admin")
    with pytest.raises(InvalidInput, match="lifetime"):
        accounts.create_token(db, "alice", scope="read", expires_in=timedelta(0))
    with pytest.raises(UserNotFound):
        accounts.create_token(db, "carol", scope="read")
    with pytest.raises(UserNotFound):
        accounts.list_tokens(db, "carol")
    token = accounts.create_token(db, "alice", scope="read").token
    with pytest.raises(NotFound):
        accounts.revoke_token(db, token.id, owner="bob")  # not bob's to revoke
    with pytest.raises(NotFound):
        accounts.revoke_token(db, token.id + 100)
    assert accounts.revoke_token(db, token.id, owner="ALICE").state() == "revoked"
