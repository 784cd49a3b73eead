"""DataWorkflow: version control for data.

The Python API: ``Repository(db, storage)`` over a metadata ``Database`` and an
``ObjectStorage``; ``open_repository`` builds all three from the environment. Names are
imported on first use, so ``import dataworkflow`` (and every ``dw`` command) does not pay
for SQLAlchemy and the services until it needs them.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not `from typing import`: typing costs every `dw` call ~5-20 ms

__version__ = "0.1.0"

_EXPORTS = {
    "CommitResult": "dataworkflow.services.repository",
    "Database": "dataworkflow.metadata.engine",
    "Delete": "dataworkflow.services.changes",
    "Put": "dataworkflow.services.changes",
    "PutBlob": "dataworkflow.services.changes",
    "Repository": "dataworkflow.services.repository",
    "Settings": "dataworkflow.settings",
    "create_repository": "dataworkflow.services.installation",
    "delete_repository": "dataworkflow.services.installation",
    "list_repositories": "dataworkflow.services.installation",
}

if TYPE_CHECKING:
    from typing import Any

    from dataworkflow.metadata.engine import Database
    from dataworkflow.services.changes import Delete, Put, PutBlob
    from dataworkflow.services.installation import (
        create_repository,
        delete_repository,
        list_repositories,
    )
    from dataworkflow.services.repository import CommitResult, Repository
    from dataworkflow.settings import Settings
    from dataworkflow.storage.base import ObjectStorage


def __getattr__(name: str) -> Any:
    """Import a public name from its module the first time it is used."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dataworkflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def open_storage(settings: Settings | None = None) -> ObjectStorage:
    """The object storage the settings (default: the environment) describe."""
    from dataworkflow.settings import Settings
    from dataworkflow.storage import open_storage as _open

    return _open(settings or Settings.from_env())


def open_repository(name: str = "default", settings: Settings | None = None) -> Repository:
    """Open a repository with the configured database and storage (migrating first)."""
    from dataworkflow.metadata.engine import Database
    from dataworkflow.services.repository import Repository
    from dataworkflow.settings import Settings

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
