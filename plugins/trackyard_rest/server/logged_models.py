"""``/api/2.0/mlflow/logged-models/...``: logged models, their tags, params and search.

Requests go through the client's logged-model methods (they check every field and fire
``logged_model.created`` / ``.finalized`` / ``.deleted``). A tracking store without logged
models answers FEATURE_DISABLED. Statuses travel as MLflow's enum names
(``LOGGED_MODEL_READY``) or their numbers.

A model's files are listed (``GET logged-models/<id>/artifacts/directories``) and read
(``GET logged-models/<id>/artifacts/files``, MLflow's UI route) where its ``artifact_uri``
points: under the artifact proxy's destination for a ``mlflow-artifacts:`` URI, else in the
repository of that URI. Paths are checked as the proxy checks them, before any I/O.
"""

from __future__ import annotations

import functools
import posixpath
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from starlette.requests import Request as HttpRequest
from starlette.responses import Response

from trackyard.backends import get_artifact_repository
from trackyard.entities.logged_model import LoggedModel, LoggedModelStatus
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.stores import ArtifactRepository
from trackyard_rest.server.artifacts import checked_path, stream_file
from trackyard_rest.server.backend import Backend, backend
from trackyard_rest.server.errors import missing
from trackyard_rest.server.schemas import KeyValue, Request, key_values
from trackyard_rest.server.wire import empty_response, json_response, metric_json, page, tags_json

__all__ = ["logged_model_json", "router"]

router = APIRouter(tags=["logged models"])

_STATUS_NAMES = {
    LoggedModelStatus.UNSPECIFIED: "LOGGED_MODEL_STATUS_UNSPECIFIED",
    LoggedModelStatus.PENDING: "LOGGED_MODEL_PENDING",
    LoggedModelStatus.READY: "LOGGED_MODEL_READY",
    LoggedModelStatus.FAILED: "LOGGED_MODEL_UPLOAD_FAILED",
}


class CreateModel(Request):
    experiment_id: str | None = None
    name: str | None = None
    model_type: str | None = None
    source_run_id: str | None = None
    params: list[KeyValue] | None = None
    tags: list[KeyValue] | None = None


class Finalize(Request):
    status: str | None = None


class Tags(Request):
    tags: list[KeyValue] | None = None


class Params(Request):
    params: list[KeyValue] | None = None


class DatasetRef(Request):
    dataset_name: str
    dataset_digest: str | None = None


class OrderBy(Request):
    field_name: str
    ascending: bool | None = True
    dataset_name: str | None = None
    dataset_digest: str | None = None


class Search(Request):
    experiment_ids: list[str] | None = None
    filter: str | None = None
    datasets: list[DatasetRef] | None = None
    max_results: int | None = None
    order_by: list[OrderBy] | None = None
    page_token: str | None = None


def logged_model_json(model: LoggedModel) -> dict[str, Any]:
    """A LoggedModel message: ``{info, data: {params, metrics}}``."""
    info: dict[str, Any] = {
        "model_id": model.model_id,
        "experiment_id": model.experiment_id,
        "name": model.name,
        "creation_timestamp_ms": model.creation_timestamp,
        "last_updated_timestamp_ms": model.last_updated_timestamp,
        "artifact_uri": model.artifact_location,
        "status": _STATUS_NAMES[model.status],
    }
    for key, value in (
        ("model_type", model.model_type),
        ("source_run_id", model.source_run_id),
        ("status_message", model.status_message),
    ):
        if value is not None:
            info[key] = value
    if model.tags:
        info["tags"] = tags_json(model.tags)
    data: dict[str, Any] = {}
    if model.params:
        data["params"] = tags_json(model.params)
    if model.metrics:
        data["metrics"] = [
            {**metric_json(m), **({"run_id": m.run_id} if m.run_id else {})} for m in model.metrics
        ]
    return {"info": info, "data": data}


def _status(value: str) -> LoggedModelStatus:
    text = value.strip()
    if text.lstrip("-").isdigit():
        return LoggedModelStatus.from_int(int(text))
    for status, name in _STATUS_NAMES.items():
        if text.upper() == name:
            return status
    return LoggedModelStatus.parse(text)


def _models(request: HttpRequest) -> Backend:
    b = backend(request)
    b.require("logged_models", "Logged models")
    return b


def _answer(model: LoggedModel) -> Response:
    return json_response({"model": logged_model_json(model)})


@router.post("/logged-models")
def create_logged_model(body: CreateModel, request: HttpRequest) -> Response:
    """Create a logged model (PENDING) → ``{model}``."""
    if not body.experiment_id:
        raise missing("experiment_id")
    model = _models(request).client.create_logged_model(
        body.experiment_id,
        name=body.name or None,
        source_run_id=body.source_run_id or None,
        tags=key_values(body.tags) or None,
        params=key_values(body.params) or None,
        model_type=body.model_type or None,
    )
    return _answer(model)


@router.post("/logged-models/search")
def search_logged_models(body: Search, request: HttpRequest) -> Response:
    """Search logged models → ``{models[], next_page_token}``."""
    if not body.experiment_ids:
        raise missing("experiment_ids")
    datasets = [
        {"dataset_name": d.dataset_name, "dataset_digest": d.dataset_digest or None}
        for d in body.datasets or ()
    ]
    order: list[dict[str, Any] | str] = [
        {
            "field_name": o.field_name,
            "ascending": True if o.ascending is None else o.ascending,
            "dataset_name": o.dataset_name or None,
            "dataset_digest": o.dataset_digest or None,
        }
        for o in body.order_by or ()
    ]
    found = _models(request).client.search_logged_models(
        body.experiment_ids,
        body.filter or None,
        datasets or None,
        body.max_results or None,
        order or None,
        body.page_token or None,
    )
    return json_response(page("models", map(logged_model_json, found), found.token))


@router.get("/logged-models/{model_id}")
def get_logged_model(model_id: str, request: HttpRequest, allow_deleted: str = "false") -> Response:
    """``{model}`` (``?allow_deleted=true`` also finds a deleted one)."""
    b = _models(request)
    if allow_deleted.lower() == "true":
        return _answer(b.tracking.get_logged_model(model_id, allow_deleted=True))
    return _answer(b.client.get_logged_model(model_id))


@router.patch("/logged-models/{model_id}")
def finalize_logged_model(model_id: str, body: Finalize, request: HttpRequest) -> Response:
    """Set the final status (READY or UPLOAD_FAILED) → ``{model}``."""
    if body.status is None:
        raise missing("status")
    try:
        status = _status(body.status)
    except TrackyardError:
        raise TrackyardError.invalid_parameter_value(
            f"Invalid logged model status {body.status!r}."
        ) from None
    return _answer(_models(request).client.finalize_logged_model(model_id, status))


@router.delete("/logged-models/{model_id}")
def delete_logged_model(model_id: str, request: HttpRequest) -> Response:
    """Delete a logged model → ``{}``."""
    _models(request).client.delete_logged_model(model_id)
    return empty_response()


@router.patch("/logged-models/{model_id}/tags")
def set_logged_model_tags(model_id: str, body: Tags, request: HttpRequest) -> Response:
    """Set tags (existing keys overwritten) → ``{}``."""
    _models(request).client.set_logged_model_tags(model_id, key_values(body.tags))
    return empty_response()


@router.delete("/logged-models/{model_id}/tags/{tag_key:path}")
def delete_logged_model_tag(model_id: str, tag_key: str, request: HttpRequest) -> Response:
    """Delete a tag → ``{}`` (404 when the model has no such tag)."""
    _models(request).client.delete_logged_model_tag(model_id, tag_key)
    return empty_response()


@router.post("/logged-models/{model_id}/params")
def log_logged_model_params(model_id: str, body: Params, request: HttpRequest) -> Response:
    """Log params (write-once) → ``{}``."""
    params = key_values(body.params)
    if params:
        _models(request).client.log_model_params(model_id, params)
    return empty_response()


# -- artifacts -------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _destination_repo(destination: str) -> ArtifactRepository:
    return get_artifact_repository(destination)


def _model_files(request: HttpRequest, model_id: str) -> tuple[ArtifactRepository, str, str]:
    """The repository holding a model's files, the model's root in it, and its artifact URI."""
    b = _models(request)
    location = b.client.get_logged_model(model_id).artifact_location
    parts = urlsplit(location)
    if parts.scheme == "mlflow-artifacts":
        if not b.config.serve_artifacts:
            raise TrackyardError(
                f"The artifacts of logged model {model_id!r} are at {location}, and this "
                "server does not serve artifacts (--no-serve-artifacts).",
                ErrorCode.INVALID_PARAMETER_VALUE,
            )
        root = checked_path(parts.path.strip("/"))
        return _destination_repo(b.config.destination), root, location
    return get_artifact_repository(location), "", location


@router.get("/logged-models/{model_id}/artifacts/directories")
def list_logged_model_artifacts(
    model_id: str, request: HttpRequest, artifact_directory_path: str | None = None
) -> Response:
    """The direct children of a directory of the model's files → ``{root_uri, files[]}``.

    Paths are relative to the model's artifact root, as MLflow's ``ListLoggedModelArtifacts``.
    """
    rel = checked_path(artifact_directory_path)
    repo, root, location = _model_files(request, model_id)
    infos = repo.list_artifacts(posixpath.join(root, rel) if root else rel or None)
    files = []
    for info in infos:
        entry: dict[str, Any] = {"path": posixpath.join(rel, posixpath.basename(info.path))}
        entry["is_dir"] = bool(info.is_dir)
        if not info.is_dir and info.file_size is not None:
            entry["file_size"] = int(info.file_size)
        files.append(entry)
    answer: dict[str, Any] = {"root_uri": location}
    if files:
        answer["files"] = files
    return json_response(answer)


@router.get("/logged-models/{model_id}/artifacts/files")
async def get_logged_model_artifact(
    model_id: str, request: HttpRequest, artifact_file_path: str | None = None
) -> Response:
    """One file of the model, streamed (``?artifact_file_path=<path>``, required)."""
    from starlette.concurrency import run_in_threadpool

    if not artifact_file_path:
        raise TrackyardError(
            'Request must include the "artifact_file_path" query parameter.',
            ErrorCode.BAD_REQUEST,
        )
    rel = checked_path(artifact_file_path, allow_empty=False)
    repo, root, _ = await run_in_threadpool(_model_files, request, model_id)
    return await stream_file(repo, posixpath.join(root, rel) if root else rel)
