"""``trackyard experiments`` and ``trackyard runs``: list what a tracking store holds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from trackyard.cli._common import VIEWS, client, fmt_time, table, tracking_uri_option
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.uri import mask_credentials

__all__ = ["experiments", "runs"]


@click.group()
def experiments() -> None:
    """Experiments."""


@experiments.command("list")
@tracking_uri_option
@click.option("--view", type=click.Choice(sorted(VIEWS)), default="active", show_default=True)
@click.option("--filter", "filter_string", default=None, help="Filter, e.g. \"name LIKE 'a%'\".")
def experiments_list(tracking_uri: str | None, view: str, filter_string: str | None) -> None:
    """List experiments."""
    store = client(tracking_uri)
    rows, token = [], None
    while True:
        page = store.search_experiments(
            view_type=VIEWS[view], filter_string=filter_string, page_token=token
        )
        rows += [
            (
                e.experiment_id,
                e.name,
                e.lifecycle_stage,
                fmt_time(e.creation_time),
                e.artifact_location,
            )
            for e in page
        ]
        token = page.token
        if not token:
            break
    click.echo(table(["id", "name", "stage", "created", "artifact location"], rows))


@click.group()
def runs() -> None:
    """Runs."""


def find_experiment(mlflow: Any, ref: str) -> Any:
    """The experiment named ``ref``, else numbered ``ref``.

    Raises:
        click.ClickException: there is neither; the message names the store (masked).
    """
    exp = mlflow.get_experiment_by_name(ref)
    if exp is None and ref.isdigit():
        try:
            exp = mlflow.get_experiment(ref)
        except TrackyardError as exc:
            if exc.error_code != ErrorCode.RESOURCE_DOES_NOT_EXIST:
                raise
    if exp is None:
        raise click.ClickException(
            f"No experiment named or numbered {ref!r} in the tracking store "
            f"{mask_credentials(mlflow.tracking_uri)} (trackyard experiments list shows those "
            "it has; --tracking-uri chooses another store)."
        )
    return exp


@runs.command("list")
@tracking_uri_option
@click.option(
    "--experiment",
    "experiment",
    required=True,
    multiple=True,
    help="Experiment name or id (repeatable).",
)
@click.option("--filter", "filter_string", default="", help='e.g. "metrics.loss < 0.5".')
@click.option("--order-by", "order_by", multiple=True, help='e.g. "metrics.loss ASC".')
@click.option("--max-results", default=100, show_default=True, help="Runs per page.")
@click.option(
    "--page-token",
    default=None,
    metavar="TOKEN",
    help="Show the page after the one that printed this token.",
)
@click.option("--view", type=click.Choice(sorted(VIEWS)), default="active", show_default=True)
def runs_list(
    tracking_uri: str | None,
    experiment: Sequence[str],
    filter_string: str,
    order_by: Sequence[str],
    max_results: int,
    page_token: str | None,
    view: str,
) -> None:
    """List runs with their latest metrics, one page at a time."""
    mlflow = client(tracking_uri)
    ids = [find_experiment(mlflow, ref).experiment_id for ref in experiment]
    found = mlflow.search_runs(
        ids,
        filter_string,
        run_view_type=VIEWS[view],
        max_results=max_results,
        order_by=list(order_by) or None,
        page_token=page_token,
    )
    keys = sorted({k for r in found for k in r.data.metrics})[:6]
    rows = []
    for r in found:
        rows.append(
            [r.info.run_id, r.info.run_name, r.info.status, fmt_time(r.info.start_time)]
            + [("" if k not in r.data.metrics else f"{r.data.metrics[k]:.4g}") for k in keys]
        )
    click.echo(table(["run id", "name", "status", "started", *keys], rows))
    if found.token:
        click.echo(f"\nNext page token: {found.token}")
        click.echo(f"(more runs: repeat the command with --page-token {found.token})")
