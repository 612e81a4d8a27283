"""Analytics beyond MLflow's API: bulk metric histories, downsampling, tables of runs.

- :func:`downsample` defines how a history is reduced to at most ``max_points`` points;
  every store that downsamples itself (the DuckDB store does it in SQL) must return what
  this function returns for the same history.
- :func:`metric_history_bulk` is the generic ``get_metric_history_bulk``: one
  ``get_metric_history`` per series, then :func:`downsample`. Stores inherit it from
  :class:`trackyard.stores.TrackingStore` and may answer faster.
- :func:`runs_to_pandas` and :func:`runs_to_arrow` turn runs into one table with
  ``metrics.*``, ``params.*`` and ``tags.*`` columns, as MLflow's fluent ``search_runs``
  does; pandas and pyarrow are imported only when these are called.

The client exposes them as ``MlflowClient.get_metric_history_bulk`` and
``MlflowClient.search_runs(..., output_format="pandas" | "arrow")``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trackyard.entities import Metric, Run
    from trackyard.stores import TrackingStore

__all__ = [
    "MIN_MAX_POINTS",
    "MetricHistories",
    "downsample",
    "metric_history_bulk",
    "runs_to_arrow",
    "runs_to_pandas",
]

#: The smallest ``max_points``: a bucket keeps up to four points (first, last, min, max).
MIN_MAX_POINTS = 4

#: ``{run_id: {metric key: points in history order}}``.
MetricHistories = dict[str, dict[str, list["Metric"]]]

#: The columns every run table starts with, as MLflow's fluent ``search_runs`` has them.
INFO_COLUMNS = ("run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time")


def _value_key(value: float) -> tuple[bool, float]:
    """Order of values for min and max: numbers as numbers, NaN above every number."""
    return (True, 0.0) if math.isnan(value) else (False, value)


def downsample(points: Sequence[Metric], max_points: int) -> list[Metric]:
    """Reduce one history to at most ``max_points`` points, keeping its shape.

    ``points`` are in history order (``get_metric_history`` order). A history of at most
    ``max_points`` points is returned whole. A longer one is cut into
    ``b = max_points // 4`` buckets of consecutive points (point ``i`` of ``n`` falls in
    bucket ``i * b // n``), and of each bucket the first, the last, the lowest and the
    highest point are kept (NaN counts as higher than every number; among equal values the
    earliest point), in history order, each point once.

    Args:
        points: the full history, in order.
        max_points: at least :data:`MIN_MAX_POINTS`.

    Returns:
        A new list of at most ``max_points`` of the given points.
    """
    n = len(points)
    if n <= max_points:
        return list(points)
    buckets = max_points // MIN_MAX_POINTS
    kept: list[Metric] = []
    start = 0
    for b in range(buckets):
        end = start
        while end < n and end * buckets // n == b:
            end += 1
        if end == start:
            continue
        low = high = start
        for i in range(start + 1, end):
            key = _value_key(points[i].value)
            if key < _value_key(points[low].value):
                low = i
            if key > _value_key(points[high].value):
                high = i
        kept.extend(points[i] for i in sorted({start, end - 1, low, high}))
        start = end
    return kept


def check_max_points(max_points: object) -> int | None:
    """``max_points`` if it is None or an int of at least :data:`MIN_MAX_POINTS`.

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE otherwise.
    """
    if max_points is None:
        return None
    if (
        isinstance(max_points, bool)
        or not isinstance(max_points, int)
        or max_points < MIN_MAX_POINTS
    ):
        from trackyard.errors import TrackyardError

        raise TrackyardError.invalid_parameter_value(
            f"Invalid value {max_points!r} for parameter 'max_points': it must be None or an "
            f"integer of at least {MIN_MAX_POINTS} (each bucket keeps its first, last, lowest "
            "and highest point)."
        )
    return max_points


def metric_history_bulk(
    store: TrackingStore,
    run_ids: Sequence[str],
    keys: Sequence[str],
    max_points: int | None = None,
) -> MetricHistories:
    """The generic ``get_metric_history_bulk``: one ``get_metric_history`` per series.

    Args:
        store: the tracking store.
        run_ids: runs (each must exist: RESOURCE_DOES_NOT_EXIST otherwise).
        keys: metric keys.
        max_points: None for whole histories, else see :func:`downsample`.

    Returns:
        Every requested run, with every requested key (an empty list for a metric the run
        never logged).
    """
    result: MetricHistories = {}
    for run_id in run_ids:
        per_key: dict[str, list[Metric]] = {}
        for key in keys:
            page = store.get_metric_history(run_id, key)
            points = list(page)
            while page.token:
                page = store.get_metric_history(run_id, key, page_token=page.token)
                points.extend(page)
            per_key[key] = points if max_points is None else downsample(points, max_points)
        result[run_id] = per_key
    return result


def _columns(runs: Sequence[Run]) -> tuple[list[str], list[str], list[str]]:
    metrics: set[str] = set()
    params: set[str] = set()
    tags: set[str] = set()
    for run in runs:
        metrics.update(run.data.metrics)
        params.update(run.data.params)
        tags.update(run.data.tags)
    return sorted(metrics), sorted(params), sorted(tags)


def runs_to_pandas(runs: Sequence[Run], next_page_token: str | None = None) -> Any:
    """One ``pandas.DataFrame`` row per run, with MLflow's fluent ``search_runs`` columns.

    Columns: ``run_id``, ``experiment_id``, ``status``, ``artifact_uri``, ``start_time``
    and ``end_time`` (UTC timestamps), then ``metrics.<key>`` (float, NaN where absent),
    ``params.<key>`` and ``tags.<key>`` (str, None where absent), keys sorted. The next
    page's token is in ``df.attrs["next_page_token"]``.
    """
    import pandas as pd

    metric_keys, param_keys, tag_keys = _columns(runs)
    data: dict[str, Any] = {
        "run_id": [r.info.run_id for r in runs],
        "experiment_id": [r.info.experiment_id for r in runs],
        "status": [r.info.status for r in runs],
        "artifact_uri": [r.info.artifact_uri for r in runs],
        "start_time": pd.to_datetime([r.info.start_time for r in runs], unit="ms", utc=True),
        "end_time": pd.to_datetime([r.info.end_time for r in runs], unit="ms", utc=True),
    }
    for key in metric_keys:
        data[f"metrics.{key}"] = pd.Series(
            [r.data.metrics.get(key, math.nan) for r in runs], dtype="float64"
        )
    for key in param_keys:
        data[f"params.{key}"] = pd.Series([r.data.params.get(key) for r in runs], dtype=object)
    for key in tag_keys:
        data[f"tags.{key}"] = pd.Series([r.data.tags.get(key) for r in runs], dtype=object)
    frame = pd.DataFrame(data)
    frame.attrs["next_page_token"] = next_page_token
    return frame


def runs_to_arrow(runs: Sequence[Run], next_page_token: str | None = None) -> Any:
    """One ``pyarrow.Table`` row per run, with the columns of :func:`runs_to_pandas`.

    Absent metrics, params and tags are nulls; ``start_time`` and ``end_time`` are
    ``timestamp[ms, tz=UTC]``. The next page's token is in the schema metadata under
    ``next_page_token`` (absent on the last page).
    """
    import pyarrow as pa

    metric_keys, param_keys, tag_keys = _columns(runs)
    stamp = pa.timestamp("ms", tz="UTC")
    arrays: dict[str, Any] = {
        "run_id": pa.array([r.info.run_id for r in runs], pa.string()),
        "experiment_id": pa.array([r.info.experiment_id for r in runs], pa.string()),
        "status": pa.array([r.info.status for r in runs], pa.string()),
        "artifact_uri": pa.array([r.info.artifact_uri for r in runs], pa.string()),
        "start_time": pa.array([r.info.start_time for r in runs], stamp),
        "end_time": pa.array([r.info.end_time for r in runs], stamp),
    }
    for key in metric_keys:
        arrays[f"metrics.{key}"] = pa.array(
            [r.data.metrics.get(key) for r in runs], pa.float64(), from_pandas=False
        )
    for key in param_keys:
        arrays[f"params.{key}"] = pa.array([r.data.params.get(key) for r in runs], pa.string())
    for key in tag_keys:
        arrays[f"tags.{key}"] = pa.array([r.data.tags.get(key) for r in runs], pa.string())
    metadata = {"next_page_token": next_page_token} if next_page_token else None
    return pa.table(arrays, metadata=metadata)
