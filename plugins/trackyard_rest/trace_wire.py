"""Traces, spans and assessments in MLflow 3's REST JSON, both ways (client and server).

MLflow's v3 trace endpoints print protobuf messages as JSON (snake_case field names):

- ``TraceInfoV3``: ``request_time`` is an RFC 3339 timestamp, ``execution_duration`` a
  protobuf Duration (``"0.025s"``), ``trace_metadata`` and ``tags`` are maps, assessments
  ride along.
- Spans are OpenTelemetry ``Span`` messages: ids as base64 bytes, times as integers,
  attributes as ``[{key, value: AnyValue}]`` with typed values (``string_value``,
  ``int_value``, ``array_value``...). trackyard keeps attribute values JSON-encoded, so a
  span's values are decoded on the way out and encoded again on the way in.
- ``Assessment`` is the form :meth:`Assessment.to_dictionary` writes, unset fields left out.

This module has no HTTP or pydantic dependency: the client and the server both use it.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any

from trackyard.entities.trace import (
    Span,
    SpanAttributeKey,
    SpanEvent,
    SpanStatus,
    Trace,
    TraceData,
    TraceInfo,
    decode_attribute,
    encode_attribute,
)
from trackyard.entities.trace_assessment import Assessment

__all__ = [
    "any_value",
    "any_value_json",
    "assessment_from_json",
    "assessment_json",
    "duration_json",
    "span_from_json",
    "span_from_parts",
    "span_json",
    "trace_from_json",
    "trace_info_from_json",
    "trace_info_json",
    "trace_json",
]

_INT64 = 2**63


def duration_json(ms: int) -> str:
    """Milliseconds as a protobuf Duration's JSON (``"0.025s"``, ``"3s"``)."""
    seconds, rest = divmod(int(ms), 1000)
    return f"{seconds}.{rest:03d}s" if rest else f"{seconds}s"


def trace_info_json(info: TraceInfo) -> dict[str, Any]:
    """A ``TraceInfoV3`` message."""
    d = info.to_dict()
    duration = d.pop("execution_duration_ms", None)
    if duration is not None:
        d["execution_duration"] = duration_json(duration)
    if info.assessments:
        d["assessments"] = [assessment_json(a) for a in info.assessments]
    return d


def trace_info_from_json(d: Mapping[str, Any]) -> TraceInfo:
    """A :class:`TraceInfo` from a ``TraceInfoV3`` message (Duration or milliseconds)."""
    info = TraceInfo.from_dict(d)
    info.assessments = [assessment_from_json(a) for a in d.get("assessments") or ()]
    return info


def assessment_json(a: Assessment) -> dict[str, Any]:
    """An ``Assessment`` message (unset fields left out)."""
    return {k: v for k, v in a.to_dictionary().items() if v is not None}


def assessment_from_json(d: Mapping[str, Any]) -> Assessment:
    """An :class:`Assessment` from its message (an ``error`` outside ``feedback`` too)."""
    a = Assessment.from_dictionary(d)
    if a.error is None and d.get("error") and "expectation" not in d:
        from trackyard.entities.trace_assessment import AssessmentError

        a.error = AssessmentError.from_dictionary(d["error"])
    return a


# -- OpenTelemetry AnyValue -------------------------------------------------------------------
def any_value_json(value: Any) -> dict[str, Any]:
    """A Python value as an OTLP ``AnyValue`` message in JSON (``{}`` for None)."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"bool_value": value}
    if isinstance(value, int) and -_INT64 <= value < _INT64:
        return {"int_value": value}
    if isinstance(value, (int, float)):
        f = float(value)
        if math.isfinite(f):
            return {"double_value": f}
        return {"double_value": "NaN" if math.isnan(f) else ("Infinity" if f > 0 else "-Infinity")}
    if isinstance(value, str):
        return {"string_value": value}
    if isinstance(value, bytes):
        return {"bytes_value": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Mapping):
        return {
            "kvlist_value": {
                "values": [{"key": str(k), "value": any_value_json(v)} for k, v in value.items()]
            }
        }
    if isinstance(value, (list, tuple)):
        return {"array_value": {"values": [any_value_json(v) for v in value]}}
    return {"string_value": str(value)}


_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def any_value(d: Mapping[str, Any] | None) -> Any:
    """The Python value of an ``AnyValue`` message in JSON."""
    if not d:
        return None
    if "string_value" in d:
        return str(d["string_value"])
    if "bool_value" in d:
        return bool(d["bool_value"])
    if "int_value" in d:
        return int(d["int_value"])
    if "double_value" in d:
        raw = d["double_value"]
        return _SPECIAL[raw] if isinstance(raw, str) and raw in _SPECIAL else float(raw)
    if "array_value" in d:
        return [any_value(v) for v in (d["array_value"] or {}).get("values") or ()]
    if "kvlist_value" in d:
        items = (d["kvlist_value"] or {}).get("values") or ()
        return {str(kv.get("key", "")): any_value(kv.get("value")) for kv in items}
    if "bytes_value" in d:
        return base64.b64decode(d["bytes_value"]).decode("utf-8", "replace")
    return None


def _attributes_json(attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": any_value_json(v)} for k, v in attributes.items()]


def _attributes(items: Any) -> dict[str, Any]:
    if isinstance(items, Mapping):  # a plain map, as some writers send
        return dict(items)
    return {str(kv.get("key", "")): any_value(kv.get("value")) for kv in items or ()}


# -- spans ------------------------------------------------------------------------------------
def _b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode("ascii")


def _hex(text: str | None) -> str | None:
    if not text:
        return None
    return base64.b64decode(text).hex()


def span_json(span: Span) -> dict[str, Any]:
    """An OpenTelemetry ``Span`` message in JSON, as MLflow's trace endpoints send spans."""
    d: dict[str, Any] = {
        "trace_id": _b64(span.trace_id.removeprefix("tr-")),
        "span_id": _b64(span.span_id),
    }
    if span.parent_id:
        d["parent_span_id"] = _b64(span.parent_id)
    d["name"] = span.name
    d["start_time_unix_nano"] = span.start_time_ns
    if span.end_time_ns is not None:
        d["end_time_unix_nano"] = span.end_time_ns
    d["attributes"] = [
        {"key": k, "value": any_value_json(decode_attribute(v))}
        for k, v in span.raw_attributes.items()
    ]
    if span.events:
        d["events"] = [
            {
                "time_unix_nano": e.timestamp,
                "name": e.name,
                "attributes": _attributes_json(e.attributes),
            }
            for e in span.events
        ]
    status: dict[str, Any] = {"code": f"STATUS_CODE_{span.status.status_code.value}"}
    if span.status.description:
        status["message"] = span.status.description
    d["status"] = status
    return d


def span_from_parts(
    trace_hex: str,
    span_hex: str,
    parent_hex: str | None,
    name: str,
    start_ns: int,
    end_ns: int | None,
    attributes: Mapping[str, Any],
    events: list[SpanEvent],
    status_code: str,
    message: str,
) -> Span:
    """A :class:`Span` from decoded OTLP fields (attribute values as Python values).

    The trace id is ``tr-`` + the OTLP trace id, and the span's ``mlflow.traceRequestId``
    attribute is set to it (a sender's own value is not trusted), as MLflow's server does.
    """
    trace_id = f"tr-{trace_hex}"
    raw = {k: encode_attribute(v) for k, v in attributes.items()}
    raw[SpanAttributeKey.REQUEST_ID] = encode_attribute(trace_id)
    code = status_code.removeprefix("STATUS_CODE_") or "UNSET"
    return Span(
        trace_id=trace_id,
        span_id=span_hex,
        parent_id=parent_hex or None,
        name=name,
        start_time_ns=start_ns,
        end_time_ns=end_ns or None,
        status=SpanStatus(SpanStatus.of(code).status_code, message or ""),
        attributes=raw,
        events=events,
    )


_CODES = {0: "UNSET", 1: "OK", 2: "ERROR"}


def span_from_json(d: Mapping[str, Any]) -> Span:
    """A :class:`Span` from an OpenTelemetry ``Span`` message in JSON."""
    status = d.get("status") or {}
    code = status.get("code") or "UNSET"
    if isinstance(code, int):
        code = _CODES.get(code, "UNSET")
    end = d.get("end_time_unix_nano")
    events = [
        SpanEvent(
            str(e.get("name") or ""),
            int(e.get("time_unix_nano") or 0),
            _attributes(e.get("attributes")),
        )
        for e in d.get("events") or ()
    ]
    return span_from_parts(
        _hex(d.get("trace_id")) or "",
        _hex(d.get("span_id")) or "",
        _hex(d.get("parent_span_id")),
        str(d.get("name") or ""),
        int(d.get("start_time_unix_nano") or 0),
        None if end is None else int(end),
        _attributes(d.get("attributes")),
        events,
        str(code),
        str(status.get("message") or ""),
    )


def trace_json(trace: Trace) -> dict[str, Any]:
    """A ``Trace`` message: ``{trace_info, spans}``."""
    d: dict[str, Any] = {"trace_info": trace_info_json(trace.info)}
    if trace.data.spans:
        d["spans"] = [span_json(s) for s in trace.data.spans]
    return d


def trace_from_json(d: Mapping[str, Any]) -> Trace:
    """A :class:`Trace` from a ``Trace`` message."""
    return Trace(
        trace_info_from_json(d["trace_info"]),
        TraceData([span_from_json(s) for s in d.get("spans") or ()]),
    )
