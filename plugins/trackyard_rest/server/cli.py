"""The ``trackyard server`` command (click; the web stack is imported when it runs).

:mod:`trackyard_rest.server.hooks` adds it to the ``trackyard`` CLI.
"""

from __future__ import annotations

import os
import sys

import click

from trackyard.config import get_tracking_uri
from trackyard_rest.server.config import DEFAULT_MAX_BODY_BYTES, ENV_VAR, ServerConfig

__all__ = ["check_workers", "prepare_auth", "server"]

_APP_FACTORY = "trackyard_rest.server.app:app_from_env"


def check_workers(config: ServerConfig, workers: int) -> None:
    """Refuse several worker processes over a store that cannot take them.

    Raises:
        click.UsageError: the store does not declare ``concurrent_processes`` (e.g. DuckDB,
            which lets one process open a database file for writing, or ``memory://``,
            which lives in one process).
    """
    if workers <= 1:
        return
    from trackyard.backends import get_tracking_store

    store = get_tracking_store(config.backend_store_uri, artifact_root=config.artifact_root)
    if not store.capabilities.concurrent_processes:
        raise click.UsageError(
            f"--workers {workers}: the {type(store).__name__} backend cannot be written by "
            "several processes at once (it is held by one process, or keeps its data in "
            "one process's memory); use --workers 1, or a SQL database such as "
            "PostgreSQL, MySQL or SQLite."
        )


def _ask_admin() -> tuple[str, str]:
    click.echo("Authentication is on and there is no admin user yet: create one.", err=True)
    username = click.prompt("Admin user name", default="admin", err=True)
    password = click.prompt(
        "Admin password (12 characters or more)",
        hide_input=True,
        confirmation_prompt=True,
        err=True,
    )
    return str(username), str(password)


def prepare_auth(config: ServerConfig) -> None:
    """Create the auth tables and the first admin before workers start (asking on a terminal).

    Raises:
        click.ClickException: no admin and no way to create one, or a refused password.
    """
    from trackyard.errors import TrackyardError
    from trackyard_rest.server.auth.setup import bootstrap, open_store

    try:
        store = open_store(config)
        try:
            bootstrap(store, _ask_admin if sys.stdin.isatty() else None)
        finally:
            store.close()
    except TrackyardError as exc:
        raise click.ClickException(exc.message) from exc


@click.command()
@click.option(
    "--backend-store-uri",
    default=None,
    metavar="URI",
    help="Tracking store URI: any scheme a trackyard plugin serves (default: the "
    "configured tracking URI).",
)
@click.option(
    "--registry-store-uri",
    default=None,
    metavar="URI",
    help="Model registry store URI (default: the backend store URI).",
)
@click.option(
    "--default-artifact-root",
    default=None,
    metavar="URI",
    help="Artifact root of new experiments (default: mlflow-artifacts:/ when serving "
    "artifacts, else the store's own default).",
)
@click.option(
    "--artifacts-destination",
    default=None,
    metavar="URI",
    help="Where the artifact proxy stores files (default: ./trackyard-artifacts).",
)
@click.option(
    "--serve-artifacts/--no-serve-artifacts",
    default=True,
    show_default=True,
    help="Serve the artifact proxy /api/2.0/mlflow-artifacts.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes (more than one needs a store several processes can write).",
)
@click.option(
    "--allowed-hosts",
    default=None,
    metavar="HOSTS",
    help="Comma-separated Host header names to accept besides localhost and --host "
    "('*' accepts any; protects against DNS rebinding).",
)
@click.option(
    "--max-body-size",
    "max_body_bytes",
    default=DEFAULT_MAX_BODY_BYTES,
    show_default=True,
    type=click.IntRange(min=1024),
    help="Largest request body of the JSON API, in bytes (artifact uploads excluded).",
)
@click.option(
    "--auth",
    type=click.Choice(["none", "basic"]),
    default="none",
    show_default=True,
    help="Authentication: 'basic' requires users (HTTP basic auth) and per-experiment and "
    "per-model permissions, as MLflow's basic-auth app.",
)
@click.option(
    "--auth-database-uri",
    default=None,
    metavar="URI",
    help="Database of users and permissions (default: the backend database when it is SQL, "
    "else a SQLite file trackyard-auth.db beside it).",
)
@click.option(
    "--auth-default-permission",
    type=click.Choice(["READ", "EDIT", "MANAGE", "NO_PERMISSIONS"]),
    default="READ",
    show_default=True,
    help="A user's permission on an experiment or model without a grant of their own.",
)
def server(
    backend_store_uri: str | None,
    registry_store_uri: str | None,
    default_artifact_root: str | None,
    artifacts_destination: str | None,
    serve_artifacts: bool,
    host: str,
    port: int,
    workers: int,
    allowed_hosts: str | None,
    max_body_bytes: int,
    auth: str,
    auth_database_uri: str | None,
    auth_default_permission: str,
) -> None:
    """Serve MLflow's REST API over a trackyard store (needs trackyard[server])."""
    try:
        import uvicorn
    except ModuleNotFoundError as exc:
        raise click.ClickException(
            f"trackyard server needs {exc.name}: pip install 'trackyard[server]'"
        ) from exc
    config = ServerConfig(
        backend_store_uri=backend_store_uri or get_tracking_uri(),
        registry_store_uri=registry_store_uri,
        default_artifact_root=default_artifact_root,
        artifacts_destination=artifacts_destination,
        serve_artifacts=serve_artifacts,
        allowed_hosts=tuple(h.strip() for h in (allowed_hosts or "").split(",") if h.strip()),
        bind_host=host,
        max_body_bytes=max_body_bytes,
        auth=None if auth == "none" else auth,
        auth_database_uri=auth_database_uri,
        auth_default_permission=auth_default_permission,
    )
    check_workers(config, workers)
    if config.auth:
        prepare_auth(config)
    os.environ[ENV_VAR] = config.to_env()
    click.echo(f"trackyard server on http://{host}:{port} ({workers} worker(s))", err=True)
    uvicorn.run(
        _APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # h11 even when httptools is installed: httptools drops a URL's "#fragment" before
        # the app sees it, and the artifact proxy refuses such paths outright (400)
        http="h11",
        log_level="warning",
        access_log=False,
    )
