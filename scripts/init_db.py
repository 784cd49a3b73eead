"""Create or upgrade the metadata database schema with Alembic (DATABASE_URL).

A local storage folder (``STORAGE_PATH``) of the old two-level layout is upgraded too.
"""

from __future__ import annotations

import sys

from dataworkflow.errors import DataWorkflowError
from dataworkflow.metadata.engine import Database
from dataworkflow.settings import Settings
from dataworkflow.storage.filesystem import FileSystemStorage


def main() -> int:
    try:
        settings = Settings.from_env()
        db = Database(settings.database_url)
        db.upgrade()
        print(f"database at revision {db.current_revision()}: {db.url.render_as_string()}")
        db.dispose()
        if not settings.s3_bucket:
            moved = FileSystemStorage(settings.storage_path).upgrade_layout()
            if moved:
                print(f"storage: moved {moved} objects to the objects/ab/<id> layout")
    except DataWorkflowError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # the storage folder could not be upgraded
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
