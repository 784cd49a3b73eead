"""Server-side browser sessions: the cookie holds a random secret, the database the rest.

Keeping sessions in the database (not in a signed cookie) is what lets sign-out, a
disabled account or a password change end every session at once, and lets several
web workers share them. Rows are keyed by the SHA-256 of the secret.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from dataworkflow.metadata import accounts as queries
from dataworkflow.metadata.engine import Database
from dataworkflow.metadata.tables import WebSessionRow

REFRESH_AFTER = 3600
"""A session's expiry is pushed forward at most once an hour: reads stay reads."""


def _key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class StoredSession:
    """A session as loaded: who (if anyone) and its data (the CSRF token...)."""

    user_id: int | None
    data: dict[str, Any] = field(default_factory=dict)
    expires_at: int = 0


def new_secret() -> str:
    """A fresh session secret for a cookie."""
    return secrets.token_urlsafe(32)


def load(db: Database, secret: str, *, now: int | None = None) -> StoredSession | None:
    """The live session behind a cookie, or None (unknown or expired)."""
    if not secret or len(secret) > 100:
        return None
    at = int(time.time()) if now is None else now
    with db.reading() as session:
        row = queries.get_session_row(session, _key(secret))
        if row is None or row.expires_at <= at:
            return None
        try:
            data = json.loads(row.data)
        except ValueError:
            data = {}
        return StoredSession(row.user_id, data if isinstance(data, dict) else {}, row.expires_at)


def save(
    db: Database,
    secret: str,
    stored: StoredSession,
    *,
    lifetime: int,
    now: int | None = None,
) -> int:
    """Write a session (creating it if needed); returns its expiry time."""
    at = int(time.time()) if now is None else now
    expires = at + lifetime
    with db.transaction() as session:
        row = queries.get_session_row(session, _key(secret))
        if row is None:
            if at % 16 == 0:  # now and then, forget sessions nobody came back to
                queries.delete_session_rows(session, expired_before=at)
            session.add(
                WebSessionRow(
                    id=_key(secret),
                    user_id=stored.user_id,
                    data=json.dumps(stored.data),
                    created_at=at,
                    expires_at=expires,
                )
            )
        else:
            row.user_id = stored.user_id
            row.data = json.dumps(stored.data)
            row.expires_at = expires
    stored.expires_at = expires
    return expires


def needs_refresh(stored: StoredSession, *, lifetime: int, now: int | None = None) -> bool:
    """Whether an unchanged session should still be rewritten to extend its life."""
    at = int(time.time()) if now is None else now
    return stored.expires_at - at < lifetime - REFRESH_AFTER


def delete(db: Database, secret: str) -> None:
    """End one session (sign-out, or rotation on sign-in)."""
    with db.transaction() as session:
        queries.delete_session_rows(session, session_id=_key(secret))
