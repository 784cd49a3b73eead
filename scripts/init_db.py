"""Create or upgrade the metadata database schema with Alembic (DATABASE_URL)."""

from __future__ import annotations

import sys

from dataworkflow.errors import DataWorkflowError
from dataworkflow.metadata.engine import Database
from dataworkflow.settings import Settings


def main() -> int:
    try:
        settings = Settings.from_env()
        db = Database(settings.database_url)
        db.upgrade()
        print(f"database at revision {db.current_revision()}: {db.url.render_as_string()}")
        db.dispose()
    except DataWorkflowError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
