"""The ``dw`` command line (click): thin commands, one service call each.

Grammar (scripts depend on it): ``dw COMMAND [SUBCOMMAND] REPO [ARGS]``. Read commands
take ``--json`` and print one JSON document. Every failure is one ``error: ...`` line on
stderr and a non-zero exit status (see :mod:`dataworkflow.cli.errors`), never a traceback;
set ``DW_DEBUG=1`` to see the traceback of an unexpected error.
"""

from __future__ import annotations

import os
from typing import Any

import click

from dataworkflow.cli import access, users
from dataworkflow.cli.context import REMOTE_COMMANDS, Backend
from dataworkflow.cli.db import db_group, init
from dataworkflow.cli.errors import (
    EXIT_BROKEN_PIPE,
    CliError,
    Interrupted,
    describe,
    short_message,
    silence_stdout,
)
from dataworkflow.cli.maintenance import fsck, gc
from dataworkflow.cli.merge import cherry_pick_command, merge, revert_command
from dataworkflow.cli.read import cat, diff, log, ls, show
from dataworkflow.cli.refs import branch_group, tag_group
from dataworkflow.cli.repo import repo_group
from dataworkflow.cli.search import search
from dataworkflow.cli.serve import serve
from dataworkflow.cli.transfer import export, import_


class DwGroup(click.Group):
    """The ``dw`` group: turns every error into one line and an exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, mapping exceptions (dulwich ``cmd_*`` style, STYLE §2.6)."""
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            raise Interrupted("interrupted") from None
        except BrokenPipeError:
            silence_stdout()  # the reader went away: stop quietly, like `git log | head`
            ctx.exit(EXIT_BROKEN_PIPE)
        except Exception as exc:
            error = describe(exc)
            if error is None:
                if os.environ.get("DW_DEBUG"):
                    raise
                error = CliError(
                    f"unexpected {type(exc).__name__}: {short_message(exc)}"
                    " (set DW_DEBUG=1 to see where)"
                )
            raise error from exc


@click.group(cls=DwGroup)
@click.version_option(package_name="dataworkflow", prog_name="dw")
@click.option(
    "--server",
    envvar="DW_SERVER_URL",
    metavar="URL",
    help="Work against this DataWorkflow server's API instead of the local database"
    " [env: DW_SERVER_URL; token: DW_TOKEN].",
)
@click.pass_context
def main(ctx: click.Context, server: str | None) -> None:
    """DataWorkflow: version control for data.

    Configured by environment variables, or a .env file in the current folder:
    DATABASE_URL, STORAGE_PATH or S3_BUCKET (with S3_ENDPOINT_URL, AWS_*), and
    DW_AUTHOR_NAME, DW_AUTHOR_EMAIL, DW_CACHE_DIR. With --server (or DW_SERVER_URL),
    the read commands and import/export go through that server (DW_TOKEN: its token).
    """
    if not isinstance(ctx.obj, Backend):
        ctx.obj = Backend()
    ctx.call_on_close(ctx.obj.close)
    if server:
        ctx.obj.server = server
        ctx.obj.token = os.environ.get("DW_TOKEN") or None
        command = ctx.invoked_subcommand
        if command is not None and command not in REMOTE_COMMANDS:
            raise CliError(f"`dw {command}` is not available with --server yet")


main.add_command(db_group)
main.add_command(init)
main.add_command(repo_group)
main.add_command(import_)
main.add_command(export)
main.add_command(cat)
main.add_command(ls)
main.add_command(log)
main.add_command(show)
main.add_command(diff)
main.add_command(branch_group)
main.add_command(tag_group)
main.add_command(serve)
main.add_command(merge)
main.add_command(revert_command)
main.add_command(cherry_pick_command)
main.add_command(search)
main.add_command(gc)
main.add_command(fsck)
main.add_command(users.user_group)
main.add_command(users.token_group)
main.add_command(access.reflog)

__all__ = ["main"]
