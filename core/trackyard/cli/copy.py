"""``trackyard copy`` and ``trackyard sync``: lossless copies between two stores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["copy", "sync"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _endpoints(checkpoint_help: str) -> Callable[[_F], _F]:
    """The arguments and options both commands take: SRC_URI DST_URI, --checkpoint,
    --no-artifacts."""

    def decorate(command: _F) -> _F:
        for add in (
            click.option("--no-artifacts", is_flag=True, help="Do not copy artifact files."),
            click.option("--checkpoint", default=None, metavar="PATH", help=checkpoint_help),
            click.argument("dst_uri"),
            click.argument("src_uri"),
        ):
            command = add(command)
        return command

    return decorate


@click.command()
@_endpoints("Record what is done here: a killed copy resumes, a later one copies what is new.")
@click.option(
    "--experiment",
    "experiments",
    multiple=True,
    metavar="NAME_OR_ID",
    help="Copy only this experiment (repeatable); the registry is then left out.",
)
def copy(
    src_uri: str,
    dst_uri: str,
    checkpoint: str | None,
    no_artifacts: bool,
    experiments: tuple[str, ...],
) -> None:
    """Copy everything SRC_URI holds into DST_URI, keeping ids and times."""
    from trackyard.copy import copy_store

    report = copy_store(
        src_uri,
        dst_uri,
        experiment_ids=[e for e in experiments if e.isdigit()] or None,
        experiment_names=[e for e in experiments if not e.isdigit()] or None,
        include_artifacts=not no_artifacts,
        checkpoint=checkpoint,
    )
    click.echo(report.summary())


@click.command()
@_endpoints("The checkpoint file (default: .trackyard-sync.jsonl in the current folder).")
@click.option(
    "--interval", default=60.0, show_default=True, metavar="S", help="Seconds between passes."
)
@click.option("--once", is_flag=True, help="One pass, then exit.")
def sync(
    src_uri: str,
    dst_uri: str,
    checkpoint: str | None,
    no_artifacts: bool,
    interval: float,
    once: bool,
) -> None:
    """Keep copying new data from SRC_URI (an offline store) to DST_URI."""
    from trackyard.copy import CopyReport, sync_stores

    def show(report: CopyReport) -> None:
        click.echo(report.summary())

    sync_stores(
        src_uri,
        dst_uri,
        checkpoint=checkpoint or ".trackyard-sync.jsonl",
        interval=interval,
        once=once,
        include_artifacts=not no_artifacts,
        on_pass=show,
    )
