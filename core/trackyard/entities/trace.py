"""Traces and spans, with MLflow 3's fields, ids and JSON forms.

- A trace id is ``"tr-"`` + 32 hex digits (the 128-bit OpenTelemetry trace id); a span id is
  16 hex digits. In span JSON (:meth:`Span.to_dict`) both are base64 bytes, OTLP-JSON style.
- Span attribute values are kept JSON-encoded, as MLflow keeps them: ``attributes`` decodes
  them, :meth:`Span.to_dict` writes the encoded strings (so a string ``"UNKNOWN"`` is stored
  as ``"\\"UNKNOWN\\""``).
- :class:`TraceInfo` is the searchable summary (state, times, previews, metadata, tags,
  assessments); :class:`TraceData` holds the spans.
"""

from __future__ import annotations

import base64
import datetime
import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from trackyard.errors import ErrorCode, TrackyardError

if TYPE_CHECKING:
    from trackyard.entities.trace_assessment import Assessment

__all__ = [
    "PREVIEW_MAX_LENGTH",
    "LiveSpan",
    "Span",
    "SpanAttributeKey",
    "SpanEvent",
    "SpanStatus",
    "SpanStatusCode",
    "SpanType",
    "Trace",
    "TraceData",
    "TraceInfo",
    "TraceLocation",
    "TraceMetadataKey",
    "TraceState",
    "TraceTagKey",
    "decode_attribute",
    "encode_attribute",
    "new_span_id",
    "new_trace_id",
    "truncate_preview",
]

TRACE_ID_PREFIX = "tr-"
#: Request and response previews are cut to this many characters (MLflow's OSS limit).
PREVIEW_MAX_LENGTH = 1000
#: ``mlflow.traceInputs`` / ``mlflow.traceOutputs`` metadata values are cut to this length.
METADATA_MAX_LENGTH = 250


class SpanType:
    """The span types MLflow knows (any string is accepted)."""

    LLM = "LLM"
    CHAIN = "CHAIN"
    AGENT = "AGENT"
    TOOL = "TOOL"
    CHAT_MODEL = "CHAT_MODEL"
    RETRIEVER = "RETRIEVER"
    PARSER = "PARSER"
    EMBEDDING = "EMBEDDING"
    RERANKER = "RERANKER"
    MEMORY = "MEMORY"
    UNKNOWN = "UNKNOWN"
    WORKFLOW = "WORKFLOW"
    TASK = "TASK"
    GUARDRAIL = "GUARDRAIL"
    EVALUATOR = "EVALUATOR"


class SpanAttributeKey:
    """Span attribute keys MLflow reserves."""

    REQUEST_ID = "mlflow.traceRequestId"
    SPAN_TYPE = "mlflow.spanType"
    INPUTS = "mlflow.spanInputs"
    OUTPUTS = "mlflow.spanOutputs"
    FUNCTION_NAME = "mlflow.spanFunctionName"
    EXPERIMENT_ID = "mlflow.experimentId"


class TraceMetadataKey:
    """Trace metadata keys MLflow sets."""

    INPUTS = "mlflow.traceInputs"
    OUTPUTS = "mlflow.traceOutputs"
    SOURCE_RUN = "mlflow.sourceRun"
    SCHEMA_VERSION = "mlflow.trace_schema.version"
    USER = "mlflow.user"


class TraceTagKey:
    """Trace tag keys MLflow sets."""

    TRACE_NAME = "mlflow.traceName"
    ARTIFACT_LOCATION = "mlflow.artifactLocation"
    SPANS_LOCATION = "mlflow.trace.spansLocation"
    LINKED_PROMPTS = "mlflow.linkedPrompts"


class TraceState:
    """A trace's state: ``OK``, ``ERROR``, ``IN_PROGRESS`` or ``STATE_UNSPECIFIED``."""

    OK = "OK"
    ERROR = "ERROR"
    IN_PROGRESS = "IN_PROGRESS"
    STATE_UNSPECIFIED = "STATE_UNSPECIFIED"

    ALL = (OK, ERROR, IN_PROGRESS, STATE_UNSPECIFIED)


class SpanStatusCode(str, Enum):
    """A span's status code."""

    OK = "OK"
    ERROR = "ERROR"
    UNSET = "UNSET"


def _bad(message: str) -> TrackyardError:
    return TrackyardError(message, ErrorCode.INVALID_PARAMETER_VALUE)


@dataclass(frozen=True)
class SpanStatus:
    """A span's status: a code and, for errors, a description."""

    status_code: SpanStatusCode = SpanStatusCode.UNSET
    description: str = ""

    def __post_init__(self) -> None:
        code = self.status_code
        if not isinstance(code, SpanStatusCode):
            text = str(code).upper().removeprefix("STATUS_CODE_")
            try:
                code = SpanStatusCode(text)
            except ValueError:
                raise _bad(
                    f"Invalid span status {self.status_code!r}: use OK, ERROR or UNSET"
                ) from None
            object.__setattr__(self, "status_code", code)

    @classmethod
    def of(cls, status: SpanStatus | SpanStatusCode | str) -> SpanStatus:
        """A status from a :class:`SpanStatus`, a code or a code name (``"OK"``)."""
        if isinstance(status, SpanStatus):
            return status
        if isinstance(status, (str, SpanStatusCode)):
            return cls(status)  # type: ignore[arg-type]
        raise _bad(f"Invalid span status {status!r}: use OK, ERROR or UNSET")

    def to_dict(self) -> dict[str, str]:
        """The OTel-JSON form: ``{"code": "STATUS_CODE_OK", "message": ""}``."""
        return {"code": f"STATUS_CODE_{self.status_code.value}", "message": self.description}


@dataclass
class SpanEvent:
    """Something that happened during a span (an exception, a retry...)."""

    name: str
    timestamp: int = 0  # epoch nanoseconds
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "time_unix_nano": self.timestamp, "attributes": self.attributes}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SpanEvent:
        return cls(d["name"], int(d.get("time_unix_nano") or 0), dict(d.get("attributes") or {}))


# -- ids and encodings ------------------------------------------------------------------------
# The module-level generator: Python reseeds it in a forked child, so ids never repeat there.
_getrandbits = random.getrandbits


def new_trace_id() -> str:
    """A fresh trace id: ``"tr-"`` + 32 hex digits."""
    return f"{TRACE_ID_PREFIX}{_getrandbits(128) or 1:032x}"


def new_span_id() -> str:
    """A fresh span id: 16 hex digits, never all zeros."""
    return f"{_getrandbits(64) or 1:016x}"


def _json_default(obj: Any) -> Any:
    for method in ("model_dump", "to_dict", "_asdict"):
        fn = getattr(obj, method, None)
        if callable(fn):
            try:
                return fn()
            except Exception:
                break
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    if isinstance(obj, (datetime.date, datetime.datetime)):
        return obj.isoformat()
    return str(obj)


# One encoder for every attribute: json.dumps with options builds a new encoder per call,
# which is most of the cost of a small value (and spans encode several per call).
_encoder = json.JSONEncoder(default=_json_default, ensure_ascii=False)


def encode_attribute(value: Any) -> str:
    """JSON-encode an attribute value as MLflow stores it (unknown objects as ``str()``)."""
    try:
        return _encoder.encode(value)
    except (TypeError, ValueError):
        return _encoder.encode(str(value))


def decode_attribute(raw: str) -> Any:
    """The value of a JSON-encoded attribute (the raw string if it is not JSON)."""
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return raw


def _b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode("ascii")


def _hex(b64_or_hex: str | None, width: int) -> str | None:
    if not b64_or_hex:
        return None
    text = str(b64_or_hex)
    if len(text) == width and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower()
    return base64.b64decode(text).hex()


def truncate_preview(text: str | None, limit: int = PREVIEW_MAX_LENGTH) -> str | None:
    """Cut ``text`` to ``limit`` characters, ending in ``...`` when cut (MLflow's rule)."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


# -- spans ------------------------------------------------------------------------------------
_UNSET = SpanStatus()  # statuses are frozen: one instance serves every new span


class Span:
    """One finished span of a trace (read-only; :class:`LiveSpan` is the open kind).

    Attributes:
        trace_id: the ``tr-...`` id of the trace.
        span_id: 16 hex digits.
        parent_id: the parent's span id, None for the root span.
        name: the span's name.
        start_time_ns / end_time_ns: epoch nanoseconds (``end_time_ns`` None while open).
        status: a :class:`SpanStatus`.
        events: :class:`SpanEvent` list.
    """

    __slots__ = (
        "_attributes",
        "end_time_ns",
        "events",
        "name",
        "parent_id",
        "span_id",
        "start_time_ns",
        "status",
        "trace_id",
    )

    def __init__(
        self,
        trace_id: str,
        span_id: str,
        parent_id: str | None,
        name: str,
        start_time_ns: int,
        end_time_ns: int | None = None,
        status: SpanStatus | None = None,
        attributes: Mapping[str, str] | None = None,
        events: Iterable[SpanEvent] = (),
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.name = name
        self.start_time_ns = start_time_ns
        self.end_time_ns = end_time_ns
        self.status = status or _UNSET
        self._attributes: dict[str, str] = dict(attributes or {})
        self.events: list[SpanEvent] = list(events)

    # MLflow's names
    @property
    def request_id(self) -> str:
        """The trace id (MLflow 2's name for it)."""
        return self.trace_id

    @property
    def span_type(self) -> str:
        """The span type (``LLM``, ``CHAIN``...; ``UNKNOWN`` if unset)."""
        value = self.get_attribute(SpanAttributeKey.SPAN_TYPE)
        return value if isinstance(value, str) else SpanType.UNKNOWN

    @property
    def inputs(self) -> Any:
        """The span's inputs, decoded."""
        return self.get_attribute(SpanAttributeKey.INPUTS)

    @property
    def outputs(self) -> Any:
        """The span's outputs, decoded."""
        return self.get_attribute(SpanAttributeKey.OUTPUTS)

    @property
    def attributes(self) -> dict[str, Any]:
        """Every attribute, decoded."""
        return {k: decode_attribute(v) for k, v in self._attributes.items()}

    @property
    def raw_attributes(self) -> dict[str, str]:
        """Every attribute as stored (JSON-encoded strings)."""
        return dict(self._attributes)

    def get_attribute(self, key: str) -> Any:
        """One attribute's value, decoded (None if absent)."""
        raw = self._attributes.get(key)
        return None if raw is None else decode_attribute(raw)

    @property
    def duration_ns(self) -> int | None:
        """End minus start, or None while open."""
        return None if self.end_time_ns is None else self.end_time_ns - self.start_time_ns

    def to_dict(self) -> dict[str, Any]:
        """The OTel-style JSON form MLflow stores (ids as base64, attributes encoded)."""
        return {
            "trace_id": _b64(self.trace_id.removeprefix(TRACE_ID_PREFIX)),
            "span_id": _b64(self.span_id),
            "parent_span_id": _b64(self.parent_id) if self.parent_id else None,
            "name": self.name,
            "start_time_unix_nano": self.start_time_ns,
            "end_time_unix_nano": self.end_time_ns,
            "events": [e.to_dict() for e in self.events],
            "status": self.status.to_dict(),
            "attributes": dict(self._attributes),
            "links": [],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Span:
        """Read :meth:`to_dict`'s form (MLflow's span JSON)."""
        attributes = {str(k): v for k, v in (d.get("attributes") or {}).items()}
        for key, value in attributes.items():
            if not isinstance(value, str):
                attributes[key] = encode_attribute(value)
        trace_id = decode_attribute(attributes.get(SpanAttributeKey.REQUEST_ID, "null"))
        if not isinstance(trace_id, str):
            raw = _hex(d.get("trace_id"), 32)
            trace_id = f"{TRACE_ID_PREFIX}{raw}" if raw else ""
        status = d.get("status") or {}
        end = d.get("end_time_unix_nano")
        span_id = _hex(d.get("span_id"), 16)
        if span_id is None:
            raise _bad(f"A span without span_id: {dict(d)!r:.200}")
        return cls(
            trace_id=trace_id,
            span_id=span_id,
            parent_id=_hex(d.get("parent_span_id"), 16),
            name=str(d.get("name") or ""),
            start_time_ns=int(d.get("start_time_unix_nano") or 0),
            end_time_ns=None if end is None else int(end),
            status=SpanStatus(
                SpanStatus.of(status.get("code") or "UNSET").status_code,
                status.get("message") or "",
            ),
            attributes=attributes,
            events=[SpanEvent.from_dict(e) for e in d.get("events") or ()],
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Span) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, trace_id={self.trace_id!r}, "
            f"span_id={self.span_id!r}, parent_id={self.parent_id!r})"
        )


class LiveSpan(Span):
    """An open span: set its inputs, outputs, attributes and status, then end it.

    Returned by ``MlflowClient.start_trace`` / ``start_span`` and by
    :func:`trackyard.start_span`. Ending is done by the client (``end_span``) or by the
    context manager; :meth:`end` does the same for a span the client started.
    """

    __slots__ = ("_on_end",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_end: Any = None

    def set_inputs(self, inputs: Any) -> None:
        """Record the span's inputs."""
        self._attributes[SpanAttributeKey.INPUTS] = encode_attribute(inputs)

    def set_outputs(self, outputs: Any) -> None:
        """Record the span's outputs."""
        self._attributes[SpanAttributeKey.OUTPUTS] = encode_attribute(outputs)

    def set_attribute(self, key: str, value: Any) -> None:
        """Set one attribute (any JSON-serializable value)."""
        if not isinstance(key, str) or not key:
            raise _bad(f"Span attribute keys must be non-empty strings, got {key!r}")
        self._attributes[key] = encode_attribute(value)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Set several attributes."""
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def set_span_type(self, span_type: str) -> None:
        """Change the span type."""
        self._attributes[SpanAttributeKey.SPAN_TYPE] = encode_attribute(span_type)

    def set_status(self, status: SpanStatus | SpanStatusCode | str) -> None:
        """Set the status (``"OK"``, ``"ERROR"`` or a :class:`SpanStatus`)."""
        self.status = SpanStatus.of(status)

    def add_event(self, event: SpanEvent) -> None:
        """Record an event."""
        self.events.append(event)

    def record_exception(self, exception: BaseException | str) -> None:
        """Record an exception event and set the status to ERROR."""
        import time
        import traceback

        if isinstance(exception, BaseException):
            attrs = {
                "exception.type": type(exception).__name__,
                "exception.message": str(exception),
                "exception.stacktrace": "".join(traceback.format_exception(exception)),
            }
            message = f"{type(exception).__name__}: {exception}"
        else:
            attrs = {"exception.message": str(exception)}
            message = str(exception)
        self.events.append(SpanEvent("exception", time.time_ns(), attrs))
        self.status = SpanStatus(SpanStatusCode.ERROR, message)

    def end(
        self,
        outputs: Any = None,
        attributes: Mapping[str, Any] | None = None,
        status: SpanStatus | str | None = None,
        end_time_ns: int | None = None,
    ) -> None:
        """End the span (through the client that started it)."""
        if self._on_end is None:
            raise TrackyardError(
                f"Span {self.span_id!r} was not started by a client; it cannot end itself.",
                ErrorCode.INVALID_STATE,
            )
        self._on_end(self, outputs, attributes, status, end_time_ns)


# -- trace info -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TraceLocation:
    """Where a trace lives: an MLflow experiment (the only kind trackyard stores)."""

    experiment_id: str
    type: str = "MLFLOW_EXPERIMENT"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "mlflow_experiment": {"experiment_id": self.experiment_id}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TraceLocation:
        exp = d.get("mlflow_experiment") or {}
        return cls(str(exp.get("experiment_id", "")), str(d.get("type") or "MLFLOW_EXPERIMENT"))

    @classmethod
    def from_experiment_id(cls, experiment_id: str) -> TraceLocation:
        return cls(str(experiment_id))


def _iso_ms(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _parse_iso_ms(text: str | int) -> int:
    if isinstance(text, int):
        return text
    moment = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return round(moment.timestamp() * 1000)


@dataclass
class TraceInfo:
    """The summary of a trace: what search returns.

    Attributes:
        trace_id: ``tr-`` + 32 hex.
        trace_location: the experiment the trace belongs to.
        request_time: start, epoch milliseconds.
        state: a :class:`TraceState` value.
        request_preview / response_preview: the root span's inputs / outputs as JSON,
            cut to 1,000 characters.
        client_request_id: an id the caller chose, or None.
        execution_duration: milliseconds, None while in progress.
        trace_metadata: immutable key-values set when the trace ends.
        tags: mutable key-values (``set_trace_tag``).
        assessments: feedback and expectations logged on the trace.
    """

    trace_id: str
    trace_location: TraceLocation
    request_time: int
    state: str
    request_preview: str | None = None
    response_preview: str | None = None
    client_request_id: str | None = None
    execution_duration: int | None = None
    trace_metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    assessments: list[Assessment] = field(default_factory=list)

    # MLflow 2 names, still used by MLflow 3 code
    @property
    def request_id(self) -> str:
        return self.trace_id

    @property
    def experiment_id(self) -> str:
        return self.trace_location.experiment_id

    @property
    def timestamp_ms(self) -> int:
        return self.request_time

    @property
    def execution_time_ms(self) -> int | None:
        return self.execution_duration

    @property
    def status(self) -> str:
        return self.state

    @property
    def request_metadata(self) -> dict[str, str]:
        return self.trace_metadata

    @property
    def end_time_ms(self) -> int | None:
        """request_time + execution_duration, None while in progress."""
        if self.execution_duration is None:
            return None
        return self.request_time + self.execution_duration

    def to_dict(self) -> dict[str, Any]:
        """MLflow's JSON form of ``TraceInfoV3`` (request_time as ISO-8601)."""
        d: dict[str, Any] = {
            "trace_id": self.trace_id,
            "trace_location": self.trace_location.to_dict(),
            "request_time": _iso_ms(self.request_time),
            "state": self.state,
            "trace_metadata": dict(self.trace_metadata),
            "tags": dict(self.tags),
        }
        if self.request_preview is not None:
            d["request_preview"] = self.request_preview
        if self.response_preview is not None:
            d["response_preview"] = self.response_preview
        if self.client_request_id is not None:
            d["client_request_id"] = self.client_request_id
        if self.execution_duration is not None:
            d["execution_duration_ms"] = self.execution_duration
        if self.assessments:
            d["assessments"] = [a.to_dictionary() for a in self.assessments]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TraceInfo:
        """Read :meth:`to_dict`'s form."""
        from trackyard.entities.trace_assessment import Assessment

        duration = d.get("execution_duration_ms", d.get("execution_duration"))
        if isinstance(duration, str):  # protobuf Duration JSON: "0.103s"
            duration = round(float(duration.rstrip("s")) * 1000)
        return cls(
            trace_id=str(d["trace_id"]),
            trace_location=TraceLocation.from_dict(d.get("trace_location") or {}),
            request_time=_parse_iso_ms(d["request_time"]),
            state=str(d.get("state") or TraceState.STATE_UNSPECIFIED),
            request_preview=d.get("request_preview"),
            response_preview=d.get("response_preview"),
            client_request_id=d.get("client_request_id"),
            execution_duration=None if duration is None else int(duration),
            trace_metadata={str(k): str(v) for k, v in (d.get("trace_metadata") or {}).items()},
            tags={str(k): str(v) for k, v in (d.get("tags") or {}).items()},
            assessments=[Assessment.from_dictionary(a) for a in d.get("assessments") or ()],
        )


@dataclass
class TraceData:
    """The spans of a trace."""

    spans: list[Span] = field(default_factory=list)

    @property
    def root_span(self) -> Span | None:
        """The span without a parent (the first one if, unusually, there are several)."""
        return next((s for s in self.spans if s.parent_id is None), None)

    @property
    def request(self) -> str | None:
        """The root span's inputs as JSON (MLflow's ``TraceData.request``)."""
        root = self.root_span
        return None if root is None else root.raw_attributes.get(SpanAttributeKey.INPUTS)

    @property
    def response(self) -> str | None:
        """The root span's outputs as JSON."""
        root = self.root_span
        return None if root is None else root.raw_attributes.get(SpanAttributeKey.OUTPUTS)

    def to_dict(self) -> dict[str, Any]:
        return {"spans": [s.to_dict() for s in self.spans]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TraceData:
        return cls([Span.from_dict(s) for s in d.get("spans") or ()])


@dataclass
class Trace:
    """A trace: its :class:`TraceInfo` and its :class:`TraceData` (the spans)."""

    info: TraceInfo
    data: TraceData = field(default_factory=TraceData)

    def to_dict(self) -> dict[str, Any]:
        return {"info": self.info.to_dict(), "data": self.data.to_dict()}

    def to_json(self, pretty: bool = False) -> str:
        return json.dumps(self.to_dict(), indent=2 if pretty else None, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Trace:
        return cls(TraceInfo.from_dict(d["info"]), TraceData.from_dict(d.get("data") or {}))

    @classmethod
    def from_json(cls, text: str) -> Trace:
        return cls.from_dict(json.loads(text))

    def search_spans(self, span_type: str | None = None, name: str | None = None) -> list[Span]:
        """The spans of a type and/or with a name."""
        return [
            s
            for s in self.data.spans
            if (span_type is None or s.span_type == span_type) and (name is None or s.name == name)
        ]

    def __repr__(self) -> str:
        return f"Trace(trace_id={self.info.trace_id!r})"
