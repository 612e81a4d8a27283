"""Assessments of traces: feedback (a judgement) and expectations (ground truth), as MLflow 3.

An assessment belongs to a trace (and optionally one span), has a name, a source (who made
it), and either a feedback value (or the error that prevented one) or an expectation value.
Overriding a feedback logs a new one whose ``overrides`` names the old one; the old one
becomes ``valid=False``. Ids are ``"a-"`` + 32 hex.
"""

from __future__ import annotations

import json
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trackyard.errors import ErrorCode, TrackyardError

__all__ = [
    "Assessment",
    "AssessmentError",
    "AssessmentSource",
    "AssessmentSourceType",
    "Expectation",
    "Feedback",
    "new_assessment_id",
]

FEEDBACK = "feedback"
EXPECTATION = "expectation"


def new_assessment_id() -> str:
    """A fresh assessment id: ``"a-"`` + 32 hex."""
    return f"a-{uuid.uuid4().hex}"


class AssessmentSourceType:
    """Who made an assessment."""

    HUMAN = "HUMAN"
    LLM_JUDGE = "LLM_JUDGE"
    CODE = "CODE"
    SOURCE_TYPE_UNSPECIFIED = "SOURCE_TYPE_UNSPECIFIED"

    ALL = (HUMAN, LLM_JUDGE, CODE, SOURCE_TYPE_UNSPECIFIED)


@dataclass(frozen=True)
class AssessmentSource:
    """An assessment's source: a type (HUMAN, LLM_JUDGE, CODE) and an id (a user, a model)."""

    source_type: str = AssessmentSourceType.CODE
    source_id: str | None = "default"

    def __post_init__(self) -> None:
        kind = str(self.source_type).upper()
        if kind == "AI_JUDGE":  # MLflow's deprecated name
            kind = AssessmentSourceType.LLM_JUDGE
        if kind not in AssessmentSourceType.ALL:
            raise TrackyardError(
                f"Invalid assessment source type {self.source_type!r}: use one of "
                f"{', '.join(AssessmentSourceType.ALL)}",
                ErrorCode.INVALID_PARAMETER_VALUE,
            )
        object.__setattr__(self, "source_type", kind)

    def to_dictionary(self) -> dict[str, Any]:
        return {"source_type": self.source_type, "source_id": self.source_id}

    @classmethod
    def from_dictionary(cls, d: Mapping[str, Any]) -> AssessmentSource:
        return cls(d.get("source_type") or "SOURCE_TYPE_UNSPECIFIED", d.get("source_id"))


@dataclass(frozen=True)
class AssessmentError:
    """Why a feedback has no value."""

    error_code: str
    error_message: str | None = None
    stack_trace: str | None = None

    @classmethod
    def from_exception(cls, exc: BaseException) -> AssessmentError:
        return cls(
            type(exc).__name__,
            str(exc),
            "".join(traceback.format_exception(exc)),
        )

    def to_dictionary(self) -> dict[str, Any]:
        d: dict[str, Any] = {"error_code": self.error_code}
        if self.error_message is not None:
            d["error_message"] = self.error_message
        if self.stack_trace is not None:
            d["stack_trace"] = self.stack_trace
        return d

    @classmethod
    def from_dictionary(cls, d: Mapping[str, Any]) -> AssessmentError:
        return cls(str(d.get("error_code") or ""), d.get("error_message"), d.get("stack_trace"))


def _iso(ms: int) -> str:
    from trackyard.entities.trace import _iso_ms

    return _iso_ms(ms)


def _ms(value: Any) -> int | None:
    from trackyard.entities.trace import _parse_iso_ms

    return None if value is None else _parse_iso_ms(value)


@dataclass
class Assessment:
    """A feedback or an expectation on a trace.

    Attributes:
        name: what is assessed (``"relevance"``, ``"expected_answer"``).
        source: who assessed.
        trace_id: the trace; span_id optionally narrows it to one span.
        kind: ``"feedback"`` or ``"expectation"``.
        value: the feedback or expected value (any JSON value).
        error: for feedback that failed, why.
        rationale: why (feedback only).
        metadata: string key-values.
        overrides: the id of the assessment this one replaces.
        valid: False once another assessment overrides this one.
        create_time_ms / last_update_time_ms: epoch milliseconds.
        assessment_id: ``a-`` + 32 hex, given when logged.
        run_id: the run the assessment was logged from, if any.
    """

    name: str
    source: AssessmentSource = field(default_factory=AssessmentSource)
    trace_id: str | None = None
    kind: str = FEEDBACK
    value: Any = None
    error: AssessmentError | None = None
    rationale: str | None = None
    metadata: dict[str, str] | None = None
    span_id: str | None = None
    overrides: str | None = None
    valid: bool = True
    create_time_ms: int | None = None
    last_update_time_ms: int | None = None
    assessment_id: str | None = None
    run_id: str | None = None

    @property
    def feedback(self) -> Any:
        """The feedback value (None for an expectation)."""
        return self.value if self.kind == FEEDBACK else None

    @property
    def expectation(self) -> Any:
        """The expected value (None for a feedback)."""
        return self.value if self.kind == EXPECTATION else None

    def to_dictionary(self) -> dict[str, Any]:
        """MLflow's JSON form of an assessment."""
        d: dict[str, Any] = {
            "assessment_id": self.assessment_id,
            "assessment_name": self.name,
            "trace_id": self.trace_id,
        }
        if self.span_id:
            d["span_id"] = self.span_id
        d["source"] = self.source.to_dictionary()
        if self.create_time_ms is not None:
            d["create_time"] = _iso(self.create_time_ms)
        if self.last_update_time_ms is not None:
            d["last_update_time"] = _iso(self.last_update_time_ms)
        if self.kind == FEEDBACK:
            fb: dict[str, Any] = {"value": self.value}
            if self.error is not None:
                fb["error"] = self.error.to_dictionary()
            d["feedback"] = fb
        elif isinstance(self.value, (str, int, float, bool)) or self.value is None:
            d["expectation"] = {"value": self.value}
        else:
            d["expectation"] = {
                "serialized_value": {
                    "serialization_format": "JSON_FORMAT",
                    "value": json.dumps(self.value),
                }
            }
        if self.rationale is not None:
            d["rationale"] = self.rationale
        if self.metadata:
            d["metadata"] = dict(self.metadata)
        if self.overrides:
            d["overrides"] = self.overrides
        if self.run_id:
            d["run_id"] = self.run_id
        d["valid"] = self.valid
        return d

    @classmethod
    def from_dictionary(cls, d: Mapping[str, Any]) -> Assessment:
        """Read :meth:`to_dictionary`'s form."""
        error = None
        if "expectation" in d:
            kind = EXPECTATION
            exp = d["expectation"] or {}
            if "serialized_value" in exp:
                value = json.loads(exp["serialized_value"].get("value") or "null")
            else:
                value = exp.get("value")
        else:
            kind = FEEDBACK
            fb = d.get("feedback") or {}
            value = fb.get("value")
            if fb.get("error"):
                error = AssessmentError.from_dictionary(fb["error"])
        valid = d.get("valid")
        return cls(
            name=str(d.get("assessment_name") or d.get("name") or ""),
            source=AssessmentSource.from_dictionary(d.get("source") or {}),
            trace_id=d.get("trace_id"),
            kind=kind,
            value=value,
            error=error,
            rationale=d.get("rationale"),
            metadata={str(k): str(v) for k, v in (d.get("metadata") or {}).items()} or None,
            span_id=d.get("span_id"),
            overrides=d.get("overrides"),
            valid=True if valid is None else bool(valid),
            create_time_ms=_ms(d.get("create_time")),
            last_update_time_ms=_ms(d.get("last_update_time")),
            assessment_id=d.get("assessment_id"),
            run_id=d.get("run_id"),
        )


def Feedback(
    name: str = "feedback",
    value: Any = None,
    error: BaseException | AssessmentError | str | None = None,
    source: AssessmentSource | None = None,
    trace_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    span_id: str | None = None,
    create_time_ms: int | None = None,
    last_update_time_ms: int | None = None,
    rationale: str | None = None,
    overrides: str | None = None,
    valid: bool = True,
) -> Assessment:
    """A feedback assessment, with MLflow's ``Feedback`` arguments."""
    if isinstance(error, BaseException):
        error = AssessmentError.from_exception(error)
    elif isinstance(error, str):
        error = AssessmentError(error)
    return Assessment(
        name=name,
        source=source or AssessmentSource(),
        trace_id=trace_id,
        kind=FEEDBACK,
        value=value,
        error=error,
        rationale=rationale,
        metadata={k: str(v) for k, v in metadata.items()} if metadata else None,
        span_id=span_id,
        overrides=overrides,
        valid=valid,
        create_time_ms=create_time_ms,
        last_update_time_ms=last_update_time_ms,
    )


def Expectation(
    name: str,
    value: Any,
    source: AssessmentSource | None = None,
    trace_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    span_id: str | None = None,
    create_time_ms: int | None = None,
    last_update_time_ms: int | None = None,
) -> Assessment:
    """An expectation assessment (ground truth), with MLflow's ``Expectation`` arguments."""
    return Assessment(
        name=name,
        source=source or AssessmentSource(AssessmentSourceType.HUMAN),
        trace_id=trace_id,
        kind=EXPECTATION,
        value=value,
        metadata={k: str(v) for k, v in metadata.items()} if metadata else None,
        span_id=span_id,
        create_time_ms=create_time_ms,
        last_update_time_ms=last_update_time_ms,
    )
