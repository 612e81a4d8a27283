"""Checking assessments before a store sees them, for the client and the module functions."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from trackyard import validation
from trackyard.entities.trace_assessment import (
    EXPECTATION,
    FEEDBACK,
    Assessment,
    AssessmentError,
    AssessmentSource,
)
from trackyard.errors import TrackyardError

__all__ = ["apply_changes", "ids", "prepare_new"]

MAX_NAME_LENGTH = 250  # the assessments.name column
_ID_PREFIX = "a-"


def _bad(message: str) -> TrackyardError:
    return TrackyardError.invalid_parameter_value(message)


def validate_assessment_id(assessment_id: object) -> str:
    """Check an assessment id (``a-`` + hex) and return it."""
    if (
        not isinstance(assessment_id, str)
        or not assessment_id.startswith(_ID_PREFIX)
        or not 2 < len(assessment_id) <= 50
        or not assessment_id[2:].isalnum()
    ):
        raise _bad(f"Invalid assessment id: {assessment_id!r}. Assessment ids look like 'a-<hex>'.")
    return assessment_id


def ids(first: str, second: str | None) -> tuple[str | None, str]:
    """``(trace_id, assessment_id)`` from ``(assessment_id,)`` or ``(trace_id, assessment_id)``."""
    if second is None:
        return None, validate_assessment_id(first)
    return validation.validate_trace_id(first), validate_assessment_id(second)


def _check_value(value: Any, kind: str) -> Any:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise _bad(f"An assessment's {kind} value must be JSON data, got {value!r:.200}") from None
    return value


def _check(a: Assessment) -> Assessment:
    if not isinstance(a, Assessment):
        raise _bad(f"Expected an Assessment (Feedback or Expectation), got {a!r:.200}")
    if not isinstance(a.name, str) or not a.name or len(a.name) > MAX_NAME_LENGTH:
        raise _bad(f"An assessment name must be 1 to {MAX_NAME_LENGTH} characters: {a.name!r}")
    if a.kind not in (FEEDBACK, EXPECTATION):
        raise _bad(f"Unknown assessment kind {a.kind!r}")
    if not isinstance(a.source, AssessmentSource):
        raise _bad(f"An assessment source must be an AssessmentSource, got {a.source!r}")
    if a.kind == EXPECTATION:
        if a.value is None:
            raise _bad("An expectation needs a value.")
        if a.error is not None or a.rationale is not None:
            raise _bad("An expectation has no error and no rationale.")
    elif a.value is None and a.error is None:
        raise _bad("A feedback needs a value or an error.")
    _check_value(a.value, a.kind)
    if a.error is not None and not isinstance(a.error, AssessmentError):
        raise _bad(f"An assessment error must be an AssessmentError, got {a.error!r}")
    if a.rationale is not None and not isinstance(a.rationale, str):
        raise _bad(f"A rationale must be a string, got {a.rationale!r}")
    if a.metadata is not None:
        if not isinstance(a.metadata, Mapping):
            raise _bad(f"Assessment metadata must be a dict, got {a.metadata!r}")
        a.metadata = {str(k): str(v) for k, v in a.metadata.items()}
    if a.span_id is not None:
        validation.validate_span_id(a.span_id)
    if a.overrides is not None:
        validate_assessment_id(a.overrides)
    return a


def prepare_new(
    assessment: Assessment,
    trace_id: str | None,
    run_id: str | None,
    timestamp_ms: int | None,
) -> Assessment:
    """A checked copy of ``assessment`` ready for ``store.create_assessment``."""
    if not isinstance(assessment, Assessment):
        raise _bad(f"Expected an Assessment (Feedback or Expectation), got {assessment!r:.200}")
    a = dataclasses.replace(assessment, metadata=dict(assessment.metadata or {}) or None)
    tid = trace_id if trace_id is not None else a.trace_id
    if tid is None:
        raise _bad("An assessment needs the id of the trace it assesses.")
    a.trace_id = validation.validate_trace_id(tid)
    if run_id is not None:
        a.run_id = validation.validate_run_id(run_id)
    if timestamp_ms is not None:
        a.create_time_ms = a.last_update_time_ms = validation.validate_timestamp(timestamp_ms)
    a.assessment_id = None
    a.valid = True
    return _check(a)


_CHANGEABLE = {"name", "value", "rationale", "metadata", "error", "source", "span_id"}


def apply_changes(
    current: Assessment, replacement: Assessment | None, changes: Mapping[str, Any]
) -> Assessment:
    """``current`` with ``replacement``'s fields or the keyword ``changes`` applied, checked."""
    if replacement is not None and changes:
        raise _bad("Give either an assessment or keyword changes, not both.")
    if replacement is not None:
        if not isinstance(replacement, Assessment):
            raise _bad(f"Expected an Assessment, got {replacement!r:.200}")
        if replacement.kind != current.kind:
            raise _bad(f"Cannot turn a {current.kind} into a {replacement.kind}.")
        changes = {
            "name": replacement.name,
            "value": replacement.value,
            "rationale": replacement.rationale,
            "metadata": replacement.metadata,
            "error": replacement.error,
        }
    unknown = set(changes) - _CHANGEABLE - {"feedback", "expectation"}
    if unknown:
        raise _bad(f"Cannot update assessment fields {sorted(unknown)}")
    fields = dict(changes)
    for alias in ("feedback", "expectation"):
        if alias in fields:
            fields["value"] = fields.pop(alias)
    updated = dataclasses.replace(current, **fields)
    if updated.metadata is not None:
        updated.metadata = {**(current.metadata or {}), **dict(updated.metadata)}
    return _check(updated)
