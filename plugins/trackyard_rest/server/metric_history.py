"""``/api/2.0/mlflow/metrics/get-history-bulk-interval``: sampled histories of many runs.

MLflow 3.17.2's SQL store semantics, which its server answers with on a database backend:
per run, the points of ``metric_key`` (within ``[start_step, end_step]`` when given) in
``(step, timestamp, value)`` order are cut into ``max_results`` buckets as SQL's ``NTILE``
cuts them (the first ``n % max_results`` buckets one point larger), the first point of each
bucket is kept, and the run's last point is always kept (it replaces the last sampled point
when the sample is full). Fewer points than ``max_results``: all of them. Runs are answered
in the order asked; each point carries its ``run_id``.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request as HttpRequest
from starlette.responses import Response

from trackyard import validation
from trackyard.entities import Metric
from trackyard.errors import TrackyardError
from trackyard.stores import TrackingStore
from trackyard_rest.server.backend import backend
from trackyard_rest.server.errors import missing
from trackyard_rest.server.wire import json_response, number, page

__all__ = ["MAX_RESULTS_PER_RUN", "MAX_RUNS", "router", "sample_points"]

router = APIRouter(tags=["runs"])

#: At most this many runs per request, and points per run (MLflow's limits).
MAX_RUNS = 100
MAX_RESULTS_PER_RUN = 2500


def _order(m: Metric) -> tuple[int, int, float, bool]:
    nan = math.isnan(m.value)
    return (m.step, m.timestamp, 0.0 if nan else m.value, nan)


def sample_points(points: list[Metric], max_results: int) -> list[Metric]:
    """MLflow's NTILE sample of ``points`` (already in ``(step, timestamp, value)`` order)."""
    total = len(points)
    if total <= max_results:
        return list(points)
    size, larger = divmod(total, max_results)
    starts = [i * size + min(i, larger) for i in range(max_results)]
    kept = [points[i] for i in starts]
    if kept[-1] is not points[-1]:
        kept[-1] = points[-1]  # the sample is full: the last point replaces its last entry
    return kept


def _history(store: TrackingStore, run_id: str, key: str) -> list[Metric]:
    found = store.get_metric_history(run_id, key)
    points = list(found)
    while found.token:
        found = store.get_metric_history(run_id, key, page_token=found.token)
        points.extend(found)
    return points


@router.get("/metrics/get-history-bulk-interval")
def get_history_bulk_interval(
    request: HttpRequest,
    run_ids: Annotated[list[str] | None, Query()] = None,
    metric_key: str | None = None,
    start_step: int | None = None,
    end_step: int | None = None,
    max_results: int | None = None,
) -> Response:
    """``?run_ids&metric_key[&start_step&end_step][&max_results]`` → ``{metrics[]}``."""
    if not run_ids:
        raise missing("run_ids")
    if len(run_ids) > MAX_RUNS:
        raise TrackyardError.invalid_parameter_value(
            f"GetMetricHistoryBulkInterval request must specify at most {MAX_RUNS} run_ids. "
            f"Received {len(run_ids)} run_ids."
        )
    if metric_key is None:
        raise missing("metric_key")
    limit = MAX_RESULTS_PER_RUN if max_results is None else max_results
    if not 1 <= limit <= MAX_RESULTS_PER_RUN:
        raise TrackyardError.invalid_parameter_value(
            f"max_results must be between 1 and {MAX_RESULTS_PER_RUN}."
        )
    if (start_step is None) != (end_step is None):
        raise TrackyardError.invalid_parameter_value(
            "If either start step or end step are specified, both must be specified."
        )
    if start_step is not None and end_step is not None and start_step > end_step:
        raise TrackyardError.invalid_parameter_value(
            "end_step must be greater than start_step. "
            f"Found start_step={start_step} and end_step={end_step}."
        )
    ids = [validation.validate_run_id(r) for r in run_ids]
    store = backend(request).tracking
    for run_id in ids:  # every run must exist before anything is read
        store.get_run(run_id)
    out = []
    for run_id in ids:
        points = sorted(_history(store, run_id, metric_key), key=_order)
        if start_step is not None and end_step is not None:
            points = [m for m in points if start_step <= m.step <= end_step]
        for m in sample_points(points, limit):
            out.append(
                {
                    "key": m.key,
                    "value": number(m.value),
                    "timestamp": m.timestamp,
                    "step": m.step,
                    "run_id": run_id,
                }
            )
    return json_response(page("metrics", out, None))
