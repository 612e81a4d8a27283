"""Trace entities: ids, MLflow's span JSON, trace info JSON, previews; the trace grammar."""

from __future__ import annotations

import json

import pytest

from trackyard.entities.trace import (
    Span,
    SpanStatusCode,
    Trace,
    TraceInfo,
    TraceLocation,
    encode_attribute,
    new_span_id,
    new_trace_id,
    truncate_preview,
)
from trackyard.entities.trace_assessment import Assessment, Expectation, Feedback
from trackyard.errors import TrackyardError
from trackyard.search import Comparison, Entity, Op, OrderKey, format_filter, parse_filter
from trackyard.search.parser import parse_order_by

# A span as MLflow 3.17.2 stored it in the `spans.content` column (captured from a real run).
MLFLOW_SPAN = {
    "trace_id": "6o30iJZa6kCsCNiOdg97/Q==",
    "span_id": "wa9nyqqU5+8=",
    "parent_span_id": "hK7C7QQY0Pc=",
    "name": "child",
    "start_time_unix_nano": 1796467461472126312,
    "end_time_unix_nano": 1796467461472413919,
    "events": [],
    "status": {"code": "STATUS_CODE_OK", "message": ""},
    "attributes": {
        "mlflow.traceRequestId": '"tr-ea8df488965aea40ac08d88e760f7bfd"',
        "mlflow.spanType": '"LLM"',
        "mlflow.spanInputs": "[1, 2]",
        "k": '"v"',
        "x": "[1]",
        "mlflow.spanOutputs": '"out"',
        "mlflow.spanLogLevel": "20",
    },
    "links": [],
}


def test_ids_have_mlflow_shapes() -> None:
    trace_id, span_id = new_trace_id(), new_span_id()
    assert trace_id.startswith("tr-") and len(trace_id) == 35
    int(trace_id[3:], 16)
    assert len(span_id) == 16 and int(span_id, 16) > 0
    assert len({new_trace_id() for _ in range(1000)}) == 1000


def test_mlflow_span_json_reads_and_writes_back_unchanged() -> None:
    span = Span.from_dict(MLFLOW_SPAN)
    assert span.trace_id == "tr-ea8df488965aea40ac08d88e760f7bfd"
    assert span.span_id == "c1af67caaa94e7ef"
    assert span.parent_id == "84aec2ed0418d0f7"
    assert span.span_type == "LLM" and span.inputs == [1, 2] and span.outputs == "out"
    assert span.status.status_code is SpanStatusCode.OK
    assert span.duration_ns == 287607
    assert span.to_dict() == MLFLOW_SPAN


def test_attribute_values_are_json_encoded() -> None:
    assert encode_attribute("UNKNOWN") == '"UNKNOWN"'
    assert encode_attribute({"a": [1, None]}) == '{"a": [1, null]}'
    assert json.loads(encode_attribute(object())).startswith("<object object")


def test_trace_info_json_round_trip() -> None:
    info = TraceInfo(
        trace_id="tr-" + "a" * 32,
        trace_location=TraceLocation("7"),
        request_time=1796467461369,
        state="OK",
        request_preview='{"q": 1}',
        execution_duration=103,
        trace_metadata={"mlflow.trace_schema.version": "3"},
        tags={"mlflow.traceName": "root"},
        assessments=[Feedback("f", 0.5, trace_id="tr-" + "a" * 32)],
    )
    d = info.to_dict()
    assert d["request_time"] == "2026-12-05T10:44:21.369Z"
    assert d["trace_location"] == {
        "type": "MLFLOW_EXPERIMENT",
        "mlflow_experiment": {"experiment_id": "7"},
    }
    assert d["execution_duration_ms"] == 103
    back = TraceInfo.from_dict(d)
    assert back == info
    assert (back.request_id, back.experiment_id, back.timestamp_ms) == (
        info.trace_id,
        "7",
        1796467461369,
    )
    trace = Trace(back)
    assert Trace.from_json(trace.to_json()).info == info


def test_assessment_json_round_trip() -> None:
    exp = Expectation("answer", {"a": [1]}, trace_id="tr-" + "b" * 32)
    d = exp.to_dictionary()
    assert d["expectation"]["serialized_value"]["serialization_format"] == "JSON_FORMAT"
    assert Assessment.from_dictionary(d) == exp
    fb = Feedback("judge", error=ValueError("boom"))
    assert Assessment.from_dictionary(fb.to_dictionary()).error == fb.error


def test_preview_truncation() -> None:
    assert truncate_preview("x" * 1000) == "x" * 1000
    cut = truncate_preview("x" * 1001)
    assert cut is not None and len(cut) == 1000 and cut.endswith("...")


def test_trace_grammar_maps_mlflow_keys() -> None:
    assert parse_filter("name = 'a'", "traces") == Comparison(
        Entity.TAG, "mlflow.traceName", Op.EQ, "a"
    )
    assert parse_filter("run_id IN ('r')", "traces") == Comparison(
        Entity.METADATA, "mlflow.sourceRun", Op.IN, ("r",)
    )
    assert parse_filter("trace.timestamp > 5", "traces") == Comparison(
        Entity.ATTRIBUTE, "timestamp_ms", Op.GT, 5
    )
    expr = parse_filter("span.type RLIKE 'L.M'", "traces")
    assert expr == Comparison(Entity.SPAN, "type", Op.RLIKE, "L.M")
    assert parse_filter(format_filter(expr), "traces") == expr
    assert parse_order_by(["name DESC"], "traces") == (
        OrderKey(Entity.TAG, "mlflow.traceName", False),
        OrderKey(Entity.ATTRIBUTE, "timestamp_ms", False),
        OrderKey(Entity.ATTRIBUTE, "request_id", True),
    )


@pytest.mark.parametrize(
    "bad", ["params.a RLIKE 'x'", "tags.a RLIKE 'x'"], ids=["runs-params", "runs-tags"]
)
def test_rlike_is_for_traces_only(bad: str) -> None:
    with pytest.raises(TrackyardError, match="RLIKE"):
        parse_filter(bad, "runs")


def test_filter_has_spans() -> None:
    from trackyard.search.trace_evaluator import filter_has_spans

    assert filter_has_spans(None) is False
    assert filter_has_spans(parse_filter("name = 'a' AND tags.t = 'x'", "traces")) is False
    assert filter_has_spans(parse_filter("span.type = 'LLM'", "traces")) is True
    assert filter_has_spans(parse_filter("name = 'a' AND span.name LIKE 'r%'", "traces")) is True
