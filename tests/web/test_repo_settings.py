"""A repository's settings page: who sees it, and what each of its forms changes."""

from __future__ import annotations

import io

import pytest

from dataworkflow.errors import RepositoryNotFound
from dataworkflow.services import access as access_service
from dataworkflow.services.accounts import create_user
from dataworkflow.services.installation import get_repository_info, update_repository
from tests.web.conftest import Forms, Tags, page, sign_in

PASSWORD = "a long enough password"
SETTINGS = "/sample/settings"


def signed_in(app, db, name: str, role: str | None = None):
    """A browser signed in as a new user holding ``role`` on ``sample``."""
    create_user(db, name, email=f"{name}@example.com", password=PASSWORD)
    if role:
        access_service.grant(db, get_repository_info(db, "sample").id, name, role)
    browser = app.test_client()
    assert sign_in(browser, name, PASSWORD).status_code == 303
    return browser


def tabs(html: str) -> list[str]:
    start = html.index('<nav class="tabs"')
    return [href for href in Tags(html[start : html.index("</nav>", start)]).hrefs()]


def act(forms: Forms, action: str, **data: str):
    return forms.post(SETTINGS, {"action": action, **data})


def info(db):
    return get_repository_info(db, "sample")


def test_installation_admin_sees_the_settings_tab(client, sample) -> None:
    assert SETTINGS in tabs(page(client, "/sample"))
    html = page(client, SETTINGS)
    assert "Weather readings, daily" in html
    assert 'value="public" checked' in html
    assert '<option value="main" selected>main</option>' in html


def test_a_repository_admin_sees_the_tab_a_writer_does_not(app, db, sample) -> None:
    owner = signed_in(app, db, "owner", "admin")
    assert SETTINGS in tabs(page(owner, "/sample/branches"))
    assert page(owner, SETTINGS)
    writer = signed_in(app, db, "writer", "write")
    html = page(writer, "/sample/branches")
    assert SETTINGS not in tabs(html)
    assert "/sample/activity" in tabs(html)
    assert writer.get(SETTINGS).status_code == 403
    token = Forms(writer).token("/sample/branches")
    response = writer.post(
        SETTINGS, data={"action": "update", "visibility": "private", "csrf_token": token}
    )
    assert response.status_code == 403
    assert not info(db).private


def test_readers_are_not_offered_writes(app, db, sample) -> None:
    reader = signed_in(app, db, "reader", "read")
    branches = page(reader, "/sample/branches")
    assert "Create branch" not in branches and "/sample/branches/delete" not in branches
    assert "Upload files" not in page(reader, "/sample")
    assert "Upload files" not in page(reader, "/sample/tree/main/data")
    assert "Merge into" not in page(reader, "/sample/compare/main...feature/x")
    writer = signed_in(app, db, "writer", "write")
    branches = page(writer, "/sample/branches")
    assert "Create branch" in branches and "/sample/branches/delete" in branches
    assert "Upload files" in page(writer, "/sample")
    assert "Upload files" in page(writer, "/sample/tree/main/data")
    assert "Merge into" in page(writer, "/sample/compare/main...feature/x")


def test_anonymous_callers_see_no_settings_and_no_write_buttons(anonymous, sample) -> None:
    html = page(anonymous, "/sample/branches")
    assert SETTINGS not in tabs(html) and "Create branch" not in html
    assert "Upload files" not in page(anonymous, "/sample")
    response = anonymous.get(SETTINGS)
    assert response.status_code in (302, 303)
    assert response.headers["Location"].startswith("/login")


def test_update_description_default_branch_and_visibility(client, forms, db, sample) -> None:
    response = act(
        forms,
        "update",
        description="Readings <b>hourly</b>",
        default_branch="feature/x",
        visibility="private",
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/sample/settings#general"
    changed = info(db)
    assert (changed.description, changed.default_branch, changed.private) == (
        "Readings <b>hourly</b>",
        "feature/x",
        True,
    )
    html = page(client, SETTINGS)
    assert "Saved the repository settings." in html
    assert "Readings &lt;b&gt;hourly&lt;/b&gt;" in html and "<b>hourly" not in html
    assert 'value="private" checked' in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            {"default_branch": "nope", "visibility": "public"},
            "branch &#39;nope&#39; does not exist",
            id="missing-branch",
        ),
        pytest.param(
            {"default_branch": "a..b", "visibility": "public"}, "a..b", id="bad-branch-name"
        ),
        pytest.param(
            {"default_branch": "main", "visibility": "secret"}, "public or private", id="vis"
        ),
        pytest.param(
            {"description": "x" * 10_001, "visibility": "public"}, "longer than", id="too-long"
        ),
    ],
)
def test_bad_settings_are_a_message_and_change_nothing(client, forms, db, sample, data, message):
    before = info(db)
    assert act(forms, "update", **data).status_code == 303
    html = page(client, SETTINGS)
    assert 'class="flash flash-error"' in html and message in html
    assert info(db) == before


def test_add_change_and_remove_a_collaborator(app, client, forms, db, sample) -> None:
    create_user(db, "bob", email="bob@example.com", password=PASSWORD, display_name="Bob")
    repo_id = info(db).id
    assert act(forms, "grant", username="Bob", role="read").status_code == 303
    assert [(g.user.username, g.role) for g in access_service.grants(db, repo_id)] == [
        ("bob", "read")
    ]
    html = page(client, SETTINGS)
    assert "bob now has read access." in html
    assert "<strong>bob</strong>" in html
    act(forms, "grant", username="bob", role="write")
    assert access_service.grants(db, repo_id)[0].role == "write"
    act(forms, "revoke", username="bob")
    assert access_service.grants(db, repo_id) == []
    assert "Removed bob from the collaborators." in page(client, SETTINGS)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({"username": "ghost", "role": "read"}, "not found", id="unknown-user"),
        pytest.param({"username": "bob", "role": "owner"}, "role must be one of", id="bad-role"),
        pytest.param({"username": "", "role": "read"}, "Give the username", id="no-user"),
    ],
)
def test_bad_grants_are_messages(client, forms, db, sample, data, message) -> None:
    create_user(db, "bob", email="bob@example.com", password=PASSWORD)
    act(forms, "grant", **data)
    assert message in page(client, SETTINGS)
    assert access_service.grants(db, info(db).id) == []


def test_removing_a_non_collaborator_is_a_message(client, forms, sample) -> None:
    act(forms, "revoke", username="nobody")
    assert "has no role on this repository" in page(client, SETTINGS)


def test_a_repository_admin_who_steps_down_leaves_the_settings(app, db, sample) -> None:
    owner = signed_in(app, db, "owner", "admin")
    response = Forms(owner).post(
        SETTINGS, {"action": "grant", "username": "owner", "role": "write"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/sample/"
    assert owner.get(SETTINGS).status_code == 403


def _upload(forms: Forms, branch: str):
    return forms.post(
        f"/sample/upload/{branch}",
        {"files": [(io.BytesIO(b"new\n"), "new.txt")], "message": "Add new.txt"},
        content_type="multipart/form-data",
    )


def test_a_protected_pattern_refuses_uploads_to_matching_branches(
    client, forms, db, sample
) -> None:
    assert act(forms, "protect", pattern="main").status_code == 303
    assert act(forms, "protect", pattern="feature/*").status_code == 303
    html = page(client, SETTINGS)
    assert "Protected branches matching feature/*." in html
    assert "<code>main</code>" in html and "<code>feature/*</code>" in html
    assert sample.repo.protected_branches() == ["feature/*", "main"]
    response = _upload(forms, "main")
    assert response.status_code == 403
    body = response.get_data(as_text=True)
    assert "branch &#39;main&#39; is protected" in body and "merge into it instead" in body
    assert sample.repo.resolve("main") == sample.head
    assert _upload(forms, "feature/x").status_code == 403
    act(forms, "unprotect", pattern="main")
    assert sample.repo.protected_branches() == ["feature/*"]
    assert _upload(forms, "main").status_code == 303
    assert sample.repo.read_file("main", "new.txt") == b"new\n"


@pytest.mark.parametrize(
    ("action", "pattern", "message"),
    [
        ("protect", "bad..pattern", "bad..pattern"),
        ("protect", "", "non-empty"),
        ("protect", "refs/heads/main", "give the short branch name"),
        ("unprotect", "main", "is not a protection pattern"),
    ],
)
def test_bad_patterns_are_messages(client, forms, sample, action, pattern, message) -> None:
    act(forms, action, pattern=pattern)
    assert message in page(client, SETTINGS)
    assert sample.repo.protected_branches() == []


def test_protecting_twice_says_so(client, forms, sample) -> None:
    act(forms, "protect", pattern="main")
    act(forms, "protect", pattern="main")
    assert "main is protected already." in page(client, SETTINGS)


def test_delete_needs_the_name_typed(client, forms, db, sample) -> None:
    response = act(forms, "delete", confirm="Sample")
    assert response.status_code == 303
    assert "Type sample to confirm the deletion; nothing was deleted." in page(client, SETTINGS)
    assert info(db).name == "sample"
    response = act(forms, "delete", confirm="sample")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    html = page(client, "/")
    assert "Deleted repository sample." in html
    with pytest.raises(RepositoryNotFound):
        info(db)
    assert client.get("/sample").status_code == 404


def test_an_unknown_action_is_a_message(client, forms, sample) -> None:
    response = act(forms, "explode")
    assert response.status_code == 303
    assert response.headers["Location"] == SETTINGS
    assert "Unknown action." in page(client, SETTINGS)


@pytest.mark.parametrize("csrf", [None, "forged"], ids=["missing", "invalid"])
@pytest.mark.parametrize(
    "data",
    [
        {"action": "update", "visibility": "private", "description": "x"},
        {"action": "grant", "username": "bob", "role": "admin"},
        {"action": "protect", "pattern": "main"},
        {"action": "delete", "confirm": "sample"},
    ],
    ids=["update", "grant", "protect", "delete"],
)
def test_settings_forms_need_the_csrf_token(client, forms, db, sample, data, csrf) -> None:
    create_user(db, "bob", email="bob@example.com", password=PASSWORD)
    forms.token(SETTINGS)
    extra = {"csrf_token": csrf} if csrf else {}
    assert client.post(SETTINGS, data={**data, **extra}).status_code == 400
    now = info(db)
    assert (now.private, now.description) == (False, "Weather readings, daily")
    assert access_service.grants(db, now.id) == []
    assert sample.repo.protected_branches() == []


def test_settings_of_a_private_repository_are_hidden_from_strangers(app, db, sample) -> None:
    update_repository(db, "sample", private=True)
    stranger = signed_in(app, db, "stranger")
    assert stranger.get(SETTINGS).status_code == 404
