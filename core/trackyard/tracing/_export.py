"""Writing finished traces of the fluent API off the caller's thread.

:func:`submit` puts a finished trace (its info and spans) on a queue; one daemon thread takes
what is queued, groups it by (tracking URI, experiment) and writes each group with one
``store.start_trace`` per trace and one ``store.log_spans`` for all their spans. A failing
write is logged (``trackyard.tracing``), never raised into user code; when a group fails,
its traces are retried one by one so one bad trace loses only itself.

The queue is drained at interpreter exit and by :func:`flush`. It holds at most
``MLFLOW_ASYNC_TRACE_LOGGING_MAX_QUEUE_SIZE`` traces (1,000, as in MLflow): a trace that
finds it full is dropped with a warning rather than blocking the traced code or growing
without bound. Setting ``MLFLOW_ENABLE_ASYNC_TRACE_LOGGING=false`` (MLflow's switch) writes
in the caller's thread instead, with the same error handling.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

from trackyard._tracing_live import live_traces

if TYPE_CHECKING:
    from trackyard.entities.trace import Span, TraceInfo

__all__ = ["TraceExporter", "exporter", "flush", "submit"]

_log = logging.getLogger("trackyard.tracing")

#: At most this many traces are written per batch.
BATCH_MAX_TRACES = 200
#: Flushing at interpreter exit waits at most this long (seconds).
EXIT_TIMEOUT_S = 30.0

_Item = tuple["str | None", "TraceInfo", "list[Span]"]


DEFAULT_QUEUE_SIZE = 1000
_FULL_WARNING_EVERY_S = 30.0


def _queue_size() -> int:
    raw = os.environ.get("MLFLOW_ASYNC_TRACE_LOGGING_MAX_QUEUE_SIZE", "")
    try:
        return max(1, int(raw)) if raw.strip() else DEFAULT_QUEUE_SIZE
    except ValueError:
        return DEFAULT_QUEUE_SIZE


def _async_enabled() -> bool:
    value = os.environ.get("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "true").strip().lower()
    return value not in ("false", "0", "no", "off")


def _write(uri: str | None, experiment_id: str, items: list[_Item]) -> None:
    from trackyard.backends import get_tracking_store
    from trackyard.config import get_tracking_uri

    store = get_tracking_store(uri or get_tracking_uri())
    for _, info, _ in items:
        store.start_trace(info)
    store.log_spans(experiment_id, [span for _, _, spans in items for span in spans])


class TraceExporter:
    """A queue of finished traces and the daemon thread that writes them in batches."""

    def __init__(self) -> None:
        self._queue: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._submitted = 0  # traces queued so far
        self._done = 0  # traces written (or given up on) so far
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._warned: set[str] = set()
        self._max = _queue_size()
        self._dropped = 0
        self._last_full_warning = 0.0
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset_after_fork)

    # -- caller side -----------------------------------------------------------------------
    def submit(self, uri: str | None, info: TraceInfo, spans: list[Span]) -> None:
        """Queue a finished trace for writing (starting the worker on first use)."""
        with self._cond:
            if self._pid != os.getpid():  # a forked child: the parent's thread is not here
                self._reset_after_fork()
            if len(self._queue) >= self._max:
                self._drop(info)
                return
            self._queue.append((uri, info, spans))
            self._submitted += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="trackyard-trace-export", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every trace queued before this call is written; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self._pid != os.getpid():
                return True
            target = self._submitted
            while self._done < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def _drop(self, info: TraceInfo) -> None:
        self._dropped += 1
        now = time.monotonic()
        if now - self._last_full_warning >= _FULL_WARNING_EVERY_S:
            self._last_full_warning = now
            _log.warning(
                "The trace export queue is full (%d traces); trace %s is dropped (%d so far). "
                "Raise MLFLOW_ASYNC_TRACE_LOGGING_MAX_QUEUE_SIZE, or use a faster store.",
                self._max,
                info.trace_id,
                self._dropped,
            )

    @property
    def dropped(self) -> int:
        """Traces dropped because the queue was full."""
        return self._dropped

    @property
    def pending(self) -> int:
        """Traces queued and not yet written."""
        return self._submitted - self._done

    def _reset_after_fork(self) -> None:
        # The parent's worker thread does not exist here, and it may have held the lock.
        self._cond = threading.Condition()
        self._queue.clear()
        self._submitted = self._done = 0
        self._thread = None
        self._pid = os.getpid()

    # -- worker side -----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                batch = [
                    self._queue.popleft() for _ in range(min(len(self._queue), BATCH_MAX_TRACES))
                ]
            try:
                self.write_batch(batch)
            finally:
                with self._cond:
                    self._done += len(batch)
                    self._cond.notify_all()

    def write_batch(self, batch: list[_Item]) -> None:
        """Write traces grouped by (URI, experiment); log, never raise, what fails."""
        groups: dict[tuple[str | None, str], list[_Item]] = {}
        for item in batch:
            groups.setdefault((item[0], item[1].experiment_id), []).append(item)
        for (uri, experiment_id), items in groups.items():
            try:
                _write(uri, experiment_id, items)
                continue
            except Exception:
                if len(items) == 1:
                    self._report(uri, items[0])
                    continue
            for item in items:  # one by one, so a bad trace loses only itself
                try:
                    _write(uri, experiment_id, [item])
                except Exception:
                    self._report(uri, item)

    def _report(self, uri: str | None, item: _Item) -> None:
        from trackyard.uri import mask_credentials

        where = mask_credentials(uri) if uri else "the default tracking URI"
        key = f"{uri}\0{item[1].experiment_id}"
        if key in self._warned:  # a broken destination: details once, then one line per trace
            _log.warning("Trace %s was not written to %s.", item[1].trace_id, where)
            return
        self._warned.add(key)
        _log.warning(
            "Trace %s could not be written to %s (experiment %s); it is dropped.",
            item[1].trace_id,
            where,
            item[1].experiment_id,
            exc_info=True,
        )


exporter = TraceExporter()
live_traces.exporter = exporter


def submit(uri: str | None, info: TraceInfo, spans: list[Span]) -> None:
    """Hand a finished trace to the exporter (or write it now when async export is off)."""
    if _async_enabled():
        exporter.submit(uri, info, spans)
    else:
        exporter.write_batch([(uri, info, spans)])


def flush(timeout: float | None = None) -> bool:
    """Wait until every finished trace is written; False if ``timeout`` (seconds) ran out."""
    return exporter.flush(timeout)


@atexit.register
def _flush_at_exit() -> None:
    if exporter.pending and not exporter.flush(EXIT_TIMEOUT_S):
        _log.warning("%d traces were not written before exit.", exporter.pending)
