"""Queries on users, API tokens, web sessions and failed sign-ins."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dataworkflow.errors import AlreadyExists
from dataworkflow.metadata.tables import ApiTokenRow, SignInFailureRow, UserRow, WebSessionRow


def insert_user(session: Session, row: UserRow) -> UserRow:
    """Add a user.

    Raises:
        AlreadyExists: if the username is taken.
    """
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise AlreadyExists(f"user {row.username!r} already exists") from None
    return row


def get_user_row(session: Session, username: str) -> UserRow | None:
    """The user with this (lowercased) name, if any."""
    return session.scalar(select(UserRow).where(UserRow.username == username))


def user_rows(session: Session) -> list[UserRow]:
    """Every user, by name."""
    return list(session.scalars(select(UserRow).order_by(UserRow.username)))


def users_by_id(session: Session, ids: set[int]) -> dict[int, UserRow]:
    """``{id: row}`` of the users with these ids."""
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(select(UserRow).where(UserRow.id.in_(ids)))}


def count_users(session: Session) -> int:
    """How many users the installation has."""
    return session.scalar(select(func.count()).select_from(UserRow)) or 0


def token_with_user(session: Session, token_hash: str) -> tuple[ApiTokenRow, UserRow] | None:
    """The token whose secret hashes to ``token_hash`` and its user, in one query."""
    row = session.execute(_TOKEN_WITH_USER, {"token_hash": token_hash}).first()
    return (row[0], row[1]) if row is not None else None


_TOKEN_WITH_USER = (
    select(ApiTokenRow, UserRow)
    .join(UserRow, UserRow.id == ApiTokenRow.user_id)
    .where(ApiTokenRow.token_hash == bindparam("token_hash"))
)
"""Built once: every API request runs it."""


def token_rows(session: Session, user_id: int) -> list[ApiTokenRow]:
    """A user's tokens, newest first."""
    return list(
        session.scalars(
            select(ApiTokenRow)
            .where(ApiTokenRow.user_id == user_id)
            .order_by(ApiTokenRow.id.desc())
        )
    )


def count_failures(
    session: Session, *, since: int, username: str | None = None, address: str | None = None
) -> tuple[int, int | None]:
    """``(failures since ``since``, time of the oldest of them)`` for an account or address."""
    query = select(func.count(), func.min(SignInFailureRow.at)).where(SignInFailureRow.at >= since)
    if username is not None:
        query = query.where(SignInFailureRow.username == username)
    if address is not None:
        query = query.where(SignInFailureRow.address == address)
    count, oldest = session.execute(query).one()
    return int(count or 0), oldest


def record_failure(
    session: Session, username: str, address: str, at: int, *, keep_after: int
) -> None:
    """Remember a failed sign-in and forget the ones too old to matter."""
    session.execute(delete(SignInFailureRow).where(SignInFailureRow.at < keep_after))
    session.add(SignInFailureRow(username=username[:64], address=address[:64], at=at))


def clear_failures(session: Session, username: str) -> None:
    """Forget an account's failed sign-ins (after a successful one)."""
    session.execute(delete(SignInFailureRow).where(SignInFailureRow.username == username))


def get_session_row(session: Session, session_id: str) -> WebSessionRow | None:
    """A stored web session by the hash of its cookie."""
    return session.get(WebSessionRow, session_id)


def delete_session_rows(
    session: Session,
    *,
    session_id: str | None = None,
    user_id: int | None = None,
    expired_before: int | None = None,
) -> None:
    """Delete one session, every session of a user, or every expired one."""
    query = delete(WebSessionRow)
    if session_id is not None:
        query = query.where(WebSessionRow.id == session_id)
    if user_id is not None:
        query = query.where(WebSessionRow.user_id == user_id)
    if expired_before is not None:
        query = query.where(WebSessionRow.expires_at < expired_before)
    session.execute(query)
