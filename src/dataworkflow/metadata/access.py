"""Who may do what: repository roles and protected branch patterns."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from dataworkflow.metadata.tables import ProtectedBranchRow, RepositoryRoleRow


def protected_patterns(session: Session, repository_id: int) -> list[str]:
    """The repository's protected branch patterns, by name."""
    return list(
        session.scalars(
            select(ProtectedBranchRow.pattern)
            .where(ProtectedBranchRow.repository_id == repository_id)
            .order_by(ProtectedBranchRow.pattern)
        )
    )


def add_protected_pattern(session: Session, repository_id: int, pattern: str) -> bool:
    """Protect ``pattern``; False if it already was."""
    if pattern in protected_patterns(session, repository_id):
        return False
    session.add(ProtectedBranchRow(repository_id=repository_id, pattern=pattern))
    return True


def remove_protected_pattern(session: Session, repository_id: int, pattern: str) -> bool:
    """Unprotect ``pattern``; False if it was not protected."""
    removed = session.execute(
        delete(ProtectedBranchRow)
        .where(
            ProtectedBranchRow.repository_id == repository_id,
            ProtectedBranchRow.pattern == pattern,
        )
        .returning(ProtectedBranchRow.pattern)
    ).first()
    return removed is not None


def get_role(session: Session, repository_id: int, user_id: int) -> str | None:
    """The role granted to a user on a repository, if any."""
    return session.execute(_ROLE, {"repository_id": repository_id, "user_id": user_id}).scalar()


_ROLE = select(RepositoryRoleRow.role).where(
    RepositoryRoleRow.repository_id == bindparam("repository_id"),
    RepositoryRoleRow.user_id == bindparam("user_id"),
)


def set_role(session: Session, repository_id: int, user_id: int, role: str) -> None:
    """Grant (or change) a user's role on a repository."""
    row = session.get(RepositoryRoleRow, (repository_id, user_id))
    if row is None:
        session.add(RepositoryRoleRow(repository_id=repository_id, user_id=user_id, role=role))
    else:
        row.role = role


def remove_role(session: Session, repository_id: int, user_id: int) -> bool:
    """Take a user's role away; False if there was none."""
    row = session.get(RepositoryRoleRow, (repository_id, user_id))
    if row is None:
        return False
    session.delete(row)
    return True


def roles_of_repository(session: Session, repository_id: int) -> list[tuple[int, str]]:
    """``(user id, role)`` of every grant on a repository."""
    rows = session.execute(
        select(RepositoryRoleRow.user_id, RepositoryRoleRow.role).where(
            RepositoryRoleRow.repository_id == repository_id
        )
    )
    return [(user_id, role) for user_id, role in rows]


def roles_of_user(session: Session, user_id: int) -> dict[int, str]:
    """``{repository id: role}`` of every grant a user holds."""
    rows = session.execute(
        select(RepositoryRoleRow.repository_id, RepositoryRoleRow.role).where(
            RepositoryRoleRow.user_id == user_id
        )
    )
    return {repository_id: role for repository_id, role in rows}
