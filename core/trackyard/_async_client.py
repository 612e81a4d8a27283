"""The ``synchronous=False`` paths of ``MlflowClient``'s logging methods.

Input is validated in the caller, as for synchronous calls (a bad key raises at once); only
the write is deferred to the store's background writer (:mod:`trackyard._async_logging`).
A plain ``log_metric`` (a number, no timestamp, an int step) takes a fast path that builds
no entity: the writer makes the :class:`~trackyard.entities.Metric`.
"""

from __future__ import annotations

from collections.abc import Iterable
from time import time_ns as _time_ns
from typing import TYPE_CHECKING, Any

from trackyard import validation
from trackyard._async_logging import (
    RunOperations,
    _Writer,
    async_logging_enabled,
    flush_store,
    single_operation,
    writer_for,
)
from trackyard.clock import now_ms
from trackyard.entities import Metric, Param, RunTag

if TYPE_CHECKING:
    from trackyard.stores import TrackingStore

__all__ = ["AsyncLoggingClientMixin", "async_logging_enabled"]

_known_run_ids: dict[str, None] = {}
_KNOWN_RUN_IDS_CAP = 4096


def _run_id(run_id: object) -> str:
    """``validate_run_id`` with a cache: ids seen before cost a dict lookup."""
    if run_id in _known_run_ids:
        return run_id
    checked = validation.validate_run_id(run_id)
    if len(_known_run_ids) >= _KNOWN_RUN_IDS_CAP:
        _known_run_ids.clear()
    _known_run_ids[checked] = None
    return checked


class AsyncLoggingClientMixin:
    """Queues validated writes on the tracking store's writer; mixed into ``MlflowClient``."""

    _async_writer: _Writer | None = None

    if TYPE_CHECKING:

        @property
        def _tracking_store(self) -> TrackingStore: ...

    def _writer(self) -> _Writer:
        writer = self._async_writer
        store = self._tracking_store
        if writer is None or writer.store is not store:
            writer = self._async_writer = writer_for(store)
        return writer

    def _log_metric_async(
        self,
        run_id: str,
        key: str,
        value: Any,
        timestamp: int | None,
        step: int | None,
        extra: dict[str, str | None] | None,
    ) -> RunOperations:
        run_id = _run_id(run_id)
        writer = self._async_writer or self._writer()
        kind = type(value)
        if (
            (kind is float or kind is int)
            and timestamp is None
            and (step is None or type(step) is int)
            and extra is None
        ):
            point = (
                validation.validate_key(key, "metric"),
                value if kind is float else float(value),
                _time_ns() // 1_000_000,
                step or 0,
            )
            op: list[Any] = [None, run_id, point, None, None, None, writer]
        else:
            metric = validation.validate_metric(
                key,
                value,
                now_ms() if timestamp is None else timestamp,
                0 if step is None else step,
                **(extra or {}),
            )
            op = [None, run_id, None, [metric], None, None, writer]
        writer.submit(op)
        return single_operation(op)

    def _log_batch_async(
        self,
        run_id: str,
        metrics: Iterable[Metric] = (),
        params: Iterable[Param] = (),
        tags: Iterable[RunTag] = (),
    ) -> RunOperations:
        run_id = _run_id(run_id)
        m, p, t = validation.validate_batch(metrics, params, tags)
        writer = self._writer()
        op: list[Any] = [None, run_id, None, m or None, p or None, t or None, writer]
        writer.submit(op)
        return single_operation(op)

    def _flush_run_async(self, run_id: str) -> None:
        """Write what is queued (before ``run_id`` ends); raise its unreported failures."""
        flush_store(self._tracking_store, run_id)
