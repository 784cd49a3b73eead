"""DataWorkflow: version control for data.

The Python API: ``Repository(db, storage)`` over a metadata ``Database`` and an
``ObjectStorage``; ``open_repository`` builds all three from the environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

from dataworkflow.metadata.engine import Database
from dataworkflow.services.changes import Delete, Put, PutBlob
from dataworkflow.services.installation import (
    create_repository,
    delete_repository,
    list_repositories,
)
from dataworkflow.services.repository import CommitResult, Repository
from dataworkflow.settings import Settings

if TYPE_CHECKING:
    from dataworkflow.storage.base import ObjectStorage


def open_storage(settings: Settings | None = None) -> ObjectStorage:
    """The object storage the settings (default: the environment) describe."""
    from dataworkflow.storage import open_storage as _open

    return _open(settings or Settings.from_env())


def open_repository(name: str = "default", settings: Settings | None = None) -> Repository:
    """Open a repository with the configured database and storage (migrating first)."""
    settings = settings or Settings.from_env()
    db = Database(settings.database_url)
    db.upgrade()
    return Repository(db, open_storage(settings), name)


__all__ = [
    "CommitResult",
    "Database",
    "Delete",
    "Put",
    "PutBlob",
    "Repository",
    "Settings",
    "__version__",
    "create_repository",
    "delete_repository",
    "list_repositories",
    "open_repository",
    "open_storage",
]
