"""``trackyard tee``: look at and replay the queues of a tee store."""

from __future__ import annotations

import click

from trackyard_tee.store import SecondaryStatus, TeeTrackingStore

__all__ = ["tee"]


def _open(uri: str) -> TeeTrackingStore:
    from trackyard.backends import get_tracking_store

    store = get_tracking_store(uri)
    if not isinstance(store, TeeTrackingStore):
        raise click.UsageError(f"{uri!r} is not a tee: URI")
    return store


def _print(statuses: list[SecondaryStatus]) -> None:
    for number, s in enumerate(statuses, start=1):
        state = {True: "available", False: "UNAVAILABLE", None: "not tried yet"}[s.available]
        click.echo(
            f"secondary {number}: {s.target}\n"
            f"  state: {state}\n"
            f"  pending writes: {s.pending}\n"
            f"  rejected writes: {s.rejected}\n"
            f"  queue: {s.queue_dir}" + (f"\n  last error: {s.last_error}" if s.last_error else "")
        )


@click.group()
def tee() -> None:
    """Inspect and replay the write queues of a tee store."""


@tee.command()
@click.argument("uri")
def status(uri: str) -> None:
    """Show each secondary's pending and rejected writes (tries nothing)."""
    _print(_open(uri).status())


@tee.command()
@click.argument("uri")
def flush(uri: str) -> None:
    """Replay every secondary's queued writes now; exit 1 if some remain."""
    statuses = _open(uri).flush()
    _print(statuses)
    if any(s.pending for s in statuses):
        raise SystemExit(1)


@tee.command()
@click.argument("uri")
@click.option("--max-runs", type=int, default=None, help="Compare at most this many runs.")
def verify(uri: str, max_runs: int | None) -> None:
    """Compare every secondary with the primary; exit 1 if they differ."""
    diffs = _open(uri).verify(max_runs=max_runs)
    for line in diffs:
        click.echo(line)
    if diffs:
        raise SystemExit(1)
    click.echo("every secondary mirrors the primary")


@tee.command()
@click.argument("uri")
@click.argument("secondary", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def skip(uri: str, secondary: int, yes: bool) -> None:
    """Move SECONDARY's oldest queued write to its rejected.log without applying it."""
    store = _open(uri)
    if not yes:
        click.confirm(
            f"Skip the oldest queued write of secondary {secondary}? It will not be replayed.",
            abort=True,
        )
    record = store.skip_next(secondary)
    if record is None:
        click.echo("nothing queued")
    else:
        click.echo(f"skipped #{record.seq}: {record.op}")
