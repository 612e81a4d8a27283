"""``trackyard copy`` and ``trackyard sync``: lossless copies between two stores."""

from __future__ import annotations

import click

__all__ = ["copy", "sync"]


@click.command()
@click.argument("src_uri")
@click.argument("dst_uri")
@click.option(
    "--experiment",
    "experiments",
    multiple=True,
    metavar="NAME_OR_ID",
    help="Copy only this experiment (repeatable); the registry is then left out.",
)
@click.option("--no-artifacts", is_flag=True, help="Do not copy artifact files.")
@click.option(
    "--checkpoint",
    default=None,
    metavar="PATH",
    help="Record what is done here: a killed copy resumes, a later one copies what is new.",
)
def copy(
    src_uri: str,
    dst_uri: str,
    experiments: tuple[str, ...],
    no_artifacts: bool,
    checkpoint: str | None,
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
@click.argument("src_uri")
@click.argument("dst_uri")
@click.option(
    "--interval", default=60.0, show_default=True, metavar="S", help="Seconds between passes."
)
@click.option("--once", is_flag=True, help="One pass, then exit.")
@click.option(
    "--checkpoint",
    default=None,
    metavar="PATH",
    help="The checkpoint file (default: .trackyard-sync.jsonl in the current folder).",
)
@click.option("--no-artifacts", is_flag=True, help="Do not copy artifact files.")
def sync(
    src_uri: str,
    dst_uri: str,
    interval: float,
    once: bool,
    checkpoint: str | None,
    no_artifacts: bool,
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
