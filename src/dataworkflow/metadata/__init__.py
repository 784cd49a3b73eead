"""The metadata database: SQLAlchemy 2.0 tables, sessions, queries and Alembic migrations.

Knows nothing of object storage or HTTP. Every row is scoped to one repository, so
metadata and permissions stay per repository while storage deduplicates bytes globally.
"""
