"""``trackyard gc``: remove deleted runs and experiments for good (MLflow's ``mlflow gc``)."""

from __future__ import annotations

import click

__all__ = ["gc"]


def _id_list(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [part.strip() for part in value.split(",") if part.strip()] or None


@click.command("gc")
@click.option(
    "--older-than",
    default=None,
    metavar="DURATION",
    help="Only data deleted at least this long ago: '30d', '12h', '1d2h3m4s', '1.5h'.",
)
@click.option(
    "--experiment-ids",
    default=None,
    metavar="IDS",
    help="Comma-separated deleted experiments to remove, with all their runs.",
)
@click.option(
    "--run-ids", default=None, metavar="IDS", help="Comma-separated deleted runs to remove."
)
@click.option(
    "--backend-store-uri",
    default=None,
    metavar="URI",
    help="The tracking store (default: $TRACKYARD_TRACKING_URI, $MLFLOW_TRACKING_URI, or "
    "sqlite:///trackyard.db).",
)
@click.option(
    "--artifacts-destination",
    default=None,
    metavar="URI",
    help="Where a tracking server keeps proxied artifacts: run artifact URIs "
    "'mlflow-artifacts:/<path>' are deleted at '<URI>/<path>'.",
)
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
def gc(
    older_than: str | None,
    experiment_ids: str | None,
    run_ids: str | None,
    backend_store_uri: str | None,
    artifacts_destination: str | None,
    dry_run: bool,
) -> None:
    """Permanently remove runs and experiments in the deleted lifecycle stage.

    Without ids: every run deleted at least --older-than ago (any, without it) and every such
    experiment with all its runs. With --run-ids / --experiment-ids: exactly those, each of
    which must be deleted (and old enough). Artifacts go first, then metadata; a run whose
    artifacts cannot be deleted is kept, listed, and makes the command exit with status 1.
    """
    from trackyard import gc as gc_module

    report = gc_module.gc(
        backend_store_uri,
        older_than=older_than,
        experiment_ids=_id_list(experiment_ids),
        run_ids=_id_list(run_ids),
        dry_run=dry_run,
        artifacts_destination=artifacts_destination,
    )
    done = "would be permanently deleted" if dry_run else "has been permanently deleted"
    for run_id in report.runs:
        click.echo(f"Run with ID {run_id} {done}.")
    for experiment_id in report.experiments:
        click.echo(f"Experiment with ID {experiment_id} {done}.")
    for problem in report.skipped:
        click.echo(f"Skipped {problem.kind} {problem.id}: {problem.reason}.", err=True)
    for problem in report.failures:
        click.echo(f"Not deleted: {problem.kind} {problem.id}: {problem.reason}", err=True)
    if not (report.runs or report.experiments or report.failures):
        click.echo("Nothing to delete.")
    if report.failures:
        raise click.exceptions.Exit(1)
