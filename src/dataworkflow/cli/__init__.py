"""The ``dw`` command line (click): thin commands, one service call each."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="dataworkflow", prog_name="dw")
def main() -> None:
    """DataWorkflow: version control for data."""
