"""The ``trackyard`` command line: quickstart, doctor, plugins, experiments, runs, models,
artifacts, gc, copy, sync.

Each command lives in a module of this package; :data:`cli` gathers them. Plugins add
commands through the ``trackyard_cli`` hook, which :func:`main` calls once per process.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from trackyard import _doctor
from trackyard.cli._common import TrackyardGroup
from trackyard.cli.artifacts import artifacts
from trackyard.cli.copy import copy, sync
from trackyard.cli.gc import gc
from trackyard.cli.models import models
from trackyard.cli.plugins import plugins
from trackyard.cli.quickstart import quickstart
from trackyard.cli.tracking import experiments, runs

__all__ = ["cli", "main"]


@click.group(cls=TrackyardGroup)
@click.version_option(package_name="trackyard")
def cli() -> None:
    """trackyard: MLflow's client API over pluggable backends."""


for _command in (
    quickstart,
    plugins,
    experiments,
    runs,
    _doctor.doctor,
    models,
    artifacts,
    copy,
    sync,
    gc,
):
    cli.add_command(_command)

_extended = False


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``trackyard`` console script."""
    global _extended
    if not _extended:
        from trackyard.plugins import get_plugin_manager

        get_plugin_manager().extend_cli(cli)
        _extended = True
    cli.main(args=list(argv) if argv is not None else None, prog_name="trackyard")
