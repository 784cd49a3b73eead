"""The ``api`` blueprint: JSON over HTTP at ``/api/v1``, described by ``openapi.yaml``.

Every operation calls the same service functions as the UI and the CLI. The whole URL
scheme (the OpenAPI document is the reference; a test keeps the two in step)::

    /openapi.json                                 api.openapi        the document as JSON
    /docs                                         api.docs           the document as a page
    /repos                                        api.list_repos / api.create_repo
    /repos/<repo>                                 api.get_repo / update_repo / delete_repo
    /repos/<repo>/branches                        api.list_branches / api.create_branch
    /repos/<repo>/branches/<path:branch>          api.get_branch / move_branch / delete_branch
    /repos/<repo>/tags                            api.list_tags / api.create_tag
    /repos/<repo>/tags/<path:tag>                 api.get_tag / move_tag / delete_tag
    /repos/<repo>/commits                         api.log (GET) / api.create_commit (POST)
    /repos/<repo>/commits/<path:rev>              api.get_commit
    /repos/<repo>/tree?ref=&path=                 api.list_tree     (after=, limit=, recursive=)
    /repos/<repo>/files?ref=&path=                api.download_file (GET/HEAD, ranges, ETag)
    /repos/<repo>/stat?ref=&path=                 api.stat
    /repos/<repo>/objects                         api.upload_object (POST, streamed body)
    /repos/<repo>/objects/missing                 api.missing_objects (POST)
    /repos/<repo>/objects/<object_id>             api.download_object (GET/HEAD)
    /repos/<repo>/compare?base=&head=&path=       api.compare
    /repos/<repo>/merges                          api.merge (POST)
    /repos/<repo>/reverts                         api.revert (POST)
    /repos/<repo>/cherry-picks                    api.cherry_pick (POST)
    /repos/<repo>/collaborators                   api.list_collaborators                (admin)
    /repos/<repo>/collaborators/<username>        api.set_collaborator (PUT) / remove_collaborator
    /repos/<repo>/protected-branches              api.list_protected_branches / protect_branches
    /repos/<repo>/protected-branches?pattern=     api.unprotect_branches (DELETE)
    /repos/<repo>/reflog?ref=&before=&limit=      api.reflog
    /search?q=&kind=&repo=&rev=                   api.search   (commits, content, paths, history)
    /user                                         api.get_current_user   (any token)
    /user/tokens                                  api.list_tokens / api.create_token
    /user/tokens/<int:token_id>                   api.revoke_token (DELETE)
    /users                                        api.list_users / api.create_user      (site admin)
    /users/<username>                             api.get_user / api.update_user        (site admin)

Who may call what is declared on each view with ``web.auth.access`` and enforced before
it runs; the API authenticates only with ``Authorization: Bearer <token>``.

One rule for names in URLs: a branch or tag name is the *last* path segment run and may
contain ``/`` (``/branches/feature/x``; ``%2F`` works too). Anything else that may contain
``/`` or revision syntax (``ref``, ``path``, ``base``, ``head``) is a query parameter, so
no URL needs longest-prefix guessing. The one exception, ``/commits/<rev>``, also ends
with its revision.

Limits are Flask config keys (``API_MAX_OBJECT_BYTES``, ``API_MAX_JSON_BYTES``,
``API_MAX_INLINE_BYTES``), set through ``create_app(test_config=...)``.
"""

from __future__ import annotations

from flask import Blueprint, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import NotFound
from werkzeug.routing import RequestRedirect

from dataworkflow.web.errors import API_PREFIX

MAX_OBJECT_BYTES = 50 * 1024**3
"""Default cap on one uploaded object: 413 above it."""
MAX_JSON_BYTES = 32 * 1024**2
"""Default cap on a JSON request body (a commit of ~200,000 changes fits)."""
MAX_INLINE_BYTES = 1024**2
"""Default cap on one file's inline content in a commit request; upload larger ones."""

bp = Blueprint("api", __name__, template_folder="templates")


@bp.record_once
def _configure(state: BlueprintSetupState) -> None:
    config = state.app.config
    config.setdefault("API_MAX_OBJECT_BYTES", MAX_OBJECT_BYTES)
    config.setdefault("API_MAX_JSON_BYTES", MAX_JSON_BYTES)
    config.setdefault("API_MAX_INLINE_BYTES", MAX_INLINE_BYTES)


from dataworkflow.web.api import (  # noqa: E402
    access,
    commits,
    compare,
    docs,
    files,
    merges,
    objects,
    reflog,
    refs,
    repos,
    search,
    trees,
    users,
)


@bp.before_app_request
def _no_merged_slashes() -> None:
    """Answer 404, not a redirect, to API URLs with ``//``.

    Werkzeug answers such a URL with a redirect to the URL with the slashes merged,
    which turns the invalid branch name ``/x`` in ``/branches//x`` into another
    branch, ``x``. No API URL is ever redirected, so any routing redirect here is one.

    Raises:
        NotFound: instead of the redirect.
    """
    if request.path.startswith(API_PREFIX) and isinstance(
        request.routing_exception, RequestRedirect
    ):
        raise NotFound("no API URL has an empty segment (`//`)")


__all__ = [
    "access",
    "bp",
    "commits",
    "compare",
    "docs",
    "files",
    "merges",
    "objects",
    "reflog",
    "refs",
    "repos",
    "search",
    "trees",
    "users",
]
