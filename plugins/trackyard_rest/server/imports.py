"""``/api/2.0/trackyard/...``: trackyard's own extension for lossless copies into a server.

MLflow's REST API cannot write a run with its own id, times and status, so
``trackyard copy``/``sync`` into a server go through these routes, one per method of the import
contract (:class:`trackyard.stores.TrackingStore`'s ``import_*`` methods and the registry's).
Bodies are MLflow-style JSON (entities as MLflow's messages, NaN as ``"NaN"``); answers are
``{}`` or MLflow-style JSON, errors ``{"error_code", "message"}``.

``GET capabilities`` says whether the server offers imports: it does when its backing stores
declare ``Capabilities(imports=True)``; otherwise the import routes answer 501
FEATURE_DISABLED. It also gives the body limit, so a client splits long metric lists.

A request is decoded in full before the store is called, and the store's import writes all
or nothing, so a refused request writes nothing. Imports fire no plugin events (they copy
history rather than make it). Under ``--auth basic`` every route here but ``capabilities``
is for admins only (a copy writes as any user, at any time).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter
from starlette.requests import Request as HttpRequest
from starlette.responses import Response

import trackyard
from trackyard import validation
from trackyard.entities import Param, RunData, RunTag
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.stores import RegistryStore, TrackingStore
from trackyard_rest.client import convert
from trackyard_rest.server.backend import Backend, backend
from trackyard_rest.server.schemas import KeyValue, Request
from trackyard_rest.server.wire import empty_response, json_response, metric_json

__all__ = ["IMPORT_ROUTES", "PREFIXES", "router"]

#: Mounted once, outside MLflow's API (the UI's ``/ajax-api`` has no use for it).
PREFIXES = ("/api/2.0/trackyard",)

#: The import routes (method, path under :data:`PREFIXES`), for the access rules.
IMPORT_ROUTES = (
    ("POST", "/imports/experiment"),
    ("GET", "/imports/new-experiment-id"),
    ("POST", "/imports/run"),
    ("POST", "/imports/run-data"),
    ("POST", "/imports/run-info"),
    ("POST", "/imports/metric-points"),
    ("POST", "/imports/logged-model"),
    ("POST", "/imports/assessment"),
    ("POST", "/imports/registered-model"),
    ("POST", "/imports/model-version"),
)

router = APIRouter(tags=["trackyard imports"])

T = TypeVar("T")


def _registry(b: Backend) -> RegistryStore | None:
    try:
        return b.registry
    except TrackyardError:
        return None  # a tracking-only store


def _offers_imports(b: Backend) -> tuple[bool, bool]:
    registry = _registry(b)
    return (
        bool(b.tracking.capabilities.imports),
        registry is not None and bool(registry.capabilities.imports),
    )


def _tracking(request: HttpRequest) -> TrackingStore:
    """The tracking store, or FEATURE_DISABLED when it cannot import."""
    store = backend(request).tracking
    if not store.capabilities.imports:
        raise _disabled(type(store).__name__)
    return store


def _registry_store(request: HttpRequest) -> RegistryStore:
    """The registry store, or FEATURE_DISABLED when it cannot import."""
    store = _registry(backend(request))
    if store is None or not store.capabilities.imports:
        raise _disabled(type(store).__name__ if store is not None else "no registry store")
    return store


def _disabled(what: str) -> TrackyardError:
    return TrackyardError(
        f"This server's store ({what}) cannot write entities as they are (ids and times "
        "kept), so it offers no imports.",
        ErrorCode.FEATURE_DISABLED,
    )


def _decode(what: str, decode: Callable[[], T]) -> T:
    """``decode()``, with a malformed entity answered as INVALID_PARAMETER_VALUE."""
    try:
        return decode()
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TrackyardError.invalid_parameter_value(
            f"Malformed {what} in the import request: {type(exc).__name__}: {exc}"
        ) from None


def _write(
    store_import: Callable[[T], None],
    what: str,
    decode: Callable[[dict[str, Any]], T],
    raw: dict[str, Any],
) -> Response:
    """Decode one entity (all of it, before anything is written) and import it → ``{}``."""
    store_import(_decode(what, lambda: decode(raw)))
    return empty_response()


class ImportExperiment(Request):
    experiment: dict[str, Any]


class ImportRun(Request):
    run: dict[str, Any]
    metrics: list[dict[str, Any]] | None = None


class ImportRunData(Request):
    run_id: str
    metrics: list[dict[str, Any]] | None = None
    params: list[KeyValue] | None = None
    tags: list[KeyValue] | None = None


class ImportRunInfo(Request):
    run_info: dict[str, Any]


class MetricPoints(Request):
    run_id: str
    keys: list[str] | None = None


class ImportLoggedModel(Request):
    model: dict[str, Any]


class ImportAssessment(Request):
    assessment: dict[str, Any]


class ImportRegisteredModel(Request):
    registered_model: dict[str, Any]


class ImportModelVersion(Request):
    model_version: dict[str, Any]


def _points(items: list[dict[str, Any]] | None, run_id: str) -> list[Any]:
    return _decode("metrics", lambda: [convert.metric(m, run_id) for m in items or ()])


@router.get("/capabilities")
def capabilities(request: HttpRequest) -> Response:
    """What this server offers beyond MLflow's API → ``{trackyard_version, imports, ...}``."""
    b = backend(request)
    tracking, registry = _offers_imports(b)
    return json_response(
        {
            "trackyard_version": trackyard.__version__,
            "imports": {"tracking": tracking, "registry": registry},
            "artifact_root": b.tracking.artifact_uri,
            "max_body_bytes": b.config.max_body_bytes,
        }
    )


@router.post("/imports/experiment")
def import_experiment(body: ImportExperiment, request: HttpRequest) -> Response:
    """Write an experiment as it is (``import_experiment``) → ``{}``."""
    store = _tracking(request)
    return _write(store.import_experiment, "experiment", convert.experiment, body.experiment)


@router.get("/imports/new-experiment-id")
def new_experiment_id(request: HttpRequest) -> Response:
    """An unused experiment id (``new_experiment_id``) → ``{experiment_id}``."""
    return json_response({"experiment_id": _tracking(request).new_experiment_id()})


@router.post("/imports/run")
def import_run(body: ImportRun, request: HttpRequest) -> Response:
    """Write a run as it is with every point of ``metrics`` (``import_run``) → ``{}``."""
    store = _tracking(request)
    run = _decode("run", lambda: convert.run(body.run))
    validation.validate_run_id(run.info.run_id)
    store.import_run(run, _points(body.metrics, run.info.run_id))
    return empty_response()


@router.post("/imports/run-data")
def import_run_data(body: ImportRunData, request: HttpRequest) -> Response:
    """Add points, params and tags to a run in any stage (``import_run_data``) → ``{}``."""
    store = _tracking(request)
    run_id = validation.validate_run_id(body.run_id)
    points = _points(body.metrics, run_id)
    data = RunData(
        params=[Param(p.key, p.value or "") for p in body.params or ()],
        tags=[RunTag(t.key, t.value or "") for t in body.tags or ()],
    )
    store.import_run_data(run_id, points, data)
    return empty_response()


@router.post("/imports/run-info")
def import_run_info(body: ImportRunInfo, request: HttpRequest) -> Response:
    """Set a run's status, end time, name and stage (``import_run_info``) → ``{}``."""
    store = _tracking(request)
    info = _decode("run_info", lambda: convert.run_info(body.run_info))
    validation.validate_run_id(info.run_id)
    store.import_run_info(info)
    return empty_response()


@router.post("/imports/metric-points")
def metric_points(body: MetricPoints, request: HttpRequest) -> Response:
    """Every point of a run's metrics ``keys`` (``read_metric_points``) → ``{metrics}``."""
    store = _tracking(request)
    run_id = validation.validate_run_id(body.run_id)
    points = store.read_metric_points(run_id, list(body.keys or ()))
    return json_response({"metrics": [metric_json(m) for m in points]})


@router.post("/imports/logged-model")
def import_logged_model(body: ImportLoggedModel, request: HttpRequest) -> Response:
    """Write a logged model as it is, with its points (``import_logged_model``) → ``{}``."""
    from trackyard_rest.client.logged_models import logged_model

    store = _tracking(request)
    return _write(store.import_logged_model, "model", logged_model, body.model)


@router.post("/imports/assessment")
def import_assessment(body: ImportAssessment, request: HttpRequest) -> Response:
    """Write an assessment as it is (``import_assessment``) → ``{}``."""
    from trackyard.entities.trace_assessment import Assessment

    store = _tracking(request)
    return _write(
        store.import_assessment, "assessment", Assessment.from_dictionary, body.assessment
    )


@router.post("/imports/registered-model")
def import_registered_model(body: ImportRegisteredModel, request: HttpRequest) -> Response:
    """Write a registered model or prompt as it is (``import_registered_model``) → ``{}``."""
    store = _registry_store(request)
    return _write(
        store.import_registered_model,
        "registered_model",
        convert.registered_model,
        body.registered_model,
    )


@router.post("/imports/model-version")
def import_model_version(body: ImportModelVersion, request: HttpRequest) -> Response:
    """Write a model version as it is (``import_model_version``) → ``{}``."""
    store = _registry_store(request)
    raw = body.model_version
    version = _decode("model_version", lambda: convert.model_version(raw))
    location = raw.get("storage_location")  # not in MLflow's message: trackyard's field
    if location is not None:
        version = dataclasses.replace(version, storage_location=str(location))
    store.import_model_version(version)
    return empty_response()
