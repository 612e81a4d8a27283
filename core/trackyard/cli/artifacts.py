"""``trackyard artifacts``: list, download and upload artifacts.

Added to the root group in :mod:`trackyard.cli`. Each command names what it works on either
with ``--run-id`` (plus ``--artifact-path``) or with a URI argument: ``runs:/<run_id>/<path>``,
``models:/<name>/<version>`` or ``models:/<name>@<alias>`` (list and download), or any
artifact URI (``s3://bucket/prefix``, ``gs://...``, a local path). Downloads land where
:func:`trackyard.artifacts.download_artifacts` puts them (MLflow's layout).
"""

from __future__ import annotations

import os
import posixpath
from typing import Any

import click

from trackyard.cli._common import client as _client
from trackyard.cli._common import table, tracking_uri_option

__all__ = ["artifacts"]

_tracking_option = tracking_uri_option
_registry_option = click.option(
    "--registry-uri",
    default=None,
    metavar="URI",
    help="Model registry URI, for models:/ URIs (default: the tracking URI).",
)
_run_option = click.option("--run-id", default=None, help="The run whose artifacts to use.")
_path_option = click.option(
    "--artifact-path",
    default="",
    metavar="PATH",
    help="A path relative to the run's (or the URI's) artifact root.",
)


def _join(*parts: str) -> str:
    return posixpath.join(*[p for p in parts if p]) if any(parts) else ""


def _target(uri: str | None, run_id: str | None, artifact_path: str) -> tuple[str, str, str]:
    """Settle what a command works on: ``("run", run_id, path)`` or ``("uri", uri, path)``."""
    if bool(uri) == bool(run_id):
        raise click.UsageError("Give either --run-id or a URI (runs:/..., models:/..., s3://...).")
    if run_id:
        return "run", run_id, artifact_path
    assert uri is not None
    if uri.startswith("runs:"):
        from trackyard.uri import parse_runs_uri

        rid, sub = parse_runs_uri(uri)
        return "run", rid, _join(sub, artifact_path)
    if uri.startswith("models:"):
        return "model", uri, artifact_path
    return "uri", uri, artifact_path


def _repo(uri: str, tracking_uri: str | None) -> Any:
    from trackyard import config
    from trackyard.backends import get_artifact_repository

    return get_artifact_repository(uri, tracking_uri or config.get_tracking_uri())


def _listing(
    kind: str, ident: str, path: str, tracking_uri: str | None, registry_uri: str | None
) -> tuple[Any, str]:
    """A function listing one directory, and the path to start from."""
    if kind == "run":
        client = _client(tracking_uri)
        return (lambda p: client.list_artifacts(ident, p or None)), path
    if kind == "model":  # paths relative to the model version's files, as MLflow's
        from trackyard.artifacts import locate

        client = _client(tracking_uri, registry_uri)
        location = locate(client, ident, path)
        repo = location.repository(client)
        return (lambda p: repo.list_artifacts(p or None)), location.path
    repo = _repo(ident, tracking_uri)
    return (lambda p: repo.list_artifacts(p or None)), path


def _size(n: int | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


@click.group()
def artifacts() -> None:
    """Artifacts of runs, models and artifact locations: list, download, upload."""


@artifacts.command("list")
@click.argument("uri", required=False)
@_run_option
@_path_option
@click.option("-r", "--recursive", is_flag=True, help="List every file below the path.")
@_tracking_option
@_registry_option
def artifacts_list(
    uri: str | None,
    run_id: str | None,
    artifact_path: str,
    recursive: bool,
    tracking_uri: str | None,
    registry_uri: str | None,
) -> None:
    """List the artifacts at URI (or of --run-id), one per line: path, type, size."""
    kind, ident, path = _target(uri, run_id, artifact_path)
    list_dir, path = _listing(kind, ident, path, tracking_uri, registry_uri)
    rows = []
    pending = [path]
    while pending:
        current = pending.pop(0)
        for info in list_dir(current):
            if info.is_dir and recursive:
                pending.append(info.path)
                continue
            rows.append((info.path, "dir" if info.is_dir else "file", _size(info.file_size)))
    rows.sort()
    click.echo(table(["path", "type", "size"], rows))


@artifacts.command("download")
@click.argument("uri", required=False)
@_run_option
@_path_option
@click.option(
    "--dst-path",
    default=None,
    type=click.Path(file_okay=False),
    help="The local directory to download into, created if missing (default: a new temporary one).",
)
@_tracking_option
@_registry_option
def artifacts_download(
    uri: str | None,
    run_id: str | None,
    artifact_path: str,
    dst_path: str | None,
    tracking_uri: str | None,
    registry_uri: str | None,
) -> None:
    """Download a file or directory from URI (or --run-id); print the local path."""
    kind, ident, path = _target(uri, run_id, artifact_path)
    client = _client(tracking_uri, registry_uri)
    if kind == "run":
        local = client.download_artifacts(ident, path, dst_path)
    else:
        from trackyard.artifacts import download, locate

        local = download(client, locate(client, ident, path), dst_path)
    click.echo(local)


@artifacts.command("upload")
@click.argument("local_path", type=click.Path(exists=True))
@click.argument("uri", required=False)
@_run_option
@_path_option
@_tracking_option
def artifacts_upload(
    local_path: str,
    uri: str | None,
    run_id: str | None,
    artifact_path: str,
    tracking_uri: str | None,
) -> None:
    """Upload LOCAL_PATH (a file, or a directory under its own name) to URI or --run-id."""
    kind, ident, path = _target(uri, run_id, artifact_path)
    if kind == "model":
        raise click.UsageError("upload takes --run-id, a runs:/ URI or an artifact URI.")
    name = os.path.basename(os.path.normpath(local_path))
    if kind == "run":
        _client(tracking_uri).log_artifact(ident, local_path, path or None)
        where = f"runs:/{ident}/{_join(path, name)}"
    else:
        repo = _repo(ident, tracking_uri)
        if os.path.isdir(local_path):
            repo.log_artifacts(local_path, _join(path, name))
        else:
            repo.log_artifact(local_path, path or None)
        where = f"{ident.rstrip('/')}/{_join(path, name)}"
    from trackyard.uri import mask_credentials

    click.echo(f"uploaded {local_path} to {mask_credentials(where)}")
