"""`dw user ...` and `dw token ...`: passwords never shown, tokens shown once."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from dataworkflow.cli import users
from dataworkflow.errors import AuthenticationRequired, InvalidInput
from dataworkflow.metadata.tables import ApiTokenRow, UserRow
from dataworkflow.services import accounts

PASSWORD = "  s3cret with spaces  "  # spaces belong to the password


@pytest.fixture
def db(dw) -> Iterator[object]:
    """The database the `dw` runs use, to look behind the commands."""
    from dataworkflow.metadata.engine import Database

    database = Database(dw.env["DATABASE_URL"])
    yield database
    database.dispose()


@pytest.fixture
def terminal(monkeypatch) -> None:
    """Pretend stdin is a terminal, so the commands prompt."""
    monkeypatch.setattr(users, "stdin_is_terminal", lambda: True)


def everything_shown(result) -> str:
    return result.stdout + result.stderr


def every_stored_value(db, table: str) -> list[str]:
    with db.reading() as session:
        rows = session.execute(text(f"SELECT * FROM {table}"))
        return [str(value) for row in rows for value in row]


def stored_hash(db, name: str) -> str | None:
    with db.reading() as session:
        return session.scalar(select(UserRow.password_hash).where(UserRow.username == name))


# --- users ------------------------------------------------------------------------------


def test_create_with_password_stdin_never_shows_or_stores_it(dw, db, caplog):
    caplog.set_level(logging.DEBUG)
    result = dw.ok(
        "user",
        "create",
        "Alice",
        "--email",
        "alice@example.com",
        "--admin",
        "--display-name",
        "Alice A.",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert result.stdout == "created administrator alice <alice@example.com>\n"
    assert PASSWORD.strip() not in everything_shown(result)
    assert stored_hash(db, "alice").startswith("$argon2id$")
    assert not any(PASSWORD.strip() in value for value in every_stored_value(db, "users"))
    assert PASSWORD.strip() not in caplog.text
    user = accounts.authenticate(db, "alice", PASSWORD, address="127.0.0.1")
    assert (user.is_admin, user.display_name) == (True, "Alice A.")
    with pytest.raises(AuthenticationRequired):  # stdin's line ending is not part of it
        accounts.authenticate(db, "alice", PASSWORD + "\n", address="127.0.0.2")


def test_create_prompts_twice_with_hidden_input_on_a_terminal(dw, db, terminal, caplog):
    caplog.set_level(logging.DEBUG)
    answers = "first try 1\nfirst try 2\nthe real one\nthe real one\n"
    result = dw.ok("user", "create", "bob", "--email", "bob@example.com", input=answers)
    shown = everything_shown(result)
    assert "Password:" in shown and "Repeat the password:" in shown
    for secret in ("first try", "the real one"):
        assert secret not in shown and secret not in caplog.text
    assert accounts.authenticate(db, "bob", "the real one", address="127.0.0.1").username == "bob"
    assert "no administrator yet" in result.stdout


def test_without_a_terminal_the_user_gets_no_password(dw, db):
    result = dw.ok("user", "create", "robot", "--email", "robot@example.com")
    assert "robot has no password: they can use API tokens only" in result.stdout
    assert stored_hash(db, "robot") is None


def test_create_errors_change_nothing(dw, db):
    dw.fails(
        "user",
        "create",
        "carol",
        "--email",
        "c@example.com",
        "--password-stdin",
        input="short\n",
        message="at least 8 characters",
    )
    result = dw.fails(
        "user", "create", "carol", "--email", "c@example.com", "--password-stdin", input=""
    )
    assert "no password on stdin" in result.stderr
    dw.fails("user", "create", "bad/name", "--email", "c@example.com", message="username")
    dw.fails("user", "create", "carol", "--email", "nope", message="not an email address")
    dw.fails("user", "create", "carol", code=2, message="Missing option '--email'")
    assert accounts.list_users(db) == []
    dw.ok("user", "create", "carol", "--email", "c@example.com")
    dw.fails("user", "create", "CAROL", "--email", "c@example.com", message="already exists")


def test_list_show_update(dw):
    assert dw.json("user", "list") == []
    dw.ok("user", "create", "alice", "--email", "alice@example.com", "--admin")
    dw.ok("user", "create", "bob", "--email", "bob@example.com", "--display-name", "Bob B")
    assert dw.ok("user", "list").stdout.splitlines() == [
        "alice  alice@example.com  admin",
        "bob    bob@example.com    -               Bob B",
    ]
    listed = dw.json("user", "list")
    assert [u["username"] for u in listed] == ["alice", "bob"]
    assert set(listed[0]) == {
        "username",
        "email",
        "display_name",
        "admin",
        "disabled",
        "created_at",
    }
    shown = dw.json("user", "show", "BOB")
    assert (shown["display_name"], shown["admin"], shown["disabled"]) == ("Bob B", False, False)
    assert "email:        bob@example.com" in dw.ok("user", "show", "bob").stdout

    updated = dw.json("user", "update", "bob", "--admin", "--email", "b@example.org")
    assert (updated["admin"], updated["email"]) == (True, "b@example.org")
    text_out = dw.ok("user", "update", "bob", "--disable", "--no-admin").stdout
    assert text_out.startswith("updated user bob\n") and "disabled:     yes" in text_out
    assert dw.json("user", "update", "bob", "--enable", "--display-name", "")["disabled"] is False
    dw.fails("user", "update", "alice", "--no-admin", message="last active administrator")
    dw.fails("user", "update", "alice", "--disable", message="last active administrator")
    dw.fails("user", "update", "alice", code=2, message="nothing to change")
    dw.fails("user", "update", "ghost", "--admin", message="user 'ghost' not found")
    dw.fails("user", "show", "ghost", message="user 'ghost' not found")


def test_set_password(dw, db, terminal):
    dw.ok("user", "create", "alice", "--email", "alice@example.com", input="old password\n" * 2)
    result = dw.ok("user", "set-password", "alice", "--password-stdin", input="new password\n")
    assert "new password" not in everything_shown(result)
    assert accounts.authenticate(db, "alice", "new password", address="127.0.0.1")
    dw.ok("user", "set-password", "alice", input="newer password\nnewer password\n")
    assert accounts.authenticate(db, "alice", "newer password", address="127.0.0.1")
    dw.fails("user", "set-password", "ghost", "--password-stdin", input="whatever1\n")


def test_set_password_needs_a_terminal_or_stdin(dw):
    dw.ok("user", "create", "alice", "--email", "alice@example.com")
    dw.fails("user", "set-password", "alice", message="use --password-stdin")
    dw.fails(
        "user",
        "set-password",
        "alice",
        "--password-stdin",
        input="tiny\n",
        message="at least 8 characters",
    )


# --- tokens -----------------------------------------------------------------------------


def test_a_token_is_printed_once_on_the_last_line_and_stored_hashed(dw, db, caplog):
    caplog.set_level(logging.DEBUG)
    dw.ok("user", "create", "alice", "--email", "alice@example.com")
    result = dw.ok(
        "token", "create", "ALICE", "--scope", "write", "--name", "ci", "--expires", "12h"
    )
    lines = result.stdout.splitlines()
    secret = lines[-1]  # what `| tail -n1` keeps
    assert secret.startswith("dw_") and " " not in secret
    assert "created write token 1 'ci' for alice: it expires" in lines[0]
    assert "cannot be shown again" in result.stdout
    user, token = accounts.authenticate_token(db, secret)
    assert (user.username, token.scope, token.name) == ("alice", "write", "ci")
    assert token.expires_at - token.created_at == 12 * 3600
    assert not any(secret in value for value in every_stored_value(db, "api_tokens"))
    with db.reading() as session:
        assert session.scalar(select(ApiTokenRow.token_hash)) == (
            hashlib.sha256(secret.encode()).hexdigest()
        )
    assert secret not in caplog.text

    # Never shown again: not by the text listing, not by the JSON one.
    listing = dw.ok("token", "list", "alice")
    assert secret not in everything_shown(listing) and secret[10:20] not in listing.stdout
    header, row = listing.stdout.splitlines()
    assert header.split() == [
        "ID",
        "PREFIX",
        "SCOPE",
        "STATE",
        "CREATED",
        "EXPIRES",
        "LAST",
        "USED",
        "NAME",
    ]
    assert row.split()[:4] == ["1", secret[:10] + "...", "write", "active"] and row.endswith("ci")
    listed = dw.json("token", "list", "alice")
    assert secret not in str(listed)
    assert listed[0]["prefix"] == secret[:10] and listed[0]["state"] == "active"
    assert listed[0]["last_used_at"] is not None and listed[0]["revoked_at"] is None
    assert set(listed[0]) == {
        "id",
        "name",
        "prefix",
        "scope",
        "state",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    }


def test_revoked_tokens_are_refused(dw, db):
    dw.ok("user", "create", "alice", "--email", "alice@example.com")
    created = dw.ok("token", "create", "alice", "--scope", "read").stdout.splitlines()
    assert created[0] == "created read token 1 for alice: it does not expire"
    secret = created[-1]
    assert accounts.authenticate_token(db, secret)
    assert dw.ok("token", "revoke", "1").stdout == f"revoked token 1 ({secret[:10]}... of alice)\n"
    with pytest.raises(AuthenticationRequired, match="revoked"):
        accounts.authenticate_token(db, secret)
    assert dw.json("token", "list", "alice")[0]["state"] == "revoked"
    dw.fails("token", "revoke", "99", message="token 99 not found")
    dw.fails("token", "revoke", "x", code=2, message="Invalid value")


def test_token_create_errors(dw):
    dw.ok("user", "create", "alice", "--email", "alice@example.com")
    dw.fails("token", "create", "alice", code=2, message="Missing option '--scope'")
    dw.fails("token", "create", "alice", "--scope", "admin", code=2, message="'admin'")
    for bad in ("0d", "12", "h", "-1h", "1y", "1.5h"):
        dw.fails(
            "token",
            "create",
            "alice",
            "--scope",
            "read",
            "--expires",
            bad,
            code=2,
            message="duration",
        )
    dw.fails("token", "create", "ghost", "--scope", "read", message="user 'ghost' not found")
    dw.fails("token", "list", "ghost", message="user 'ghost' not found")
    assert dw.ok("token", "list", "alice").stdout == ""
    assert dw.json("token", "list", "alice") == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30m", 1800),
        ("12h", 43200),
        ("90d", 90 * 86400),
        ("2w", 14 * 86400),
        ("45s", 45),
        ("1H", 3600),
    ],
)
def test_parse_duration(text, seconds):
    assert users.parse_duration(text) == timedelta(seconds=seconds)


def test_parse_duration_refuses_nonsense():
    for bad in ("", "0m", "m", "10", "10 minutes", "1e3s", "999999999w", "36501d"):
        with pytest.raises(InvalidInput):
            users.parse_duration(bad)


def test_remote_mode_refuses_user_commands(dw):
    dw.fails(
        "--server", "http://127.0.0.1:9", "user", "list", message="not available with --server"
    )
