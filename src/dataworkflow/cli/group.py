"""The ``dw`` click group: commands loaded on demand, every error turned into one line."""

from __future__ import annotations

import importlib
import os
from typing import Any

import click

from dataworkflow.cli.context import REMOTE_COMMANDS, Backend
from dataworkflow.cli.errors import (
    EXIT_BROKEN_PIPE,
    CliError,
    Interrupted,
    describe,
    short_message,
    silence_stdout,
)

COMMANDS: dict[str, tuple[str, str]] = {
    "db": ("db", "db_group"),
    "init": ("db", "init"),
    # ``access`` adds grant/revoke/... to ``repo`` and protect/... to ``branch``.
    "repo": ("access", "repo_group"),
    "import": ("transfer", "import_"),
    "export": ("transfer", "export"),
    "cat": ("read", "cat"),
    "ls": ("read", "ls"),
    "log": ("read", "log"),
    "show": ("read", "show"),
    "diff": ("read", "diff"),
    "branch": ("access", "branch_group"),
    "tag": ("refs", "tag_group"),
    "serve": ("serve", "serve"),
    "merge": ("merge", "merge"),
    "revert": ("merge", "revert_command"),
    "cherry-pick": ("merge", "cherry_pick_command"),
    "search": ("search", "search"),
    "gc": ("maintenance", "gc"),
    "fsck": ("maintenance", "fsck"),
    "user": ("users", "user_group"),
    "token": ("users", "token_group"),
    "reflog": ("access", "reflog"),
}
"""Each command's module (under ``dataworkflow.cli``) and name: a command's module is
imported only when that command runs, so ``dw import`` does not pay for the imports of
``dw search`` or ``dw user`` (all of them together took 0.3 s before each command)."""


class DwGroup(click.Group):
    """The ``dw`` group: loads commands on demand, turns every error into one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, sorted (for ``--help``)."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import the command's module now; None for an unknown name."""
        found = COMMANDS.get(cmd_name)
        if found is None:
            return None
        module, name = found
        command = getattr(importlib.import_module(f"dataworkflow.cli.{module}"), name)
        assert isinstance(command, click.Command)
        return command

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


__all__ = ["main"]
