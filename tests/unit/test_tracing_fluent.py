"""``@trackyard.trace``, ``trackyard.start_span`` and the active span, on the memory store."""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import trackyard
from trackyard import MlflowClient
from trackyard.entities.trace import Span, Trace
from trackyard.errors import TrackyardError

pytest.importorskip("trackyard_memory", reason="the contrib memory store keeps the traces")


@pytest.fixture(autouse=True)
def memory_uri(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh ``memory://`` tracking URI (with the memory plugin allowed) for each test."""
    from trackyard_memory import fresh_uri, reset

    from trackyard.plugins import manager

    monkeypatch.setenv("TRACKYARD_PLUGINS", "trackyard,trackyard-memory")
    manager.reset_plugin_manager()
    uri = fresh_uri("fluent")
    trackyard.set_tracking_uri(uri)
    yield uri
    trackyard.flush_trace_async_logging()
    reset(uri)


def _start_ns(trace: Trace) -> int:
    root = trace.data.root_span
    return root.start_time_ns if root is not None else trace.info.request_time * 1_000_000


def _traces() -> list[Trace]:
    """The stored traces in the order they started (to the nanosecond: several traces
    start within one millisecond, which is all ``timestamp_ms`` tells apart)."""
    trackyard.flush_trace_async_logging()
    return sorted(MlflowClient().search_traces(["0"]), key=_start_ns)


def _only_trace() -> Trace:
    traces = _traces()
    assert len(traces) == 1, traces
    return traces[0]


def _by_name(trace: Trace) -> dict[str, Span]:
    return {s.name: s for s in trace.data.spans}


# -- the decorator ----------------------------------------------------------------------------
class Calculator:
    @trackyard.trace(span_type="TOOL", attributes={"unit": "cm", "n": 1})
    def add(self, a: int, b: int = 2, *rest: int, scale: int = 1, **extra: Any) -> dict[str, int]:
        return {"sum": (a + b + sum(rest)) * scale}

    @trackyard.trace
    @classmethod
    def make(cls, x: int) -> int:
        return x * 2

    @trackyard.trace(name="static-one")
    @staticmethod
    def static(x: int) -> int:
        return x + 1


def test_sync_function_records_inputs_outputs_and_attributes() -> None:
    result = Calculator().add(1, 5, 7, z=9)
    assert result == {"sum": 13}
    trace = _only_trace()
    span = trace.data.spans[0]
    assert span.name == "add" and span.parent_id is None
    assert span.inputs == {"a": 1, "b": 5, "rest": [7], "scale": 1, "extra": {"z": 9}}
    assert span.outputs == {"sum": 13}
    assert span.span_type == "TOOL"
    assert span.attributes["unit"] == "cm" and span.attributes["n"] == 1
    assert span.raw_attributes["mlflow.spanFunctionName"] == '"add"'
    assert span.status.status_code.value == "OK"
    info = trace.info
    assert info.state == "OK" and info.tags["mlflow.traceName"] == "add"
    assert json.loads(info.request_preview or "") == span.inputs
    assert json.loads(info.response_preview or "") == {"sum": 13}
    assert info.trace_metadata["mlflow.trace_schema.version"] == "3"


def test_bare_decorator_keeps_the_function_identity() -> None:
    @trackyard.trace
    def greet(name: str) -> str:
        """Say hello."""
        return f"hello {name}"

    assert greet.__name__ == "greet" and greet.__doc__ == "Say hello."
    assert greet("ada") == "hello ada"
    span = _only_trace().data.spans[0]
    assert (span.name, span.inputs, span.outputs) == ("greet", {"name": "ada"}, "hello ada")


def test_classmethod_and_staticmethod() -> None:
    assert Calculator.make(3) == 6
    assert Calculator().static(1) == 2
    spans = [t.data.spans[0] for t in _traces()]
    assert [(s.name, s.inputs, s.outputs) for s in spans] == [
        ("make", {"x": 3}, 6),
        ("static-one", {"x": 1}, 2),
    ]


def test_exception_is_recorded_and_reraised() -> None:
    error = ValueError("bad input 7")

    @trackyard.trace
    def fails(x: int) -> None:
        raise error

    with pytest.raises(ValueError) as info:
        fails(7)
    assert info.value is error
    trace = _only_trace()
    span = trace.data.spans[0]
    assert span.status.status_code.value == "ERROR"
    assert span.status.description == "ValueError: bad input 7"
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "bad input 7"
    assert "raise error" in event.attributes["exception.stacktrace"]
    assert span.outputs is None
    assert trace.info.state == "ERROR" and trace.info.response_preview is None


def test_nested_spans_form_one_tree() -> None:
    @trackyard.trace(span_type="RETRIEVER")
    def retrieve(q: str) -> list[str]:
        return [q.upper()]

    @trackyard.trace(span_type="CHAIN")
    def answer(q: str) -> str:
        docs = retrieve(q)
        with trackyard.start_span("llm", span_type="LLM", attributes={"model": "m1"}) as llm:
            assert trackyard.get_current_active_span() is llm
            llm.set_inputs({"docs": docs})
            llm.set_attribute("tokens", 12)
            llm.set_attributes({"temperature": 0.5, "top_p": 1})
            llm.add_event(trackyard_span_event("retry"))
            llm.set_outputs("done")
        assert trackyard.get_current_active_span().name == "answer"  # type: ignore[union-attr]
        return "done"

    assert answer("q") == "done"
    trace = _only_trace()
    spans = _by_name(trace)
    assert set(spans) == {"answer", "retrieve", "llm"}
    root = spans["answer"]
    assert root.parent_id is None
    assert spans["retrieve"].parent_id == root.span_id == spans["llm"].parent_id
    assert {s.trace_id for s in trace.data.spans} == {trace.info.trace_id}
    llm = spans["llm"]
    assert llm.span_type == "LLM" and llm.inputs == {"docs": ["Q"]}
    assert llm.attributes["tokens"] == 12 and llm.attributes["temperature"] == 0.5
    assert [e.name for e in llm.events] == ["retry"]
    assert trackyard.get_current_active_span() is None


def trackyard_span_event(name: str) -> Any:
    from trackyard.entities.trace import SpanEvent

    return SpanEvent(name, 1, {"attempt": 2})


def test_explicit_set_outputs_wins() -> None:
    @trackyard.trace
    def f() -> int:
        span = trackyard.get_current_active_span()
        assert span is not None
        span.set_outputs({"custom": True})
        return 1

    assert f() == 1
    assert _only_trace().data.spans[0].outputs == {"custom": True}


def test_uncapturable_inputs_still_run_the_function() -> None:
    @trackyard.trace
    def f(a: int) -> int:
        return a

    with pytest.raises(TypeError):
        f(1, 2)  # type: ignore[call-arg]
    span = _only_trace().data.spans[0]
    assert span.inputs is None and span.status.status_code.value == "ERROR"


# -- generators -------------------------------------------------------------------------------
def test_generator_records_chunks_and_keeps_context_out_of_the_caller() -> None:
    seen: list[str | None] = []

    @trackyard.trace
    def stream(n: int) -> Iterator[int]:
        for i in range(n):
            span = trackyard.get_current_active_span()
            seen.append(span.name if span else None)
            yield i

    @trackyard.trace(output_reducer=lambda items: sum(items))
    def summed(n: int) -> Iterator[int]:
        yield from range(n)

    with trackyard.start_span("caller"):
        for _ in stream(3):
            assert trackyard.get_current_active_span().name == "caller"  # type: ignore[union-attr]
        assert list(summed(4)) == [0, 1, 2, 3]
    assert seen == ["stream", "stream", "stream"]
    spans = _by_name(_only_trace())
    gen = spans["stream"]
    assert gen.parent_id == spans["caller"].span_id
    assert gen.outputs == [0, 1, 2] and gen.inputs == {"n": 3}
    assert [e.name for e in gen.events] == [f"mlflow.chunk.item.{i}" for i in range(3)]
    assert [e.attributes["mlflow.chunk.value"] for e in gen.events] == ["0", "1", "2"]
    assert spans["summed"].outputs == 6


def test_generator_closed_early_and_failing() -> None:
    @trackyard.trace
    def numbers() -> Iterator[int]:
        yield 1
        yield 2
        raise RuntimeError("stream broke")

    it = numbers()
    assert next(it) == 1
    it.close()
    with pytest.raises(RuntimeError, match="stream broke"):
        list(numbers())
    early, broken = (t.data.spans[0] for t in _traces())
    assert early.outputs == [1] and early.status.status_code.value == "OK"
    assert broken.outputs == [1, 2] and broken.status.status_code.value == "ERROR"
    assert [e.name for e in broken.events][-1] == "exception"


def test_generator_send_and_return_value() -> None:
    @trackyard.trace
    def echo() -> Any:
        got = yield "ready"
        yield f"got {got}"
        return "finished"

    def drive() -> Any:
        gen = echo()
        first = next(gen)
        second = gen.send("x")
        with pytest.raises(StopIteration) as stop:
            next(gen)
        return first, second, stop.value.value

    assert drive() == ("ready", "got x", "finished")
    assert _only_trace().data.spans[0].outputs == ["ready", "got x"]


# -- asyncio ----------------------------------------------------------------------------------
def test_async_functions_nest_per_task_under_gather() -> None:
    @trackyard.trace
    async def leaf(i: int) -> int:
        await asyncio.sleep(0.001 * (3 - i))
        span = trackyard.get_current_active_span()
        assert span is not None and span.name == "leaf"
        return i * i

    @trackyard.trace
    async def fan_out(n: int) -> list[int]:
        return list(await asyncio.gather(*(leaf(i) for i in range(n))))

    async def main() -> list[list[int]]:
        return list(await asyncio.gather(fan_out(3), fan_out(2)))

    assert asyncio.run(main()) == [[0, 1, 4], [0, 1]]
    traces = _traces()
    assert len(traces) == 2
    for trace in traces:
        root = trace.data.root_span
        assert root is not None and root.name == "fan_out"
        leaves = [s for s in trace.data.spans if s.name == "leaf"]
        assert len(leaves) == root.inputs["n"]
        assert all(s.parent_id == root.span_id for s in leaves)
        assert sorted(s.outputs for s in leaves) == sorted(root.outputs)


def test_async_generator_and_async_exception() -> None:
    @trackyard.trace(span_type="LLM")
    async def tokens(text: str) -> AsyncIterator[str]:
        for word in text.split():
            await asyncio.sleep(0)
            yield word

    @trackyard.trace
    async def broken() -> None:
        await asyncio.sleep(0)
        raise KeyError("k")

    async def main() -> list[str]:
        with pytest.raises(KeyError):
            await broken()
        return [t async for t in tokens("a b c")]

    assert asyncio.run(main()) == ["a", "b", "c"]
    failed, streamed = (t.data.spans[0] for t in _traces())
    assert failed.status.status_code.value == "ERROR"
    assert failed.events[0].attributes["exception.type"] == "KeyError"
    assert streamed.outputs == ["a", "b", "c"] and streamed.span_type == "LLM"
    assert len(streamed.events) == 3


# -- threads ----------------------------------------------------------------------------------
def test_threads_get_their_own_traces_unless_they_copy_the_context() -> None:
    @trackyard.trace
    def work(i: int) -> int:
        return i

    barrier = threading.Barrier(4)

    def independent(i: int) -> None:
        barrier.wait()
        with trackyard.start_span(f"thread-{i}"):
            work(i)

    threads = [threading.Thread(target=independent, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    traces = _traces()
    assert sorted(t.info.tags["mlflow.traceName"] for t in traces) == [
        f"thread-{i}" for i in range(4)
    ]
    for trace in traces:
        spans = _by_name(trace)
        assert spans["work"].parent_id == spans[trace.info.tags["mlflow.traceName"]].span_id

    with trackyard.start_span("parent") as parent:
        ctx = contextvars.copy_context()
        child = threading.Thread(target=ctx.run, args=(work, 42))
        child.start()
        child.join()
    nested = [t for t in _traces() if t.info.tags["mlflow.traceName"] == "parent"]
    assert len(nested) == 1
    spans = _by_name(nested[0])
    assert spans["work"].parent_id == parent.span_id and spans["work"].outputs == 42


# -- start_span, active ids, update_current_trace ---------------------------------------------
def test_start_span_records_an_exception_and_status() -> None:
    with pytest.raises(ZeroDivisionError), trackyard.start_span("divide") as span:
        span.set_inputs([1, 0])
        _ = 1 / 0
    with trackyard.start_span("custom", span_type="PARSER") as span:
        span.set_status("ERROR")
    failed, custom = _traces()
    root = failed.data.spans[0]
    assert root.status.status_code.value == "ERROR" and root.inputs == [1, 0]
    assert root.events[0].attributes["exception.type"] == "ZeroDivisionError"
    assert failed.info.state == "ERROR"
    assert custom.data.spans[0].span_type == "PARSER" and custom.info.state == "ERROR"


def test_active_and_last_trace_ids() -> None:
    assert trackyard.get_active_trace_id() is None
    with trackyard.start_span("outer") as span:
        assert trackyard.get_active_trace_id() == span.trace_id
        assert trackyard.get_current_active_span() is span
    assert trackyard.get_active_trace_id() is None
    assert trackyard.get_last_active_trace_id() == span.trace_id
    assert trackyard.get_last_active_trace_id(thread_local=True) == span.trace_id

    other: list[str | None] = []

    def in_thread() -> None:
        other.append(trackyard.get_last_active_trace_id(thread_local=True))
        with trackyard.start_span("t") as s:
            other.append(s.trace_id)

    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
    assert other[0] is None
    assert trackyard.get_last_active_trace_id() == other[1]
    assert trackyard.get_last_active_trace_id(thread_local=True) == span.trace_id


def test_update_current_trace() -> None:
    @trackyard.trace
    def handler(q: str) -> str:
        trackyard.update_current_trace(
            tags={"team": "search"},
            metadata={"app.version": "1.2"},
            client_request_id="req-7",
            response_preview="short answer",
            session_id="s-1",
            user="ada",
        )
        return "a long answer " * 10

    handler("q")
    info = _only_trace().info
    assert info.tags["team"] == "search" and info.tags["mlflow.traceName"] == "handler"
    assert info.trace_metadata["app.version"] == "1.2"
    assert info.trace_metadata["mlflow.trace.session"] == "s-1"
    assert info.trace_metadata["mlflow.trace.user"] == "ada"
    assert info.client_request_id == "req-7"
    assert info.response_preview == "short answer"
    found = MlflowClient().search_traces(["0"], "tags.team = 'search'")
    assert [t.info.trace_id for t in found] == [info.trace_id]


def test_update_current_trace_state_and_outside_a_trace(caplog: pytest.LogCaptureFixture) -> None:
    trackyard.update_current_trace(tags={"x": "y"})  # no active trace: a warning, no error
    assert "no active trace" in caplog.text
    with trackyard.start_span("s"):
        trackyard.update_current_trace(state="ERROR")
        with pytest.raises(TrackyardError):
            trackyard.update_current_trace(state="MAYBE")
    assert _only_trace().info.state == "ERROR"


def test_client_spans_join_a_fluent_trace() -> None:
    client = MlflowClient()
    with trackyard.start_span("fluent-root") as root:
        child = client.start_span("client-child", root.trace_id, root.span_id, inputs={"k": 1})
        client.end_span(root.trace_id, child.span_id, outputs=2)
    trace = client.get_trace(root.trace_id)  # get_trace waits for queued traces
    spans = _by_name(trace)
    assert spans["client-child"].parent_id == root.span_id
    assert spans["client-child"].outputs == 2


def test_experiment_from_environment_and_destination(monkeypatch: pytest.MonkeyPatch) -> None:
    client = MlflowClient()
    env_exp = client.create_experiment("from-env")
    dest_exp = client.create_experiment("from-destination")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", env_exp)

    class Destination:
        experiment_id = dest_exp

    @trackyard.trace(trace_destination=Destination())
    def routed() -> None:
        pass

    with trackyard.start_span("env"):
        pass
    routed()
    trackyard.flush_trace_async_logging()
    names = {
        e: [t.info.tags["mlflow.traceName"] for t in client.search_traces([e])]
        for e in (env_exp, dest_exp)
    }
    assert names == {env_exp: ["env"], dest_exp: ["routed"]}


def test_bad_decorator_arguments() -> None:
    with pytest.raises(TrackyardError):
        trackyard.trace(attributes={"": 1})
    with pytest.raises(TrackyardError):
        trackyard.trace(sampling_ratio_override=2.0)
    with pytest.raises(TrackyardError), trackyard.start_span(""):
        pass


def test_fast_input_binding_agrees_with_inspect() -> None:
    import inspect

    from trackyard.tracing._fluent import _InputCapture

    def plain(a: Any, b: Any = 2, c: Any = None) -> None: ...

    def varied(a: Any, /, b: Any, *args: Any, c: Any = 3, **kw: Any) -> None: ...

    calls: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = [
        (plain, (1,), {}),
        (plain, (1, 5), {"c": 9}),
        (plain, (), {"a": 1, "c": 3}),
        (plain, (1,), {"b": [1], "c": {"x": 1}}),
        (varied, (1, 2, 3, 4), {"c": 5, "z": 6}),
        (varied, (1,), {"b": 2}),
    ]
    for fn, args, kwargs in calls:
        bound = inspect.signature(fn).bind(*args, **kwargs)
        bound.apply_defaults()
        got = _InputCapture(fn)(args, kwargs)
        assert got == dict(bound.arguments) and list(got or ()) == list(bound.arguments)
    for args, kwargs in [((1, 2, 3, 4), {}), ((1,), {"a": 2}), ((), {"b": 1}), ((1,), {"d": 1})]:
        assert _InputCapture(plain)(args, kwargs) is None  # what Python refuses is not bound


def test_start_span_links_a_run_and_tolerates_an_early_end() -> None:
    client = MlflowClient()
    run = client.create_run("0").info.run_id
    with trackyard.start_span("linked", run_id=run) as span:
        span.set_outputs(1)
        span.end()  # ended inside the block: leaving it does not end it again
    with pytest.raises(TrackyardError), trackyard.start_span("bad-run", run_id="not a run id"):
        pass
    (trace,) = client.search_traces(["0"], run_id=run)
    assert trace.info.trace_metadata["mlflow.sourceRun"] == run
    assert trace.data.spans[0].outputs == 1
    assert [t.info.tags["mlflow.traceName"] for t in _traces()] == ["linked"]


def test_traces_inside_a_fluent_run_belong_to_it() -> None:
    experiment = trackyard.set_experiment("traced-runs")
    exp_id = experiment.experiment_id

    @trackyard.trace
    def step(x: int) -> int:
        return x + 1

    with trackyard.start_run() as run:
        step(1)
        with trackyard.start_span("block"):
            pass
    step(2)  # after the run: still the active experiment, but no run
    trackyard.flush_trace_async_logging()
    client = MlflowClient()
    inside = client.search_traces([exp_id], run_id=run.info.run_id)
    assert sorted(t.info.tags["mlflow.traceName"] for t in inside) == ["block", "step"]
    assert all(t.info.trace_metadata["mlflow.sourceRun"] == run.info.run_id for t in inside)
    everything = client.search_traces([exp_id])
    assert len(everything) == 3
    (outside,) = [t for t in everything if "mlflow.sourceRun" not in t.info.trace_metadata]
    assert outside.data.spans[0].outputs == 3
    assert client.search_traces(["0"]) == []
