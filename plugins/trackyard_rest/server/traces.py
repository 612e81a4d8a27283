"""``/api/3.0/mlflow/traces...``: MLflow 3's trace endpoints, and ``server-info``.

- ``POST traces`` (StartTraceV3) records a finished trace's info; the answer carries the
  tag ``mlflow.trace.spansLocation = TRACKING_STORE``, which tells MLflow's client that the
  spans live in the store (it sends them to ``/v1/traces``, :mod:`.otlp`) rather than as an
  artifact.
- ``GET traces/<id>`` (info), ``GET traces/get`` (info and spans), ``GET traces/batchGet``,
  ``POST traces/batchGetInfos`` and ``POST traces/search`` read.

Tags and deletion are in :mod:`.trace_tags` (MLflow serves them under 2.0 and 3.0),
assessments in :mod:`.assessments`. A tracking store without traces answers
FEATURE_DISABLED. JSON is MLflow's (:mod:`trackyard_rest.trace_wire`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from starlette.requests import Request as HttpRequest
from starlette.responses import Response

import trackyard
from trackyard import validation
from trackyard.entities.trace import TraceTagKey
from trackyard.errors import TrackyardError
from trackyard.search.request import TraceSearch
from trackyard_rest.server.backend import Backend, backend
from trackyard_rest.server.errors import missing
from trackyard_rest.server.schemas import Request
from trackyard_rest.server.wire import json_response, page
from trackyard_rest.trace_wire import trace_info_from_json, trace_info_json, trace_json

__all__ = ["PREFIXES", "SPANS_IN_STORE", "router", "traces_backend"]

#: MLflow serves its trace API under 3.0 (and, for its UI, under ``/ajax-api/3.0``).
PREFIXES = ("/api/3.0/mlflow", "/ajax-api/3.0/mlflow")
#: The spans-location tag value saying "the spans are in the tracking store".
SPANS_IN_STORE = "TRACKING_STORE"
#: MLflow's default and largest page sizes of ``traces/search``.
DEFAULT_MAX_RESULTS = 100
MAX_RESULTS = 500

router = APIRouter(tags=["traces"])


class TraceBody(Request):
    trace_info: dict[str, Any] | None = None
    spans: list[dict[str, Any]] | None = None


class StartTrace(Request):
    trace: TraceBody | None = None


class Location(Request):
    type: str | None = None
    mlflow_experiment: dict[str, Any] | None = None


class Search(Request):
    locations: list[Location] | None = None
    experiment_ids: list[str] | None = None  # the 2.0 request's field, accepted too
    filter: str | None = None
    max_results: int | None = None
    order_by: list[str] | None = None
    page_token: str | None = None


class TraceIds(Request):
    trace_ids: list[str] | None = None
    experiment_ids: list[str] | None = None


def traces_backend(request: HttpRequest, capability: str = "traces") -> Backend:
    """The backend, FEATURE_DISABLED when its tracking store lacks ``capability``."""
    b = backend(request)
    b.require(capability, "Tracing" if capability == "traces" else capability.capitalize())
    return b


@router.get("/server-info")
def server_info(request: HttpRequest) -> Response:
    """How this server is set up (MLflow's keys, plus ``trackyard_version``)."""
    b = backend(request)
    caps = b.tracking.capabilities
    return json_response(
        {
            "store_type": None,
            "workspaces_enabled": False,
            "trace_archival_enabled": False,
            "multipart_uploads_enabled": False,
            "multipart_downloads_enabled": False,
            "presigned_upload_run_id_supported": False,
            "presigned_upload_model_id_supported": False,
            "features_enabled": {"gateway": False},
            "trackyard_version": trackyard.__version__,
            "trackyard_capabilities": caps.names(),
        }
    )


@router.post("/traces")
def start_trace(body: StartTrace, request: HttpRequest) -> Response:
    """StartTraceV3: record a trace's info → ``{trace: {trace_info}}``."""
    if body.trace is None or not body.trace.trace_info:
        raise missing("trace")
    b = traces_backend(request)
    try:
        info = trace_info_from_json(body.trace.trace_info)
    except (KeyError, TypeError, ValueError) as exc:
        raise TrackyardError.invalid_parameter_value(f"Invalid trace_info: {exc}") from None
    validation.validate_trace_id(info.trace_id)
    validation.validate_experiment_id(info.experiment_id)
    for key, value in info.tags.items():
        validation.validate_trace_tag(key, value)
    info.assessments = []
    info.tags.setdefault(TraceTagKey.SPANS_LOCATION, SPANS_IN_STORE)
    stored = b.tracking.start_trace(info)
    return json_response({"trace": {"trace_info": trace_info_json(stored)}})


@router.get("/traces/get")
def get_trace(
    request: HttpRequest, trace_id: str | None = None, allow_partial: str = "false"
) -> Response:
    """A trace with its spans → ``{trace: {trace_info, spans}}``."""
    if not trace_id:
        raise missing("trace_id")
    b = traces_backend(request)
    trace = b.tracking.get_trace(validation.validate_trace_id(trace_id))
    return json_response({"trace": trace_json(trace)})


@router.get("/traces/batchGet")
def batch_get_traces(
    request: HttpRequest,
    trace_ids: list[str] = Query(default=[]),
) -> Response:
    """Whole traces (absent ones skipped) → ``{traces}``."""
    b = traces_backend(request)
    ids = [validation.validate_trace_id(t) for t in trace_ids]
    found = b.tracking.batch_get_traces(ids) if ids else []
    return json_response(page("traces", map(trace_json, found), None))


@router.post("/traces/batchGetInfos")
def batch_get_trace_infos(body: TraceIds, request: HttpRequest) -> Response:
    """Trace infos without spans (absent ones skipped) → ``{trace_infos}``."""
    b = traces_backend(request)
    infos = []
    for trace_id in body.trace_ids or ():
        try:
            infos.append(b.tracking.get_trace_info(validation.validate_trace_id(trace_id)))
        except TrackyardError as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
    return json_response(page("trace_infos", map(trace_info_json, infos), None))


def _experiment_ids(body: Search) -> list[str]:
    ids = [
        str((loc.mlflow_experiment or {}).get("experiment_id", ""))
        for loc in body.locations or ()
        if (loc.type or "MLFLOW_EXPERIMENT") == "MLFLOW_EXPERIMENT"
    ]
    ids += body.experiment_ids or []
    if not ids:
        raise missing("locations")
    return [validation.validate_experiment_id(i) for i in ids]


@router.post("/traces/search")
def search_traces(body: Search, request: HttpRequest) -> Response:
    """Search trace infos → ``{traces, next_page_token}``."""
    b = traces_backend(request)
    size = DEFAULT_MAX_RESULTS if body.max_results is None else body.max_results
    if size > MAX_RESULTS:
        raise TrackyardError.invalid_parameter_value(
            f"Invalid value {size} for parameter 'max_results': at most {MAX_RESULTS}."
        )
    search = TraceSearch.parse(
        _experiment_ids(body),
        body.filter or None,
        size,
        body.order_by or None,
        body.page_token or None,
    )
    found = b.tracking.search_traces(search)
    return json_response(page("traces", map(trace_info_json, found), found.token))


@router.get("/traces/{trace_id}")
def get_trace_info(trace_id: str, request: HttpRequest) -> Response:
    """A trace's info and assessments → ``{trace: {trace_info}}``."""
    b = traces_backend(request)
    info = b.tracking.get_trace_info(validation.validate_trace_id(trace_id))
    return json_response({"trace": {"trace_info": trace_info_json(info)}})
