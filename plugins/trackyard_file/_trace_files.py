"""The on-disk forms of traces in the file store, as MLflow 3's file store keeps them.

Layout (MLflow's)::

    <experiment>/traces/<trace_id>/
      trace_info.yaml            trace_id, trace_location, request_time (ISO-8601, ms, "Z"),
                                 state, execution_duration_ms, request_preview,
                                 response_preview[, client_request_id]
      request_metadata/<key>     the trace metadata, one file per key (value, no newline)
      tags/<key>                 the trace tags, among them mlflow.artifactLocation
      assessments/<id>.yaml      one assessment each (MLflow's dictionary form)
      .trackyard.lock            the trace's lock and undo journal (trackyard only)
    <tag mlflow.artifactLocation>/traces.json     {"spans": [OTel-style span JSON, ...]}

The artifact location is ``<experiment artifact location>/traces/<trace_id>/artifacts``, so
with the default artifact root the spans live in the trace's own ``artifacts`` folder.
``trace_info.yaml`` is written last when a trace is created and removed first when it is
deleted: a trace folder without it does not exist, for MLflow as for trackyard.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from trackyard.entities.trace import Span, TraceInfo
from trackyard.entities.trace_assessment import Assessment
from trackyard_file._fs import dump_meta

__all__ = [
    "ASSESSMENTS",
    "REQUEST_METADATA",
    "SPANS_FILE",
    "TRACES",
    "TRACE_INFO",
    "assessment_from_yaml",
    "assessment_to_yaml",
    "dump_spans",
    "info_from_yaml",
    "info_to_yaml",
    "is_assessment_id",
    "is_trace_id",
    "load_spans",
]

TRACES = "traces"
TRACE_INFO = "trace_info.yaml"
REQUEST_METADATA = "request_metadata"
ASSESSMENTS = "assessments"
SPANS_FILE = "traces.json"

# Folder and file names a trace or an assessment id may become: MLflow 3's "tr-<hex>",
# MLflow 2's hex request ids, "a-<hex>"; never anything with a dot or a separator.
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}\Z")


def is_trace_id(value: object) -> bool:
    """Whether ``value`` can name a trace folder."""
    return isinstance(value, str) and _ID_RE.match(value) is not None


def is_assessment_id(value: object) -> bool:
    """Whether ``value`` can name an assessment file (``<id>.yaml``)."""
    return isinstance(value, str) and _ID_RE.match(value) is not None


def info_to_yaml(info: TraceInfo) -> bytes:
    """``trace_info.yaml`` for ``info`` (tags, metadata and assessments live elsewhere)."""
    d = info.to_dict()
    for key in ("trace_metadata", "tags", "assessments"):
        d.pop(key, None)
    return dump_meta(d)


def _iso(value: Any) -> Any:
    """PyYAML reads an unquoted timestamp as a datetime: give it back as ISO text."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.isoformat()
    return value


def info_from_yaml(
    meta: Mapping[str, Any], tags: Mapping[str, str], metadata: Mapping[str, str]
) -> TraceInfo:
    """A :class:`TraceInfo` from ``trace_info.yaml`` and the tag and metadata folders.

    Raises:
        KeyError, TypeError, ValueError: the file is not a trace info.
    """
    d = dict(meta)
    d["request_time"] = _iso(d["request_time"])
    d["tags"] = dict(tags)
    d["trace_metadata"] = dict(metadata)
    d.pop("assessments", None)
    return TraceInfo.from_dict(d)


def assessment_to_yaml(assessment: Assessment) -> bytes:
    """``assessments/<id>.yaml`` for an assessment (MLflow's dictionary form)."""
    return dump_meta(assessment.to_dictionary())


def assessment_from_yaml(meta: Mapping[str, Any]) -> Assessment:
    """An :class:`Assessment` from its YAML file."""
    d = dict(meta)
    for key in ("create_time", "last_update_time"):
        if key in d:
            d[key] = _iso(d[key])
    return Assessment.from_dictionary(d)


def dump_spans(spans: Iterable[Span]) -> bytes:
    """``traces.json``: ``{"spans": [...]}`` in MLflow's span JSON."""
    return json.dumps({"spans": [s.to_dict() for s in spans]}).encode("utf-8")


def load_spans(data: bytes) -> list[Span]:
    """The spans of a ``traces.json`` file.

    Raises:
        ValueError: the file is not a span list.
    """
    loaded = json.loads(data.decode("utf-8"))
    if not isinstance(loaded, dict) or not isinstance(loaded.get("spans", []), list):
        raise ValueError("expected an object with a 'spans' list")
    return [Span.from_dict(s) for s in loaded.get("spans") or ()]
