"""``dw gc`` and ``dw fsck``: reclaim space, and prove nothing is corrupt."""

from __future__ import annotations

import re
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

import click

from dataworkflow.cli import progress as progress_bars
from dataworkflow.cli.context import Backend, pass_backend
from dataworkflow.cli.errors import CliError
from dataworkflow.cli.output import echo_json, format_size
from dataworkflow.services.fsck import check_integrity
from dataworkflow.services.gc import GcReport, collect_garbage

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+)([smhdw])")


def parse_duration(text: str) -> timedelta:
    """``30s``, ``15m``, ``24h``, ``7d``, ``2w``, or a sum such as ``1h30m``.

    Raises:
        ValueError: for anything else.
    """
    compact = text.strip().lower()
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + unit for n, unit in parts) != compact:
        raise ValueError(f"invalid duration {text!r}: expected e.g. 30s, 15m, 24h or 7d")
    return timedelta(seconds=sum(int(n) * _UNITS[unit] for n, unit in parts))


def _duration_option(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """Check a DURATION early (a usage error); the command keeps the text to echo it."""
    try:
        parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value.strip()


class PhaseProgress:
    """A spinner and a running count per phase, on stderr when stdout is a terminal."""

    def __init__(self, labels: dict[str, str], enabled: bool | None = None) -> None:
        self.enabled = progress_bars.stdout_is_terminal() if enabled is None else enabled
        self._labels = labels
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> PhaseProgress:
        if self.enabled:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description:<24}"),
                TextColumn("{task.completed:>12,.0f}"),
                TimeElapsedColumn(),
                console=progress_bars.make_console(),
            )
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __call__(self, phase: str, count: int) -> None:
        """The ``progress(phase, count)`` callback of gc and fsck."""
        if self._progress is None:
            return
        if phase not in self._tasks:
            self._tasks[phase] = self._progress.add_task(self._labels.get(phase, phase), total=None)
        self._progress.update(self._tasks[phase], completed=count)


GC_PHASES = {
    "mark": "marking reachable",
    "list": "listing storage",
    "sweep": "deleting rows",
    "delete": "deleting objects",
}
FSCK_PHASES = {
    "ref": "refs",
    "commit": "commits",
    "tree": "trees",
    "blob": "blobs",
    "object": "stored objects",
}


@click.command("gc")
@click.option("--dry-run", is_flag=True, help="Only report what would be reclaimed.")
@click.option(
    "--grace",
    default="24h",
    show_default=True,
    callback=_duration_option,
    metavar="DURATION",
    help="Keep unreferenced objects younger than this (e.g. 30s, 15m, 24h, 7d).",
)
@json_option
@pass_backend
def gc(backend: Backend, dry_run: bool, grace: str, as_json: bool) -> None:
    """Delete what no ref of any repository can reach any more.

    Keeps everything reachable from branches and tags, from the ref log for
    REFLOG_RETENTION_DAYS, and objects younger than --grace (uploads that are about to
    be committed). Safe to run while others commit. On a local storage folder it also
    merges small packs, and removes what interrupted writes left there (temp files,
    packs without an index) once older than the grace period and an hour.
    """
    retention = timedelta(days=backend.settings.reflog_retention_days)
    with PhaseProgress(GC_PHASES) as progress:
        report = collect_garbage(
            backend.database(),
            backend.storage,
            grace=parse_duration(grace),
            dry_run=dry_run,
            retention=retention,
            progress=progress,
        )
    if as_json:
        echo_json(gc_json(report))
        return
    verb = "would reclaim" if dry_run else "reclaimed"
    click.echo(
        f"{verb} {_many(report.objects_deleted, 'object')}"
        f" ({format_size(report.bytes_reclaimed)}) and"
        f" {_many(report.rows_deleted, 'metadata row')}: {_many(report.commits, 'commit')},"
        f" {_many(report.trees, 'tree')}, {_many(report.blobs, 'blob')}"
    )
    if report.objects_kept_young:
        click.echo(
            f"kept {_many(report.objects_kept_young, 'unreferenced object')}"
            f" ({format_size(report.bytes_kept_young)}) younger than {grace}"
        )
    if report.packs_merged:
        click.echo(f"merged {report.packs_merged} small packs of the storage folder into one")
    if report.leftovers_removed:
        verb = "would remove" if dry_run else "removed"
        files = _many(report.leftovers_removed, "leftover file")
        click.echo(f"{verb} {files} of interrupted writes")
    if dry_run:
        click.echo("dry run: nothing was deleted")


def gc_json(report: GcReport) -> dict[str, Any]:
    """The ``--json`` document of ``dw gc``."""
    return {
        "run": report.run_id,
        "dry_run": report.dry_run,
        "grace_seconds": report.grace_seconds,
        "objects": report.objects_deleted,
        "bytes": report.bytes_reclaimed,
        "rows": report.rows_deleted,
        "commits": report.commits,
        "trees": report.trees,
        "blobs": report.blobs,
        "kept_young_objects": report.objects_kept_young,
        "kept_young_bytes": report.bytes_kept_young,
        "packs_merged": report.packs_merged,
        "leftovers_removed": report.leftovers_removed,
    }


@click.command("fsck")
@click.argument("repo", required=False)
@click.option("--full", is_flag=True, help="Also read every stored object and check its hash.")
@json_option
@pass_backend
def fsck(backend: Backend, repo: str | None, full: bool, as_json: bool) -> None:
    """Check every repository (or REPO): ids, references and stored bytes.

    Recomputes every tree and commit id from the database, reports refs, entries and
    parents that point at missing objects, and checks each blob's bytes are stored with
    the recorded size (with --full: that they hash to the blob's id). Prints one line
    per problem and exits with status 1 if there is any.
    """
    problems = []
    with PhaseProgress(FSCK_PHASES) as progress:
        check = check_integrity(
            backend.database(), backend.storage, full=full, repository=repo, progress=progress
        )
        for problem in check:
            problems.append(problem)
            if not as_json:
                click.echo(str(problem))
    checked = check.checked
    if as_json:
        echo_json(
            {
                "ok": not problems,
                "full": full,
                "checked": {
                    "refs": checked["ref"],
                    "commits": checked["commit"],
                    "trees": checked["tree"],
                    "blobs": checked["blob"],
                    "objects": checked["object"],
                },
                "bytes_hashed": check.bytes_hashed,
                "problems": [
                    {
                        "repository": p.repository,
                        "kind": p.kind,
                        "id": p.id,
                        "code": p.code,
                        "message": p.message,
                    }
                    for p in problems
                ],
            }
        )
    summary = (
        f"{_many(checked['ref'], 'ref')}, {_many(checked['commit'], 'commit')},"
        f" {_many(checked['tree'], 'tree')} and {_many(checked['blob'], 'blob')} checked"
    )
    if full:
        summary += f" ({format_size(check.bytes_hashed)} hashed)"
    if problems:
        raise CliError(f"{_many(len(problems), 'problem')} found; {summary}")
    if not as_json:
        click.echo(f"ok: {summary}")


def _many(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
