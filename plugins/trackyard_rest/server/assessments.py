"""``/api/3.0/mlflow/traces/<trace_id>/assessments[/<assessment_id>]``: feedback and expectations.

Requests go through the client's assessment methods, which check names, values and ids and
give new assessments their ids and times. ``PATCH`` applies the fields its ``update_mask``
names (MLflow's FieldMask JSON: ``"assessmentName,feedback"``); without a mask, every field
the request carries. A tracking store without assessments answers FEATURE_DISABLED.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request as HttpRequest
from starlette.responses import Response

from trackyard.errors import TrackyardError
from trackyard_rest.server.backend import Backend
from trackyard_rest.server.errors import missing
from trackyard_rest.server.schemas import Request
from trackyard_rest.server.traces import PREFIXES, traces_backend
from trackyard_rest.server.wire import empty_response, json_response
from trackyard_rest.trace_wire import assessment_from_json, assessment_json

__all__ = ["PREFIXES", "router"]

router = APIRouter(tags=["assessments"])


class AssessmentBody(Request):
    assessment: dict[str, Any] | None = None
    update_mask: str | dict[str, Any] | list[str] | None = None


def _assessments(request: HttpRequest) -> Backend:
    return traces_backend(request, "assessments")


def _answer(assessment: Any) -> Response:
    return json_response({"assessment": assessment_json(assessment)})


@router.post("/traces/{trace_id}/assessments")
def create_assessment(trace_id: str, body: AssessmentBody, request: HttpRequest) -> Response:
    """Log a feedback or an expectation on the trace → ``{assessment}``."""
    if not body.assessment:
        raise missing("assessment")
    fields = {**body.assessment, "trace_id": trace_id}
    fields.pop("assessment_id", None)
    for stamp in ("create_time", "last_update_time"):
        fields.pop(stamp, None)  # the store stamps what it writes
    try:
        new = assessment_from_json(fields)
    except (KeyError, TypeError, ValueError) as exc:
        raise TrackyardError.invalid_parameter_value(f"Invalid assessment: {exc}") from None
    return _answer(_assessments(request).client.log_assessment(new))


@router.get("/traces/{trace_id}/assessments/{assessment_id}")
def get_assessment(trace_id: str, assessment_id: str, request: HttpRequest) -> Response:
    """One assessment → ``{assessment}``."""
    return _answer(_assessments(request).client.get_assessment(trace_id, assessment_id))


_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


def _mask(raw: str | dict[str, Any] | list[str] | None) -> set[str] | None:
    """The field names of a FieldMask in JSON (``"a,bC"`` or ``{"paths": [...]}``)."""
    if raw is None or raw == "":
        return None
    paths: list[str]
    if isinstance(raw, str):
        paths = raw.split(",")
    elif isinstance(raw, dict):
        paths = list(raw.get("paths") or ())
    else:
        paths = list(raw)
    return {_SNAKE.sub("_", p.strip()).lower() for p in paths if p.strip()}


@router.patch("/traces/{trace_id}/assessments/{assessment_id}")
def update_assessment(
    trace_id: str, assessment_id: str, body: AssessmentBody, request: HttpRequest
) -> Response:
    """Change the name, value, rationale or metadata the mask names → ``{assessment}``."""
    if body.assessment is None:
        raise missing("assessment")
    sent = body.assessment
    mask = _mask(body.update_mask)
    fields = mask if mask is not None else set(sent)
    changes: dict[str, Any] = {}
    given = assessment_from_json({"assessment_name": "x", **sent})
    if "assessment_name" in fields:
        changes["name"] = sent.get("assessment_name")
    if "feedback" in fields or "expectation" in fields:
        changes["value"] = given.value
        if "feedback" in fields:
            changes["error"] = given.error
    if "rationale" in fields:
        changes["rationale"] = sent.get("rationale")
    if "metadata" in fields:
        changes["metadata"] = {str(k): str(v) for k, v in (sent.get("metadata") or {}).items()}
    client = _assessments(request).client
    return _answer(client.update_assessment(trace_id, assessment_id, **changes))


@router.delete("/traces/{trace_id}/assessments/{assessment_id}")
def delete_assessment(trace_id: str, assessment_id: str, request: HttpRequest) -> Response:
    """Delete an assessment (one it overrode becomes valid again) → ``{}``."""
    _assessments(request).client.delete_assessment(trace_id, assessment_id)
    return empty_response()
