"""Users, tokens, roles, private repositories, protected branches and the ref log over the API.

``client`` is the installation administrator with a write token, ``anonymous`` sends
none; other users and tokens are made with the account services directly.
"""

from datetime import datetime, timedelta

import pytest

from dataworkflow.services.accounts import create_token, create_user, revoke_token
from tests.api.helpers import assert_problem, json_of

API = "/api/v1"
SAMPLE = f"{API}/repos/sample"
SECRET = f"{API}/repos/secret"


def bearer(app, token: str):
    """A test client sending ``token``."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def user_client(app, db, name: str, *, scope: str = "write", admin: bool = False):
    """A client for a new user ``name`` with a token of ``scope``."""
    create_user(db, name, email=f"{name}@example.com", admin=admin)
    return bearer(app, create_token(db, name, scope=scope, name="test").secret)


def assert_unauthorized(response, detail: str | None = None) -> dict:
    body = assert_problem(response, 401, "authentication-required", detail=detail)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    return body


def names(client) -> list[str]:
    return [r["name"] for r in json_of(client.get(f"{API}/repos"))["repositories"]]


@pytest.fixture
def secret(client, sample) -> dict:
    """A private repository ``secret`` with one commit on main, made by the admin."""
    created = json_of(client.post(f"{API}/repos", json={"name": "secret", "private": True}), 201)
    commit = {
        "branch": "main",
        "message": "first",
        "expected_head": None,
        "changes": [{"op": "put", "path": "a.txt", "content": "hidden\n"}],
    }
    json_of(client.post(f"{SECRET}/commits", json=commit), 201)
    return created


# --- who is calling -------------------------------------------------------------------


def test_get_user_is_the_token_owner(client, anonymous, app, db) -> None:
    body = json_of(client.get(f"{API}/user"))
    assert body["username"] == "admin"
    assert body["email"] == "admin@example.com"
    assert body["is_admin"] is True
    assert body["display_name"] == ""
    assert "password" not in str(body)
    assert_unauthorized(anonymous.get(f"{API}/user"))
    assert_unauthorized(anonymous.get(f"{API}/user/tokens"))
    reader = user_client(app, db, "rita", scope="read")
    assert json_of(reader.get(f"{API}/user"))["username"] == "rita"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer dw_not-a-token",
        "Bearer something-else",
        "Bearer ",
        "Basic YWRtaW46YWRtaW4=",
        "Bearer " + "dw_" + "x" * 500,
    ],
)
def test_a_bad_authorization_header_is_401_on_writes_and_public_reads(app, sample, header):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = header
    assert_unauthorized(client.post(f"{API}/repos", json={"name": "nope"}))
    assert_unauthorized(client.get(f"{API}/repos"))
    assert_unauthorized(client.get(f"{SAMPLE}/branches"))
    assert "nope" not in names(app.test_client())


def test_a_missing_token_is_401_on_writes(anonymous, sample) -> None:
    assert_unauthorized(anonymous.post(f"{API}/repos", json={"name": "nope"}))
    assert_unauthorized(anonymous.post(f"{SAMPLE}/branches", json={"name": "b"}))
    assert_unauthorized(anonymous.delete(f"{SAMPLE}/tags/v1.0"))
    assert_unauthorized(anonymous.post(f"{API}/user/tokens", json={"name": "n", "scope": "read"}))
    assert json_of(anonymous.get(f"{SAMPLE}/branches"))["branches"]  # reading needs none


def test_an_empty_url_segment_is_not_found_never_redirected(client, sample) -> None:
    # Merging the slashes would name another branch: `/x` is no branch, `x` may be one.
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(f"{SAMPLE}/branches//main", json={})
        assert_problem(response, 404, "about:blank")
    assert json_of(client.get(f"{SAMPLE}/branches/main"))["name"] == "main"


def test_revoked_and_expired_tokens_are_refused(app, db, sample) -> None:
    create_user(db, "eve", email="eve@example.com")
    revoked = create_token(db, "eve", scope="write")
    revoke_token(db, revoked.token.id)
    past = int((datetime.now() - timedelta(days=10)).timestamp())
    expired = create_token(db, "eve", scope="write", expires_in=timedelta(days=1), now=past)
    for new, state in ((revoked, "revoked"), (expired, "expired")):
        client = bearer(app, new.secret)
        assert_unauthorized(client.post(f"{SAMPLE}/branches", json={"name": "b"}), state)
        assert_unauthorized(client.get(f"{API}/repos"), state)
        assert_unauthorized(client.get(f"{API}/user"), state)


def test_a_read_token_reads_but_never_writes(app, db, sample) -> None:
    reader = user_client(app, db, "rita", scope="read", admin=True)
    assert json_of(reader.get(f"{SAMPLE}/branches"))["branches"]
    assert json_of(reader.get(f"{API}/user/tokens"))["tokens"]
    for response in (
        reader.post(f"{API}/repos", json={"name": "nope"}),
        reader.post(f"{SAMPLE}/branches", json={"name": "b"}),
        reader.patch(f"{SAMPLE}", json={"description": "x"}),
        reader.delete(f"{SAMPLE}/tags/v1.0"),
        reader.post(f"{SAMPLE}/merges", json={"source": "feature/x", "into": "main"}),
        reader.post(f"{API}/user/tokens", json={"name": "more", "scope": "read"}),
        reader.delete(f"{API}/user/tokens/1"),
        reader.get(f"{API}/users"),
        reader.get(f"{SAMPLE}/collaborators"),
    ):
        assert_problem(response, 403, "permission-denied", detail="read scope")
    assert json_of(reader.get(f"{SAMPLE}/tags"))["tags"]  # the tag is still there


# --- tokens ---------------------------------------------------------------------------


def test_a_token_made_through_the_api_is_shown_once_and_works(app, client, sample) -> None:
    response = client.post(
        f"{API}/user/tokens", json={"name": "nightly", "scope": "write", "expires_in_days": 30}
    )
    made = json_of(response, 201)
    secret = made["token"]
    assert secret.startswith("dw_")
    assert made["scope"] == "write"
    assert made["state"] == "active"
    assert made["name"] == "nightly"
    assert secret.startswith(made["prefix"])
    expires = datetime.fromisoformat(made["expires_at"])
    created = datetime.fromisoformat(made["created_at"])
    assert expires - created == timedelta(days=30)
    assert expires.utcoffset() == timedelta(0)

    listed = client.get(f"{API}/user/tokens")
    assert secret not in listed.get_data(as_text=True)
    tokens = json_of(listed)["tokens"]
    assert tokens[0]["id"] == made["id"]  # newest first
    assert all("token" not in t for t in tokens)

    fresh = bearer(app, secret)
    assert json_of(fresh.get(f"{API}/user"))["username"] == "admin"
    json_of(fresh.post(f"{SAMPLE}/branches", json={"name": "by-new-token"}), 201)
    assert json_of(client.get(f"{API}/user/tokens"))["tokens"][0]["last_used_at"] is not None

    assert client.delete(f"{API}/user/tokens/{made['id']}").status_code == 204
    assert_unauthorized(fresh.get(f"{API}/user"), "revoked")
    states = {t["id"]: t["state"] for t in json_of(client.get(f"{API}/user/tokens"))["tokens"]}
    assert states[made["id"]] == "revoked"


def test_a_token_without_expiry_and_a_read_token(app, client, sample) -> None:
    made = json_of(client.post(f"{API}/user/tokens", json={"name": "", "scope": "read"}), 201)
    assert made["expires_at"] is None
    reader = bearer(app, made["token"])
    assert json_of(reader.get(f"{SAMPLE}/branches"))
    assert_problem(reader.post(f"{SAMPLE}/branches", json={"name": "b"}), 403)


def test_only_your_own_tokens_can_be_revoked(app, db, client) -> None:
    bob = user_client(app, db, "bob")
    (bobs,) = json_of(bob.get(f"{API}/user/tokens"))["tokens"]
    assert_problem(client.delete(f"{API}/user/tokens/{bobs['id']}"), 404, "not-found")
    assert_problem(client.delete(f"{API}/user/tokens/99999"), 404, "not-found")
    assert_problem(client.delete(f"{API}/user/tokens/{10**30}"), 404, "not-found")
    assert client.delete(f"{API}/user/tokens/-1").status_code == 404
    assert json_of(bob.get(f"{API}/user"))["username"] == "bob"  # still works


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"scope": "write"}, "/name"),
        ({"name": "n"}, "/scope"),
        ({"name": "n", "scope": "admin"}, "/scope"),
        ({"name": "n", "scope": "read", "expires_in_days": 0}, "/expires_in_days"),
        ({"name": "n", "scope": "read", "expires_in_days": 3651}, "/expires_in_days"),
        ({"name": "n", "scope": "read", "expires_in_days": True}, "/expires_in_days"),
        ({"name": "n", "scope": "read", "expires_in_days": 1.5}, "/expires_in_days"),
        ({"name": "n", "scope": "read", "extra": 1}, "/extra"),
        ({"name": 5, "scope": "read"}, "/name"),
        ({"name": "x" * 201, "scope": "read"}, "/name"),
        ([], ""),
    ],
)
def test_bad_token_requests_are_422(client, body, pointer) -> None:
    problem = assert_problem(client.post(f"{API}/user/tokens", json=body), 422, "invalid-content")
    assert pointer in [error["pointer"] for error in problem["errors"]]


def test_a_token_request_that_is_not_json(client) -> None:
    assert_problem(client.post(f"{API}/user/tokens", data="name=x"), 415)
    response = client.post(
        f"{API}/user/tokens", data="{", headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400)
    response = client.post(
        f"{API}/user/tokens", json={"name": "tab\there", "scope": "read"}
    )  # control characters are no name
    assert_problem(response, 422)


# --- disabled users and user administration ---------------------------------------------


def test_a_disabled_users_token_is_refused(app, db, client, sample) -> None:
    bob = user_client(app, db, "bob")
    assert json_of(bob.get(f"{API}/user"))["username"] == "bob"
    body = json_of(client.patch(f"{API}/users/bob", json={"disabled": True}))
    assert body["disabled"] is True
    assert_unauthorized(bob.get(f"{API}/user"), "disabled")
    assert_unauthorized(bob.get(f"{API}/repos"), "disabled")
    assert_unauthorized(bob.post(f"{SAMPLE}/branches", json={"name": "b"}), "disabled")
    json_of(client.patch(f"{API}/users/bob", json={"disabled": False}))
    assert json_of(bob.get(f"{API}/user"))["username"] == "bob"


def test_admins_list_create_show_and_update_users(client) -> None:
    response = client.post(
        f"{API}/users",
        json={
            "username": "Ada",
            "email": "ada@example.com",
            "display_name": "Ada Lovelace",
            "password": "correct horse battery",
        },
    )
    ada = json_of(response, 201)
    assert ada["username"] == "ada"
    assert ada["is_admin"] is False
    assert response.headers["Location"] == f"{API}/users/ada"
    assert json_of(client.get(f"{API}/users/ADA")) == ada
    assert [u["username"] for u in json_of(client.get(f"{API}/users"))["users"]] == [
        "ada",
        "admin",
    ]
    body = json_of(
        client.patch(
            f"{API}/users/ada",
            json={"email": "ada@lovelace.org", "is_admin": True, "password": "another password"},
        )
    )
    assert body["email"] == "ada@lovelace.org"
    assert body["is_admin"] is True
    assert body["display_name"] == "Ada Lovelace"
    assert_problem(
        client.post(f"{API}/users", json={"username": "ada", "email": "a@example.com"}),
        409,
        "already-exists",
    )


@pytest.mark.parametrize(
    "body",
    [
        {"username": "bad name", "email": "x@example.com"},
        {"username": "anonymous", "email": "x@example.com"},
        {"username": "ok", "email": "not-an-address"},
        {"username": "ok", "email": "x@example.com", "password": "short"},
        {"username": "ok", "email": "x@example.com", "is_admin": "yes"},
        {"username": "ok"},
        {"email": "x@example.com"},
        {"username": "ok", "email": "x@example.com", "role": "admin"},
    ],
)
def test_bad_user_requests_are_422(client, body) -> None:
    assert_problem(client.post(f"{API}/users", json=body), 422)
    assert [u["username"] for u in json_of(client.get(f"{API}/users"))["users"]] == ["admin"]


def test_user_updates_that_cannot_be_made(client) -> None:
    assert_problem(client.patch(f"{API}/users/nobody", json={"email": "a@b.co"}), 404)
    assert_problem(client.patch(f"{API}/users/bad%00name", json={}), 404)
    assert_problem(client.get(f"{API}/users/nobody"), 404, "user-not-found")
    problem = assert_problem(
        client.patch(f"{API}/users/admin", json={"is_admin": False}), 422, detail="last active"
    )
    assert "administrator" in problem["detail"]
    assert_problem(client.patch(f"{API}/users/admin", json={"disabled": True}), 422)
    assert_problem(client.patch(f"{API}/users/admin", json={"password": "short"}), 422)
    assert_problem(client.patch(f"{API}/users/admin", json={"disabled": None}), 422)
    assert json_of(client.get(f"{API}/user"))["is_admin"] is True


def test_only_installation_admins_manage_users(app, db, anonymous) -> None:
    bob = user_client(app, db, "bob")
    for response in (
        bob.get(f"{API}/users"),
        bob.post(f"{API}/users", json={"username": "x", "email": "x@example.com"}),
        bob.get(f"{API}/users/bob"),
        bob.patch(f"{API}/users/bob", json={"is_admin": True}),
    ):
        assert_problem(response, 403, "permission-denied")
    assert_unauthorized(anonymous.get(f"{API}/users"))
    assert_unauthorized(anonymous.patch(f"{API}/users/bob", json={"is_admin": True}))
    assert json_of(bob.get(f"{API}/user"))["is_admin"] is False


# --- private repositories -----------------------------------------------------------------


PRIVATE_REQUESTS = [
    ("get", "", None),
    ("patch", "", {"description": "x"}),
    ("delete", "", None),
    ("get", "/branches", None),
    ("post", "/branches", {"name": "b"}),
    ("get", "/branches/main", None),
    ("patch", "/branches/main", {"commit": "main", "expected": "0" * 64}),
    ("delete", "/branches/main", None),
    ("get", "/tags", None),
    ("post", "/tags", {"name": "t"}),
    ("get", "/commits", None),
    ("post", "/commits", {"branch": "main", "message": "m", "expected_head": None, "changes": []}),
    ("get", "/commits/main", None),
    ("get", "/tree", None),
    ("get", "/files?path=a.txt", None),
    ("get", "/stat?path=a.txt", None),
    ("get", "/compare?base=main&head=main", None),
    ("post", "/objects/missing", {"ids": []}),
    ("post", "/merges", {"source": "main", "into": "main"}),
    ("get", "/collaborators", None),
    ("put", "/collaborators/bob", {"role": "read"}),
    ("delete", "/collaborators/bob", None),
    ("get", "/protected-branches", None),
    ("post", "/protected-branches", {"pattern": "main"}),
    ("delete", "/protected-branches?pattern=main", None),
    ("get", "/reflog", None),
]


@pytest.mark.parametrize(("method", "path", "body"), PRIVATE_REQUESTS)
def test_a_private_repository_is_not_found_by_outsiders(
    app, db, anonymous, secret, method, path, body
) -> None:
    outsider = user_client(app, db, "bob")
    for caller in (anonymous, outsider):
        response = getattr(caller, method)(f"{SECRET}{path}", json=body)
        problem = assert_problem(response, 404, "repository-not-found")
        missing = getattr(caller, method)(f"{API}/repos/absent{path}", json=body)
        assert problem["detail"].replace("secret", "absent") == missing.get_json()["detail"]


def test_a_private_repository_is_absent_from_listings(app, db, client, anonymous, secret):
    outsider = user_client(app, db, "bob")
    assert secret["private"] is True
    assert "secret" in names(client)
    assert names(anonymous) == ["sample"]
    assert names(outsider) == ["sample"]
    json_of(client.put(f"{SECRET}/collaborators/bob", json={"role": "read"}))
    assert names(outsider) == ["sample", "secret"]
    assert json_of(outsider.get(f"{SECRET}"))["private"] is True


def test_making_a_repository_private_and_public_again(client, anonymous, sample) -> None:
    body = json_of(client.patch(SAMPLE, json={"private": True}))
    assert body["private"] is True
    assert body["description"] == "Weather readings, daily"
    assert_problem(anonymous.get(f"{SAMPLE}/branches"), 404, "repository-not-found")
    assert json_of(client.patch(SAMPLE, json={"private": False}))["private"] is False
    assert json_of(anonymous.get(f"{SAMPLE}/branches"))
    assert_problem(client.patch(SAMPLE, json={"private": "yes"}), 422)


def test_the_creator_of_a_repository_administers_it(app, db, client) -> None:
    carol = user_client(app, db, "carol")
    created = json_of(carol.post(f"{API}/repos", json={"name": "mine", "private": True}), 201)
    assert created["private"] is True
    people = json_of(carol.get(f"{API}/repos/mine/collaborators"))["collaborators"]
    assert people == [{"username": "carol", "display_name": "", "role": "admin", "disabled": False}]
    assert names(carol) == ["mine"]
    json_of(client.post(f"{API}/repos", json={"name": "theirs"}), 201)
    assert json_of(client.get(f"{API}/repos/theirs/collaborators")) == {"collaborators": []}
    assert json_of(client.get(f"{API}/repos/theirs"))["private"] is False


# --- collaborators ------------------------------------------------------------------------


def test_roles_open_and_close_a_private_repository(app, db, client, secret) -> None:
    bob = user_client(app, db, "bob")
    commit = {
        "branch": "main",
        "message": "by bob",
        "expected_head": json_of(client.get(f"{SECRET}/branches/main"))["commit"],
        "changes": [{"op": "put", "path": "b.txt", "content": "bob\n"}],
    }
    granted = json_of(client.put(f"{SECRET}/collaborators/BOB", json={"role": "read"}))
    assert granted == {"username": "bob", "display_name": "", "role": "read", "disabled": False}
    assert json_of(bob.get(f"{SECRET}/branches"))["branches"]
    assert_problem(bob.post(f"{SECRET}/commits", json=commit), 403, "permission-denied")
    assert_problem(bob.get(f"{SECRET}/collaborators"), 403, "permission-denied")

    json_of(client.put(f"{SECRET}/collaborators/bob", json={"role": "write"}))
    json_of(bob.post(f"{SECRET}/commits", json=commit), 201)
    assert_problem(
        bob.put(f"{SECRET}/collaborators/bob", json={"role": "admin"}), 403, "permission-denied"
    )
    listed = json_of(client.get(f"{SECRET}/collaborators"))["collaborators"]
    assert [(c["username"], c["role"]) for c in listed] == [("bob", "write")]

    assert client.delete(f"{SECRET}/collaborators/bob").status_code == 204
    assert_problem(bob.get(f"{SECRET}/branches"), 404, "repository-not-found")
    assert_problem(client.delete(f"{SECRET}/collaborators/bob"), 404, "not-found")


def test_bad_collaborator_requests(client, secret) -> None:
    assert_problem(
        client.put(f"{SECRET}/collaborators/nobody", json={"role": "read"}), 404, "user-not-found"
    )
    assert_problem(client.put(f"{SECRET}/collaborators/a%00b", json={"role": "read"}), 404)
    assert_problem(client.delete(f"{SECRET}/collaborators/nobody"), 404)
    for body in ({"role": "owner"}, {}, {"role": "read", "extra": 1}, {"role": None}):
        problem = assert_problem(client.put(f"{SECRET}/collaborators/admin", json=body), 422)
        assert problem["errors"]
    assert_problem(client.put(f"{SECRET}/collaborators/admin", data="x"), 415)
    assert json_of(client.get(f"{SECRET}/collaborators")) == {"collaborators": []}


# --- protected branches -------------------------------------------------------------------


def test_a_protected_branch_moves_only_by_merges(client, anonymous, sample) -> None:
    response = client.post(f"{SAMPLE}/protected-branches", json={"pattern": "main"})
    assert json_of(response, 201) == {"pattern": "main", "branches": ["main"]}
    again = client.post(f"{SAMPLE}/protected-branches", json={"pattern": "main"})
    assert json_of(again, 200) == {"pattern": "main", "branches": ["main"]}
    listed = json_of(anonymous.get(f"{SAMPLE}/protected-branches"))  # readers see it
    assert listed == {"protected_branches": [{"pattern": "main", "branches": ["main"]}]}

    commit = {
        "branch": "main",
        "message": "direct",
        "expected_head": sample.head,
        "changes": [{"op": "put", "path": "x.txt", "content": "x\n"}],
    }
    assert_problem(client.post(f"{SAMPLE}/commits", json=commit), 403, "protected-branch")
    force = {"commit": sample.feature, "expected": sample.head}  # feature/x does not descend
    problem = assert_problem(
        client.patch(f"{SAMPLE}/branches/main", json=force), 403, "protected-branch"
    )
    assert "force move" in problem["detail"]
    assert json_of(client.get(f"{SAMPLE}/branches/main"))["commit"] == sample.head

    merged = json_of(client.post(f"{SAMPLE}/merges", json={"source": "feature/x", "into": "main"}))
    assert merged["status"] == "merged"
    assert json_of(client.get(f"{SAMPLE}/branches/main"))["commit"] == merged["commit"]

    assert client.delete(f"{SAMPLE}/protected-branches?pattern=main").status_code == 204
    after = {**commit, "expected_head": merged["commit"]}
    json_of(client.post(f"{SAMPLE}/commits", json=after), 201)


def test_patterns_with_slashes_and_wildcards(client, sample) -> None:
    client.post(f"{SAMPLE}/branches", json={"name": "release/1.0"})
    client.post(f"{SAMPLE}/branches", json={"name": "release/1.0/fix"})
    body = json_of(client.post(f"{SAMPLE}/protected-branches", json={"pattern": "release/*"}), 201)
    assert body == {"pattern": "release/*", "branches": ["release/1.0"]}
    body = json_of(client.post(f"{SAMPLE}/protected-branches", json={"pattern": "**"}), 201)
    assert body["branches"] == ["feature/x", "main", "release/1.0", "release/1.0/fix"]
    listed = json_of(client.get(f"{SAMPLE}/protected-branches"))["protected_branches"]
    assert [p["pattern"] for p in listed] == ["**", "release/*"]
    response = client.delete(f"{SAMPLE}/protected-branches", query_string={"pattern": "release/*"})
    assert response.status_code == 204
    assert_problem(client.delete(f"{SAMPLE}/branches/release/1.0/fix"), 403, "protected-branch")


def test_bad_protection_requests(app, db, client, sample) -> None:
    for body in ({"pattern": ""}, {"pattern": "a..b"}, {"pattern": "refs/heads/main"}, {}, []):
        assert_problem(client.post(f"{SAMPLE}/protected-branches", json=body), 422)
    assert_problem(client.delete(f"{SAMPLE}/protected-branches?pattern=main"), 404, "not-found")
    assert_problem(client.delete(f"{SAMPLE}/protected-branches"), 400, "invalid-parameters")
    assert_problem(client.delete(f"{SAMPLE}/protected-branches?pattern="), 400)
    assert_problem(client.delete(f"{SAMPLE}/protected-branches?pattern=a%00b"), 400)
    writer = user_client(app, db, "wendy")
    json_of(client.put(f"{SAMPLE}/collaborators/wendy", json={"role": "write"}))
    assert_problem(
        writer.post(f"{SAMPLE}/protected-branches", json={"pattern": "main"}),
        403,
        "permission-denied",
    )
    assert json_of(writer.get(f"{SAMPLE}/protected-branches")) == {"protected_branches": []}


# --- ref log --------------------------------------------------------------------------------


def test_the_ref_log_records_each_movement_and_who_made_it(app, db, client, sample) -> None:
    bob = user_client(app, db, "bob")
    json_of(client.put(f"{SAMPLE}/collaborators/bob", json={"role": "write"}))
    json_of(bob.post(f"{SAMPLE}/branches", json={"name": "exp", "from": "v1.0"}), 201)
    commit = {
        "branch": "exp",
        "message": "Experiment\n\nDetails.",
        "expected_head": sample.tag,
        "changes": [{"op": "put", "path": "e.txt", "content": "e\n"}],
    }
    made = json_of(client.post(f"{SAMPLE}/commits", json=commit), 201)["commit"]
    force = {"commit": sample.commits[0], "expected": made}
    json_of(bob.patch(f"{SAMPLE}/branches/exp", json=force))
    assert bob.delete(f"{SAMPLE}/branches/exp").status_code == 204

    body = json_of(client.get(f"{SAMPLE}/reflog", query_string={"ref": "exp"}))
    moves = [(e["actor"], e["reason"], e["old"], e["new"]) for e in body["entries"]]
    assert moves == [
        ("bob", "delete", sample.commits[0], None),
        ("bob", "force", made, sample.commits[0]),
        ("admin", "commit", sample.tag, made),
        ("bob", "create", None, sample.tag),
    ]
    assert body["next"] is None
    assert all(e["ref"] == "refs/heads/exp" for e in body["entries"])
    ids = [e["id"] for e in body["entries"]]
    assert ids == sorted(ids, reverse=True)
    assert body["entries"][2]["message"].startswith("Experiment")
    at = datetime.fromisoformat(body["entries"][0]["at"])
    assert at.utcoffset() == timedelta(0)

    everything = json_of(client.get(f"{SAMPLE}/reflog"))["entries"]
    assert everything[: len(moves)] == body["entries"]
    assert {e["ref"] for e in everything} >= {"refs/heads/main", "refs/tags/v1.0"}


def test_the_ref_log_pages_and_filters(client, anonymous, sample) -> None:
    everything = json_of(anonymous.get(f"{SAMPLE}/reflog"))["entries"]
    seen, before = [], None
    while True:
        query = {"limit": 2, **({"before": before} if before else {})}
        page = json_of(anonymous.get(f"{SAMPLE}/reflog", query_string=query))
        seen += page["entries"]
        assert len(page["entries"]) <= 2
        before = page["next"]
        if before is None:
            break
    assert seen == everything
    tags = json_of(anonymous.get(f"{SAMPLE}/reflog?ref=v1.0"))["entries"]
    assert [(e["ref"], e["reason"], e["new"]) for e in tags] == [
        ("refs/tags/v1.0", "create", sample.tag)
    ]
    full = json_of(anonymous.get(f"{SAMPLE}/reflog?ref=refs/heads/main"))["entries"]
    assert full == json_of(anonymous.get(f"{SAMPLE}/reflog?ref=main"))["entries"]
    assert full[0]["new"] == sample.head


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("ref=nothing", 404),
        ("ref=a..b", 400),
        ("ref=refs/remotes/x", 400),
        ("ref=", 400),
        ("before=0", 400),
        ("before=x", 400),
        ("before=1234567890123", 400),
        ("limit=0", 400),
        ("limit=1001", 400),
        ("limit=1&limit=2", 400),
    ],
)
def test_bad_ref_log_queries(client, sample, query, status) -> None:
    assert_problem(client.get(f"{SAMPLE}/reflog?{query}"), status)
