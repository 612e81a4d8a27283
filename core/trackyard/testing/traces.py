"""``TraceStoreSuite``: the behaviour of a tracking store that keeps traces.

Tests drive the store through :class:`trackyard.MlflowClient`. Searches are compared with
the reference evaluator (:mod:`trackyard.search.trace_evaluator`). A store that does not
declare the ``traces`` capability is held to refusing every tracing call with
FEATURE_DISABLED; the assessment tests need the ``assessments`` capability.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from trackyard.entities.trace import SpanStatusCode, TraceState
from trackyard.entities.trace_assessment import AssessmentSource, Expectation, Feedback
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search.request import TraceSearch
from trackyard.search.trace_evaluator import SpanFields, search_traces_in_memory
from trackyard.testing._backend import BackendCheck
from trackyard.testing._client import make_client, require_capability

__all__ = ["TRACE_BAD_FILTERS", "TRACE_SEARCH_CASES", "TraceStoreSuite"]

T0_NS = 1_700_000_000_000 * 1_000_000  # a fixed origin so orders are deterministic
MISSING_TRACE = "tr-" + "0" * 32


def _expect(code: str, fn: Any, *args: Any, **kwargs: Any) -> TrackyardError:
    with pytest.raises(TrackyardError) as excinfo:
        fn(*args, **kwargs)
    got = excinfo.value.error_code
    assert got == code, f"expected {code}, got {got}: {excinfo.value}"
    return excinfo.value


# (filter_string, order_by) checked against the evaluator on the search fixture.
TRACE_SEARCH_CASES: list[tuple[str, list[str] | None]] = [
    ("", None),
    ("", ["timestamp ASC"]),
    ("", ["execution_time DESC"]),
    ("", ["end_time_ms"]),
    ("", ["status", "timestamp_ms DESC"]),
    ("", ["name DESC"]),
    ("", ["tags.team"]),
    ("", ["tags.team DESC"]),
    ("", ["metadata.mlflow.sourceRun"]),
    ("", ["run_id DESC"]),
    ("", ["request_id"]),
    ("", ["experiment_id DESC", "timestamp ASC"]),
    ("name = 'chat'", None),
    ("trace.name != 'chat'", None),
    ("name LIKE 'ch%'", ["timestamp ASC"]),
    ("name ILIKE 'CH%'", None),
    ("name IN ('chat', 'search')", None),
    ("name NOT IN ('chat')", None),
    ("name RLIKE '^se.*h$'", None),
    ("status = 'ERROR'", None),
    ("attributes.status != 'OK'", None),
    ("status IN ('OK')", ["timestamp ASC"]),
    ("timestamp > 1700000005000", None),
    ("timestamp_ms <= 1700000003000", None),
    ("execution_time >= 30", None),
    ("execution_time_ms < 30", None),
    ("end_time > 1700000010000", None),
    ("tags.team = 'nlp'", None),
    ("tags.team != 'nlp'", None),
    ("tags.team IS NULL", None),
    ("tags.team IS NOT NULL", ["tags.team DESC"]),
    ("tags.team LIKE '%i%'", None),
    ("tags.team ILIKE 'VIS%'", None),
    ("tags.team RLIKE 'i.i'", None),
    ("tags.`mlflow.traceName` = 'search'", None),
    ("metadata.`mlflow.sourceRun` IS NOT NULL", None),
    ("run_id IS NULL", None),
    ("request_metadata.env = 'prod'", None),
    ("span.name = 'retrieve'", None),
    ("span.type = 'LLM'", None),
    ("span.type IN ('TOOL', 'RETRIEVER')", None),
    ("span.status = 'ERROR'", None),
    ("span.name LIKE 'ret%' AND status = 'OK'", None),
    ("span.name != 'retrieve'", None),
    ("client_request_id = 'req-3'", None),
    ("request_id LIKE 'tr-%'", None),
    ("name = 'chat' AND tags.team = 'nlp' AND timestamp > 1700000002000", None),
    ("tags.note = 'a;b'", None),
    ("tags.note = 'x'' OR ''1''=''1'", None),
]

# filters every backend must refuse with INVALID_PARAMETER_VALUE
TRACE_BAD_FILTERS: list[str] = [
    "foo.a = 'x'",
    "params.a = 'x'",
    "timestamp LIKE '1'",
    "timestamp = '5'",
    "status > 'OK'",
    "tags.team > 'a'",
    "metadata.k < 'x'",
    "span.foo = 'x'",
    "span.name IS NULL",
    "text LIKE '%a%'",
    "nonsense = 'x'",
    "name = chat",
    "name == 'chat'",
]


class TraceStoreSuite(BackendCheck):
    """Mixin test class: subclass it and override the ``tracking_store`` fixture."""

    backend_kind = "tracking"

    def _backend_under_test(self, request: pytest.FixtureRequest) -> tuple[object, str | None]:
        store = request.getfixturevalue("tracking_store")
        return store, store.store_uri

    @pytest.fixture
    def tracking_store(self) -> Any:
        """A fresh, empty tracking store. Backends must override this."""
        pytest.fail(
            f"{type(self).__name__} must override the 'tracking_store' fixture to return a "
            "fresh tracking store (see trackyard.testing)."
        )

    @pytest.fixture
    def client(self, tracking_store: Any) -> Any:
        return make_client(tracking_store)

    @pytest.fixture
    def traced(self, client: Any) -> Any:
        require_capability(client._store, "traces")
        return client

    @pytest.fixture
    def exp_id(self, traced: Any) -> str:
        return str(traced.create_experiment(f"traces-{uuid.uuid4().hex[:8]}"))

    def _trace(self, client: Any, exp_id: str, **kwargs: Any) -> str:
        root = client.start_trace("root", inputs={"q": 1}, experiment_id=exp_id, **kwargs)
        child = client.start_span("child", root.trace_id, root.span_id, span_type="LLM")
        client.end_span(root.trace_id, child.span_id, outputs="fine")
        client.end_trace(root.trace_id, outputs={"a": 2})
        return str(root.trace_id)

    # -- without the capability ------------------------------------------------------------
    def test_without_traces_capability_tracing_is_refused(self, client: Any) -> None:
        if client._store.capabilities.traces:
            pytest.skip("the store declares 'traces'; the suite's other tests cover it")
        _expect(ErrorCode.FEATURE_DISABLED, client.start_trace, "t")
        _expect(ErrorCode.FEATURE_DISABLED, client.search_traces, ["0"])
        _expect(ErrorCode.FEATURE_DISABLED, client.get_trace, MISSING_TRACE)
        _expect(ErrorCode.FEATURE_DISABLED, client.delete_traces, "0", trace_ids=[MISSING_TRACE])
        _expect(ErrorCode.FEATURE_DISABLED, client.set_trace_tag, MISSING_TRACE, "k", "v")

    # -- writing and reading ---------------------------------------------------------------
    def test_trace_round_trip(self, traced: Any, exp_id: str) -> None:
        root = traced.start_trace(
            "root",
            span_type="CHAIN",
            inputs={"q": "hi"},
            attributes={"a": 1, "s": "x"},
            tags={"t": "v"},
            experiment_id=exp_id,
            start_time_ns=T0_NS,
        )
        assert root.trace_id.startswith("tr-") and len(root.trace_id) == 35
        assert len(root.span_id) == 16 and root.parent_id is None
        child = traced.start_span(
            "child", root.trace_id, root.span_id, "LLM", [1, 2], {"k": "v"}, T0_NS + 1000
        )
        traced.end_span(root.trace_id, child.span_id, outputs="out", end_time_ns=T0_NS + 2000)
        traced.end_trace(root.trace_id, outputs={"ans": 42}, end_time_ns=T0_NS + 25_000_000)
        trace = traced.get_trace(root.trace_id)
        info = trace.info
        assert info.trace_id == root.trace_id and info.experiment_id == exp_id
        assert info.state == TraceState.OK
        assert info.request_time == T0_NS // 1_000_000
        assert info.execution_duration == 25
        assert info.request_preview == '{"q": "hi"}'
        assert info.response_preview == '{"ans": 42}'
        assert info.tags["t"] == "v" and info.tags["mlflow.traceName"] == "root"
        assert info.trace_metadata["mlflow.trace_schema.version"] == "3"
        assert info.trace_metadata["mlflow.traceInputs"] == '{"q": "hi"}'
        spans = trace.data.spans
        assert [s.name for s in spans] == ["root", "child"]
        r, c = spans
        assert r.span_id == root.span_id and c.parent_id == root.span_id
        assert r.span_type == "CHAIN" and c.span_type == "LLM"
        assert r.inputs == {"q": "hi"} and r.outputs == {"ans": 42}
        assert r.attributes["a"] == 1 and r.attributes["s"] == "x"
        assert r.raw_attributes["s"] == '"x"'
        assert c.inputs == [1, 2] and c.outputs == "out" and c.attributes["k"] == "v"
        assert (c.start_time_ns, c.end_time_ns) == (T0_NS + 1000, T0_NS + 2000)
        assert c.status.status_code is SpanStatusCode.OK
        assert trace.data.request == '{"q": "hi"}'

    def test_previews_are_truncated(self, traced: Any, exp_id: str) -> None:
        root = traced.start_trace("long", inputs="x" * 5000, experiment_id=exp_id)
        traced.end_trace(root.trace_id, outputs="y" * 5000)
        info = traced.get_trace(root.trace_id).info
        assert len(info.request_preview) == 1000 and info.request_preview.endswith("...")
        assert len(info.trace_metadata["mlflow.traceInputs"]) == 250
        assert traced.get_trace(root.trace_id).data.spans[0].inputs == "x" * 5000

    def test_open_span_is_closed_with_error_and_error_trace_keeps_spans(
        self, traced: Any, exp_id: str
    ) -> None:
        root = traced.start_trace("r", experiment_id=exp_id)
        left = traced.start_span("left-open", root.trace_id, root.span_id)
        traced.end_trace(root.trace_id, status="ERROR")
        trace = traced.get_trace(root.trace_id)
        assert trace.info.state == TraceState.ERROR
        spans = {s.span_id: s for s in trace.data.spans}
        assert set(spans) == {root.span_id, left.span_id}
        assert spans[left.span_id].status.status_code is SpanStatusCode.ERROR
        assert spans[left.span_id].end_time_ns is not None

    def test_live_span_methods(self, traced: Any, exp_id: str) -> None:
        root = traced.start_trace("r", experiment_id=exp_id)
        span = traced.start_span("s", root.trace_id, root.span_id)
        span.set_inputs({"x": 1})
        span.set_attribute("n", [1, 2])
        span.record_exception(ValueError("bad"))
        span.end()
        root.end(outputs="done")
        got = {s.name: s for s in traced.get_trace(root.trace_id).data.spans}
        assert got["s"].inputs == {"x": 1} and got["s"].attributes["n"] == [1, 2]
        assert got["s"].status.status_code is SpanStatusCode.ERROR
        assert got["s"].events[0].name == "exception"
        assert got["r"].outputs == "done"

    def test_trace_tags(self, traced: Any, exp_id: str) -> None:
        trace_id = self._trace(traced, exp_id, tags={"a": "1"})
        traced.set_trace_tag(trace_id, "b", "2")
        traced.set_trace_tag(trace_id, "a", "changed")
        tags = traced.get_trace(trace_id).info.tags
        assert tags["a"] == "changed" and tags["b"] == "2"
        traced.delete_trace_tag(trace_id, "b")
        assert "b" not in traced.get_trace(trace_id).info.tags
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, traced.delete_trace_tag, trace_id, "b")
        long_value = traced.set_trace_tag(trace_id, "long", "v" * 9000)
        assert long_value is None
        assert len(traced.get_trace(trace_id).info.tags["long"]) == 8000

    def test_tags_on_a_trace_in_progress(self, traced: Any, exp_id: str) -> None:
        root = traced.start_trace("r", experiment_id=exp_id)
        traced.set_trace_tag(root.trace_id, "k", "v")
        traced.end_trace(root.trace_id)
        assert traced.get_trace(root.trace_id).info.tags["k"] == "v"

    def test_run_id_is_source_run_metadata(self, traced: Any, exp_id: str) -> None:
        run_id = traced.create_run(exp_id).info.run_id
        with_run = self._trace(traced, exp_id, run_id=run_id)
        self._trace(traced, exp_id)
        meta = traced.get_trace(with_run).info.trace_metadata
        assert meta["mlflow.sourceRun"] == run_id
        got = traced.search_traces([exp_id], run_id=run_id)
        assert [t.info.trace_id for t in got] == [with_run]
        got = traced.search_traces([exp_id], f"run_id = '{run_id}'", include_spans=False)
        assert [t.info.trace_id for t in got] == [with_run] and got[0].data.spans == []
        # the client document's sql_warehouse_id (Databricks only) is accepted, and changes
        # nothing
        got = traced.search_traces([exp_id], run_id=run_id, sql_warehouse_id="w-1")
        assert [t.info.trace_id for t in got] == [with_run]

    def test_delete_traces(self, traced: Any, exp_id: str) -> None:
        ids = [self._trace(traced, exp_id, start_time_ns=T0_NS + i * 10**9) for i in range(5)]
        other = traced.create_experiment(f"other-{uuid.uuid4().hex[:6]}")
        elsewhere = self._trace(traced, other, start_time_ns=T0_NS)
        assert traced.delete_traces(exp_id, trace_ids=[ids[0], elsewhere, MISSING_TRACE]) == 1
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, traced.get_trace, ids[0])
        cutoff = T0_NS // 1_000_000 + 3000
        assert traced.delete_traces(exp_id, max_timestamp_millis=cutoff, max_traces=2) == 2
        left = [t.info.trace_id for t in traced.search_traces([exp_id], order_by=["timestamp"])]
        assert left == [ids[3], ids[4]]
        assert traced.delete_traces(exp_id, max_timestamp_millis=cutoff) == 1
        assert traced.get_trace(elsewhere).info.trace_id == elsewhere

    # -- bad input -------------------------------------------------------------------------
    def test_unknown_trace(self, traced: Any, exp_id: str) -> None:
        code = ErrorCode.RESOURCE_DOES_NOT_EXIST
        _expect(code, traced.get_trace, MISSING_TRACE)
        _expect(code, traced.set_trace_tag, MISSING_TRACE, "k", "v")
        _expect(code, traced.delete_trace_tag, MISSING_TRACE, "k")
        _expect(code, traced.end_trace, MISSING_TRACE)
        _expect(code, traced.start_span, "s", MISSING_TRACE, "0" * 16)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, traced.get_trace, "not a trace id")
        _expect(code, traced.start_trace, "t", experiment_id="987654321")
        assert list(traced.search_traces([exp_id])) == []

    def test_span_errors_leave_nothing_behind(self, traced: Any, exp_id: str) -> None:
        first = traced.start_trace("first", experiment_id=exp_id)
        second = traced.start_trace("second", experiment_id=exp_id)
        span = traced.start_span("s", first.trace_id, first.span_id)
        traced.end_span(first.trace_id, span.span_id)
        _expect(ErrorCode.INVALID_STATE, traced.end_span, first.trace_id, span.span_id)
        # a parent span from another trace
        _expect(
            ErrorCode.RESOURCE_DOES_NOT_EXIST,
            traced.start_span,
            "x",
            first.trace_id,
            second.span_id,
        )
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, traced.end_span, first.trace_id, second.span_id)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, traced.end_span, first.trace_id, "x", None)
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE, traced.end_trace, first.trace_id, None, None, "SO-SO"
        )
        traced.end_trace(first.trace_id)
        traced.end_trace(second.trace_id)
        # a span on a finished trace; ending it again
        _expect(ErrorCode.INVALID_STATE, traced.start_span, "late", first.trace_id, first.span_id)
        _expect(ErrorCode.INVALID_STATE, traced.end_trace, first.trace_id)
        names = [s.name for s in traced.get_trace(first.trace_id).data.spans]
        assert sorted(names) == ["first", "s"]

    @pytest.mark.parametrize(
        "key, value",
        [("k" * 251, "v"), ("", "v"), ("../escape", "v"), ("a//b", "v"), (None, "v")],
    )
    def test_bad_tag_keys(self, traced: Any, exp_id: str, key: Any, value: str) -> None:
        trace_id = self._trace(traced, exp_id)
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, traced.set_trace_tag, trace_id, key, value)
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            traced.start_trace,
            "t",
            experiment_id=exp_id,
            tags={key: value},
        )
        assert set(traced.get_trace(trace_id).info.tags) == {
            "mlflow.traceName",
            *(k for k in traced.get_trace(trace_id).info.tags if k.startswith("mlflow.")),
        }
        assert len(traced.search_traces([exp_id])) == 1

    def test_delete_traces_needs_ids_or_a_bound(self, traced: Any, exp_id: str) -> None:
        trace_id = self._trace(traced, exp_id)
        bad = ErrorCode.INVALID_PARAMETER_VALUE
        _expect(bad, traced.delete_traces, exp_id)
        _expect(bad, traced.delete_traces, exp_id, max_traces=1)
        _expect(bad, traced.delete_traces, exp_id, 10**13, None, [trace_id])
        _expect(bad, traced.delete_traces, exp_id, None, 3, [trace_id])
        _expect(bad, traced.delete_traces, exp_id, 10**13, 0)
        assert traced.get_trace(trace_id).info.trace_id == trace_id

    @pytest.mark.parametrize("bad_filter", TRACE_BAD_FILTERS)
    def test_bad_filters(self, traced: Any, exp_id: str, bad_filter: str) -> None:
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, traced.search_traces, [exp_id], bad_filter)

    @pytest.mark.parametrize(
        "order_by", [["foo"], ["tags.a SIDEWAYS"], ["span.name"], ["client_request_id"]]
    )
    def test_bad_order_by(self, traced: Any, exp_id: str, order_by: list[str]) -> None:
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE, traced.search_traces, [exp_id], None, 10, order_by
        )

    @pytest.mark.parametrize("max_results", [0, -1, 50001, "10"])
    def test_bad_max_results(self, traced: Any, exp_id: str, max_results: Any) -> None:
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE, traced.search_traces, [exp_id], None, max_results
        )

    # -- search ----------------------------------------------------------------------------
    @pytest.fixture
    def search_fixture(self, traced: Any) -> tuple[Any, list[str]]:
        """Two experiments, fourteen traces with missing, tied and unusual values."""
        exp_a = traced.create_experiment(f"ts-a-{uuid.uuid4().hex[:6]}")
        exp_b = traced.create_experiment(f"ts-b-{uuid.uuid4().hex[:6]}")
        run_id = traced.create_run(exp_a).info.run_id
        names = ["chat", "search", "Chat", "summarize"]
        teams = ["nlp", "vision", None, "Vision", "nlp"]
        for i in range(14):
            exp = exp_a if i % 4 else exp_b
            start = T0_NS + (i // 3 if i % 5 == 0 else i) * 10**9
            tags = {"team": teams[i % 5]} if teams[i % 5] else {}
            if i == 6:
                tags["note"] = "a;b"
            root = traced.start_trace(
                names[i % 4],
                experiment_id=exp,
                start_time_ns=start,
                tags=tags,
                run_id=run_id if i % 3 == 0 else None,
                inputs={"i": i},
            )
            if i % 2:
                kind = ["LLM", "TOOL", "RETRIEVER"][i % 3]
                span = traced.start_span(
                    "retrieve" if i % 3 else "generate",
                    root.trace_id,
                    root.span_id,
                    kind,
                    None,
                    None,
                    start + 1000,
                )
                traced.end_span(
                    root.trace_id,
                    span.span_id,
                    None,
                    None,
                    "ERROR" if i % 7 == 1 else "OK",
                    start + 2000,
                )
            traced.end_trace(
                root.trace_id,
                status="ERROR" if i % 6 == 5 else "OK",
                end_time_ns=start + (i % 5) * 15_000_000,
            )
        return traced, [exp_a, exp_b]

    def _expected(
        self, client: Any, exp_ids: list[str], filter_string: str, order_by: list[str] | None
    ) -> list[str]:
        everything = client.search_traces(exp_ids, max_results=50000)
        pairs = [
            (
                t.info,
                [SpanFields(s.name, s.span_type, s.status.status_code.value) for s in t.data.spans],
            )
            for t in everything
        ]
        request = TraceSearch.parse(exp_ids, filter_string, 50000, order_by)
        return [i.trace_id for i in search_traces_in_memory(pairs, request)]

    @pytest.mark.parametrize("filter_string, order_by", TRACE_SEARCH_CASES)
    def test_search_traces_matches_evaluator(
        self, search_fixture: Any, filter_string: str, order_by: list[str] | None
    ) -> None:
        client, exp_ids = search_fixture
        expected = self._expected(client, exp_ids, filter_string, order_by)
        got = client.search_traces(exp_ids, filter_string, order_by=order_by, include_spans=False)
        assert [t.info.trace_id for t in got] == expected
        assert got.token is None
        paged: list[str] = []
        token = None
        while True:
            page = client.search_traces(
                exp_ids, filter_string, 4, order_by, token, include_spans=False
            )
            assert len(page) <= 4
            paged.extend(t.info.trace_id for t in page)
            token = page.token
            if not token:
                break
        assert paged == expected

    def test_search_traces_defaults(self, search_fixture: Any) -> None:
        client, exp_ids = search_fixture
        got = client.search_traces(exp_ids)
        keys = [(-t.info.request_time, t.info.trace_id) for t in got]
        assert keys == sorted(keys) and len(got) == 14
        assert all(t.data.spans for t in got)
        assert len(client.search_traces([exp_ids[1]])) == 4
        assert len(client.search_traces(exp_ids, "name = 'chat'")) == len(
            self._expected(client, exp_ids, "name = 'chat'", None)
        )

    # -- assessments -----------------------------------------------------------------------
    @pytest.fixture
    def assessed(self, traced: Any) -> Any:
        require_capability(traced._store, "assessments")
        return traced

    def test_assessments(self, assessed: Any, exp_id: str) -> None:
        trace_id = self._trace(assessed, exp_id)
        fb = assessed.log_assessment(
            Feedback(
                "relevance",
                0.5,
                source=AssessmentSource("HUMAN", "bob"),
                rationale="because",
                metadata={"m": 1},
            ),
            request_id=trace_id,
        )
        assert fb.assessment_id.startswith("a-") and fb.valid and fb.create_time_ms
        ex = assessed.log_assessment(Expectation("answer", {"a": [1]}, trace_id=trace_id))
        got = assessed.get_assessment(fb.assessment_id)
        assert (got.name, got.value, got.rationale, got.metadata) == (
            "relevance",
            0.5,
            "because",
            {"m": "1"},
        )
        assert got.source == AssessmentSource("HUMAN", "bob")
        assert assessed.get_assessment(trace_id, ex.assessment_id).expectation == {"a": [1]}
        over = assessed.log_assessment(
            Feedback("relevance", 0.9, trace_id=trace_id, overrides=fb.assessment_id)
        )
        assert assessed.get_assessment(fb.assessment_id).valid is False
        info = assessed.get_trace(trace_id).info
        assert {a.assessment_id for a in info.assessments} == {
            fb.assessment_id,
            ex.assessment_id,
            over.assessment_id,
        }
        updated = assessed.update_assessment(ex.assessment_id, value="plain")
        assert (
            updated.value == "plain" and assessed.get_assessment(ex.assessment_id).value == "plain"
        )
        assessed.delete_assessment(trace_id, over.assessment_id)
        assert assessed.get_assessment(fb.assessment_id).valid is True
        _expect(ErrorCode.RESOURCE_DOES_NOT_EXIST, assessed.get_assessment, over.assessment_id)

    def test_feedback_with_error(self, assessed: Any, exp_id: str) -> None:
        trace_id = self._trace(assessed, exp_id)
        fb = assessed.log_assessment(Feedback("judge", error=ValueError("boom"), trace_id=trace_id))
        got = assessed.get_assessment(trace_id, fb.assessment_id)
        assert got.value is None and got.error.error_code == "ValueError"
        assert got.error.error_message == "boom"

    def test_bad_assessments_write_nothing(self, assessed: Any, exp_id: str) -> None:
        trace_id = self._trace(assessed, exp_id)
        missing = ErrorCode.RESOURCE_DOES_NOT_EXIST
        bad = ErrorCode.INVALID_PARAMETER_VALUE
        _expect(missing, assessed.log_assessment, Feedback("f", 1, trace_id=MISSING_TRACE))
        _expect(bad, assessed.log_assessment, Feedback("f", 1))
        _expect(bad, assessed.log_assessment, Feedback("", 1, trace_id=trace_id))
        _expect(bad, assessed.log_assessment, Feedback("f", None, trace_id=trace_id))
        _expect(bad, assessed.log_assessment, Expectation("e", None, trace_id=trace_id))
        _expect(bad, assessed.log_assessment, Feedback("f", object(), trace_id=trace_id))
        _expect(
            missing,
            assessed.log_assessment,
            Feedback("f", 1, trace_id=trace_id, overrides="a-" + "0" * 32),
        )
        _expect(missing, assessed.get_assessment, "a-" + "0" * 32)
        _expect(bad, assessed.get_assessment, "not-an-id")
        assert assessed.get_trace(trace_id).info.assessments == []
