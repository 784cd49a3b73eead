"""The ``dw`` command line (click): thin commands, one service call each.

Grammar (scripts depend on it): ``dw COMMAND [SUBCOMMAND] REPO [ARGS]``. Read commands
take ``--json`` and print one JSON document. Every failure is one ``error: ...`` line on
stderr and a non-zero exit status (see :mod:`dataworkflow.cli.errors`), never a traceback;
set ``DW_DEBUG=1`` to see the traceback of an unexpected error.

The ``dw`` script runs :mod:`dataworkflow.cli.launcher`, which hands the command to a
warm agent process (:mod:`dataworkflow.cli.agent`) when it can. So importing this
package stays cheap: the click group lives in :mod:`dataworkflow.cli.group` and is
imported on first use of ``main``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported: this package is on every `dw` call's path
if TYPE_CHECKING:
    from typing import Any

    from dataworkflow.cli.group import main


def __getattr__(name: str) -> Any:
    """``main`` (the click group), imported the first time it is used."""
    if name == "main":
        from dataworkflow.cli.group import main

        return main
    raise AttributeError(f"module 'dataworkflow.cli' has no attribute {name!r}")


__all__ = ["main"]
