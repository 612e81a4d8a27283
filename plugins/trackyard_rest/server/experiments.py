"""``/api/2.0/mlflow/experiments/...``: create, get, search, update, delete, restore, tags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from starlette.requests import Request as HttpRequest
from starlette.responses import Response

from trackyard import validation
from trackyard.entities import ExperimentTag
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search.request import ExperimentSearch
from trackyard_rest.server import idempotency
from trackyard_rest.server.backend import backend
from trackyard_rest.server.errors import missing, required
from trackyard_rest.server.schemas import KeyValue, Request, ViewTypeField, key_values, view_type
from trackyard_rest.server.wire import empty_response, experiment_json, json_response, page

__all__ = ["router"]

router = APIRouter(tags=["experiments"])


class CreateExperiment(Request):
    name: str | None = None
    artifact_location: str | None = None
    tags: list[KeyValue] | None = None


class SearchExperiments(Request):
    max_results: int | None = None
    page_token: str | None = None
    filter: str | None = None
    order_by: list[str] | None = None
    view_type: ViewTypeField = 1


class ExperimentId(Request):
    experiment_id: str | None = None


class UpdateExperiment(ExperimentId):
    new_name: str | None = None


class SetExperimentTag(ExperimentId):
    key: str | None = None
    value: str | None = None


def _experiment_id(value: str | None) -> str:
    if value is None:
        raise missing("experiment_id")
    return validation.validate_experiment_id(value)


@router.post("/experiments/create")
def create_experiment(
    body: CreateExperiment,
    request: HttpRequest,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    """Create an experiment → ``{experiment_id}``."""
    required(body.name, "name")
    b = backend(request)
    store = b.tracking
    name = validation.validate_experiment_name(body.name)
    location = validation.validate_experiment_artifact_location(body.artifact_location or None)
    tags = key_values(body.tags)
    key = idempotency.check_key(idempotency_key)
    if key is not None:
        tags[idempotency.TAG] = key
    exp_tags = [ExperimentTag(*validation.validate_experiment_tag(k, v)) for k, v in tags.items()]
    try:
        experiment_id = store.create_experiment(name, location, exp_tags)
        b.emit("experiment.created", experiment_id, name=name)
    except TrackyardError as exc:
        existing = (
            store.get_experiment_by_name(name)
            if key is not None and exc.error_code == ErrorCode.RESOURCE_ALREADY_EXISTS
            else None
        )
        if existing is None or existing.tags.get(idempotency.TAG) != key:
            raise
        experiment_id = existing.experiment_id
    return json_response({"experiment_id": experiment_id})


@router.get("/experiments/get")
def get_experiment(request: HttpRequest, experiment_id: str | None = None) -> Response:
    """``?experiment_id`` → ``{experiment}``."""
    exp = backend(request).tracking.get_experiment(_experiment_id(experiment_id))
    return json_response({"experiment": experiment_json(exp)})


@router.get("/experiments/get-by-name")
def get_experiment_by_name(request: HttpRequest, experiment_name: str | None = None) -> Response:
    """``?experiment_name`` → ``{experiment}``; 404 when there is none."""
    if experiment_name is None:
        raise missing("experiment_name")
    exp = backend(request).tracking.get_experiment_by_name(experiment_name)
    if exp is None:
        raise TrackyardError(
            f"Could not find experiment with name '{experiment_name}'",
            ErrorCode.RESOURCE_DOES_NOT_EXIST,
        )
    return json_response({"experiment": experiment_json(exp)})


def _search(request: HttpRequest, body: SearchExperiments) -> Response:
    search = ExperimentSearch.parse(
        body.view_type, body.max_results, body.filter, body.order_by, body.page_token
    )
    found = backend(request).tracking.search_experiments(search)
    return json_response(page("experiments", map(experiment_json, found), found.token))


@router.post("/experiments/search")
def search_experiments(body: SearchExperiments, request: HttpRequest) -> Response:
    """Search experiments → ``{experiments[], next_page_token}``."""
    return _search(request, body)


@router.get("/experiments/search", name="search_experiments_get")
def search_experiments_get(
    request: HttpRequest,
    max_results: int | None = None,
    page_token: str | None = None,
    filter: str | None = None,
    order_by: Annotated[list[str] | None, Query()] = None,
    view_type_: Annotated[str | None, Query(alias="view_type")] = None,
) -> Response:
    """The GET form of experiments/search (query parameters; ``order_by`` repeated)."""
    body = SearchExperiments(
        max_results=max_results,
        page_token=page_token,
        filter=filter,
        order_by=order_by,
        view_type=view_type(view_type_),
    )
    return _search(request, body)


@router.post("/experiments/delete")
def delete_experiment(body: ExperimentId, request: HttpRequest) -> Response:
    """Mark an experiment (and its runs) deleted → ``{}``."""
    experiment_id = _experiment_id(body.experiment_id)
    b = backend(request)
    b.tracking.delete_experiment(experiment_id)
    b.emit("experiment.deleted", experiment_id)
    return empty_response()


@router.post("/experiments/restore")
def restore_experiment(body: ExperimentId, request: HttpRequest) -> Response:
    """Restore a deleted experiment → ``{}``."""
    experiment_id = _experiment_id(body.experiment_id)
    b = backend(request)
    b.tracking.restore_experiment(experiment_id)
    b.emit("experiment.restored", experiment_id)
    return empty_response()


@router.post("/experiments/update")
def update_experiment(body: UpdateExperiment, request: HttpRequest) -> Response:
    """Rename an experiment (``new_name``) → ``{}``."""
    experiment_id = _experiment_id(body.experiment_id)
    if body.new_name is not None:
        new_name = validation.validate_experiment_name(body.new_name)
        b = backend(request)
        b.tracking.rename_experiment(experiment_id, new_name)
        b.emit("experiment.renamed", experiment_id, name=new_name)
    return empty_response()


@router.post("/experiments/set-experiment-tag")
def set_experiment_tag(body: SetExperimentTag, request: HttpRequest) -> Response:
    """Set an experiment tag → ``{}``."""
    experiment_id = _experiment_id(body.experiment_id)
    required(body.key, "key"), required(body.value, "value")
    k, v = validation.validate_experiment_tag(body.key, body.value)
    backend(request).tracking.set_experiment_tag(experiment_id, ExperimentTag(k, v))
    return empty_response()


@router.post("/experiments/delete-experiment-tag")
def delete_experiment_tag(body: SetExperimentTag, request: HttpRequest) -> Response:
    """Delete an experiment tag → ``{}``."""
    experiment_id = _experiment_id(body.experiment_id)
    required(body.key, "key")
    key = validation.validate_key(body.key, "experiment tag")
    backend(request).tracking.delete_experiment_tag(experiment_id, key)
    return empty_response()
