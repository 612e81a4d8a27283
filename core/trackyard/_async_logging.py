"""Asynchronous logging (``synchronous=False``): one background writer per tracking store.

A caller validates its input, appends one small *operation* to the store's queue and gets a
:class:`RunOperations` back; it never waits for the store unless the queue is full
(back-pressure). The writer thread takes everything queued, groups it per run and writes it
with few, large ``store.log_batch`` calls:

* a run's params and tags keep their order: consecutive ones share a batch of at most 100
  params, 100 tags and 1000 items, and a param key seen again starts a new batch (params are
  write-once, so a conflict fails only the operation that caused it);
* a run's metric points, from any number of calls, go out in batches of 1000 (MLflow's limit).

A batch that fails marks each operation it carried as failed; a params/tags batch that fails is
retried one operation at a time first (setting the same param or tag twice is harmless), so
only the guilty operation fails. Every failure is logged when it happens, raised by
:meth:`RunOperations.wait`, and raised (once) by :func:`flush` unless ``wait`` reported it.

The queue is drained by ``set_terminated`` (that run's work is written before the run ends),
by :func:`flush_async_logging` and at interpreter exit.

Settings: ``TRACKYARD_ASYNC_LOGGING_QUEUE_SIZE`` (operations queued before callers block,
default 200,000).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import Metric, Param, RunTag
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.validation import (
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_TAGS_PER_BATCH,
)

if TYPE_CHECKING:
    from trackyard.stores import TrackingStore

__all__ = [
    "AsyncLoggingError",
    "RunOperations",
    "async_logging_enabled",
    "flush_all",
    "flush_store",
    "writer_for",
]

_logger = logging.getLogger("trackyard.async_logging")

DEFAULT_QUEUE_SIZE = 200_000
_WINDOW = 20_000  # operations the writer takes per round
_WAIT_SLICE = 0.5  # seconds between liveness checks while waiting

# An operation is a list, the cheapest mutable record to build in the caller:
#   [state, run_id, point, metrics, params, tags, writer]
# state: None while queued, True when written, a _Failure when it failed.
# point: a (key, value, timestamp, step) tuple for a plain log_metric, else None.
_STATE, _RUN, _POINT, _METRICS, _PARAMS, _TAGS, _WRITER = range(7)


def async_logging_enabled() -> bool:
    """Whether ``synchronous=None`` means asynchronous (``TRACKYARD_ENABLE_ASYNC_LOGGING``,
    then ``MLFLOW_ENABLE_ASYNC_LOGGING``; off by default, as in MLflow)."""
    for name in ("TRACKYARD_ENABLE_ASYNC_LOGGING", "MLFLOW_ENABLE_ASYNC_LOGGING"):
        raw = os.environ.get(name)
        if raw is not None:
            return raw.strip().lower() in ("1", "true", "yes", "on")
    return False


def _queue_size() -> int:
    raw = os.environ.get("TRACKYARD_ASYNC_LOGGING_QUEUE_SIZE")
    if not raw:
        return DEFAULT_QUEUE_SIZE
    try:
        size = int(raw)
    except ValueError:
        raise TrackyardError.invalid_parameter_value(
            f"TRACKYARD_ASYNC_LOGGING_QUEUE_SIZE must be a positive integer, got {raw!r}."
        ) from None
    if size < 1:
        raise TrackyardError.invalid_parameter_value(
            f"TRACKYARD_ASYNC_LOGGING_QUEUE_SIZE must be a positive integer, got {raw!r}."
        )
    return size


class _Failure:
    """One failed write: the run, what was written, the error; ``reported`` once raised."""

    __slots__ = ("error", "reported", "run_id", "what")

    def __init__(self, run_id: str, what: str, error: BaseException) -> None:
        self.run_id = run_id
        self.what = what
        self.error = error
        self.reported = False

    def __str__(self) -> str:
        return f"run {self.run_id}: {self.what}: {type(self.error).__name__}: {self.error}"


class AsyncLoggingError(TrackyardError):
    """One or more asynchronous logging operations failed; ``failures`` lists them.

    The error code is the first failure's when it is a :class:`TrackyardError`.
    """

    def __init__(self, failures: Sequence[_Failure]) -> None:
        self.failures = list(failures)
        first = self.failures[0].error if self.failures else None
        code = first.error_code if isinstance(first, TrackyardError) else ErrorCode.INTERNAL_ERROR
        lines = "\n".join(f"  - {f}" for f in self.failures)
        super().__init__(
            f"{len(self.failures)} asynchronous logging operation(s) failed:\n{lines}", code
        )


class RunOperations:
    """What ``synchronous=False`` logging returns: :meth:`wait` blocks until the operations
    are written and raises one :class:`AsyncLoggingError` listing every failure."""

    __slots__ = ("_ops",)

    def __init__(self, operation_futures: Iterable[Any] | None = None) -> None:
        self._ops: tuple[list[Any], ...] = tuple(operation_futures or ())

    def wait(self) -> None:
        """Wait for the operations; raise :class:`AsyncLoggingError` if any failed."""
        failures: list[_Failure] = []
        for op in self._ops:
            if op[_STATE] is None:
                op[_WRITER].wait_for(op)
            state = op[_STATE]
            if isinstance(state, _Failure) and all(f is not state for f in failures):
                state.reported = True
                failures.append(state)
        if failures:
            raise AsyncLoggingError(failures)

    @classmethod
    def combine(cls, operations: Iterable[RunOperations | None]) -> RunOperations:
        """One ``RunOperations`` waiting for all of ``operations`` (None entries skipped)."""
        return cls(op for ops in operations if ops is not None for op in ops._ops)

    def __repr__(self) -> str:
        pending = sum(1 for op in self._ops if op[_STATE] is None)
        return f"RunOperations({len(self._ops)} operations, {pending} pending)"


_new_run_operations = RunOperations.__new__


def single_operation(op: list[Any]) -> RunOperations:
    """A ``RunOperations`` for one queued operation (the hot path: no ``__init__``)."""
    ops = _new_run_operations(RunOperations)
    ops._ops = (op,)
    return ops


class _Writer:
    """The queue and background thread of one tracking store."""

    def __init__(self, store: TrackingStore) -> None:
        self.store = store
        self.max_pending = _queue_size()
        self._fresh_state()
        # Held while the thread is inside the store; taken around fork() so that a child
        # never inherits a store lock or connection in the middle of a write.
        self.busy = threading.Lock()

    def _fresh_state(self) -> None:
        self.queue: deque[list[Any]] = deque()
        self.idle = True  # the thread is waiting for work (or not started)
        self._wake = threading.Event()
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._failures: list[_Failure] = []

    # -- callers ---------------------------------------------------------------------------
    def submit(self, op: list[Any]) -> None:
        """Queue ``op``; block while the queue is full."""
        queue = self.queue
        queue.append(op)
        if self.idle and not self._wake.is_set():
            if self._thread is None and not self._start():
                self._drain_here()  # no thread can start (interpreter shutdown): write now
                return
            self._wake.set()
        if len(queue) >= self.max_pending:
            self._throttle()

    def _start(self) -> bool:
        """Start the writer thread; False if no thread can be started now."""
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(
                    target=self._run, name="trackyard-async-logging", daemon=True
                )
                try:
                    thread.start()
                except RuntimeError:  # "can't create new thread at interpreter shutdown"
                    return False
                self._thread = thread
        return True

    def _alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _throttle(self) -> None:
        """Back-pressure: wait until the writer has taken half the queue."""
        if threading.current_thread() is self._thread:
            return
        low = self.max_pending // 2
        with self._cv:
            while len(self.queue) > low and self._alive():
                self._wake.set()
                self._cv.wait(_WAIT_SLICE)
        if not self._alive():
            self._drain_here()

    def wait_for(self, op: list[Any]) -> None:
        """Block until ``op`` is written or has failed."""
        if threading.current_thread() is self._thread:
            raise TrackyardError(
                "RunOperations.wait() cannot be called from the async logging thread.",
                ErrorCode.INVALID_STATE,
            )
        with self._cv:
            while op[_STATE] is None and self._alive():
                self._wake.set()
                self._cv.wait(_WAIT_SLICE)
        if op[_STATE] is None:
            self._drain_here()

    def flush(self, run_id: str | None = None) -> list[_Failure]:
        """Write everything queued so far; return the failures nobody reported yet (of
        ``run_id`` only, if given), now marked reported."""
        if self.queue or not self.idle:
            marker: list[Any] = [None, None, None, None, None, None, self]
            self.submit(marker)
            self.wait_for(marker)
        with self._cv:
            found = [
                f
                for f in self._failures
                if not f.reported and (run_id is None or f.run_id == run_id)
            ]
            for f in found:
                f.reported = True
            self._failures = [f for f in self._failures if not f.reported]
        return found

    def _drain_here(self) -> None:
        """Write what is queued in this thread (the writer thread is gone: interpreter exit)."""
        with self._start_lock:
            while self.queue:
                self._write_window(self._take())
            with self._cv:
                self._cv.notify_all()

    # -- the writer thread -----------------------------------------------------------------
    def _take(self) -> list[list[Any]]:
        queue = self.queue
        popleft = queue.popleft
        n = min(len(queue), _WINDOW)
        return [popleft() for _ in range(n)]

    def _run(self) -> None:
        wake = self._wake
        while True:
            self.idle = True
            wake.clear()
            if not self.queue:
                wake.wait(_WAIT_SLICE * 2)
                continue
            self.idle = False
            ops = self._take()
            with self._cv:
                self._cv.notify_all()  # space was freed
            try:
                with self.busy:
                    self._write_window(ops)
            except BaseException as exc:  # pragma: no cover - _write_window catches per batch
                _logger.exception("trackyard async logging thread: unexpected error")
                failure = _Failure("?", "asynchronous write", exc)
                for op in ops:
                    if op[_STATE] is None:
                        op[_STATE] = failure
                self._failures.append(failure)
            with self._cv:
                self._cv.notify_all()

    def _write_window(self, ops: list[list[Any]]) -> None:
        runs: dict[str, _RunWork] = {}
        for op in ops:
            run_id = op[_RUN]
            if run_id is None:  # a flush marker
                continue
            work = runs.get(run_id)
            if work is None:
                work = runs[run_id] = _RunWork()
            work.add(op)
        for run_id, work in runs.items():
            self._write_run(run_id, work)
        for op in ops:
            if op[_STATE] is None:
                op[_STATE] = True

    def _write_run(self, run_id: str, work: _RunWork) -> None:
        log_batch = self.store.log_batch
        for params, tags, owners in work.param_tag_batches():
            try:
                log_batch(run_id, (), params, tags)
            except Exception as exc:
                if len(owners) == 1:
                    self._fail(run_id, owners, _describe(0, len(params), len(tags)), exc)
                    continue
                for op in owners:  # find the guilty operation(s)
                    p, t = op[_PARAMS] or [], op[_TAGS] or []
                    try:
                        log_batch(run_id, (), p, t)
                    except Exception as one_exc:
                        self._fail(run_id, [op], _describe(0, len(p), len(t)), one_exc)
        points, owners_of = work.points, work.point_owners
        for start in range(0, len(points), MAX_METRICS_PER_BATCH):
            chunk = points[start : start + MAX_METRICS_PER_BATCH]
            try:
                log_batch(run_id, chunk, (), ())
            except Exception as exc:
                owners = list({id(o): o for o in owners_of[start : start + len(chunk)]}.values())
                self._fail(run_id, owners, _describe(len(chunk), 0, 0), exc)

    def _fail(self, run_id: str, ops: list[list[Any]], what: str, exc: BaseException) -> None:
        failure = _Failure(run_id, what, exc)
        _logger.error("Asynchronous logging failed: %s", failure)
        for op in ops:
            if op[_STATE] is None:
                op[_STATE] = failure
        with self._cv:
            self._failures.append(failure)


def _describe(n_metrics: int, n_params: int, n_tags: int) -> str:
    parts = [
        f"{n} {what}"
        for n, what in ((n_metrics, "metrics"), (n_params, "params"), (n_tags, "tags"))
        if n
    ]
    return "log_batch of " + ", ".join(parts or ["nothing"])


class _RunWork:
    """One run's share of a window: its metric points, and its params/tags in order."""

    __slots__ = ("point_owners", "points", "pt_ops")

    def __init__(self) -> None:
        self.points: list[Metric] = []
        self.point_owners: list[list[Any]] = []
        self.pt_ops: list[list[Any]] = []

    def add(self, op: list[Any]) -> None:
        point = op[_POINT]
        if point is not None:
            self.points.append(Metric(*point))
            self.point_owners.append(op)
        metrics = op[_METRICS]
        if metrics:
            self.points.extend(metrics)
            self.point_owners.extend([op] * len(metrics))
        if op[_PARAMS] or op[_TAGS]:
            self.pt_ops.append(op)

    def param_tag_batches(self) -> Iterable[tuple[list[Param], list[RunTag], list[list[Any]]]]:
        """Batches of the run's params and tags, in order, within MLflow's limits."""
        params: list[Param] = []
        tags: dict[str, RunTag] = {}
        keys: set[str] = set()
        owners: list[list[Any]] = []
        for op in self.pt_ops:
            for param in op[_PARAMS] or ():
                if (
                    param.key in keys
                    or len(params) >= MAX_PARAMS_TAGS_PER_BATCH
                    or len(params) + len(tags) >= MAX_ENTITIES_PER_BATCH
                ):
                    yield params, list(tags.values()), owners
                    params, tags, keys, owners = [], {}, set(), []
                if not owners or owners[-1] is not op:
                    owners.append(op)
                params.append(param)
                keys.add(param.key)
            for tag in op[_TAGS] or ():
                if tag.key not in tags and (
                    len(tags) >= MAX_PARAMS_TAGS_PER_BATCH
                    or len(params) + len(tags) >= MAX_ENTITIES_PER_BATCH
                ):
                    yield params, list(tags.values()), owners
                    params, tags, keys, owners = [], {}, set(), []
                if not owners or owners[-1] is not op:
                    owners.append(op)
                tags.pop(tag.key, None)  # the later value wins, as if applied in order
                tags[tag.key] = tag
        if params or tags:
            yield params, list(tags.values()), owners


# -- the registry of writers ------------------------------------------------------------------
_writers: dict[int, _Writer] = {}
_writers_lock = threading.Lock()


def writer_for(store: TrackingStore) -> _Writer:
    """The writer of ``store``, created (with its thread, on first use) if needed."""
    writer = _writers.get(id(store))
    if writer is None or writer.store is not store:
        with _writers_lock:
            writer = _writers.get(id(store))
            if writer is None or writer.store is not store:
                writer = _writers[id(store)] = _Writer(store)
    return writer


def flush_store(store: TrackingStore, run_id: str | None = None) -> None:
    """Write what is queued for ``store``; raise :class:`AsyncLoggingError` for failures not
    reported yet (of ``run_id`` only, if given)."""
    writer = _writers.get(id(store))
    if writer is None or writer.store is not store:
        return
    failures = writer.flush(run_id)
    if failures:
        raise AsyncLoggingError(failures)


def flush_all() -> None:
    """Write what is queued for every store; raise one :class:`AsyncLoggingError` listing
    every failure not reported yet."""
    failures: list[_Failure] = []
    for writer in list(_writers.values()):
        failures.extend(writer.flush())
    if failures:
        raise AsyncLoggingError(failures)


def forget_store(store: TrackingStore) -> None:
    """Flush ``store``'s writer and drop it (before the store is closed); failures are logged."""
    writer = _writers.get(id(store))
    if writer is None or writer.store is not store:
        return
    for failure in writer.flush():
        _logger.error("Unreported asynchronous logging failure: %s", failure)
    with _writers_lock:
        if _writers.get(id(store)) is writer:
            del _writers[id(store)]


def _flush_at_exit() -> None:
    for writer in list(_writers.values()):
        try:
            failures = writer.flush()
        except Exception:  # pragma: no cover - flush catches store errors per batch
            _logger.exception("trackyard: flushing asynchronous logging at exit failed")
            continue
        for failure in failures:
            _logger.error("Asynchronous logging failed (found at exit): %s", failure)


_held_for_fork: list[_Writer] = []


def _before_fork() -> None:
    # Wait until no writer thread is inside its store (the current window ends).
    for writer in list(_writers.values()):
        writer.busy.acquire()
        _held_for_fork.append(writer)


def _after_fork_in_parent() -> None:
    while _held_for_fork:
        _held_for_fork.pop().busy.release()


def _forget_in_child() -> None:
    # A forked child never writes its parent's queue (the parent does): each writer starts
    # afresh, with new locks and, on the child's first asynchronous call, its own thread.
    global _writers_lock
    _writers_lock = threading.Lock()
    _held_for_fork.clear()
    for writer in _writers.values():
        writer._fresh_state()
        writer.busy = threading.Lock()


atexit.register(_flush_at_exit)
os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_forget_in_child
)
