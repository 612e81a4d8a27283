"""Instrumentation: the ``@trace`` decorator, ``start_span`` and the background exporter.

These are also ``trackyard.trace``, ``trackyard.start_span`` and so on, as MLflow 3.17.2 has
them as ``mlflow.trace`` and ``mlflow.start_span``. :mod:`trackyard.tracing.otel` (the
``trackyard[otel]`` extra) writes OpenTelemetry spans into any trackyard store.
"""

from __future__ import annotations

from trackyard.tracing._export import flush
from trackyard.tracing._fluent import (
    get_active_trace_id,
    get_current_active_span,
    get_last_active_trace_id,
    start_span,
    trace,
    update_current_trace,
)

__all__ = [
    "flush",
    "flush_trace_async_logging",
    "get_active_trace_id",
    "get_current_active_span",
    "get_last_active_trace_id",
    "start_span",
    "trace",
    "update_current_trace",
]


def flush_trace_async_logging(terminate: bool = False) -> None:
    """Wait until every finished trace is written (MLflow's name for :func:`flush`).

    ``terminate`` is accepted for compatibility; the exporter keeps running.
    """
    flush()
