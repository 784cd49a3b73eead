"""Users, passwords, sign-in rate limits and API tokens.

Secrets are never stored: passwords as argon2 hashes, API tokens as the SHA-256 of the
token (a token is 256 random bits, so a fast hash is enough and lets a request find its
token with one indexed lookup). A token is shown exactly once, when it is created.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dataworkflow.core.names import validate_username
from dataworkflow.errors import (
    AuthenticationRequired,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from dataworkflow.metadata import accounts as queries
from dataworkflow.metadata.engine import Database
from dataworkflow.metadata.tables import ApiTokenRow, UserRow

SCOPES = ("read", "write")
TOKEN_PREFIX = "dw_"
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
FAILURE_WINDOW = 15 * 60
"""Seconds over which failed sign-ins are counted, and how long a lock lasts."""
LAST_USED_RESOLUTION = 60
"""A token's last-used time is rewritten at most once a minute: reads stay reads."""

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against for unknown usernames, so they take as long as known ones.

    Made on first use: hashing costs ~0.15 s, which every ``dw`` command paid at import.
    """
    return _hasher.hash("not a password: equalises the time of unknown usernames")


class UserNotFound(NotFound):
    """No user has this name (or id)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"user {name!r} not found")
        self.name = name


@dataclass(frozen=True, slots=True)
class User:
    """A user as the rest of the code sees it: never the password hash."""

    id: int
    username: str
    email: str
    display_name: str
    is_admin: bool
    disabled: bool
    created_at: int

    @property
    def shown_name(self) -> str:
        """The display name, or the username when there is none."""
        return self.display_name or self.username


@dataclass(frozen=True, slots=True)
class Token:
    """What is known about an API token after it was created: never its secret."""

    id: int
    user_id: int
    name: str
    prefix: str
    scope: str
    created_at: int
    expires_at: int | None
    last_used_at: int | None
    revoked_at: int | None

    def state(self, now: int | None = None) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or int(time.time())):
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just created: ``secret`` is shown once and then only its hash exists."""

    token: Token
    secret: str


def _user(row: UserRow) -> User:
    return User(
        row.id,
        row.username,
        row.email,
        row.display_name,
        row.is_admin,
        row.disabled,
        row.created_at,
    )


def _token(row: ApiTokenRow) -> Token:
    return Token(
        row.id,
        row.user_id,
        row.name,
        row.prefix,
        row.scope,
        row.created_at,
        row.expires_at,
        row.last_used_at,
        row.revoked_at,
    )


def _now(now: int | None) -> int:
    return int(time.time()) if now is None else now


def check_email(email: str) -> str:
    """Return ``email`` stripped if it looks like an address.

    Raises:
        InvalidInput: if it does not.
    """
    email = (email or "").strip()
    local, at, domain = email.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or len(email) > 320
        or any(c.isspace() for c in email)
    ):
        raise InvalidInput(f"{email!r} is not an email address")
    return email


def check_password(password: str) -> str:
    """Return ``password`` if it is acceptable.

    Raises:
        InvalidInput: if it is too short or too long.
    """
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"a password has at most {MAX_PASSWORD} characters")
    return password


def _display_name(name: str) -> str:
    name = (name or "").strip()
    if len(name) > 200 or any(ord(c) < 0x20 for c in name):
        raise InvalidInput("a display name has at most 200 printable characters")
    return name


# --- users ----------------------------------------------------------------------------


def create_user(
    db: Database,
    username: str,
    *,
    email: str,
    password: str | None = None,
    display_name: str = "",
    admin: bool = False,
    first_only: bool = False,
    now: int | None = None,
) -> User:
    """Create a user; without a password they can only use API tokens.

    ``first_only`` creates the user only on an installation with no users yet (the
    first sign-up), as an admin.

    Raises:
        InvalidName, InvalidInput: for a bad username, email, password or display name.
        AlreadyExists: if the username is taken.
        PermissionDenied: with ``first_only``, if a user exists already.
    """
    name = validate_username(username)
    row = UserRow(
        username=name,
        email=check_email(email),
        display_name=_display_name(display_name),
        password_hash=_hasher.hash(check_password(password)) if password is not None else None,
        is_admin=admin or first_only,
        disabled=False,
        created_at=_now(now),
    )
    with db.transaction() as session:
        if first_only and queries.count_users(session):
            raise PermissionDenied("sign-up is closed: ask an administrator for an account")
        queries.insert_user(session, row)
        session.flush()
        return _user(row)


def count_users(db: Database) -> int:
    """How many users exist (none means the first sign-up creates the admin)."""
    with db.reading() as session:
        return queries.count_users(session)


def get_user(db: Database, username: str) -> User:
    """The named user.

    Raises:
        UserNotFound: if there is none.
    """
    with db.reading() as session:
        row = queries.get_user_row(session, username.lower() if isinstance(username, str) else "")
        if row is None:
            raise UserNotFound(username)
        return _user(row)


def get_user_by_id(db: Database, user_id: int) -> User | None:
    """The user with this id, or None."""
    with db.reading() as session:
        row = session.get(UserRow, user_id)
        return _user(row) if row is not None else None


def users_by_id(db: Database, ids: set[int]) -> dict[int, User]:
    """``{id: user}`` for these ids (missing ones left out)."""
    with db.reading() as session:
        return {key: _user(row) for key, row in queries.users_by_id(session, ids).items()}


def list_users(db: Database) -> list[User]:
    """Every user, by name."""
    with db.reading() as session:
        return [_user(row) for row in queries.user_rows(session)]


def update_user(
    db: Database,
    username: str,
    *,
    email: str | None = None,
    display_name: str | None = None,
    admin: bool | None = None,
    disabled: bool | None = None,
) -> User:
    """Change a user's details or flags; disabling signs them out everywhere.

    Raises:
        UserNotFound: if there is no such user.
        InvalidInput: for a bad email or display name, or to remove the last admin.
    """
    with db.transaction() as session:
        row = queries.get_user_row(session, username.lower())
        if row is None:
            raise UserNotFound(username)
        if email is not None:
            row.email = check_email(email)
        if display_name is not None:
            row.display_name = _display_name(display_name)
        # Only an active admin counts: demoting a disabled one loses no administrator.
        losing_admin = row.is_admin and not row.disabled and (admin is False or disabled is True)
        if losing_admin and _active_admins(session) <= 1:
            raise InvalidInput("the last active administrator cannot be removed or disabled")
        if admin is not None:
            row.is_admin = admin
        if disabled is not None:
            row.disabled = disabled
            if disabled:
                queries.delete_session_rows(session, user_id=row.id)
        session.flush()
        return _user(row)


def _active_admins(session: Any) -> int:
    return sum(1 for row in queries.user_rows(session) if row.is_admin and not row.disabled)


def set_password(db: Database, username: str, password: str) -> None:
    """Set a user's password and sign them out of every browser session.

    Raises:
        UserNotFound: if there is no such user.
        InvalidInput: for an unacceptable password.
    """
    hashed = _hasher.hash(check_password(password))
    with db.transaction() as session:
        row = queries.get_user_row(session, username.lower())
        if row is None:
            raise UserNotFound(username)
        row.password_hash = hashed
        queries.delete_session_rows(session, user_id=row.id)


def authenticate(
    db: Database,
    username: str,
    password: str,
    *,
    address: str,
    max_failures: int = 5,
    max_failures_per_address: int = 20,
    now: int | None = None,
) -> User:
    """Check a password, counting failures per account and per address.

    An account (or address) with too many recent failures is refused without looking at
    the password until the window has passed, so guessing costs time, not just tries.

    Raises:
        RateLimited: too many recent failures for this account or address.
        AuthenticationRequired: wrong username or password, or a disabled account.
    """
    at = _now(now)
    name = (username or "").strip().lower()[:64]
    since = at - FAILURE_WINDOW
    with db.reading() as session:
        for count, oldest, limit in (
            (*queries.count_failures(session, since=since, username=name), max_failures),
            (
                *queries.count_failures(session, since=since, address=address),
                max_failures_per_address,
            ),
        ):
            if count >= limit:
                wait = max(1, (oldest or at) + FAILURE_WINDOW - at)
                raise RateLimited(
                    f"too many failed sign-ins: try again in {(wait + 59) // 60} minutes", wait
                )
        row = queries.get_user_row(session, name)
        stored = row.password_hash if row is not None else None
        found = _user(row) if row is not None else None
    try:
        ok = _hasher.verify(stored or _dummy_hash(), password or "") and stored is not None
    except (VerificationError, InvalidHashError):
        ok = False
    # Raise only after the transaction: raising inside it would roll the failure back.
    with db.transaction() as session:
        if not ok or found is None:
            queries.record_failure(session, name, address, at, keep_after=since)
        else:
            queries.clear_failures(session, name)
            if not found.disabled and stored and _hasher.check_needs_rehash(stored):
                fresh = session.get(UserRow, found.id)
                if fresh is not None:
                    fresh.password_hash = _hasher.hash(password)
    if not ok or found is None:
        raise AuthenticationRequired("wrong username or password")
    if found.disabled:
        raise AuthenticationRequired("this account is disabled")
    return found


# --- API tokens -----------------------------------------------------------------------


def _hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(
    db: Database,
    username: str,
    *,
    scope: str,
    name: str = "",
    expires_in: timedelta | None = None,
    now: int | None = None,
) -> NewToken:
    """Create an API token for a user; its secret is in the result and nowhere else.

    Raises:
        UserNotFound: if there is no such user.
        InvalidInput: for an unknown scope, a bad name or a non-positive lifetime.
    """
    if scope not in SCOPES:
        raise InvalidInput(f"token scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    if expires_in is not None and expires_in.total_seconds() <= 0:
        raise InvalidInput("a token's lifetime must be positive")
    name = _display_name(name)
    at = _now(now)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.transaction() as session:
        user = queries.get_user_row(session, username.lower())
        if user is None:
            raise UserNotFound(username)
        row = ApiTokenRow(
            user_id=user.id,
            name=name,
            token_hash=_hash_token(secret),
            prefix=secret[:10],
            scope=scope,
            created_at=at,
            expires_at=at + int(expires_in.total_seconds()) if expires_in else None,
        )
        session.add(row)
        session.flush()
        return NewToken(_token(row), secret)


def list_tokens(db: Database, username: str) -> list[Token]:
    """A user's tokens (revoked and expired ones too), newest first.

    Raises:
        UserNotFound: if there is no such user.
    """
    with db.reading() as session:
        user = queries.get_user_row(session, username.lower())
        if user is None:
            raise UserNotFound(username)
        return [_token(row) for row in queries.token_rows(session, user.id)]


def revoke_token(
    db: Database, token_id: int, *, owner: str | None = None, now: int | None = None
) -> Token:
    """Revoke a token (only the owner's, when ``owner`` is given).

    Raises:
        NotFound: if there is no such token (of that owner).
    """
    with db.transaction() as session:
        row = session.get(ApiTokenRow, token_id)
        if row is not None and owner is not None:
            user = queries.get_user_row(session, owner.lower())
            if user is None or user.id != row.user_id:
                row = None
        if row is None:
            raise NotFound(f"token {token_id} not found")
        if row.revoked_at is None:
            row.revoked_at = _now(now)
        session.flush()
        return _token(row)


def authenticate_token(db: Database, secret: str, *, now: int | None = None) -> tuple[User, Token]:
    """The user and token a bearer secret stands for, recording when it was last used.

    Raises:
        AuthenticationRequired: unknown, revoked or expired token, or disabled user.
    """
    at = _now(now)
    if not isinstance(secret, str) or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise AuthenticationRequired("invalid API token")
    with db.reading() as session:
        found = queries.token_with_user(session, _hash_token(secret))
        if found is None:
            raise AuthenticationRequired("invalid API token")
        token, user = _token(found[0]), _user(found[1])
    state = token.state(at)
    if state != "active":
        raise AuthenticationRequired(f"this API token is {state}")
    if user.disabled:
        raise AuthenticationRequired("this account is disabled")
    if token.last_used_at is None or at - token.last_used_at >= LAST_USED_RESOLUTION:
        with db.transaction() as session:
            fresh = session.get(ApiTokenRow, token.id)
            if fresh is not None:
                fresh.last_used_at = at
    return user, token
