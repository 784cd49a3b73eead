"""Every error DataWorkflow raises on purpose.

Interfaces map the families (``InvalidInput``, ``NotFound``, ``AlreadyExists``,
``Conflict``, ``IntegrityError``, ``AuthenticationRequired``, ``PermissionDenied``,
``RateLimited``) to their own outputs: HTTP status codes in the web
layer, a one-line message and exit status in the CLI. No HTTP codes live here. Every
message is safe to show to a user: it names what was asked for, never internals.
"""

from __future__ import annotations

from typing import Any


class DataWorkflowError(Exception):
    """Base of every error raised on purpose; the message is safe to show a user."""

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by state, not by constructor arguments, so errors can cross processes.

        Subclasses take their own arguments (an id, a path) and pass a message up, so
        the default, ``cls(*self.args)``, would call them with the wrong arguments.
        """
        return (_restore_error, (type(self), self.args, self.__dict__))


def _restore_error(
    cls: type[DataWorkflowError], args: tuple[Any, ...], state: dict[str, Any]
) -> DataWorkflowError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class InvalidInput(DataWorkflowError):
    """A name, path, ref, id, setting or field is malformed."""


class InvalidName(InvalidInput):
    """An entry name, path or ref name breaks the naming rules."""


class InvalidObjectId(InvalidInput):
    """Text that should be a SHA-256 object id is not one."""

    def __init__(self, text: str) -> None:
        shown = text if len(text) <= 80 else text[:77] + "..."
        super().__init__(f"invalid object id {shown!r}: expected 64 lowercase hex characters")
        self.text = text


class InvalidRevision(InvalidInput):
    """A revision expression cannot be parsed."""


class InvalidSetting(InvalidInput):
    """A configuration value is malformed."""


class NotFound(DataWorkflowError):
    """The thing named does not exist (or the caller may not see it)."""


class RepositoryNotFound(NotFound):
    """No repository has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"repository {name!r} not found")
        self.name = name


class RefNotFound(NotFound):
    """No branch or tag has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"ref {name!r} not found")
        self.name = name


class RevisionNotFound(NotFound):
    """A revision does not resolve to a commit."""


class ObjectNotFound(NotFound):
    """No blob, tree or commit has this id (in this repository or storage)."""

    def __init__(self, object_id: str, kind: str = "object") -> None:
        super().__init__(f"{kind} {object_id} not found")
        self.object_id = object_id
        self.kind = kind


class PathNotFound(NotFound):
    """A path does not exist in a tree."""

    def __init__(self, path: str, revision: str | None = None) -> None:
        where = f" at {revision}" if revision else ""
        super().__init__(f"path {path!r} not found{where}")
        self.path = path
        self.revision = revision


class AlreadyExists(DataWorkflowError):
    """Something with this name exists already."""


class Conflict(DataWorkflowError):
    """The request was valid but lost a race or clashes with history."""


class RefConflict(Conflict):
    """A compare-and-swap on a ref failed: someone else moved it first."""

    def __init__(self, name: str, expected: str | None, actual: str | None = None) -> None:
        super().__init__(
            f"ref {name} has moved since it was read (expected {expected or 'no ref'})"
        )
        self.name = name
        self.expected = expected
        self.actual = actual


class MergeConflict(Conflict):
    """A merge, revert or cherry-pick stopped: paths changed differently on both sides."""

    def __init__(self, message: str, conflicts: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.conflicts = list(conflicts or [])
        """Each ``{"path", "kind", "base", "ours", "theirs"}``; a side is None if absent."""


class NotAFile(Conflict):
    """A path names a folder where a file is needed, or the other way round."""


class AuthenticationRequired(DataWorkflowError):
    """The caller must sign in (or present a valid token) first."""


class PermissionDenied(DataWorkflowError):
    """The caller is known, may see the thing, but may not do this to it."""


class ProtectedBranch(PermissionDenied):
    """A protected branch only moves by merges: no direct commits, force moves or deletion."""

    def __init__(self, branch: str, action: str) -> None:
        super().__init__(f"branch {branch!r} is protected: {action} refused; merge into it instead")
        self.branch = branch
        self.action = action


class RateLimited(DataWorkflowError):
    """Too many attempts; ``retry_after`` says how many seconds to wait."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IntegrityError(DataWorkflowError):
    """Stored data does not match what the metadata says about it."""


class ChecksumMismatch(IntegrityError):
    """Bytes read back do not hash to the id they were stored under."""

    def __init__(self, expected: str, got: str, path: str | None = None) -> None:
        message = f"checksum mismatch: expected {expected}, got {got}"
        if path is not None:
            message = f"{path!r}: the stored bytes do not match their id ({message})"
        super().__init__(message)
        self.expected = expected
        self.got = got
        self.path = path


class StorageError(DataWorkflowError):
    """Object storage cannot be reached or refused an operation."""


class DatabaseError(DataWorkflowError):
    """The metadata database cannot be reached or refused an operation."""
