"""``dw serve``: the web UI and REST API, for one machine or under gunicorn."""

from __future__ import annotations

import os
import shutil
import sys

import click

from dataworkflow.cli.context import Backend, pass_backend
from dataworkflow.cli.errors import CliError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="Port [default: PORT or 5001]."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes; more than one runs gunicorn (production).",
)
@pass_backend
def serve(backend: Backend, host: str, port: int | None, workers: int) -> None:
    """Serve the web interface and the REST API.

    One worker runs a threaded development server; several run gunicorn, whose workers
    share nothing but the database and the object storage.
    """
    port = port or backend.settings.port
    backend.database()  # reachable and migrated before the first request
    if workers > 1:
        gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or shutil.which(
            "gunicorn"
        )
        if gunicorn is None:
            raise CliError("gunicorn is not installed: pip install gunicorn")
        args = [
            gunicorn,
            "--workers",
            str(workers),
            "--threads",
            "4",
            "--bind",
            f"{host}:{port}",
            "--access-logfile",
            "-",
            "dataworkflow.web:create_app()",
        ]
        click.echo(f"serving on http://{host}:{port} with {workers} gunicorn workers", err=True)
        os.execv(gunicorn, args)
    from dataworkflow.web import create_app

    # The server opens its own database: a CLI connection lets the SQLite log grow to
    # CHECKPOINT_PAGES between checkpoints, fit for one command, not for a server.
    app = create_app(backend.settings, storage=backend.storage)
    click.echo(f"serving on http://{host}:{port}", err=True)
    app.run(host=host, port=port, threaded=True, use_reloader=False)
