"""What the ``trackyard`` commands share: tables, times, the client, the URI option."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from trackyard import config
from trackyard.errors import TrackyardError

__all__ = ["VIEWS", "TrackyardGroup", "client", "fmt_time", "table", "tracking_uri_option"]

#: ``--view`` choices and MLflow's ViewType numbers.
VIEWS = {"active": 1, "deleted": 2, "all": 3}


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Format rows as a plain-text table with a header rule."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt_time(ms: int | None) -> str:
    """Epoch milliseconds as local ``YYYY-MM-DD HH:MM:SS`` ("" for none)."""
    if not ms:
        return ""
    import datetime

    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def client(tracking_uri: str | None, registry_uri: str | None = None) -> Any:
    """An :class:`~trackyard.MlflowClient` for the command's URIs (imported on use)."""
    from trackyard import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)


class TrackyardGroup(click.Group):
    """A click group that prints a :class:`TrackyardError` as ``Error: CODE: message``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrackyardError as exc:
            raise click.ClickException(f"{exc.error_code}: {exc.message}") from exc


tracking_uri_option = click.option(
    "--tracking-uri",
    default=None,
    metavar="URI",
    help="Tracking store URI (default: $TRACKYARD_TRACKING_URI, $MLFLOW_TRACKING_URI, "
    f"or {config.DEFAULT_TRACKING_URI}).",
)
