"""Naming rules for tree entries, paths and refs.

Entry names follow DESIGN.md: non-empty UTF-8, at most 255 bytes, no ``/``, no NUL,
not ``.`` or ``..``. Ref names follow ``git check-ref-format``.
"""

from __future__ import annotations

import re
from typing import NewType

from dataworkflow.errors import InvalidName

RefName = NewType("RefName", str)
"""A full ref name, e.g. ``refs/heads/main``."""

MAX_NAME_BYTES = 255
BRANCH_PREFIX = "refs/heads/"
TAG_PREFIX = "refs/tags/"


def _describe(name: object) -> str:
    text = repr(name)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid tree entry name.

    Raises:
        InvalidName: if it is empty, ``.`` or ``..``, contains ``/`` or NUL, is not
            valid UTF-8 (lone surrogates) or is longer than 255 bytes.
    """
    if not isinstance(name, str) or name == "":
        raise InvalidName("a name must be a non-empty string")
    if name in (".", ".."):
        raise InvalidName(f"{name!r} is not allowed as a name")
    if "/" in name:
        raise InvalidName(f"name {_describe(name)} must not contain '/'")
    if "\0" in name:
        raise InvalidName(f"name {_describe(name)} must not contain NUL")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidName(f"name {_describe(name)} is not valid UTF-8") from None
    if len(encoded) > MAX_NAME_BYTES:
        raise InvalidName(f"name {_describe(name)} is longer than {MAX_NAME_BYTES} bytes")
    return name


def validate_name_bytes(raw: bytes) -> str:
    """Decode a name given as bytes (e.g. from a filesystem) and validate it.

    Raises:
        InvalidName: if the bytes are not UTF-8 or the name breaks the rules.
    """
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidName(f"name {_describe(raw)} is not valid UTF-8") from None
    return validate_name(name)


def split_path(path: str) -> tuple[str, ...]:
    """Split a ``/``-joined path into validated names; ``""`` and ``"/"`` are the root.

    A single leading or trailing ``/`` is tolerated; empty components (``a//b``) are not.

    Raises:
        InvalidName: if any component is invalid.
    """
    if not isinstance(path, str):
        raise InvalidName("a path must be a string")
    if path in ("", "/"):
        return ()
    trimmed = path.removeprefix("/").removesuffix("/")
    return tuple(validate_name(part) for part in trimmed.split("/"))


def normalize_path(path: str) -> str:
    """Return the canonical form of a path (no leading or trailing ``/``).

    Raises:
        InvalidName: if any component is invalid.
    """
    return "/".join(split_path(path))


_REF_FORBIDDEN_CHARS = frozenset(" ~^:?*[\\\x7f")


def check_ref_format(name: str) -> str:
    """Return ``name`` if it passes the rules of ``git check-ref-format``.

    Applied to the short name as well as the full one, so ``feature/x`` and
    ``refs/heads/feature/x`` are both accepted. One-level names are allowed
    (``--allow-onelevel``), since branches are usually given without ``refs/heads/``.

    Raises:
        InvalidName: naming the rule that was broken.
    """
    if not isinstance(name, str) or name == "":
        raise InvalidName("a ref name must be a non-empty string")
    shown = _describe(name)
    if name == "@":
        raise InvalidName("'@' is not a valid ref name")
    if len(name.encode("utf-8", "surrogatepass")) > 1024:
        raise InvalidName(f"ref name {shown} is too long")
    if any(ord(c) < 0x20 or c in _REF_FORBIDDEN_CHARS for c in name):
        raise InvalidName(
            f"ref name {shown} contains a forbidden character "
            "(space, control character, ~ ^ : ? * [ \\ or DEL)"
        )
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidName(f"ref name {shown} is not valid UTF-8") from None
    if "@{" in name:
        raise InvalidName(f"ref name {shown} must not contain '@{{'")
    if ".." in name:
        raise InvalidName(f"ref name {shown} must not contain '..'")
    if name.startswith("/") or name.endswith("/") or "//" in name:
        raise InvalidName(f"ref name {shown} must not start or end with '/' or contain '//'")
    if name.endswith("."):
        raise InvalidName(f"ref name {shown} must not end with '.'")
    for component in name.split("/"):
        if component.startswith("."):
            raise InvalidName(f"ref name {shown}: a component must not start with '.'")
        if component.endswith(".lock"):
            raise InvalidName(f"ref name {shown}: a component must not end with '.lock'")
    return name


def branch_ref(branch: str) -> RefName:
    """Full ref name of a branch given by its short name.

    Raises:
        InvalidName: if the name breaks the ref rules.
    """
    if branch.startswith(BRANCH_PREFIX):
        branch = branch[len(BRANCH_PREFIX) :]
    check_ref_format(branch)
    return RefName(BRANCH_PREFIX + branch)


def tag_ref(tag: str) -> RefName:
    """Full ref name of a tag given by its short name.

    Raises:
        InvalidName: if the name breaks the ref rules.
    """
    if tag.startswith(TAG_PREFIX):
        tag = tag[len(TAG_PREFIX) :]
    check_ref_format(tag)
    return RefName(TAG_PREFIX + tag)


def short_ref_name(ref: str) -> str:
    """``refs/heads/x`` and ``refs/tags/x`` become ``x``; anything else is unchanged."""
    for prefix in (BRANCH_PREFIX, TAG_PREFIX):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


RESERVED_REPOSITORY_NAMES = frozenset(
    {
        "api",
        "static",
        "login",
        "logout",
        "signup",
        "settings",
        "admin",
        "search",
        "new",
        "health",
        "favicon.ico",
        "robots.txt",
        "users",
        "tokens",
        "help",
        "about",
    }
)
"""First URL segments the web app uses itself; no repository may take them."""


def validate_repository_name(name: str) -> str:
    """Return ``name`` if it can name a repository.

    Repository names appear as the first segment of URLs and as CLI arguments, so they
    are restricted to ASCII letters, digits, ``-``, ``_`` and ``.`` (not leading), at
    most 100 characters.

    Raises:
        InvalidName: if it does not.
    """
    if not isinstance(name, str) or not name:
        raise InvalidName("a repository name must be a non-empty string")
    shown = _describe(name)
    if len(name) > 100:
        raise InvalidName(f"repository name {shown} is longer than 100 characters")
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    if not set(name) <= allowed:
        raise InvalidName(
            f"repository name {shown} may contain only letters, digits, '-', '_' and '.'"
        )
    if name[0] in "-._" or name.endswith((".git", ".")):
        raise InvalidName(
            f"repository name {shown} must start with a letter or digit and not end in '.'"
        )
    if name.lower() in RESERVED_REPOSITORY_NAMES:
        raise InvalidName(f"repository name {shown} is reserved for the web app's own pages")
    return name


def validate_branch_pattern(pattern: str) -> str:
    """Return ``pattern`` if it can protect branches: a ref name where ``*`` may stand in.

    ``*`` matches within one ``/``-separated component, ``**`` across components
    (``release/*`` protects ``release/1.0`` but not ``release/1.0/hotfix``).

    Raises:
        InvalidName: if the pattern with its wildcards replaced is not a valid ref name.
    """
    if not isinstance(pattern, str) or not pattern:
        raise InvalidName("a branch pattern must be a non-empty string")
    if pattern.startswith(BRANCH_PREFIX):
        raise InvalidName(f"branch pattern {_describe(pattern)}: give the short branch name")
    check_ref_format(pattern.replace("**", "x").replace("*", "x"))
    return pattern


def branch_pattern_matches(pattern: str, branch: str) -> bool:
    """Whether the short branch name ``branch`` matches ``pattern`` (see above)."""
    regex = "".join(
        ".*" if part == "**" else "[^/]*" if part == "*" else re.escape(part)
        for part in re.split(r"(\*\*|\*)", pattern)
    )
    return re.fullmatch(regex, branch) is not None


_USERNAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
RESERVED_USERNAMES = frozenset({"anonymous"})
"""Shown in the ref log for moves made without signing in; no account may take it."""


def validate_username(name: str) -> str:
    """Return ``name`` lowercased if it can name a user.

    Usernames are case-insensitive, 1-64 characters of ASCII letters, digits, ``.``,
    ``_`` and ``-``, starting and ending with a letter or digit.

    Raises:
        InvalidName: if it cannot.
    """
    if not isinstance(name, str) or not name:
        raise InvalidName("a username must be a non-empty string")
    lowered = name.lower()
    if not _USERNAME.fullmatch(lowered):
        raise InvalidName(
            f"username {_describe(name)} may contain only letters, digits, '.', '_' and '-' "
            "(at most 64, starting and ending with a letter or digit)"
        )
    if lowered in RESERVED_USERNAMES:
        raise InvalidName(f"username {_describe(name)} is reserved")
    return lowered
