"""Roles on public and private repositories, token scopes, grants (SQLite and PostgreSQL)."""

import pytest

from dataworkflow.errors import (
    AuthenticationRequired,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RepositoryNotFound,
)
from dataworkflow.services import access, accounts
from dataworkflow.services.access import ANONYMOUS, Principal
from dataworkflow.services.accounts import UserNotFound
from dataworkflow.services.installation import create_repository, list_repositories


@pytest.fixture
def world(db):
    """Two repositories to test (public, private), one more, and a user per kind of caller."""
    repos = {
        "public": create_repository(db, "pub"),
        "private": create_repository(db, "priv", private=True),
        "other": create_repository(db, "other", private=True),
    }
    people = {}
    for name in ("reader", "writer", "otheradmin", "admin"):
        people[name] = accounts.create_user(
            db, name, email=f"{name}@example.com", admin=name == "admin"
        )
    for key in ("public", "private"):
        access.grant(db, repos[key].id, "reader", "read")
        access.grant(db, repos[key].id, "writer", "write")
    access.grant(db, repos["other"].id, "otheradmin", "admin")
    principals = {"anonymous": ANONYMOUS}
    principals.update({name: Principal(user) for name, user in people.items()})
    principals["writer-read-token"] = Principal(people["writer"], scope="read")
    principals["writer-write-token"] = Principal(people["writer"], scope="write")
    principals["admin-read-token"] = Principal(people["admin"], scope="read")
    return db, repos, principals


# Expected role on (public, private); None: the repository is invisible.
ROLES = {
    "anonymous": ("read", None),
    "reader": ("read", "read"),
    "writer": ("write", "write"),
    "otheradmin": ("read", None),
    "admin": ("admin", "admin"),
    "writer-read-token": ("read", "read"),
    "writer-write-token": ("write", "write"),
    "admin-read-token": ("read", "read"),
}


@pytest.mark.parametrize("who", list(ROLES))
def test_role_on(world, who):
    db, repos, principals = world
    got = tuple(access.role_on(db, principals[who], repos[key]) for key in ("public", "private"))
    assert got == ROLES[who]


OK = "ok"
# Outcome of authorize(need) on (public, private), for need = read, write, admin.
OUTCOMES = {
    "anonymous": {
        "read": (OK, RepositoryNotFound),
        "write": (AuthenticationRequired, RepositoryNotFound),
        "admin": (AuthenticationRequired, RepositoryNotFound),
    },
    "reader": {
        "read": (OK, OK),
        "write": (PermissionDenied, PermissionDenied),
        "admin": (PermissionDenied, PermissionDenied),
    },
    "writer": {
        "read": (OK, OK),
        "write": (OK, OK),
        "admin": (PermissionDenied, PermissionDenied),
    },
    "otheradmin": {
        "read": (OK, RepositoryNotFound),
        "write": (PermissionDenied, RepositoryNotFound),
        "admin": (PermissionDenied, RepositoryNotFound),
    },
    "admin": {"read": (OK, OK), "write": (OK, OK), "admin": (OK, OK)},
    "writer-read-token": {
        "read": (OK, OK),
        "write": (PermissionDenied, PermissionDenied),
        "admin": (PermissionDenied, PermissionDenied),
    },
    "admin-read-token": {
        "read": (OK, OK),
        "write": (PermissionDenied, PermissionDenied),
        "admin": (PermissionDenied, PermissionDenied),
    },
}


@pytest.mark.parametrize(
    ("who", "need", "where"),
    [
        (who, need, where)
        for who, by_need in OUTCOMES.items()
        for need in by_need
        for where in ("public", "private")
    ],
)
def test_authorize(world, who, need, where):
    db, repos, principals = world
    expected = OUTCOMES[who][need][0 if where == "public" else 1]
    name = repos[where].name
    if expected is OK:
        assert access.authorize(db, principals[who], name, need).id == repos[where].id
        return
    with pytest.raises(expected) as refused:
        access.authorize(db, principals[who], name, need)
    if expected is RepositoryNotFound:
        # Exactly what a repository that does not exist answers: existence is not revealed.
        with pytest.raises(RepositoryNotFound) as missing:
            access.authorize(db, principals[who], "nothing-here", need)
        assert str(refused.value) == str(missing.value).replace("nothing-here", name)
    if "read-token" in who and need != "read":
        assert "read scope" in str(refused.value)


@pytest.mark.parametrize("who", list(OUTCOMES))
def test_unknown_repositories_are_not_found_for_everyone(world, who):
    db, _, principals = world
    with pytest.raises(RepositoryNotFound):
        access.authorize(db, principals[who], "ghost", "read")


def test_listings_show_only_readable_repositories(world):
    db, _, principals = world
    everything = list_repositories(db)
    assert access.readable_repository_ids(db, principals["admin"]) is None
    assert access.readable_repository_ids(db, principals["admin-read-token"]) is None
    seen = {
        who: sorted(r.name for r in access.visible(db, principals[who], everything))
        for who in ("anonymous", "reader", "otheradmin", "admin")
    }
    assert seen == {
        "anonymous": ["pub"],
        "reader": ["priv", "pub"],
        "otheradmin": ["other", "pub"],
        "admin": ["other", "priv", "pub"],
    }


def test_grants_change_and_are_revoked(world):
    db, repos, principals = world
    private = repos["private"]
    assert [(g.user.username, g.role) for g in access.grants(db, private.id)] == [
        ("reader", "read"),
        ("writer", "write"),
    ]
    assert access.grant(db, private.id, "READER", "admin").role == "admin"
    assert access.role_on(db, principals["reader"], private) == "admin"
    access.revoke(db, private.id, "reader")
    assert access.role_on(db, principals["reader"], private) is None
    assert access.role_on(db, principals["reader"], repos["public"]) == "read"
    with pytest.raises(NotFound):
        access.revoke(db, private.id, "reader")
    with pytest.raises(NotFound):
        access.revoke(db, private.id, "nobody")
    with pytest.raises(InvalidInput):
        access.grant(db, private.id, "writer", "owner")
    with pytest.raises(UserNotFound):
        access.grant(db, private.id, "nobody", "read")
    assert [g.user.username for g in access.grants(db, private.id)] == ["writer"]


def test_require_user_and_admin(world):
    _, _, principals = world
    with pytest.raises(AuthenticationRequired):
        access.require_user(ANONYMOUS, "create a repository")
    with pytest.raises(PermissionDenied, match="read scope"):
        access.require_user(principals["writer-read-token"], "create a repository")
    assert access.require_user(principals["writer"], "x").username == "writer"
    with pytest.raises(PermissionDenied):
        access.require_admin(principals["otheradmin"])
    with pytest.raises(PermissionDenied):
        access.require_admin(principals["admin-read-token"])
    assert access.require_admin(principals["admin"]).username == "admin"
    assert ANONYMOUS.name == "anonymous" and principals["writer"].name == "writer"
