"""Traces over REST: the OTLP protobuf codec, MLflow's trace JSON, and server edge cases."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from trackyard.entities.trace import (
    Span,
    SpanAttributeKey,
    SpanEvent,
    SpanStatus,
    SpanStatusCode,
    TraceInfo,
    TraceLocation,
    encode_attribute,
)
from trackyard.entities.trace_assessment import (
    AssessmentError,
    AssessmentSource,
    Expectation,
    Feedback,
)
from trackyard.errors import ErrorCode, TrackyardError
from trackyard_rest.otlp import decode_spans, encode_spans
from trackyard_rest.trace_wire import (
    assessment_from_json,
    assessment_json,
    duration_json,
    span_from_json,
    span_json,
    trace_info_from_json,
    trace_info_json,
)

TRACE = "tr-" + "0123456789abcdef" * 2
VALUES: dict[str, Any] = {
    "s": "x",
    "quoted": '"UNKNOWN"',
    "i": -3,
    "big": 2**62,
    "f": 1.5,
    "b": True,
    "list": [1, "a", [2.5]],
    "map": {"x": {"y": [1, None]}},
    "empty": "",
    "unicode": "näme ✓",
}


def _span(
    parent: str | None = "fedcba9876543210", span_id: str = "00000000000000ff", **extra: Any
) -> Span:
    raw = {k: encode_attribute(v) for k, v in {**VALUES, **extra}.items()}
    raw[SpanAttributeKey.REQUEST_ID] = encode_attribute(TRACE)
    return Span(
        TRACE,
        span_id,
        parent,
        "näme",
        1_700_000_000_000_000_001,
        1_700_000_000_000_000_002,
        SpanStatus(SpanStatusCode.ERROR, "bad"),
        raw,
        [SpanEvent("exception", 5, {"exception.message": "boom", "n": 2})],
    )


@pytest.mark.parametrize("parent", ["fedcba9876543210", None])
def test_otlp_codec_round_trips_every_attribute_type(parent: str | None) -> None:
    spans = [_span(parent), _span(parent, only="second")]
    got = decode_spans(encode_spans(spans))
    assert got == spans
    assert got[0].attributes["map"] == {"x": {"y": [1, None]}}
    assert got[0].events[0].attributes == {"exception.message": "boom", "n": 2}


def test_otlp_decode_trusts_the_trace_id_not_the_attribute() -> None:
    forged = _span(**{SpanAttributeKey.REQUEST_ID: "tr-" + "f" * 32})
    got = decode_spans(encode_spans([forged]))[0]
    assert got.get_attribute(SpanAttributeKey.REQUEST_ID) == TRACE


@pytest.mark.parametrize(
    "body", [b"\x0a\x05abc", b"\x0a\x02\x12\x00\xff", b"\x0b", b"\x0a\x04\x12\x02\x12\x00"]
)
def test_otlp_decode_refuses_broken_requests(body: bytes) -> None:
    with pytest.raises(TrackyardError) as exc:
        decode_spans(body)
    assert exc.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE


def test_otlp_nan_and_infinities_survive() -> None:
    got = decode_spans(encode_spans([_span(nan=math.inf)]))[0]
    assert got.attributes["nan"] == math.inf


def test_span_json_is_otel_proto_json() -> None:
    span = _span()
    d = span_json(span)
    assert d["span_id"] == "AAAAAAAAAP8=" and d["start_time_unix_nano"] == span.start_time_ns
    assert {"key": "i", "value": {"int_value": -3}} in d["attributes"]
    assert d["status"] == {"code": "STATUS_CODE_ERROR", "message": "bad"}
    assert span_from_json(d) == span


def test_trace_info_json_uses_timestamps_and_durations() -> None:
    fb = Feedback("f", error=AssessmentError("E", "m"), trace_id=TRACE)
    fb.assessment_id = "a-1"
    ex = Expectation("e", {"a": [1]}, AssessmentSource("HUMAN", "bob"), TRACE)
    ex.assessment_id, ex.create_time_ms = "a-2", 1_700_000_000_123
    info = TraceInfo(
        TRACE,
        TraceLocation("7"),
        1_700_000_000_123,
        "OK",
        execution_duration=25,
        tags={"t": "v"},
        assessments=[fb, ex],
    )
    d = trace_info_json(info)
    assert d["request_time"] == "2023-11-14T22:13:20.123Z"
    assert d["execution_duration"] == "0.025s" and "execution_duration_ms" not in d
    assert d["assessments"][1]["expectation"]["serialized_value"]["value"] == '{"a": [1]}'
    back = trace_info_from_json(d)
    assert back == info
    assert assessment_from_json(assessment_json(fb)).error == AssessmentError("E", "m")
    assert [duration_json(ms) for ms in (0, 25, 1000, 61_005)] == ["0s", "0.025s", "1s", "61.005s"]


# -- the server ------------------------------------------------------------------------------
@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    pytest.importorskip("fastapi", reason="the server needs trackyard[server]")
    from tests.rest_server import serve
    from trackyard_rest.server import create_app

    app = create_app(f"sqlite:///{tmp_path / 'ty.db'}", artifacts_destination=str(tmp_path / "a"))
    with serve(app) as url:
        yield url


def _otlp(url: str, exp: str, spans: list[Span], **kw: Any) -> requests.Response:
    headers = {"x-mlflow-experiment-id": exp, "Content-Type": "application/x-protobuf"}
    return requests.post(url + "/v1/traces", data=encode_spans(spans), headers=headers, **kw)


def test_spans_before_their_trace_make_a_provisional_info(server: str) -> None:
    from trackyard.testing import make_client
    from trackyard_rest.client.tracking import RestTrackingStore

    client = make_client(RestTrackingStore(server))
    exp = client.create_experiment("otlp-first")
    child = _span()
    r = _otlp(server, exp, [child], timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
    info = client.get_trace(TRACE).info
    assert info.state == "IN_PROGRESS" and info.request_time == child.start_time_ns // 10**6
    root = _span(None, "fedcba9876543210")
    assert _otlp(server, exp, [root], timeout=30).status_code == 200
    trace = client.get_trace(TRACE)
    assert trace.info.state == "ERROR" and trace.info.tags["mlflow.traceName"] == "näme"
    assert len(trace.data.spans) == 2
    other = client.create_experiment("elsewhere")
    refused = _otlp(server, other, [root], timeout=30)
    assert refused.status_code == 400 and "belongs to experiment" in refused.json()["message"]
    assert _otlp(server, exp, [root], timeout=30).status_code == 200
    bad_type = requests.post(
        server + "/v1/traces",
        data=b"{}",
        headers={"x-mlflow-experiment-id": exp, "Content-Type": "application/json"},
        timeout=30,
    )
    assert bad_type.status_code == 400
    lost = Span("tr-" + "1" * 32, "00000000000000aa", None, "x", 1, 2)
    assert _otlp(server, "987654", [lost], timeout=30).status_code == 404


def test_update_assessment_applies_only_the_masked_fields(server: str) -> None:
    from trackyard.testing import make_client
    from trackyard_rest.client.tracking import RestTrackingStore

    client = make_client(RestTrackingStore(server))
    exp = client.create_experiment("masks")
    root = client.start_trace("r", experiment_id=exp)
    client.end_trace(root.trace_id)
    fb = client.log_assessment(Feedback("f", 1, trace_id=root.trace_id, rationale="why"))
    path = f"{server}/api/3.0/mlflow/traces/{root.trace_id}/assessments/{fb.assessment_id}"
    sent = {"assessment_name": "renamed", "feedback": {"value": 2}, "rationale": "ignored"}
    out = requests.patch(
        path, json={"assessment": sent, "update_mask": "assessmentName,feedback"}, timeout=30
    ).json()["assessment"]
    assert (out["assessment_name"], out["feedback"]["value"], out["rationale"]) == (
        "renamed",
        2,
        "why",
    )
    got = client.get_assessment(root.trace_id, fb.assessment_id)
    assert (got.name, got.value, got.rationale) == ("renamed", 2, "why")
    info = requests.get(f"{server}/api/3.0/mlflow/server-info", timeout=30).json()
    assert "traces" in info["trackyard_capabilities"]
    too_many = requests.post(
        f"{server}/api/3.0/mlflow/traces/search",
        json={"locations": [{"mlflow_experiment": {"experiment_id": exp}}], "max_results": 501},
        timeout=30,
    )
    assert too_many.status_code == 400


def test_a_store_without_traces_answers_feature_disabled(tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the server needs trackyard[server]")
    import dataclasses

    from tests.rest_server import serve
    from trackyard_rest.server import create_app

    app = create_app(f"sqlite:///{tmp_path / 'ty.db'}", artifacts_destination=str(tmp_path / "a"))
    store = app.state.backend.tracking
    store.capabilities = dataclasses.replace(store.capabilities, traces=False, assessments=False)
    api = "/api/3.0/mlflow/traces"
    where = {"locations": [{"mlflow_experiment": {"experiment_id": "0"}}]}
    with serve(app) as url:
        answers = [
            requests.post(url + api + "/search", json=where, timeout=30),
            requests.get(url + api + "/" + TRACE, timeout=30),
            requests.get(url + api + f"/{TRACE}/assessments/a-1", timeout=30),
            _otlp(url, "0", [_span()], timeout=30),
        ]
    assert [r.status_code for r in answers] == [501] * 4
    assert {r.json()["error_code"] for r in answers} == {"FEATURE_DISABLED"}
