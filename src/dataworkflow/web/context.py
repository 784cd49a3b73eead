"""Per-app backend (database + storage) and per-request helpers, cached on ``g``."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g

from dataworkflow.metadata.engine import Database
from dataworkflow.services.installation import get_repository_info
from dataworkflow.services.repository import Repository
from dataworkflow.settings import Settings
from dataworkflow.storage import open_storage
from dataworkflow.storage.base import ObjectStorage


@dataclass
class Backend:
    """What every request needs: the metadata database and the object storage.

    Built once per app; holds no per-user state, so several workers can share nothing.
    """

    db: Database
    storage: ObjectStorage

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        db: Database | None = None,
        storage: ObjectStorage | None = None,
    ) -> Backend:
        """Open the configured database and storage unless given."""
        return cls(
            db=db or Database(settings.database_url),
            storage=storage or open_storage(settings),
        )


def get_backend() -> Backend:
    """The app's backend."""
    backend: Backend = current_app.extensions["dataworkflow"]
    return backend


def get_repository(name: str) -> Repository:
    """The named repository, opened once per request.

    Raises:
        RepositoryNotFound: if there is none. (Whether the caller may read it was
            checked before the view ran: see ``web.auth``.)
    """
    cache: dict[str, Repository] = g.setdefault("repositories", {})
    if name not in cache:
        backend = get_backend()
        principal = g.get("principal")
        actor = principal.name if principal is not None else "anonymous"
        info = g.get("repository_info")  # read by the access check of this request
        if info is None or info.name != name:
            info = get_repository_info(backend.db, name)  # never create `default` on a GET
        cache[name] = Repository.opened(
            backend.db,
            backend.storage,
            name=info.name,
            repository_id=info.id,
            default_branch=info.default_branch,
            actor=actor,
        )
    return cache[name]
