"""Request parsing and response shapes: JSON in and out, validated once at the edge.

Query parameters that are malformed give 400 with an ``errors`` list naming each
parameter; a JSON body that parses but is invalid gives 422 with an ``errors`` list of
JSON pointers (RFC 6901) into the body. Response shapes match ``dw --json`` field for
field, so a remote ``dw`` prints what a local one does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

from dataworkflow.core.ids import is_object_id
from dataworkflow.core.names import check_ref_format, normalize_path, validate_name
from dataworkflow.core.objects import TreeEntry
from dataworkflow.core.revisions import parse_revision
from dataworkflow.errors import InvalidInput, InvalidRevision
from dataworkflow.metadata.refs import RefLogEntry
from dataworkflow.services.access import Grant
from dataworkflow.services.accounts import Token, User
from dataworkflow.services.installation import RepositoryInfo
from dataworkflow.services.merge import Conflict
from dataworkflow.services.shapes import (  # re-exported: shared with the other interface
    change_json as change_json,
)
from dataworkflow.services.shapes import commit_json as commit_json
from dataworkflow.services.shapes import entry_json as entry_json
from dataworkflow.services.shapes import signature_json as signature_json
from dataworkflow.web.errors import InvalidContent, InvalidParameters, mark_json_body

MAX_TEXT = 1024
"""Longest revision, path or name accepted in a URL (ref names stop at 1024 bytes)."""
MAX_PATH = 4096
MAX_CURSOR = 65 * 64
"""A history cursor is a frontier of at most 64 commit ids joined by dots."""


def check_revision(text: str) -> str:
    """Return ``text`` if it can be a revision expression; lookups come later.

    Raises:
        InvalidRevision: if it is empty, too long, holds control characters or is not
            valid UTF-8, or its ``~N``/``^N`` suffix is malformed.
    """
    if len(text) > MAX_TEXT:
        raise InvalidRevision("revision is longer than 1024 characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise InvalidRevision("revision must not contain control characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRevision("revision is not valid UTF-8") from None
    parse_revision(text)
    return text


# --- query parameters ---------------------------------------------------------------


class Query:
    """Typed access to ``request.args``, collecting every problem before raising.

    Call ``done()`` after reading the parameters: it raises ``InvalidParameters`` (400)
    naming each bad one.
    """

    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []

    def _error(self, name: str, detail: str) -> None:
        self.errors.append({"parameter": name, "detail": detail})

    def _raw(self, name: str, required: bool) -> str | None:
        values = request.args.getlist(name)
        if len(values) > 1:
            self._error(name, "is given more than once")
            return None
        if not values:
            if required:
                self._error(name, "is required")
            return None
        return values[0]

    def text(self, name: str, *, required: bool = False, max_length: int = MAX_TEXT) -> str | None:
        """A string parameter, or None when absent."""
        value = self._raw(name, required)
        if value is None:
            return None
        if len(value) > max_length:
            self._error(name, f"is longer than {max_length} characters")
            return None
        if "\0" in value:
            self._error(name, "must not contain NUL")
            return None
        return value

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        """An integer parameter within ``[minimum, maximum]``."""
        value = self._raw(name, False)
        if value is None:
            return default
        if not value.isascii() or not value.isdigit() or len(value) > 12:
            self._error(name, f"must be an integer from {minimum} to {maximum}")
            return default
        number = int(value)
        if not minimum <= number <= maximum:
            self._error(name, f"must be an integer from {minimum} to {maximum}")
            return default
        return number

    def boolean(self, name: str, default: bool = False) -> bool:
        """``true``/``false`` (also ``1``/``0``)."""
        value = self._raw(name, False)
        if value is None:
            return default
        if value in ("true", "1"):
            return True
        if value in ("false", "0"):
            return False
        self._error(name, "must be true or false")
        return default

    def revision(self, name: str, *, required: bool = False) -> str | None:
        """A revision expression (branch, tag, commit id, ``main~2``), not yet resolved."""
        value = self.text(name, required=required)
        if value is None:
            return None
        try:
            return check_revision(value)
        except InvalidInput as error:
            self._error(name, str(error))
            return None

    def path(self, name: str, *, required: bool = False) -> str:
        """A ``/``-joined path below the root, normalized; ``""`` is the root."""
        value = self.text(name, required=required, max_length=MAX_PATH)
        if value is None:
            return ""
        try:
            path = normalize_path(value)
        except InvalidInput as error:
            self._error(name, str(error))
            return ""
        if required and not path:
            self._error(name, "must name a file, not the root")
        return path

    def name(self, name: str) -> str | None:
        """One entry name (a listing position)."""
        value = self.text(name, max_length=MAX_TEXT)
        if value is None:
            return None
        try:
            return validate_name(value)
        except InvalidInput as error:
            self._error(name, str(error))
            return None

    def done(self) -> None:
        """Raise if any parameter was bad.

        Raises:
            InvalidParameters: naming every bad parameter.
        """
        if self.errors:
            raise InvalidParameters(self.errors)


# --- JSON bodies --------------------------------------------------------------------


def json_body() -> object:
    """The request's JSON body, read within ``API_MAX_JSON_BYTES``.

    Raises:
        UnsupportedMediaType: 415 unless the body is ``application/json``.
        RequestEntityTooLarge: 413 above the limit.
        BadRequest: 400 if it is not JSON.
        InvalidContent: 422 if it holds strings that are not valid Unicode.
    """
    if not request.is_json:
        raise UnsupportedMediaType("send a JSON body with Content-Type: application/json")
    limit = int(current_app.config["API_MAX_JSON_BYTES"])
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"a JSON body may hold at most {limit} bytes")
    request.max_content_length = limit + 1  # see objects.upload_object: the read at the limit
    raw = request.get_data(cache=False)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    pointer = _first_bad_string(data, "")
    if pointer is not None:
        raise InvalidContent([{"pointer": pointer, "detail": "is not valid Unicode text"}])
    mark_json_body()
    return data


def _first_bad_string(value: object, pointer: str) -> str | None:
    """The pointer to the first string (or key) holding a lone surrogate, if any."""
    stack = [(value, pointer)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                return where
        elif isinstance(item, dict):
            for key, child in item.items():
                child_pointer = f"{where}/{escape_pointer(key)}" if _encodable(key) else where
                if not _encodable(key):
                    return child_pointer
                stack.append((child, child_pointer))
        elif isinstance(item, list):
            stack.extend((child, f"{where}/{i}") for i, child in enumerate(item))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def escape_pointer(key: str) -> str:
    """A JSON object key as a JSON pointer reference token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


class Fields:
    """Typed access to one JSON object's members, collecting errors as JSON pointers.

    Several ``Fields`` may share one ``errors`` list (for the items of an array); call
    ``finish()`` on each to flag unknown members, then ``check()`` once.
    """

    def __init__(
        self, data: object, pointer: str = "", errors: list[dict[str, str]] | None = None
    ) -> None:
        self.pointer = pointer
        self.errors: list[dict[str, str]] = errors if errors is not None else []
        self.seen: set[str] = set()
        self.data: Mapping[str, Any] = {}
        if isinstance(data, dict):
            self.data = data
        else:
            self.errors.append({"pointer": pointer, "detail": "must be a JSON object"})

    def error(self, name: str, detail: str) -> None:
        """Record a problem with member ``name``."""
        self.errors.append({"pointer": self.at(name), "detail": detail})

    def at(self, name: str) -> str:
        """The JSON pointer to member ``name``."""
        return f"{self.pointer}/{escape_pointer(name)}"

    def has(self, name: str) -> bool:
        """Whether the member is present (null counts as present)."""
        return name in self.data

    def _get(self, name: str, required: bool) -> tuple[bool, Any]:
        self.seen.add(name)
        if name not in self.data:
            if required:
                self.error(name, "is required")
            return False, None
        return True, self.data[name]

    def string(
        self,
        name: str,
        *,
        required: bool = False,
        nullable: bool = False,
        max_length: int = MAX_TEXT,
        allow_nul: bool = False,
    ) -> str | None:
        """A string member (None when absent, or null where ``nullable``)."""
        present, value = self._get(name, required)
        if not present:
            return None
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            self.error(name, "must be a string" + (" or null" if nullable else ""))
            return None
        if len(value) > max_length:
            self.error(name, f"is longer than {max_length} characters")
            return None
        if not allow_nul and "\0" in value:
            self.error(name, "must not contain NUL")
            return None
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        """A boolean member."""
        present, value = self._get(name, False)
        if not present:
            return default
        if not isinstance(value, bool):
            self.error(name, "must be true or false")
            return default
        return value

    def integer(
        self,
        name: str,
        *,
        minimum: int,
        maximum: int,
        required: bool = False,
        nullable: bool = False,
    ) -> int | None:
        """An integer member within ``[minimum, maximum]`` (None when absent or null)."""
        present, value = self._get(name, required)
        if not present or (value is None and nullable):
            return None
        # bool is an int in Python but not in JSON: ``true`` is no number of days.
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            self.error(name, f"must be an integer from {minimum} to {maximum}")
            return None
        return int(value)

    def choice(self, name: str, options: tuple[str, ...], *, required: bool = False) -> str | None:
        """A string member that must be one of ``options``."""
        present, value = self._get(name, required)
        if not present:
            return None
        if not isinstance(value, str) or value not in options:
            self.error(name, f"must be one of {', '.join(options)}")
            return None
        return str(value)

    def array(self, name: str, *, required: bool = False, max_items: int) -> list[Any]:
        """An array member of at most ``max_items`` items."""
        present, value = self._get(name, required)
        if not present:
            return []
        if not isinstance(value, list):
            self.error(name, "must be an array")
            return []
        if len(value) > max_items:
            self.error(name, f"may hold at most {max_items} items")
            return []
        return value

    def string_map(self, name: str, *, max_items: int = 100) -> dict[str, str]:
        """An object whose members are all strings (commit metadata)."""
        present, value = self._get(name, False)
        if not present:
            return {}
        if not isinstance(value, dict):
            self.error(name, "must be an object of strings")
            return {}
        if len(value) > max_items:
            self.error(name, f"may hold at most {max_items} members")
            return {}
        out: dict[str, str] = {}
        for key, item in value.items():
            where = f"{self.at(name)}/{escape_pointer(key)}"
            if not key or len(key) > 256 or "\0" in key:
                self.errors.append({"pointer": where, "detail": "keys must be 1-256 characters"})
            elif not isinstance(item, str) or "\0" in item or len(item) > 10_000:
                detail = "must be a string of at most 10000 characters, without NUL"
                self.errors.append({"pointer": where, "detail": detail})
            else:
                out[key] = item
        return out

    def object_id(self, name: str, *, required: bool = False) -> str | None:
        """A full object id (64 lowercase hex characters)."""
        value = self.string(name, required=required, max_length=64)
        if value is not None and not is_object_id(value):
            self.error(name, "must be 64 lowercase hex characters")
            return None
        return value

    def revision(self, name: str, *, required: bool = False) -> str | None:
        """A revision expression, checked for syntax only."""
        value = self.string(name, required=required)
        if value is None:
            return None
        try:
            return check_revision(value)
        except InvalidInput as error:
            self.error(name, str(error))
            return None

    def ref_name(
        self, name: str, *, required: bool = False, max_length: int = MAX_TEXT
    ) -> str | None:
        """A short branch or tag name (``git check-ref-format``)."""
        value = self.string(name, required=required, max_length=max_length)
        if value is None:
            return None
        try:
            return check_ref_format(value)
        except InvalidInput as error:
            self.error(name, str(error))
            return None

    def path(self, name: str, *, required: bool = False) -> str | None:
        """A path below the root, normalized; the root itself is refused."""
        value = self.string(name, required=required, max_length=MAX_PATH)
        if value is None:
            return None
        try:
            path = normalize_path(value)
        except InvalidInput as error:
            self.error(name, str(error))
            return None
        if not path:
            self.error(name, "must name a path below the root")
            return None
        return path

    def finish(self) -> None:
        """Flag members that were never read: a typo must not be silently ignored."""
        for key in self.data:
            if key not in self.seen:
                self.error(key, "is not a known member")

    def check(self) -> None:
        """Raise if anything was wrong.

        Raises:
            InvalidContent: listing every problem.
        """
        if self.errors:
            raise InvalidContent(self.errors)


# --- responses ------------------------------------------------------------------------


def repository_json(info: RepositoryInfo) -> dict[str, Any]:
    """A repository's settings."""
    return {
        "name": info.name,
        "description": info.description,
        "default_branch": info.default_branch,
        "private": info.private,
        "created_at": info.created_at.isoformat() if info.created_at else None,
    }


def ref_json(name: str, commit_id: str) -> dict[str, Any]:
    """A branch or tag: its short name and the commit it points at."""
    return {"name": name, "commit": commit_id}


def side_json(entry: TreeEntry | None) -> dict[str, Any] | None:
    """One side of a merge conflict: mode, type and id, or None where the path is absent."""
    if entry is None:
        return None
    return {"mode": entry.mode.value, "type": entry.kind, "id": entry.id}


def conflict_json(conflict: Conflict) -> dict[str, Any]:
    """A path changed differently on both sides: its kind and the base, ours and theirs."""
    return {
        "path": conflict.path,
        "kind": conflict.kind,
        "base": side_json(conflict.base),
        "ours": side_json(conflict.ours),
        "theirs": side_json(conflict.theirs),
    }


def timestamp(seconds: int | None) -> str | None:
    """Seconds since the epoch as RFC 3339 in UTC (None stays None)."""
    return datetime.fromtimestamp(seconds, UTC).isoformat() if seconds is not None else None


def user_json(user: User) -> dict[str, Any]:
    """A user's account details; there is no password (nor its hash) to show."""
    return {
        "username": user.username,
        "email": user.email,
        "display_name": user.display_name,
        "is_admin": user.is_admin,
        "disabled": user.disabled,
        "created_at": timestamp(user.created_at),
    }


def token_json(token: Token) -> dict[str, Any]:
    """What is kept about an API token: its prefix identifies it, its secret is gone."""
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "scope": token.scope,
        "state": token.state(),
        "created_at": timestamp(token.created_at),
        "expires_at": timestamp(token.expires_at),
        "last_used_at": timestamp(token.last_used_at),
        "revoked_at": timestamp(token.revoked_at),
    }


def collaborator_json(grant: Grant) -> dict[str, Any]:
    """A user's role on a repository."""
    return {
        "username": grant.user.username,
        "display_name": grant.user.display_name,
        "role": grant.role,
        "disabled": grant.user.disabled,
    }


def protection_json(pattern: str, branches: list[str]) -> dict[str, Any]:
    """A protection pattern and the existing branches it covers now."""
    return {"pattern": pattern, "branches": branches}


def reflog_json(entry: RefLogEntry) -> dict[str, Any]:
    """One movement of a ref: ``old`` is null on creation, ``new`` on deletion."""
    return {
        "id": entry.id,
        "ref": entry.ref,
        "old": entry.old,
        "new": entry.new,
        "actor": entry.actor,
        "reason": entry.reason,
        "message": entry.message,
        "at": timestamp(entry.at),
    }
