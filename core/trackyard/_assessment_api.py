"""MLflow 3.17.2's module functions for assessments: ``trackyard.log_feedback`` and friends.

They use a client for the current tracking URI (:func:`trackyard.get_tracking_uri`).
"""

from __future__ import annotations

from typing import Any

from trackyard.entities.trace_assessment import (
    Assessment,
    AssessmentError,
    AssessmentSource,
    Expectation,
    Feedback,
)

__all__ = ["log_expectation", "log_feedback", "override_feedback"]


def _client() -> Any:
    from trackyard.client import MlflowClient

    return MlflowClient()


def log_feedback(
    *,
    trace_id: str,
    name: str = "feedback",
    value: Any = None,
    source: AssessmentSource | None = None,
    error: BaseException | AssessmentError | None = None,
    rationale: str | None = None,
    metadata: dict[str, Any] | None = None,
    span_id: str | None = None,
) -> Assessment:
    """Log a feedback (a value, or the error that prevented one) on a trace; return it."""
    fb = Feedback(name, value, error, source, trace_id, metadata, span_id, rationale=rationale)
    return _client().log_assessment(fb)  # type: ignore[no-any-return]


def log_expectation(
    *,
    trace_id: str,
    name: str,
    value: Any,
    source: AssessmentSource | None = None,
    metadata: dict[str, Any] | None = None,
    span_id: str | None = None,
) -> Assessment:
    """Log an expectation (ground truth) on a trace; return it."""
    exp = Expectation(name, value, source, trace_id, metadata, span_id)
    return _client().log_assessment(exp)  # type: ignore[no-any-return]


def override_feedback(
    *,
    trace_id: str,
    assessment_id: str,
    value: Any,
    rationale: str | None = None,
    source: AssessmentSource | None = None,
    metadata: dict[str, Any] | None = None,
) -> Assessment:
    """Log a feedback that replaces ``assessment_id`` (which becomes ``valid=False``)."""
    client = _client()
    old = client.get_assessment(trace_id, assessment_id)
    fb = Feedback(
        old.name,
        value,
        source=source,
        trace_id=trace_id,
        metadata=metadata,
        span_id=old.span_id,
        rationale=rationale,
        overrides=assessment_id,
    )
    return client.log_assessment(fb)  # type: ignore[no-any-return]
