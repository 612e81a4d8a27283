"""Metric points: column-wise writes, one series' history, bulk and downsampled reads.

MLflow's rules, as every store keeps them:

- identical points (key, value, timestamp, step) are stored once; NaN equals NaN here;
- a series' latest point is the one with the greatest ``(step, timestamp, value)``, NaN
  counting as 0; a point replaces it only when strictly greater;
- a history is ordered by ``(timestamp, step, value)``, NaN counting as 0.

Writes are column-wise: a batch becomes four columns (an Arrow table for large batches) and
one ``INSERT``; row-by-row inserts are three orders of magnitude slower in DuckDB. Points
newer than everything a series holds (by ``(timestamp, step)``, the common case while
training) cannot be duplicates, so they skip the duplicate check; others are checked
against the stored points of the same time range only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from trackyard.entities import Metric

__all__ = [
    "bulk_history_sql",
    "history_order",
    "write_metrics",
]

# Batches up to this many points go through list parameters; larger ones through Arrow.
_ARROW_FROM = 64


def _rank(value: float) -> float:
    """A value as it takes part in the latest-point rule: NaN counts as 0."""
    return 0.0 if value != value else value


def _identity(value: float, timestamp: int, step: int) -> tuple[Any, int, int]:
    """What makes two points of one series the same point (NaN equals NaN)."""
    return ("nan" if value != value else value, timestamp, step)


@dataclass
class _Incoming:
    """The new points of one series in one batch."""

    values: list[float] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    seen: set[tuple[Any, int, int]] = field(default_factory=set)

    def add(self, value: float, timestamp: int, step: int) -> None:
        ident = _identity(value, timestamp, step)
        if ident in self.seen:
            return
        self.seen.add(ident)
        self.values.append(value)
        self.timestamps.append(timestamp)
        self.steps.append(step)

    def drop(self, stored: set[tuple[Any, int, int]]) -> None:
        """Forget the points that are already stored."""
        keep = [
            i
            for i, ident in enumerate(zip(self.values, self.timestamps, self.steps, strict=True))
            if _identity(*ident) not in stored
        ]
        self.values = [self.values[i] for i in keep]
        self.timestamps = [self.timestamps[i] for i in keep]
        self.steps = [self.steps[i] for i in keep]

    def best(self) -> tuple[int, int, float, int]:
        """(step, timestamp, rank, index) of the point the latest-point rule prefers."""
        best = (self.steps[0], self.timestamps[0], _rank(self.values[0]), 0)
        for i in range(1, len(self.values)):
            candidate = (self.steps[i], self.timestamps[i], _rank(self.values[i]), i)
            if candidate[:3] > best[:3]:
                best = candidate
        return best

    def last(self) -> tuple[int, int]:
        """The greatest (timestamp, step) of these points."""
        return max(zip(self.timestamps, self.steps, strict=True))

    def first(self) -> tuple[int, int]:
        """The smallest (timestamp, step) of these points."""
        return min(zip(self.timestamps, self.steps, strict=True))


def _group(metrics: Sequence[Metric]) -> dict[str, _Incoming]:
    grouped: dict[str, _Incoming] = {}
    for m in metrics:
        incoming = grouped.get(m.key)
        if incoming is None:
            incoming = grouped[m.key] = _Incoming()
        incoming.add(float(m.value), int(m.timestamp), int(m.step))
    return grouped


def _stored_points(cur: Any, series_key: int, incoming: _Incoming) -> set[tuple[Any, int, int]]:
    """Identities of the stored points of a series in the time range of ``incoming``."""
    cur.execute(
        "SELECT value, timestamp, step FROM metric_points WHERE series_key = ? "
        "AND timestamp BETWEEN ? AND ?",
        [series_key, min(incoming.timestamps), max(incoming.timestamps)],
    )
    return {_identity(v, ts, st) for v, ts, st in cur.fetchall()}


def write_metrics(cur: Any, db: Any, run_key: int, metrics: Sequence[Metric]) -> None:
    """Store ``metrics`` of one run and update each series' latest point.

    Runs inside the caller's write transaction (``db.write``), which holds the write lock.
    """
    grouped = _group(metrics)
    cur.execute(
        "SELECT key, series_key, value, timestamp, step, last_timestamp, last_step "
        "FROM metric_series WHERE run_key = ? AND key IN (SELECT unnest(?::VARCHAR[]))",
        [run_key, list(grouped)],
    )
    existing = {row[0]: row[1:] for row in cur.fetchall()}
    new_series: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    point_keys: list[int] = []
    point_steps: list[int] = []
    point_timestamps: list[int] = []
    point_values: list[float] = []
    for key, incoming in grouped.items():
        row = existing.get(key)
        if row is not None:
            series_key, value, timestamp, step, last_ts, last_step = row
            if incoming.first() <= (last_ts, last_step):
                incoming.drop(_stored_points(cur, series_key, incoming))
                if not incoming.values:
                    continue
        else:
            series_key = db.next_key(cur, "metric_series", "series_key")
        b_step, b_ts, b_rank, b_index = incoming.best()
        b_value = incoming.values[b_index]
        n_last = incoming.last()
        if row is None:
            new_series.append((series_key, key, b_value, b_ts, b_step, n_last[0], n_last[1]))
        else:
            if (b_step, b_ts, b_rank) > (step, timestamp, _rank(value)):
                value, timestamp, step = b_value, b_ts, b_step
            last_ts, last_step = max((last_ts, last_step), n_last)
            updates.append((series_key, value, timestamp, step, last_ts, last_step))
        point_keys.extend([series_key] * len(incoming.values))
        point_steps.extend(incoming.steps)
        point_timestamps.extend(incoming.timestamps)
        point_values.extend(incoming.values)
    if new_series:
        columns = list(zip(*new_series, strict=True))
        cur.execute(
            "INSERT INTO metric_series (series_key, run_key, key, value, timestamp, step, "
            "last_timestamp, last_step) SELECT unnest(?::BIGINT[]), ?, unnest(?::VARCHAR[]), "
            "unnest(?::DOUBLE[]), unnest(?::BIGINT[]), unnest(?::BIGINT[]), "
            "unnest(?::BIGINT[]), unnest(?::BIGINT[])",
            [list(columns[0]), run_key, *(list(c) for c in columns[1:])],
        )
    if updates:
        columns = list(zip(*updates, strict=True))
        cur.execute(
            "UPDATE metric_series SET value = u.value, timestamp = u.timestamp, step = u.step, "
            "last_timestamp = u.last_timestamp, last_step = u.last_step FROM (SELECT "
            "unnest(?::BIGINT[]) AS series_key, unnest(?::DOUBLE[]) AS value, "
            "unnest(?::BIGINT[]) AS timestamp, unnest(?::BIGINT[]) AS step, "
            "unnest(?::BIGINT[]) AS last_timestamp, unnest(?::BIGINT[]) AS last_step) u "
            "WHERE metric_series.series_key = u.series_key",
            [list(c) for c in columns],
        )
    if not point_keys:
        return
    if len(point_keys) < _ARROW_FROM:
        cur.execute(
            "INSERT INTO metric_points (series_key, step, timestamp, value) SELECT "
            "unnest(?::BIGINT[]), unnest(?::BIGINT[]), unnest(?::BIGINT[]), unnest(?::DOUBLE[])",
            [point_keys, point_steps, point_timestamps, point_values],
        )
        return
    import pyarrow as pa

    table = pa.table(
        {
            "series_key": pa.array(point_keys, pa.int64()),
            "step": pa.array(point_steps, pa.int64()),
            "timestamp": pa.array(point_timestamps, pa.int64()),
            "value": pa.array(point_values, pa.float64()),
        }
    )
    cur.from_arrow(table).insert_into("metric_points")


def history_order(alias: str = "") -> str:
    """ORDER BY terms of a history: (timestamp, step, value), NaN counting as 0, then NaN."""
    p = f"{alias}." if alias else ""
    return (
        f"{p}timestamp, {p}step, CASE WHEN isnan({p}value) THEN 0 ELSE {p}value END, "
        f"isnan({p}value)"
    )


def bulk_history_sql(*, downsample: bool) -> str:
    """One query for the points of several series, optionally downsampled.

    Named parameters: ``$run_ids`` and ``$keys`` (lists) select every series of those runs
    with those keys; with ``downsample``, ``$max_points`` too. Rows are ``(run_id, key, value,
    timestamp, step)``, ordered by run id, key and history order. Downsampling keeps, of
    each series longer than ``max_points``, the first, last, lowest and highest point of
    each of ``max_points // 4`` buckets of consecutive points (the definition is
    :func:`trackyard.analytics.downsample`'s); shorter series are returned whole.
    """
    series = (
        "FROM metric_points p JOIN metric_series s ON p.series_key = s.series_key "
        "JOIN runs r ON r.run_key = s.run_key "
        "WHERE r.run_id IN (SELECT unnest($run_ids::VARCHAR[])) "
        "AND s.key IN (SELECT unnest($keys::VARCHAR[]))"
    )
    if not downsample:
        return (
            f"SELECT r.run_id, s.key, p.value, p.timestamp, p.step {series} "
            f"ORDER BY r.run_id, s.key, {history_order('p')}"
        )
    return f"""
        WITH points AS (
            SELECT r.run_id, s.key, p.value, p.timestamp, p.step,
                row_number() OVER w - 1 AS pos, count(*) OVER (PARTITION BY s.series_key) AS n
            {series}
            WINDOW w AS (PARTITION BY s.series_key ORDER BY {history_order('p')})
        ),
        bucketed AS (
            SELECT *, CASE WHEN n <= $max_points THEN pos
                ELSE pos * ($max_points // 4) // n END AS bucket
            FROM points
        ),
        kept AS (
            SELECT run_id, key, bucket, min(pos) AS first_pos, max(pos) AS last_pos,
                arg_min(pos, (value, pos)) AS low_pos, arg_max(pos, (value, -pos)) AS high_pos
            FROM bucketed GROUP BY run_id, key, bucket
        )
        SELECT b.run_id, b.key, b.value, b.timestamp, b.step
        FROM bucketed b JOIN kept k USING (run_id, key, bucket)
        WHERE b.pos IN (k.first_pos, k.last_pos, k.low_pos, k.high_pos)
        ORDER BY b.run_id, b.key, b.pos
    """
