"""OTLP/HTTP trace requests (protobuf ``ExportTraceServiceRequest``), written and read here.

MLflow's client logs spans with ``POST /v1/traces``: a binary protobuf
``opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest`` and the header
``x-mlflow-experiment-id``. The messages involved are small and stable (OTLP 1.x), so this
module encodes and decodes the protobuf wire format itself, field by field, instead of
pulling in ``opentelemetry-proto`` and ``protobuf`` for the client and the server:

- request: ``resource_spans`` (1) → ``scope_spans`` (2) → ``spans`` (2);
- Span: trace_id 1, span_id 2, parent_span_id 4, name 5, start 7 / end 8 (fixed64),
  attributes 9, events 11, status 15 (message 2, code 3);
- Event: time 1 (fixed64), name 2, attributes 3; KeyValue: key 1, value 2;
- AnyValue: string 1, bool 2, int 3, double 4, array 5, kvlist 6, bytes 7.

Unknown fields are skipped, as protobuf parsers do.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from trackyard.entities.trace import Span, SpanEvent, decode_attribute
from trackyard.errors import TrackyardError
from trackyard_rest.trace_wire import span_from_parts

__all__ = ["CONTENT_TYPE", "EXPERIMENT_HEADER", "OTLP_TRACES_PATH", "decode_spans", "encode_spans"]

#: Where OTLP/HTTP trace exports go.
OTLP_TRACES_PATH = "/v1/traces"
#: The header naming the experiment the spans belong to.
EXPERIMENT_HEADER = "x-mlflow-experiment-id"
CONTENT_TYPE = "application/x-protobuf"

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
_INT64 = 2**63
_CODES = {0: "UNSET", 1: "OK", 2: "ERROR"}
_CODE_NUMBERS = {"UNSET": 0, "OK": 1, "ERROR": 2}


# -- writing ----------------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 values: two's complement, ten bytes
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _len_field(field: int, payload: bytes) -> bytes:
    return _key(field, _LEN) + _varint(len(payload)) + payload


def _str_field(field: int, text: str) -> bytes:
    return _len_field(field, text.encode("utf-8")) if text else b""


def _fixed64(field: int, n: int) -> bytes:
    return _key(field, _I64) + struct.pack("<Q", n)


def _any_value(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bool):
        return _key(2, _VARINT) + _varint(int(value))
    if isinstance(value, int) and -_INT64 <= value < _INT64:
        return _key(3, _VARINT) + _varint(value)
    if isinstance(value, (int, float)):
        return _key(4, _I64) + struct.pack("<d", float(value))
    if isinstance(value, str):
        return _len_field(1, value.encode("utf-8"))
    if isinstance(value, bytes):
        return _len_field(7, value)
    if isinstance(value, Mapping):
        pairs = b"".join(_len_field(1, _key_value(str(k), v)) for k, v in value.items())
        return _len_field(6, pairs)
    if isinstance(value, (list, tuple)):
        return _len_field(5, b"".join(_len_field(1, _any_value(v)) for v in value))
    return _len_field(1, str(value).encode("utf-8"))


def _key_value(key: str, value: Any) -> bytes:
    return _str_field(1, key) + _len_field(2, _any_value(value))


def _span(span: Span) -> bytes:
    parts = [
        _len_field(1, bytes.fromhex(span.trace_id.removeprefix("tr-"))),
        _len_field(2, bytes.fromhex(span.span_id)),
    ]
    if span.parent_id:
        parts.append(_len_field(4, bytes.fromhex(span.parent_id)))
    parts.append(_str_field(5, span.name))
    parts.append(_fixed64(7, span.start_time_ns))
    if span.end_time_ns is not None:
        parts.append(_fixed64(8, span.end_time_ns))
    for key, raw in span.raw_attributes.items():
        parts.append(_len_field(9, _key_value(key, decode_attribute(raw))))
    for event in span.events:
        body = _fixed64(1, event.timestamp) + _str_field(2, event.name)
        body += b"".join(_len_field(3, _key_value(k, v)) for k, v in event.attributes.items())
        parts.append(_len_field(11, body))
    status = _str_field(2, span.status.description)
    code = _CODE_NUMBERS[span.status.status_code.value]
    if code:
        status += _key(3, _VARINT) + _varint(code)
    parts.append(_len_field(15, status))
    return b"".join(parts)


def encode_spans(spans: Sequence[Span]) -> bytes:
    """An ``ExportTraceServiceRequest`` carrying ``spans`` (one resource, one scope)."""
    scope = b"".join(_len_field(2, _span(s)) for s in spans)
    resource_spans = _len_field(2, scope)
    return _len_field(1, resource_spans)


# -- reading ----------------------------------------------------------------------------------
def _bad(why: str) -> TrackyardError:
    return TrackyardError.invalid_parameter_value(f"Invalid OTLP trace request: {why}.")


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise _bad("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of a message: ints for varint/fixed, bytes for LEN."""
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        value: int | bytes
        if wire == _VARINT:
            value, pos = _read_varint(buf, pos)
        elif wire == _I64:
            if pos + 8 > len(buf):
                raise _bad("truncated fixed64")
            value = buf[pos : pos + 8]
            pos += 8
        elif wire == _LEN:
            size, pos = _read_varint(buf, pos)
            if pos + size > len(buf):
                raise _bad("truncated field")
            value = buf[pos : pos + size]
            pos += size
        elif wire == _I32:
            value = buf[pos : pos + 4]
            pos += 4
        else:
            raise _bad(f"unsupported wire type {wire}")
        yield field, wire, value


def _u64(raw: bytes) -> int:
    return int(struct.unpack("<Q", raw)[0])


def _signed(n: int) -> int:
    return n - (1 << 64) if n >= _INT64 else n


def _decode_any(buf: bytes) -> Any:
    for field, wire, value in _fields(buf):
        if field == 1 and wire == _LEN:
            return value.decode("utf-8", "replace")
        if field == 2 and wire == _VARINT:
            return bool(value)
        if field == 3 and wire == _VARINT:
            return _signed(value)
        if field == 4 and wire == _I64:
            return float(struct.unpack("<d", value)[0])
        if field == 5 and wire == _LEN:
            return [_decode_any(v) for f, w, v in _fields(value) if f == 1 and w == _LEN]
        if field == 6 and wire == _LEN:
            return dict(_decode_kv(v) for f, w, v in _fields(value) if f == 1 and w == _LEN)
        if field == 7 and wire == _LEN:
            return bytes(value).decode("utf-8", "replace")
    return None


def _decode_kv(buf: bytes) -> tuple[str, Any]:
    key, value = "", None
    for field, wire, raw in _fields(buf):
        if field == 1 and wire == _LEN:
            key = raw.decode("utf-8", "replace")
        elif field == 2 and wire == _LEN:
            value = _decode_any(raw)
    return key, value


def _decode_event(buf: bytes) -> SpanEvent:
    name, time_ns, attributes = "", 0, {}
    for field, wire, raw in _fields(buf):
        if field == 1 and wire == _I64:
            time_ns = _u64(raw)
        elif field == 2 and wire == _LEN:
            name = raw.decode("utf-8", "replace")
        elif field == 3 and wire == _LEN:
            k, v = _decode_kv(raw)
            attributes[k] = v
    return SpanEvent(name, time_ns, attributes)


def _decode_span(buf: bytes) -> Span:
    trace_hex = span_hex = parent_hex = name = ""
    start = end = 0
    attributes: dict[str, Any] = {}
    events: list[SpanEvent] = []
    code, message = 0, ""
    for field, wire, raw in _fields(buf):
        if wire == _LEN and field in (1, 2, 4):
            text = bytes(raw).hex()
            if field == 1:
                trace_hex = text
            elif field == 2:
                span_hex = text
            else:
                parent_hex = text
        elif field == 5 and wire == _LEN:
            name = raw.decode("utf-8", "replace")
        elif field == 7 and wire == _I64:
            start = _u64(raw)
        elif field == 8 and wire == _I64:
            end = _u64(raw)
        elif field == 9 and wire == _LEN:
            k, v = _decode_kv(raw)
            attributes[k] = v
        elif field == 11 and wire == _LEN:
            events.append(_decode_event(raw))
        elif field == 15 and wire == _LEN:
            for f, w, v in _fields(raw):
                if f == 2 and w == _LEN:
                    message = v.decode("utf-8", "replace")
                elif f == 3 and w == _VARINT:
                    code = v
    if len(trace_hex) != 32 or int(trace_hex, 16) == 0:
        raise _bad("a span without a 16-byte trace_id")
    if len(span_hex) != 16 or int(span_hex, 16) == 0:
        raise _bad("a span without an 8-byte span_id")
    if parent_hex and len(parent_hex) != 16:
        raise _bad("a parent_span_id that is not 8 bytes")
    return span_from_parts(
        trace_hex,
        span_hex,
        parent_hex or None,
        name,
        start,
        end or None,
        attributes,
        events,
        _CODES.get(code, "UNSET"),
        message,
    )


def decode_spans(body: bytes) -> list[Span]:
    """The spans of an ``ExportTraceServiceRequest`` (every resource and scope)."""
    spans = []
    for f1, w1, resource_spans in _fields(body):
        if f1 != 1 or w1 != _LEN:
            continue
        for f2, w2, scope_spans in _fields(resource_spans):
            if f2 != 2 or w2 != _LEN:
                continue
            for f3, w3, span in _fields(scope_spans):
                if f3 == 2 and w3 == _LEN:
                    spans.append(_decode_span(span))
    return spans
