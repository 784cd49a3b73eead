"""Merge a branch into another, revert a commit, cherry-pick a commit onto a branch.

Each answers 200 with ``{status, commit, target, bases}`` once the branch has moved (or
needed not move: ``up-to-date``). Paths both sides changed differently stop the
operation: nothing is written and the answer is 409, a ``merge-conflict`` problem
listing every conflict, to be settled with ``strategy`` or per-path ``resolutions`` and
sent again. A commit reaching the branch meanwhile is a 409 ``ref-conflict`` naming the
branch's current head, as for any other compare-and-swap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.typing import ResponseReturnValue

from dataworkflow.core.names import branch_ref, normalize_path
from dataworkflow.core.objects import FileMode, TreeEntry
from dataworkflow.errors import InvalidInput, MergeConflict, ObjectNotFound, RefConflict
from dataworkflow.services import merging
from dataworkflow.services.merge import Resolution, Side
from dataworkflow.services.merging import MergeOutcome
from dataworkflow.services.repository import Repository
from dataworkflow.web.api import bp
from dataworkflow.web.api._common import repository, with_current
from dataworkflow.web.api.schemas import (
    MAX_PATH,
    Fields,
    conflict_json,
    escape_pointer,
    json_body,
)
from dataworkflow.web.auth import access

MAX_RESOLUTIONS = 10_000
MAX_MESSAGE = 100_000


class _Options:
    """The members the three operations share, read from one request body."""

    def __init__(self, body: Fields, repo: Repository) -> None:
        self.message = body.string("message", max_length=MAX_MESSAGE)
        if self.message is not None and not self.message.strip():
            body.error("message", "must not be blank")
            self.message = None
        self.strategy = _strategy(body)
        self.resolutions = _resolutions(body)
        self.author, self.author_email = _author(body)
        self._repo = repo

    def check_blobs(self) -> None:
        """Every blob a resolution names must be stored in the repository.

        Raises:
            ObjectNotFound: for the first one missing (422: it comes from the body).
        """
        wanted = {e.id for e in self.resolutions.values() if isinstance(e, TreeEntry)}
        if not wanted:
            return
        present = self._repo.blob_sizes(wanted)
        for blob_id in sorted(wanted - set(present)):
            raise ObjectNotFound(blob_id, kind="blob")

    def keywords(self) -> dict[str, Any]:
        """Keyword arguments for the service functions."""
        return {
            "message": self.message,
            "strategy": self.strategy,
            "resolutions": self.resolutions,
            "author": self.author,
            "author_email": self.author_email,
        }


def _strategy(body: Fields) -> Side | None:
    value = body.string("strategy", nullable=True, max_length=16)
    if value is None:
        return None
    if value == "ours":
        return "ours"
    if value == "theirs":
        return "theirs"
    body.error("strategy", 'must be "ours", "theirs" or null')
    return None


def _resolutions(body: Fields) -> dict[str, Resolution]:
    """``{path: "ours" | "theirs" | {"blob": id, "mode"?: mode} | null}``."""
    body.seen.add("resolutions")
    if not body.has("resolutions"):
        return {}
    raw = body.data["resolutions"]
    if not isinstance(raw, dict):
        body.error("resolutions", "must be an object mapping paths to resolutions")
        return {}
    if len(raw) > MAX_RESOLUTIONS:
        body.error("resolutions", f"may hold at most {MAX_RESOLUTIONS} paths")
        return {}
    out: dict[str, Resolution] = {}
    for key, value in raw.items():
        where = f"{body.at('resolutions')}/{escape_pointer(key)}"
        try:
            path = normalize_path(key) if len(key) <= MAX_PATH else ""
        except InvalidInput as error:
            body.errors.append({"pointer": where, "detail": str(error)})
            continue
        if not path:
            detail = f"keys must be paths below the root of at most {MAX_PATH} characters"
            body.errors.append({"pointer": where, "detail": detail})
            continue
        if value is None or value in ("ours", "theirs"):
            out[path] = value
            continue
        if not isinstance(value, dict):
            detail = 'must be "ours", "theirs", null or {"blob": id, "mode": "100644"}'
            body.errors.append({"pointer": where, "detail": detail})
            continue
        entry = _entry(Fields(value, where, body.errors), path)
        if entry is not None:
            out[path] = entry
    return out


def _entry(fields: Fields, path: str) -> TreeEntry | None:
    """``{"blob": id, "mode"?: "100644" | "100755"}`` as the entry to put at ``path``."""
    blob = fields.object_id("blob", required=True)
    mode = fields.string("mode", max_length=8)
    fields.finish()
    if mode is not None and mode not in (FileMode.FILE.value, FileMode.EXECUTABLE.value):
        fields.error("mode", 'must be "100644" or "100755"')
        return None
    if blob is None:
        return None
    return TreeEntry.make(path.rsplit("/", 1)[-1], mode or FileMode.FILE.value, blob)


def _author(body: Fields) -> tuple[str | None, str | None]:
    """``{"name", "email"}``, both optional."""
    body.seen.add("author")
    if not body.has("author"):
        return None, None
    if not isinstance(body.data["author"], dict):
        body.error("author", 'must be an object {"name", "email"}')
        return None, None
    fields = Fields(body.data["author"], body.at("author"), body.errors)
    name = fields.string("name", max_length=256)
    email = fields.string("email", max_length=256)
    fields.finish()
    return name, email


def _result(outcome: MergeOutcome) -> dict[str, Any]:
    return {
        "status": outcome.status,
        "commit": outcome.commit_id,
        "target": outcome.target,
        "bases": list(outcome.bases),
    }


def _run(
    repo: Repository, branch: str, options: _Options, action: Callable[[], MergeOutcome]
) -> ResponseReturnValue:
    """Run one operation; conflicts and a moved branch become 409 problems."""
    options.check_blobs()
    try:
        outcome = action()
    except RefConflict as error:
        raise with_current(error, repo, branch_ref(branch)) from error
    if outcome.status == "conflicts":
        count = len(outcome.conflicts)
        raise MergeConflict(
            f"{count} path{'s' if count != 1 else ''} changed differently on both sides;"
            ' nothing was written: resolve with "strategy" or "resolutions" and retry',
            [conflict_json(c) for c in outcome.conflicts],
        )
    return _result(outcome)


def _mainline(body: Fields) -> int:
    present = body.has("mainline")
    body.seen.add("mainline")
    if not present:
        return 1
    value = body.data["mainline"]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        body.error("mainline", "must be an integer from 1 to 1000")
        return 1
    return int(value)


@bp.post("/repos/<repo>/merges")
@access("write")
def merge(repo: str) -> ResponseReturnValue:
    """Merge revision ``source`` into branch ``into``: fast-forward or a merge commit."""
    r = repository(repo)
    body = Fields(json_body())
    source = body.revision("source", required=True)
    into = body.ref_name("into", required=True)
    fast_forward = body.boolean("fast_forward", default=True)
    options = _Options(body, r)
    body.finish()
    body.check()
    assert source is not None and into is not None
    return _run(
        r,
        into,
        options,
        lambda: merging.merge_branch(
            r, source, into, fast_forward=fast_forward, **options.keywords()
        ),
    )


@bp.post("/repos/<repo>/reverts")
@access("write")
def revert(repo: str) -> ResponseReturnValue:
    """Add a commit to ``branch`` undoing ``commit`` (against parent ``mainline``)."""
    r = repository(repo)
    body = Fields(json_body())
    rev = body.revision("commit", required=True)
    branch = body.ref_name("branch", required=True)
    mainline = _mainline(body)
    options = _Options(body, r)
    body.finish()
    body.check()
    assert rev is not None and branch is not None
    return _run(
        r,
        branch,
        options,
        lambda: merging.revert(r, rev, branch, mainline=mainline, **options.keywords()),
    )


@bp.post("/repos/<repo>/cherry-picks")
@access("write")
def cherry_pick(repo: str) -> ResponseReturnValue:
    """Apply the change ``commit`` made (against parent ``mainline``) onto branch ``onto``."""
    r = repository(repo)
    body = Fields(json_body())
    rev = body.revision("commit", required=True)
    onto = body.ref_name("onto", required=True)
    mainline = _mainline(body)
    options = _Options(body, r)
    body.finish()
    body.check()
    assert rev is not None and onto is not None
    return _run(
        r,
        onto,
        options,
        lambda: merging.cherry_pick(r, rev, onto, mainline=mainline, **options.keywords()),
    )
