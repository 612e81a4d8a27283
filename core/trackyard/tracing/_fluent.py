"""The fluent tracing API: ``@trackyard.trace``, ``trackyard.start_span`` and friends.

The active span lives in a :class:`contextvars.ContextVar`, so asyncio tasks inherit their
creator's span and threads start with none (run a thread's target in
``contextvars.copy_context()`` to nest it under the caller's span). A span started while no
span is active starts a new trace, in the experiment ``MLFLOW_EXPERIMENT_ID`` (else ``"0"``)
of the tracking URI in effect at that moment; when its root span ends the trace is queued
and written by a background thread (:mod:`trackyard.tracing._export`).

Tracing never breaks the traced code: if a span cannot be started the function runs
untraced, and a failing export is logged.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, TypeVar, overload

from trackyard._tracing_live import live_traces, new_live_span
from trackyard.entities.trace import (
    LiveSpan,
    SpanEvent,
    SpanType,
    TraceMetadataKey,
    TraceState,
    encode_attribute,
    new_span_id,
)
from trackyard.errors import TrackyardError

__all__ = [
    "get_active_trace_id",
    "get_current_active_span",
    "get_last_active_trace_id",
    "start_span",
    "trace",
    "update_current_trace",
]

_log = logging.getLogger("trackyard.tracing")
_F = TypeVar("_F", bound=Callable[..., Any])

_active: ContextVar[LiveSpan | None] = ContextVar("trackyard_active_span", default=None)
#: The trace id of a span that could not be started and belongs to no trace.
_DETACHED_TRACE_ID = "tr-" + "0" * 32

#: Span attribute naming the traced function; event names for streamed chunks (MLflow's).
FUNCTION_NAME = "mlflow.spanFunctionName"
CHUNK_EVENT = "mlflow.chunk.item."
CHUNK_VALUE = "mlflow.chunk.value"


# -- starting and ending spans ----------------------------------------------------------------
def _destination_experiment(destination: Any) -> str | None:
    if destination is None:
        return None
    experiment_id = getattr(destination, "experiment_id", destination)
    from trackyard import validation

    return validation.validate_experiment_id(experiment_id)


def _fluent_run() -> tuple[str | None, str | None]:
    """The fluent API's active run as ``(run id, experiment id)``, if it is in use.

    A trace started inside ``trackyard.start_run`` belongs to that run (``mlflow.sourceRun``)
    and its experiment, as in MLflow; otherwise the fluent API's active experiment, if any.
    The fluent module is only consulted when something has imported it already.
    """
    fluent = sys.modules.get("trackyard.fluent")
    if fluent is None:
        return None, None
    run = fluent.active_run()
    if run is not None:
        return run.info.run_id, run.info.experiment_id
    experiment_id: str | None = fluent.active_experiment_id()
    return None, experiment_id


def _open(
    name: str,
    span_type: str,
    attributes: Mapping[str, Any],
    experiment_id: str | None = None,
    run_id: str | None = None,
    encoded: Mapping[str, str] | None = None,
) -> LiveSpan:
    """Start a span under the active one, or a new trace when none is active."""
    parent = _active.get()
    if parent is not None:
        live = live_traces.get(parent.trace_id)
        if live is not None:
            try:
                return new_live_span(
                    live, name, parent.span_id, span_type, None, attributes, None, encoded
                )
            except TrackyardError:  # the parent's trace ended meanwhile: start a new one
                pass
    from trackyard._tracing_client import default_experiment_id
    from trackyard.config import get_tracking_uri

    if run_id is None:
        run_id, run_experiment = _fluent_run()
        experiment_id = experiment_id or run_experiment
    metadata = {TraceMetadataKey.SOURCE_RUN: run_id} if run_id is not None else {}
    live = live_traces.start(
        None,
        experiment_id or default_experiment_id(),
        name,
        span_type,
        None,
        attributes,
        {},
        metadata,
        None,
        tracking_uri=get_tracking_uri(),
        encoded=encoded,
    )
    return live.root


_NO_ATTRIBUTES: Mapping[str, Any] = {}


def _try_open(
    name: str, span_type: str, encoded: Mapping[str, str], experiment_id: str | None
) -> LiveSpan | None:
    try:
        return _open(name, span_type, _NO_ATTRIBUTES, experiment_id, None, encoded)
    except Exception:
        _log.warning("Could not start span %r; running untraced.", name, exc_info=True)
        return None


def _close(span: LiveSpan, error: BaseException | None = None) -> None:
    """End ``span`` (recording ``error`` first); log, never raise, a tracing failure."""
    if span.end_time_ns is not None:  # ended already (span.end() inside the block)
        return
    try:
        if error is not None:
            span.record_exception(error)
        span.end()
    except Exception:
        _log.warning("Could not end span %r.", span.name, exc_info=True)


def _set_outputs(span: LiveSpan, outputs: Any) -> None:
    # An explicit set_outputs() inside the traced function wins (as in MLflow).
    if "mlflow.spanOutputs" not in span._attributes:
        try:
            span.set_outputs(outputs)
        except Exception:
            _log.warning("Could not record the outputs of span %r.", span.name, exc_info=True)


class _InputCapture:
    """Bound arguments of a call as a dict (``self``, and a class as ``cls``, left out).

    Functions whose parameters are all plain (positional-or-keyword) are bound by a fast
    path; others, and calls the fast path cannot place, go through ``inspect``.
    """

    __slots__ = ("fast", "fn", "sig")

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.sig: inspect.Signature | None = None
        self.fast: tuple[tuple[str, ...], dict[str, Any]] | None = None

    def _prepare(self) -> inspect.Signature:
        sig = inspect.signature(self.fn)
        params = list(sig.parameters.values())
        if all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params):
            names = tuple(p.name for p in params)
            defaults = {p.name: p.default for p in params if p.default is not p.empty}
            self.fast = (names, defaults)
        self.sig = sig
        return sig

    def _bind_fast(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
        assert self.fast is not None
        names, defaults = self.fast
        n = len(args)
        if n > len(names):
            return None
        arguments = dict(zip(names, args, strict=False))
        used = 0
        for name in names[n:]:
            if name in kwargs:
                arguments[name] = kwargs[name]
                used += 1
            elif name in defaults:
                arguments[name] = defaults[name]
            else:
                return None
        return arguments if used == len(kwargs) else None

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
        try:
            sig = self.sig or self._prepare()
            arguments = self._bind_fast(args, kwargs) if self.fast is not None else None
            if arguments is None:
                bound = sig.bind(*args, **kwargs)
                bound.apply_defaults()
                arguments = bound.arguments
            if arguments.get("self") is not None:
                del arguments["self"]
            first = next(iter(arguments), None)
            if first == "cls" and isinstance(arguments["cls"], type):
                del arguments["cls"]
            return arguments
        except Exception:
            _log.warning("Could not capture the inputs of %s.", getattr(self.fn, "__name__", "?"))
            return None


def _record_inputs(span: LiveSpan, capture: _InputCapture, args: Any, kwargs: Any) -> None:
    inputs = capture(args, kwargs)
    if inputs is not None:
        span.set_inputs(inputs)


# -- the decorator ----------------------------------------------------------------------------
@overload
def trace(func: _F) -> _F: ...


@overload
def trace(
    func: None = None,
    name: str | None = None,
    span_type: str = SpanType.UNKNOWN,
    attributes: dict[str, Any] | None = None,
    output_reducer: Callable[[list[Any]], Any] | None = None,
    trace_destination: Any = None,
    sampling_ratio_override: float | None = None,
    log_level: Any = None,
    links: list[Any] | None = None,
    description: str | None = None,
) -> Callable[[_F], _F]: ...


def trace(
    func: Callable[..., Any] | None = None,
    name: str | None = None,
    span_type: str = SpanType.UNKNOWN,
    attributes: dict[str, Any] | None = None,
    output_reducer: Callable[[list[Any]], Any] | None = None,
    trace_destination: Any = None,
    sampling_ratio_override: float | None = None,
    log_level: Any = None,
    links: list[Any] | None = None,
    description: str | None = None,
) -> Any:
    """Trace each call of a function as a span (MLflow 3.17.2's ``@mlflow.trace``).

    Use as ``@trace`` or ``@trace(name=..., span_type=..., attributes=...)``, on sync,
    async, generator and async-generator functions, methods, classmethods and
    staticmethods. The span records the bound arguments as inputs (without ``self``), the
    return value as outputs (for generators: the list of yielded items, or
    ``output_reducer(items)``, and one ``mlflow.chunk.item.<i>`` event per item) and an
    exception as an ``exception`` event with status ERROR; the exception propagates.
    ``trace_destination`` (anything with an ``experiment_id``, or an id) picks the
    experiment of a new trace. ``sampling_ratio_override``, ``log_level``, ``links`` and
    ``description`` are accepted for compatibility and ignored.
    """
    if sampling_ratio_override is not None and not 0.0 <= sampling_ratio_override <= 1.0:
        raise TrackyardError.invalid_parameter_value(
            f"sampling_ratio_override must be between 0.0 and 1.0, got {sampling_ratio_override}"
        )
    attrs = _checked_attributes(attributes)
    experiment_id = _destination_experiment(trace_destination)

    def decorator(fn: Any) -> Any:
        if isinstance(fn, classmethod):
            return classmethod(decorator(fn.__func__))
        if isinstance(fn, staticmethod):
            return staticmethod(decorator(fn.__func__))
        if not callable(fn):
            raise TrackyardError.invalid_parameter_value(f"@trace decorates functions, got {fn!r}")
        span_name = name or getattr(fn, "__name__", None) or type(fn).__name__
        fn_attrs = {FUNCTION_NAME: getattr(fn, "__name__", span_name), **attrs}
        encoded = {k: encode_attribute(v) for k, v in fn_attrs.items()}  # once, not per call
        return _wrap(fn, span_name, span_type, encoded, output_reducer, experiment_id)

    return decorator(func) if func is not None else decorator


def _checked_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping) or not all(isinstance(k, str) and k for k in attributes):
        raise TrackyardError.invalid_parameter_value(
            f"Span attributes must be a dict with non-empty string keys, got {attributes!r}"
        )
    return dict(attributes)


def _wrap(
    fn: Callable[..., Any],
    name: str,
    span_type: str,
    attrs: dict[str, str],
    reducer: Callable[[list[Any]], Any] | None,
    experiment_id: str | None,
) -> Callable[..., Any]:
    capture = _InputCapture(fn)
    if inspect.isasyncgenfunction(fn):
        return _wrap_async_gen(fn, name, span_type, attrs, reducer, experiment_id, capture)
    if inspect.isgeneratorfunction(fn):
        return _wrap_gen(fn, name, span_type, attrs, reducer, experiment_id, capture)
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            span = _try_open(name, span_type, attrs, experiment_id)
            if span is None:
                return await fn(*args, **kwargs)
            token = _active.set(span)
            try:
                _record_inputs(span, capture, args, kwargs)
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                _active.reset(token)
                _close(span, exc)
                raise
            _active.reset(token)
            _set_outputs(span, result)
            _close(span)
            return result

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        span = _try_open(name, span_type, attrs, experiment_id)
        if span is None:
            return fn(*args, **kwargs)
        token = _active.set(span)
        try:
            _record_inputs(span, capture, args, kwargs)
            result = fn(*args, **kwargs)
        except BaseException as exc:
            _active.reset(token)
            _close(span, exc)
            raise
        _active.reset(token)
        _set_outputs(span, result)
        _close(span)
        return result

    return wrapper


def _chunk(span: LiveSpan, index: int, item: Any) -> None:
    try:
        event = SpanEvent(
            f"{CHUNK_EVENT}{index}", time.time_ns(), {CHUNK_VALUE: encode_attribute(item)}
        )
        span.add_event(event)
    except Exception:
        _log.warning("Could not record chunk %d of span %r.", index, span.name, exc_info=True)


def _stream_outputs(
    span: LiveSpan, items: list[Any], reducer: Callable[[list[Any]], Any] | None
) -> None:
    try:
        outputs = items if reducer is None else reducer(items)
    except Exception:
        _log.warning("output_reducer failed for span %r.", span.name, exc_info=True)
        outputs = items
    _set_outputs(span, outputs)


def _wrap_gen(
    fn: Callable[..., Iterator[Any]],
    name: str,
    span_type: str,
    attrs: dict[str, str],
    reducer: Callable[[list[Any]], Any] | None,
    experiment_id: str | None,
    capture: _InputCapture,
) -> Callable[..., Any]:
    @functools.wraps(fn)
    def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
        # The span starts when iteration starts, under the span active then; it is active
        # only while the wrapped generator runs, never between items.
        span = _try_open(name, span_type, attrs, experiment_id)
        if span is None:
            return (yield from fn(*args, **kwargs))
        token = _active.set(span)
        try:
            _record_inputs(span, capture, args, kwargs)
            gen: Any = fn(*args, **kwargs)
        except BaseException as exc:
            _active.reset(token)
            _close(span, exc)
            raise
        _active.reset(token)
        items: list[Any] = []
        sent: Any = None
        thrown: BaseException | None = None
        try:
            while True:
                token = _active.set(span)
                try:
                    item = gen.throw(thrown) if thrown is not None else gen.send(sent)
                except StopIteration as stop:
                    result = stop.value
                    break
                finally:
                    _active.reset(token)
                thrown = None
                _chunk(span, len(items), item)
                items.append(item)
                try:
                    sent = yield item
                except GeneratorExit:
                    raise
                except BaseException as exc:  # .throw() into us: pass it on
                    thrown, sent = exc, None
        except GeneratorExit:  # closed early: what was produced so far is the output
            try:
                gen.close()
            finally:
                _stream_outputs(span, items, reducer)
                _close(span)
            raise
        except BaseException as exc:
            _stream_outputs(span, items, reducer)
            _close(span, exc)
            raise
        _stream_outputs(span, items, reducer)
        _close(span)
        return result

    return gen_wrapper


def _wrap_async_gen(
    fn: Callable[..., AsyncIterator[Any]],
    name: str,
    span_type: str,
    attrs: dict[str, str],
    reducer: Callable[[list[Any]], Any] | None,
    experiment_id: str | None,
    capture: _InputCapture,
) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
        span = _try_open(name, span_type, attrs, experiment_id)
        if span is None:
            async for item in fn(*args, **kwargs):
                yield item
            return
        token = _active.set(span)
        try:
            _record_inputs(span, capture, args, kwargs)
            agen: Any = fn(*args, **kwargs)
        except BaseException as exc:
            _active.reset(token)
            _close(span, exc)
            raise
        _active.reset(token)
        items: list[Any] = []
        sent: Any = None
        thrown: BaseException | None = None
        try:
            while True:
                token = _active.set(span)
                try:
                    if thrown is not None:
                        item = await agen.athrow(thrown)
                    else:
                        item = await agen.asend(sent)
                except StopAsyncIteration:
                    break
                finally:
                    _active.reset(token)
                thrown = None
                _chunk(span, len(items), item)
                items.append(item)
                try:
                    sent = yield item
                except GeneratorExit:
                    raise
                except BaseException as exc:
                    thrown, sent = exc, None
        except GeneratorExit:
            try:
                await agen.aclose()
            finally:
                _stream_outputs(span, items, reducer)
                _close(span)
            raise
        except BaseException as exc:
            _stream_outputs(span, items, reducer)
            _close(span, exc)
            raise
        _stream_outputs(span, items, reducer)
        _close(span)

    return agen_wrapper


# -- the context manager and the current span -------------------------------------------------
@contextlib.contextmanager
def start_span(
    name: str = "span",
    span_type: str | None = SpanType.UNKNOWN,
    attributes: dict[str, Any] | None = None,
    trace_destination: Any = None,
    log_level: Any = None,
    run_id: str | None = None,
    links: list[Any] | None = None,
    description: str | None = None,
) -> Iterator[LiveSpan]:
    """Open a span for the ``with`` block and yield it (MLflow 3.17.2's ``mlflow.start_span``).

    The span is a child of the active span, or the root of a new trace (``run_id`` is then
    recorded as the trace's ``mlflow.sourceRun``). Set its inputs and outputs with
    ``span.set_inputs`` / ``span.set_outputs``. An exception leaving the block is recorded
    (status ERROR, an ``exception`` event) and propagates.
    """
    attrs = _checked_attributes(attributes)
    if not isinstance(name, str) or not name:
        raise TrackyardError.invalid_parameter_value(
            f"A span name must be a non-empty string, got {name!r}"
        )
    experiment_id = _destination_experiment(trace_destination)
    if run_id is not None:
        from trackyard import validation

        run_id = validation.validate_run_id(run_id)
    try:
        span = _open(name, span_type or SpanType.UNKNOWN, attrs, experiment_id, run_id)
    except Exception:
        # As MLflow yields a no-op span: the block runs, its span is recorded nowhere.
        _log.warning("Could not start span %r; it is not recorded.", name, exc_info=True)
        yield LiveSpan(_DETACHED_TRACE_ID, new_span_id(), None, name, time.time_ns())
        return
    token = _active.set(span)
    try:
        yield span
    except BaseException as exc:
        _active.reset(token)
        _close(span, exc)
        raise
    _active.reset(token)
    _close(span)


def get_current_active_span() -> LiveSpan | None:
    """The span active in this context (thread or asyncio task), or None."""
    return _active.get()


def get_active_trace_id() -> str | None:
    """The id of the trace the active span belongs to, or None."""
    span = _active.get()
    return None if span is None else span.trace_id


def get_last_active_trace_id(thread_local: bool = False) -> str | None:
    """The id of the last trace that ended in this process (or, with ``thread_local``,
    in this thread), or None."""
    return live_traces.thread_last_trace_id() if thread_local else live_traces.last_trace_id


_STATES = (TraceState.OK, TraceState.ERROR)


def update_current_trace(
    tags: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
    client_request_id: str | None = None,
    request_preview: str | None = None,
    response_preview: str | None = None,
    state: str | None = None,
    model_id: str | None = None,
    session_id: str | None = None,
    user: str | None = None,
) -> None:
    """Change the trace of the active span before it is written (MLflow 3.17.2's names).

    ``tags`` and ``metadata`` are merged in; ``client_request_id``, the previews and
    ``state`` (``OK`` or ``ERROR``) replace what would be computed; ``model_id``,
    ``session_id`` and ``user`` become the metadata ``mlflow.modelId``,
    ``mlflow.trace.session`` and ``mlflow.trace.user``. Without an active span this logs a
    warning and does nothing.
    """
    from trackyard import validation

    span = _active.get()
    live = None if span is None else live_traces.get(span.trace_id)
    if live is None:
        _log.warning("update_current_trace: no active trace; nothing was changed.")
        return
    new_tags = dict(validation.validate_trace_tag(k, v) for k, v in (tags or {}).items())
    new_meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    for key, value in (
        ("mlflow.modelId", model_id),
        ("mlflow.trace.session", session_id),
        ("mlflow.trace.user", user),
    ):
        if value is not None:
            new_meta[key] = str(value)
    overrides: dict[str, str] = {}
    for key, value in (
        ("client_request_id", client_request_id),
        ("request_preview", request_preview),
        ("response_preview", response_preview),
    ):
        if value is not None:
            if not isinstance(value, str):
                raise TrackyardError.invalid_parameter_value(f"{key} must be a string")
            overrides[key] = value
    if state is not None:
        text = str(getattr(state, "value", state)).upper()
        if text not in _STATES:
            raise TrackyardError.invalid_parameter_value(
                f"state must be OK or ERROR, got {state!r}"
            )
        overrides["state"] = text
    with live.lock:
        live.tags.update(new_tags)
        live.metadata.update(new_meta)
        live.overrides.update(overrides)
