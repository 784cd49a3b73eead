"""Who may do what to which repository.

One rule everywhere (UI, API, search, listings): a caller who may not read a private
repository is told it does not exist. A caller who may read it but not do what they
asked is told why (sign in, or which role is missing).

Roles rank ``read`` < ``write`` < ``admin``. Installation admins hold ``admin`` on every
repository; signed-in users hold what they were granted, plus ``read`` on public
repositories; anonymous callers read public repositories only. A token's scope caps
what its user may do through it: a ``read`` token never writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from dataworkflow.errors import (
    AuthenticationRequired,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RepositoryNotFound,
)
from dataworkflow.metadata import access as access_queries
from dataworkflow.metadata import accounts as account_queries
from dataworkflow.metadata.engine import Database
from dataworkflow.metadata.repositories import list_repository_rows
from dataworkflow.services.accounts import User, UserNotFound, users_by_id
from dataworkflow.services.installation import RepositoryInfo, repository_info

ROLES = ("read", "write", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a user (or nobody) and, for API tokens, the token's scope."""

    user: User | None = None
    scope: str | None = None
    """``read`` or ``write`` for a token; None for a browser session (no cap)."""

    @property
    def name(self) -> str:
        """The name the ref log records."""
        return self.user.username if self.user else "anonymous"

    @property
    def is_admin(self) -> bool:
        """An installation admin, acting with full rights (not through a read token)."""
        return self.user is not None and self.user.is_admin and self.scope != "read"

    @property
    def can_write(self) -> bool:
        """Signed in, and not limited to reading by a token scope."""
        return self.user is not None and self.scope != "read"


ANONYMOUS = Principal()


def check_role(role: str) -> str:
    """Return ``role`` if it is one.

    Raises:
        InvalidInput: if it is not.
    """
    if role not in _RANK:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def _cap(principal: Principal, role: str | None) -> str | None:
    if role is not None and principal.scope == "read":
        return "read"
    return role


def role_on(db: Database, principal: Principal, repository: RepositoryInfo) -> str | None:
    """The caller's role on a repository; None means they may not even see it."""
    with db.reading() as session:
        return _role_on(session, principal, repository)


def _role_on(session: Session, principal: Principal, repository: RepositoryInfo) -> str | None:
    user = principal.user
    if user is None:
        return None if repository.private else "read"
    if user.is_admin:
        return _cap(principal, "admin")
    granted = access_queries.get_role(session, repository.id, user.id)
    if granted is None and not repository.private:
        granted = "read"
    return _cap(principal, granted)


def authorize(db: Database, principal: Principal, name: str, need: str) -> RepositoryInfo:
    """The named repository, if the caller holds ``need`` on it.

    Raises:
        RepositoryNotFound: if it does not exist or the caller may not read it.
        AuthenticationRequired: an anonymous caller needs more than reading.
        PermissionDenied: a known caller lacks the role (or the token the scope).
    """
    with db.reading() as session:  # one read for the repository and the role on it
        repository = repository_info(session, name)
        role = _role_on(session, principal, repository)
    if role is None:
        raise RepositoryNotFound(name)
    if _RANK[role] < _RANK[need]:
        if principal.user is None:
            raise AuthenticationRequired(f"sign in to {_VERBS[need]} repository {name!r}")
        if principal.scope == "read":
            raise PermissionDenied(f"this API token has the read scope: it cannot {_VERBS[need]}")
        raise PermissionDenied(f"you need {need} access to {_VERBS[need]} repository {name!r}")
    return repository


_VERBS = {"read": "read", "write": "write to", "admin": "administer"}


def readable_repository_ids(db: Database, principal: Principal) -> set[int] | None:
    """Ids of the repositories the caller may read; None means every one (admins)."""
    if principal.is_admin or (principal.user is not None and principal.user.is_admin):
        return None
    with db.reading() as session:
        rows = list_repository_rows(session)
        granted = access_queries.roles_of_user(session, principal.user.id) if principal.user else {}
        # Inside the session: the rows expire when it ends.
        return {row.id for row in rows if not row.private or row.id in granted}


def require_user(principal: Principal, action: str) -> User:
    """The signed-in user, who must be able to write.

    Raises:
        AuthenticationRequired: for anonymous callers.
        PermissionDenied: through a read-scoped token.
    """
    if principal.user is None:
        raise AuthenticationRequired(f"sign in to {action}")
    if principal.scope == "read":
        raise PermissionDenied(f"this API token has the read scope: it cannot {action}")
    return principal.user


def require_admin(principal: Principal) -> User:
    """The signed-in installation admin.

    Raises:
        AuthenticationRequired: for anonymous callers.
        PermissionDenied: for everyone else.
    """
    user = require_user(principal, "administer this installation")
    if not user.is_admin:
        raise PermissionDenied("only administrators may do this")
    return user


# --- grants ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Grant:
    """A user's role on a repository."""

    user: User
    role: str


def grants(db: Database, repository_id: int) -> list[Grant]:
    """Every role granted on a repository, by username."""
    with db.reading() as session:
        pairs = access_queries.roles_of_repository(session, repository_id)
    people = users_by_id(db, {user_id for user_id, _ in pairs})
    found = [Grant(people[user_id], role) for user_id, role in pairs if user_id in people]
    return sorted(found, key=lambda grant: grant.user.username)


def grant(db: Database, repository_id: int, username: str, role: str) -> Grant:
    """Give (or change) a user's role on a repository.

    Raises:
        InvalidInput: for an unknown role.
        UserNotFound: if there is no such user.
    """
    check_role(role)
    with db.transaction() as session:
        row = account_queries.get_user_row(session, username.lower())
        if row is None:
            raise UserNotFound(username)
        access_queries.set_role(session, repository_id, row.id, role)
    return Grant(_user_of(db, row.id), role)


def revoke(db: Database, repository_id: int, username: str) -> None:
    """Take a user's role on a repository away.

    Raises:
        NotFound: if the user holds none.
    """
    with db.transaction() as session:
        row = account_queries.get_user_row(session, username.lower())
        if row is None or not access_queries.remove_role(session, repository_id, row.id):
            raise NotFound(f"{username!r} has no role on this repository")


def _user_of(db: Database, user_id: int) -> User:
    return users_by_id(db, {user_id})[user_id]


def visible(
    db: Database, principal: Principal, repositories: list[RepositoryInfo]
) -> list[RepositoryInfo]:
    """The repositories of a listing the caller may read, in the same order."""
    readable = readable_repository_ids(db, principal)
    if readable is None:
        return repositories
    return [repository for repository in repositories if repository.id in readable]
