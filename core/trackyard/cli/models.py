"""``trackyard models``: list registered models and versions, point aliases at versions.

Added to the root group in :mod:`trackyard.cli`. Every command takes
``--registry-uri`` (default: the configured registry URI, which defaults to the tracking URI)
and ``--tracking-uri``.
"""

from __future__ import annotations

from typing import Any

import click

from trackyard.cli._common import client as make_client
from trackyard.cli._common import fmt_time as _when
from trackyard.cli._common import table, tracking_uri_option

__all__ = ["models"]

_registry_option = click.option(
    "--registry-uri",
    default=None,
    metavar="URI",
    help="Model registry URI (default: $TRACKYARD_REGISTRY_URI, $MLFLOW_REGISTRY_URI, or the "
    "tracking URI).",
)
_tracking_option = tracking_uri_option


def _all_pages(call: Any, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    token = None
    while True:
        page = call(page_token=token, **kwargs)
        items.extend(page)
        token = page.token
        if not token:
            return items


@click.group()
def models() -> None:
    """Registered models: list them, list their versions, set aliases."""


@models.command("list")
@_registry_option
@_tracking_option
@click.option("--filter", "filter_string", default=None, help="e.g. \"name LIKE 'fraud%'\".")
def models_list(
    registry_uri: str | None, tracking_uri: str | None, filter_string: str | None
) -> None:
    """List registered models (prompts are left out), all pages."""
    client = make_client(tracking_uri, registry_uri)
    found = _all_pages(
        client.search_registered_models, filter_string=filter_string, max_results=1000
    )
    rows = []
    for m in found:
        newest = max((int(v.version) for v in m.latest_versions), default=None)
        aliases = ", ".join(f"{a}->{v}" for a, v in sorted(m.aliases.items()))
        rows.append(
            (m.name, newest or "", aliases, _when(m.last_updated_timestamp), m.description or "")
        )
    click.echo(table(["name", "newest", "aliases", "updated", "description"], rows))


@models.command("versions")
@click.argument("name")
@_registry_option
@_tracking_option
def models_versions(name: str, registry_uri: str | None, tracking_uri: str | None) -> None:
    """List the versions of registered model NAME, newest first."""
    from trackyard.search import Comparison, Entity, Op, format_filter

    client = make_client(tracking_uri, registry_uri)
    client.get_registered_model(name)  # a clear error for a missing model
    found = _all_pages(
        client.search_model_versions,
        filter_string=format_filter(Comparison(Entity.ATTRIBUTE, "name", Op.EQ, name)),
        order_by=["version_number DESC"],
        max_results=10000,
    )
    rows = [
        (
            v.version,
            v.current_stage,
            v.status,
            ", ".join(v.aliases),
            _when(v.creation_timestamp),
            v.run_id or "",
            v.source or "",
        )
        for v in found
    ]
    click.echo(
        table(["version", "stage", "status", "aliases", "created", "run id", "source"], rows)
    )


@models.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version")
@_registry_option
@_tracking_option
def models_alias(
    name: str, alias: str, version: str, registry_uri: str | None, tracking_uri: str | None
) -> None:
    """Point ALIAS of registered model NAME at VERSION (moving it if it is set)."""
    client = make_client(tracking_uri, registry_uri)
    previous = client.get_registered_model(name).aliases.get(alias)
    client.set_registered_model_alias(name, alias, version)
    moved = f" (was version {previous})" if previous and previous != version else ""
    click.echo(f"{name}@{alias} -> version {version}{moved}")
