"""Trace tags and trace deletion, served under ``/api/2.0/mlflow`` and ``/api/3.0/mlflow``.

MLflow's client sets and deletes trace tags through the 2.0 paths
(``PATCH``/``DELETE traces/<id>/tags``) and deletes traces through
``POST traces/delete-traces``; its server answers both under 3.0 as well. Requests go
through the client's methods, which check ids and keys and cut long tag values as MLflow
does.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request as HttpRequest
from starlette.responses import Response

from trackyard_rest.server.errors import missing
from trackyard_rest.server.schemas import Request
from trackyard_rest.server.traces import traces_backend
from trackyard_rest.server.wire import empty_response, json_response

__all__ = ["PREFIXES", "router"]

PREFIXES = (
    "/api/2.0/mlflow",
    "/api/3.0/mlflow",
    "/ajax-api/2.0/mlflow",
    "/ajax-api/3.0/mlflow",
)

router = APIRouter(tags=["traces"])


class SetTag(Request):
    key: str | None = None
    value: str | None = None


class DeleteTag(Request):
    key: str | None = None


class DeleteTraces(Request):
    experiment_id: str | None = None
    max_timestamp_millis: int | None = None
    max_traces: int | None = None
    request_ids: list[str] | None = None
    trace_ids: list[str] | None = None


@router.patch("/traces/{trace_id}/tags")
def set_trace_tag(trace_id: str, body: SetTag, request: HttpRequest) -> Response:
    """Set (or overwrite) a trace tag → ``{}``."""
    if body.key is None:
        raise missing("key")
    traces_backend(request).client.set_trace_tag(trace_id, body.key, body.value or "")
    return empty_response()


@router.delete("/traces/{trace_id}/tags")
def delete_trace_tag(trace_id: str, body: DeleteTag, request: HttpRequest) -> Response:
    """Delete a trace tag → ``{}`` (RESOURCE_DOES_NOT_EXIST when the trace has no such tag)."""
    if body.key is None:
        raise missing("key")
    traces_backend(request).client.delete_trace_tag(trace_id, body.key)
    return empty_response()


@router.post("/traces/delete-traces")
def delete_traces(body: DeleteTraces, request: HttpRequest) -> Response:
    """Delete traces by ids or by age → ``{traces_deleted}``."""
    if not body.experiment_id:
        raise missing("experiment_id")
    ids = body.request_ids or body.trace_ids
    deleted = traces_backend(request).client.delete_traces(
        body.experiment_id,
        max_timestamp_millis=body.max_timestamp_millis,
        max_traces=body.max_traces,
        trace_ids=ids if ids else None,
    )
    return json_response({"traces_deleted": deleted})
