"""Download, list and read artifacts by URI, as MLflow's ``mlflow.artifacts`` module does.

::

    from trackyard import artifacts

    local_dir = artifacts.download_artifacts("models:/churn@champion", dst_path="model")
    files = artifacts.list_artifacts(run_id=run_id, artifact_path="plots")
    config = artifacts.load_dict(f"runs:/{run_id}/config.json")

An artifact URI is ``runs:/<run_id>/<path>``, ``models:/<name>/<version>[/<path>]``,
``models:/<name>@<alias>[/<path>]``, ``models:/<name>/latest`` (or a stage), any artifact
repository URI (``s3://bucket/dir``, ``file:///tmp/x``, ...) or a local path. Where the
files land follows MLflow:

* a ``models:/`` URI names a model version's files: its contents go straight into
  ``dst_path`` (with MLflow's ``registered_model_meta`` file beside ``MLmodel``); a
  ``<path>`` after the version keeps its place below ``dst_path`` (``dst/data/...``);
* any other URI names one file or directory, which lands in ``dst_path`` under its own name:
  ``runs:/<id>/model/data`` gives ``dst/data``; a trailing slash (``runs:/<id>/model/``)
  downloads the directory's contents instead.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
import urllib.parse
from typing import TYPE_CHECKING, Any, NamedTuple

from trackyard import validation
from trackyard.errors import ErrorCode, TrackyardError, local_path_error
from trackyard.uri import split_uri

if TYPE_CHECKING:
    from trackyard.client import MlflowClient
    from trackyard.entities import FileInfo
    from trackyard.entities.model_registry import ModelVersion
    from trackyard.stores import ArtifactRepository

__all__ = ["download_artifacts", "list_artifacts", "load_dict", "load_text"]

#: Written beside ``MLmodel`` when a registered model version is downloaded (as MLflow does).
REGISTERED_MODEL_META_FILE = "registered_model_meta"
_MAX_URI_HOPS = 8


def download_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    dst_path: str | os.PathLike[str] | None = None,
    tracking_uri: str | None = None,
    registry_uri: str | None = None,
) -> str:
    """Download an artifact file or directory and return its local path.

    Args:
        artifact_uri: what to download (see the module docs). Give this or ``run_id``.
        run_id: a run whose artifacts to download; with ``artifact_path``, only that file
            or directory (it lands under its own name, as ``runs:/<run_id>/<path>`` does).
        artifact_path: a path in the run's artifacts; only with ``run_id``.
        dst_path: the local directory to download into; created if missing. By default a
            new temporary directory.
        tracking_uri: where runs are looked up (default: the configured tracking URI).
        registry_uri: where ``models:/`` URIs are looked up (default: the registry URI of
            ``tracking_uri``).

    Returns:
        The local path of the downloaded file or directory.

    Raises:
        TrackyardError: ``INVALID_PARAMETER_VALUE`` unless exactly one of ``artifact_uri``
            and ``run_id`` is given, or when ``artifact_path`` comes with ``artifact_uri``;
            ``RESOURCE_DOES_NOT_EXIST`` when the run, model version or artifact is missing.
            When ``dst_path`` is taken by a file, a :class:`~trackyard.errors.LocalPathError`
            that is also a ``FileExistsError``.
    """
    _check_arguments(artifact_uri, run_id, artifact_path)
    client = _client(tracking_uri, registry_uri)
    if artifact_uri is not None:
        location = locate(client, os.fspath(artifact_uri))
    else:
        location = locate_run_path(client, str(run_id), artifact_path or "")
    return download(client, location, dst_path)


def list_artifacts(
    artifact_uri: str | None = None,
    run_id: str | None = None,
    artifact_path: str | None = None,
    tracking_uri: str | None = None,
) -> list[FileInfo]:
    """List the direct children of an artifact directory ([] for a file or nothing).

    Paths are MLflow's: relative to the run's root for ``run_id``/``artifact_path``, to the
    model version's root for a ``models:/`` URI, and otherwise to the directory that holds
    what the URI names (``runs:/<id>/model/data`` lists ``data/...``).

    Raises:
        TrackyardError: ``INVALID_PARAMETER_VALUE`` for the argument combinations that
            :func:`download_artifacts` refuses.
    """
    _check_arguments(artifact_uri, run_id, artifact_path)
    client = _client(tracking_uri, None)
    if artifact_uri is not None:
        location = locate(client, os.fspath(artifact_uri))
        return location.repository(client).list_artifacts(location.path or None)
    assert run_id is not None
    return client.list_artifacts(run_id, artifact_path)


def load_text(artifact_uri: str) -> str:
    """Return the contents of a text artifact (UTF-8), e.g. ``runs:/<id>/notes.txt``.

    Raises:
        TrackyardError: ``RESOURCE_DOES_NOT_EXIST`` if there is no such artifact,
            ``BAD_REQUEST`` if it is not UTF-8, and a
            :class:`~trackyard.errors.LocalPathError` that is an ``IsADirectoryError`` when
            the URI names a directory.
    """
    with tempfile.TemporaryDirectory(prefix="trackyard-load-") as tmp:
        local = download_artifacts(artifact_uri, dst_path=tmp)
        if os.path.isdir(local):
            raise local_path_error(
                errno.EISDIR, artifact_uri, "load_text() reads a file; this is a directory"
            )
        with open(local, "rb") as fh:
            data = fh.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise TrackyardError(
            f"Artifact {artifact_uri!r} is not valid UTF-8. Download it with "
            "download_artifacts() and open it with its encoding.",
            ErrorCode.BAD_REQUEST,
        ) from None


def load_dict(artifact_uri: str) -> dict[str, Any]:
    """Return a JSON artifact as a dict, e.g. one written by ``MlflowClient.log_dict``.

    Raises:
        TrackyardError: ``BAD_REQUEST`` if the file is not JSON (YAML is not read, as in
            MLflow), plus the errors of :func:`load_text`.
    """
    text = load_text(artifact_uri)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrackyardError(
            f"Unable to form a JSON object from the content of {artifact_uri!r}: {exc}",
            ErrorCode.BAD_REQUEST,
        ) from None
    return value  # type: ignore[no-any-return]


# -- resolution, shared with MlflowClient.download_artifacts ----------------------------------


class Location(NamedTuple):
    """What an artifact URI names: ``path`` (may be empty) under the repository at ``root``.

    ``version`` is set when the URI named a registered model version (``by_alias`` when
    through an alias).
    """

    root: str
    path: str
    version: ModelVersion | None = None
    by_alias: bool = False

    def repository(self, client: MlflowClient) -> ArtifactRepository:
        from trackyard.backends import get_artifact_repository

        return get_artifact_repository(self.root, client._tracking_uri, client._registry_uri)


def locate(client: MlflowClient, uri: str, path: str = "") -> Location:
    """Resolve an artifact URI, plus an optional ``path`` below what it names, to a
    repository root and a path under it (MLflow's split; see the module docs)."""
    if uri.startswith("runs:"):
        from trackyard.uri import parse_runs_uri

        run_id, sub = parse_runs_uri(uri)
        return locate_run_path(client, run_id, _join(sub, path))
    if uri.startswith("models:"):
        logged = _logged_model_location(client, uri, path)
        if logged is not None:
            return logged
        base, sub = _split_models_uri(uri)
        version = _resolve_version(client, base)
        sub = validation.validate_artifact_path(_join(sub, path))
        return Location(_content_root(client, version), sub, version, "@" in base)
    parent_uri, leaf = _split_uri(_append(uri, validation.validate_artifact_path(path)))
    return Location(parent_uri, leaf)


def locate_run_path(client: MlflowClient, run_id: str, path: str) -> Location:
    """What ``runs:/<run_id>/<path>`` names: the last segment of ``path`` under its parent
    (the whole directory's contents when ``path`` is empty or ends with ``/``)."""
    parent, leaf = _split_last(path)
    return Location(_append(_run_root(client, run_id), parent), leaf)


def download(
    client: MlflowClient, location: Location, dst_path: str | os.PathLike[str] | None
) -> str:
    """Download what ``location`` names into ``dst_path`` (created if missing)."""
    dst = prepare_destination(dst_path)
    local = location.repository(client).download_artifacts(location.path, dst)
    version = location.version
    if version is not None and os.path.isfile(os.path.join(local, "MLmodel")):
        import yaml

        # MLflow writes the number as a string, or as an int when reached through an alias
        number = int(version.version) if location.by_alias else str(version.version)
        meta = {"model_name": version.name, "model_version": number}
        with open(os.path.join(local, REGISTERED_MODEL_META_FILE), "w", encoding="utf-8") as fh:
            yaml.safe_dump(meta, fh, default_flow_style=False, allow_unicode=True)
    return local


def prepare_destination(dst_path: str | os.PathLike[str] | None) -> str | None:
    """Create ``dst_path`` (and its parents) if missing, as MLflow does; None stays None.

    Raises:
        LocalPathError: when the path, or a parent of it, is a file (also an ``OSError``
            of the matching kind, such as ``FileExistsError``).
    """
    if dst_path is None:
        return None
    dst = os.fspath(dst_path)
    try:
        os.makedirs(dst, exist_ok=True)
    except OSError as exc:
        raise local_path_error(
            exc.errno or errno.EEXIST, dst, "the download destination must be a directory"
        ) from None
    return dst


def _check_arguments(artifact_uri: object, run_id: object, artifact_path: object) -> None:
    if (artifact_uri is None) == (run_id is None):
        raise TrackyardError.invalid_parameter_value(
            "Exactly one of `run_id` or `artifact_uri` must be specified."
        )
    if artifact_uri is not None and artifact_path is not None:
        raise TrackyardError.invalid_parameter_value(
            "`artifact_path` cannot be specified if `artifact_uri` is specified; put the "
            "path in the URI instead."
        )


def _client(tracking_uri: str | None, registry_uri: str | None) -> MlflowClient:
    from trackyard.client import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)


def _join(sub: str, path: str) -> str:
    """Join two artifact paths; a trailing ``/`` on the result is kept."""
    if not sub:
        return path or ""
    if not path:
        return sub
    return sub.rstrip("/") + "/" + path


def _run_root(client: MlflowClient, run_id: str) -> str:
    run = client.get_run(validation.validate_run_id(run_id))
    root = run.info.artifact_uri
    if not root:
        raise TrackyardError(f"Run {run_id!r} has no artifact location.", ErrorCode.INVALID_STATE)
    return root


def _split_last(path: str) -> tuple[str, str]:
    """Split an artifact path into (parent, last segment); a trailing ``/`` keeps it whole."""
    canonical = validation.validate_artifact_path(path)
    if not canonical or path.endswith("/"):
        return canonical, ""
    parent, _, leaf = canonical.rpartition("/")
    return parent, leaf


def _split_models_uri(uri: str) -> tuple[str, str]:
    """``models:/m/3/data/x`` -> (``models:/m/3``, ``data/x``); ``models:/m@a/x`` likewise."""
    parts = split_uri(uri, allow_fragments=False)
    if parts.scheme != "models" or parts.netloc or not parts.path.startswith("/"):
        return uri, ""  # resolve_models_uri explains what is wrong with it
    segments = parts.path[1:].split("/")
    head = 1 if "@" in segments[0] else 2
    return "models:/" + "/".join(segments[:head]), "/".join(segments[head:])


def _logged_model_location(client: MlflowClient, uri: str, path: str) -> Location | None:
    """What ``models:/<model_id>[/<path>]`` names: a path under a logged model's artifacts.

    A single segment without ``@`` is a logged model id (as in MLflow); with more segments,
    the first must have the form of a logged model id (``m-`` and 32 hex digits).
    None when ``uri`` names a registered model version instead.
    """
    from trackyard.entities.logged_model import is_logged_model_id

    parts = urllib.parse.urlsplit(uri, allow_fragments=False)
    if parts.scheme != "models" or parts.netloc or not parts.path.startswith("/"):
        return None
    segments = parts.path[1:].split("/")
    head = segments[0]
    single = len(segments) == 1 and head and "@" not in head
    if not (single or is_logged_model_id(head)):
        return None
    model = client.get_logged_model(head)
    sub = validation.validate_artifact_path(_join("/".join(segments[1:]), path))
    return Location(model.artifact_location, sub)


def _resolve_version(client: MlflowClient, uri: str) -> ModelVersion:
    from trackyard.uri import resolve_models_uri

    return client._not_a_prompt_version(resolve_models_uri(client._registry_store, uri))


def _content_root(client: MlflowClient, version: ModelVersion) -> str:
    """The artifact URI of a version's files, through any ``runs:/`` or ``models:/`` hops."""
    store = client._registry_store
    location = store.get_model_version_download_uri(version.name, version.version)
    for _ in range(_MAX_URI_HOPS):
        # checked again here: a store written by other tools may hold any source
        validation.validate_model_version_source(location)
        if location.startswith("runs:"):
            from trackyard.uri import parse_runs_uri

            run_id, sub = parse_runs_uri(location)
            return _append(_run_root(client, run_id), validation.validate_artifact_path(sub))
        if not location.startswith("models:"):
            return location
        logged = _logged_model_location(client, location, "")
        if logged is not None:
            return _append(logged.root, logged.path)
        nxt = _resolve_version(client, location)
        location = store.get_model_version_download_uri(nxt.name, nxt.version)
    raise TrackyardError.invalid_parameter_value(
        f"models:/{version.name}/{version.version} resolves through more than "
        f"{_MAX_URI_HOPS} models:/ URIs; is there a loop?"
    )


def _split_uri(uri: str) -> tuple[str, str]:
    """Split a repository URI or local path into (parent URI, last segment)."""
    parts = split_uri(uri)
    if len(parts.scheme) <= 1:  # a local path (or a Windows drive)
        if uri.endswith(("/", os.sep)):
            return uri, ""
        return os.path.dirname(os.path.abspath(uri)), os.path.basename(uri)
    head, _, leaf = parts.path.rpartition("/")
    if parts.scheme == "file":
        leaf = urllib.parse.unquote(leaf)
    return urllib.parse.urlunsplit(parts._replace(path=head or "/")), leaf


def _append(uri: str, path: str) -> str:
    """``uri`` with the relative artifact ``path`` appended (percent-quoted for file: URIs)."""
    if not path:
        return uri
    parts = split_uri(uri)
    if len(parts.scheme) <= 1:
        return os.path.join(uri, *path.split("/"))
    quoted = urllib.parse.quote(path) if parts.scheme == "file" else path
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + quoted))
