"""``dw user create|list|show|update|set-password`` and ``dw token create|list|revoke``.

These commands act on the local database directly, so whoever can run them there is
trusted as the installation's operator (as with ``dw db upgrade``): that is how the first
administrator is made. Passwords are read from a hidden prompt or from stdin, never from
an argument (other users of the machine can see those), and are never printed. A token's
secret is printed once, on the last line of ``dw token create``, and is not stored.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from dataworkflow.cli.context import Backend, pass_backend
from dataworkflow.cli.errors import CliError
from dataworkflow.cli.output import echo_json
from dataworkflow.cli.repo import stdin_is_terminal
from dataworkflow.core.names import validate_username
from dataworkflow.errors import InvalidInput
from dataworkflow.services import accounts

if TYPE_CHECKING:
    from dataworkflow.services.accounts import Token, User

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
password_stdin_option = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin instead of prompting.",
)

_DURATION = re.compile(r"\s*(\d{1,9})\s*([smhdw])\s*", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_DURATION = timedelta(days=100 * 365)
"""Longer lifetimes overflow dates; "never" is spelt by leaving the option out."""


def parse_duration(text: str) -> timedelta:
    """A lifetime such as ``30m``, ``12h``, ``90d`` or ``2w`` (units s, m, h, d, w).

    Raises:
        InvalidInput: if ``text`` is not a positive whole number followed by a unit, or
            is longer than a hundred years.
    """
    match = _DURATION.fullmatch(text)
    if match is None or int(match.group(1)) == 0:
        raise InvalidInput(
            f"{text!r} is not a duration: use a positive number and a unit,"
            " like 30m, 12h, 90d or 2w"
        )
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if seconds > MAX_DURATION.total_seconds():
        raise InvalidInput(f"{text!r} is too long a duration: at most {MAX_DURATION.days}d")
    return timedelta(seconds=seconds)


def duration_option(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> timedelta | None:
    """Click callback: parse a ``DURATION`` option, as a usage error when malformed."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except InvalidInput as error:
        raise click.BadParameter(str(error), ctx, param) from None


# --- shapes ----------------------------------------------------------------------------


def iso_time(seconds: int | None) -> str | None:
    """Seconds since the epoch as ISO 8601 UTC (None stays None)."""
    return datetime.fromtimestamp(seconds, UTC).isoformat() if seconds is not None else None


def short_time(seconds: int | None) -> str:
    """Seconds since the epoch as ``2024-05-01 13:45Z`` for tables; ``-`` for none."""
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%MZ")


def user_json(user: User) -> dict[str, Any]:
    """A user's public details (there is no password, not even its hash, to show)."""
    return {
        "username": user.username,
        "email": user.email,
        "display_name": user.display_name,
        "admin": user.is_admin,
        "disabled": user.disabled,
        "created_at": iso_time(user.created_at),
    }


def token_json(token: Token) -> dict[str, Any]:
    """What is known about a token: its prefix identifies it, its secret is not kept."""
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "scope": token.scope,
        "state": token.state(),
        "created_at": iso_time(token.created_at),
        "expires_at": iso_time(token.expires_at),
        "last_used_at": iso_time(token.last_used_at),
        "revoked_at": iso_time(token.revoked_at),
    }


def _flags(user: User) -> str:
    flags = [flag for flag, on in (("admin", user.is_admin), ("disabled", user.disabled)) if on]
    return ",".join(flags) or "-"


def _echo_user(user: User) -> None:
    click.echo(f"username:     {user.username}")
    click.echo(f"email:        {user.email}")
    click.echo(f"display name: {user.display_name}")
    click.echo(f"admin:        {'yes' if user.is_admin else 'no'}")
    click.echo(f"disabled:     {'yes' if user.disabled else 'no'}")
    click.echo(f"created:      {iso_time(user.created_at)}")


# --- passwords -------------------------------------------------------------------------


def read_password(from_stdin: bool) -> str | None:
    """The new password: stdin's first line, a hidden prompt, or None with no terminal.

    Only the line ending is removed from stdin: spaces may belong to a password.

    Raises:
        CliError: if stdin was asked for but is empty.
    """
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise CliError("--password-stdin: no password on stdin")
        return line.rstrip("\r\n")
    if not stdin_is_terminal():
        return None
    password: str = click.prompt(
        "Password", hide_input=True, confirmation_prompt="Repeat the password"
    )
    return password


# --- users -----------------------------------------------------------------------------


@click.group("user")
def user_group() -> None:
    """Create, list, show and change users (on the local database)."""


@user_group.command("create")
@click.argument("name")
@click.option("--email", required=True, help="The user's email address.")
@click.option("--display-name", default="", help="The name shown in the UI.")
@click.option("--admin", is_flag=True, help="Make the user an installation administrator.")
@password_stdin_option
@pass_backend
def create_user(
    backend: Backend,
    name: str,
    email: str,
    display_name: str,
    admin: bool,
    password_stdin: bool,
) -> None:
    """Create user NAME; prompts for a password on a terminal.

    Without a terminal and without --password-stdin the user has no password and signs
    in with API tokens only (`dw user set-password` adds one later).
    """
    db = backend.database()
    validate_username(name)  # a bad name fails before the prompt
    accounts.check_email(email)
    password = read_password(password_stdin)
    user = accounts.create_user(
        db, name, email=email, password=password, display_name=display_name, admin=admin
    )
    role = "administrator" if user.is_admin else "user"
    click.echo(f"created {role} {user.username} <{user.email}>")
    if password is None:
        click.echo(
            f"{user.username} has no password: they can use API tokens only"
            f" (`dw user set-password {user.username}` sets one)"
        )
    if not user.is_admin and not any(other.is_admin for other in accounts.list_users(db)):
        click.echo(
            f"note: there is no administrator yet (`dw user update {user.username} --admin`)"
        )


@user_group.command("list")
@json_option
@pass_backend
def list_users(backend: Backend, as_json: bool) -> None:
    """List the users, by name."""
    users = accounts.list_users(backend.database())
    if as_json:
        echo_json([user_json(user) for user in users])
        return
    name_width = max((len(user.username) for user in users), default=0)
    email_width = max((len(user.email) for user in users), default=0)
    for user in users:
        line = f"{user.username:<{name_width}}  {user.email:<{email_width}}  {_flags(user):<14}"
        click.echo(f"{line}  {user.display_name}".rstrip())


@user_group.command("show")
@click.argument("name")
@json_option
@pass_backend
def show_user(backend: Backend, name: str, as_json: bool) -> None:
    """Show a user's details."""
    user = accounts.get_user(backend.database(), name)
    if as_json:
        echo_json(user_json(user))
    else:
        _echo_user(user)


@user_group.command("update")
@click.argument("name")
@click.option("--email", default=None, help="A new email address.")
@click.option("--display-name", default=None, help="A new display name ('' clears it).")
@click.option("--admin/--no-admin", default=None, help="Grant or remove administration.")
@click.option(
    "--disable/--enable",
    "disabled",
    default=None,
    help="Disable the account (signing it out everywhere) or enable it again.",
)
@json_option
@pass_backend
def update_user(
    backend: Backend,
    name: str,
    email: str | None,
    display_name: str | None,
    admin: bool | None,
    disabled: bool | None,
    as_json: bool,
) -> None:
    """Change a user's email, display name, admin flag or disabled flag.

    The last active administrator can be neither demoted nor disabled.
    """
    if email is None and display_name is None and admin is None and disabled is None:
        raise click.UsageError(
            "nothing to change: give --email, --display-name, --admin/--no-admin"
            " or --disable/--enable"
        )
    user = accounts.update_user(
        backend.database(),
        name,
        email=email,
        display_name=display_name,
        admin=admin,
        disabled=disabled,
    )
    if as_json:
        echo_json(user_json(user))
        return
    click.echo(f"updated user {user.username}")
    _echo_user(user)


@user_group.command("set-password")
@click.argument("name")
@password_stdin_option
@pass_backend
def set_password(backend: Backend, name: str, password_stdin: bool) -> None:
    """Set a user's password; their browser sessions are signed out."""
    db = backend.database()
    user = accounts.get_user(db, name)  # an unknown name fails before the prompt
    password = read_password(password_stdin)
    if password is None:
        raise CliError("no terminal to ask for the password on: use --password-stdin")
    accounts.set_password(db, user.username, password)
    click.echo(f"changed the password of {user.username} (their browser sessions were ended)")


# --- tokens ----------------------------------------------------------------------------


@click.group("token")
def token_group() -> None:
    """Create, list and revoke API tokens (for DW_TOKEN and the REST API)."""


@token_group.command("create")
@click.argument("user")
@click.option(
    "--scope",
    type=click.Choice(accounts.SCOPES),
    required=True,
    help="read: only reads; write: what the user may do.",
)
@click.option(
    "--expires",
    metavar="DURATION",
    callback=duration_option,
    default=None,
    help="Lifetime, like 30m, 12h or 90d [default: never].",
)
@click.option("--name", default="", help="What the token is for (shown by `dw token list`).")
@pass_backend
def create_token(
    backend: Backend, user: str, scope: str, expires: timedelta | None, name: str
) -> None:
    """Create an API token for USER and print it, once, on the last line.

    Scripts keep it with `dw token create USER --scope read | tail -n1`.
    """
    created = accounts.create_token(
        backend.database(), user, scope=scope, name=name, expires_in=expires
    )
    token = created.token
    until = f"expires {iso_time(token.expires_at)}" if token.expires_at else "does not expire"
    label = f" {token.name!r}" if token.name else ""
    click.echo(f"created {scope} token {token.id}{label} for {user.lower()}: it {until}")
    click.echo("copy it now: it is not stored and cannot be shown again")
    click.echo(created.secret)


@token_group.command("list")
@click.argument("user")
@json_option
@pass_backend
def list_tokens(backend: Backend, user: str, as_json: bool) -> None:
    """List USER's tokens, newest first (their prefixes: secrets are not stored)."""
    tokens = accounts.list_tokens(backend.database(), user)
    if as_json:
        echo_json([token_json(token) for token in tokens])
        return
    rows = [
        (
            str(token.id),
            token.prefix + "...",
            token.scope,
            token.state(),
            short_time(token.created_at),
            short_time(token.expires_at),
            short_time(token.last_used_at),
            token.name,
        )
        for token in tokens
    ]
    header = ("ID", "PREFIX", "SCOPE", "STATE", "CREATED", "EXPIRES", "LAST USED", "NAME")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows] if rows else []:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())


@token_group.command("revoke")
@click.argument("token_id", metavar="ID", type=click.IntRange(min=1, max=2**31 - 1))
@pass_backend
def revoke_token(backend: Backend, token_id: int) -> None:
    """Revoke token ID (see `dw token list`); requests with it are refused from now on."""
    db = backend.database()
    token = accounts.revoke_token(db, token_id)
    owner = accounts.get_user_by_id(db, token.user_id)
    whose = f" of {owner.username}" if owner is not None else ""
    click.echo(f"revoked token {token.id} ({token.prefix}...{whose})")
