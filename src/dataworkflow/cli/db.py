"""``dw db upgrade`` and ``dw init``: set up an installation."""

from __future__ import annotations

import uuid

import click

from dataworkflow.cli.context import Backend, check_reachable, pass_backend
from dataworkflow.cli.errors import CliError, describe_os_error
from dataworkflow.errors import DataWorkflowError
from dataworkflow.storage.filesystem import FileSystemStorage

PROBE_PREFIX = b"dataworkflow storage probe "


@click.group("db")
def db_group() -> None:
    """Manage the metadata database."""


@db_group.command("upgrade")
@pass_backend
def upgrade(backend: Backend) -> None:
    """Create or upgrade the database schema (run the migrations).

    A local storage folder of the old two-level layout is upgraded too.
    """
    click.echo(_upgrade(backend))
    _upgrade_storage(backend)


@click.command("init")
@pass_backend
def init(backend: Backend) -> None:
    """Migrate the database and check that storage is reachable and writable."""
    click.echo(_upgrade(backend))
    _upgrade_storage(backend)
    where = backend.describe_storage()
    try:
        _probe_storage(backend)
    except OSError as exc:
        raise CliError(f"storage {where} is not writable: {describe_os_error(exc)}") from exc
    except DataWorkflowError as exc:
        raise CliError(f"storage {where} is not usable: {exc}") from exc
    click.echo(f"storage: {where} is reachable and writable")


def _upgrade(backend: Backend) -> str:
    db = backend.database(check_schema=False)
    check_reachable(db)
    before = db.current_revision()
    db.upgrade()
    after = db.current_revision()
    url = backend.describe_database()
    if before == after:
        return f"database: {url} is at schema revision {after} (up to date)"
    return f"database: {url} upgraded from {before or 'an empty schema'} to revision {after}"


def _upgrade_storage(backend: Backend) -> None:
    """Move a local storage folder's objects to the current layout, saying so if any moved.

    S3 keys keep their layout: nothing to do there (and S3 need not be reachable).
    """
    if backend.settings.s3_bucket:
        return
    storage = backend.storage
    if not isinstance(storage, FileSystemStorage):
        return
    where = backend.describe_storage()
    try:
        moved = storage.upgrade_layout()
    except OSError as exc:
        raise CliError(f"storage {where} could not be upgraded: {describe_os_error(exc)}") from exc
    if moved:
        click.echo(f"storage: {where}: moved {moved} objects to the objects/ab/<id> layout")


def _probe_storage(backend: Backend) -> None:
    """Write, read back and delete an object nobody else can have.

    The probe's bytes are random, so deleting it can never remove user data (storage is
    shared by content across repositories).
    """
    storage = backend.storage
    payload = PROBE_PREFIX + uuid.uuid4().hex.encode()
    stored = storage.put_bytes(payload)
    try:
        with storage.open(stored.id) as f:
            if f.read() != payload:
                raise CliError(f"storage {backend.describe_storage()} returned other bytes")
    finally:
        storage.delete(stored.id)
