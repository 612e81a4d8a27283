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

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from trackyard.entities import Metric

__all__ = [
    "SeriesCache",
    "bulk_history_sql",
    "history_order",
    "write_metrics",
]

# Batches up to this many points go through list parameters; larger ones through Arrow.
_ARROW_FROM = 64


#: A stored series: (series_key, value, timestamp, step, last_timestamp, last_step).
SeriesRow = tuple[int, float, int, int, int, int]


class SeriesCache:
    """The stored rows of the series of recently written runs.

    Training loops write the same few runs over and over; remembering their series rows
    spares ``log_batch`` a lookup per batch. The cache is only ever read and changed by
    writers holding the database's write lock, with committed values, and this process is
    the only one that can write the database, so it never goes stale.
    """

    def __init__(self, max_entries: int = 200_000) -> None:
        self._runs: OrderedDict[int, dict[str, SeriesRow]] = OrderedDict()
        self._size = 0
        self._max = max_entries

    def get(self, run_key: int) -> dict[str, SeriesRow]:
        """The known series of a run (possibly not all of them), by key."""
        rows = self._runs.get(run_key)
        if rows is None:
            return {}
        self._runs.move_to_end(run_key)
        return rows

    def put(self, run_key: int, rows: Iterable[tuple[str, SeriesRow]]) -> None:
        """Remember committed rows of a run's series."""
        known = self._runs.get(run_key)
        if known is None:
            known = self._runs[run_key] = {}
        self._runs.move_to_end(run_key)
        before = len(known)
        known.update(rows)
        self._size += len(known) - before
        while self._size > self._max and len(self._runs) > 1:
            _, dropped = self._runs.popitem(last=False)
            self._size -= len(dropped)


def _rank(value: float) -> float:
    """A value as it takes part in the latest-point rule: NaN counts as 0."""
    return 0.0 if value != value else value


def _identity(value: float, timestamp: int, step: int) -> tuple[Any, int, int]:
    """What makes two points of one series the same point (NaN equals NaN)."""
    return ("nan" if value != value else value, timestamp, step)


@dataclass
class _Columns:
    """A batch of points as four columns."""

    keys: list[str]
    values: list[float]
    stamps: list[int]
    steps: list[int]

    @classmethod
    def of(cls, metrics: Sequence[Metric]) -> _Columns:
        columns = cls(
            [m.key for m in metrics],
            [m.value for m in metrics],
            [m.timestamp for m in metrics],
            [m.step for m in metrics],
        )
        if any(v != v for v in columns.values) or len(
            set(zip(columns.keys, columns.values, columns.stamps, columns.steps, strict=True))
        ) != len(metrics):
            columns.keep(columns.first_occurrences())
        return columns

    def first_occurrences(self) -> list[int]:
        """Indexes of the points that are not repeats of an earlier point of the batch."""
        seen: set[tuple[Any, ...]] = set()
        keep = []
        for i, key in enumerate(self.keys):
            ident = (key, *_identity(self.values[i], self.stamps[i], self.steps[i]))
            if ident not in seen:
                seen.add(ident)
                keep.append(i)
        return keep

    def keep(self, indexes: Sequence[int]) -> None:
        self.keys = [self.keys[i] for i in indexes]
        self.values = [self.values[i] for i in indexes]
        self.stamps = [self.stamps[i] for i in indexes]
        self.steps = [self.steps[i] for i in indexes]


@dataclass
class _Series:
    """What one batch brings to one series: its best point and its (timestamp, step) range."""

    best: tuple[int, int, float]  # (step, timestamp, rank) of the preferred point
    best_index: int
    first: tuple[int, int]  # smallest (timestamp, step)
    last: tuple[int, int]  # greatest (timestamp, step)


def _summaries(c: _Columns) -> dict[str, _Series]:
    """Per key: the point the latest-point rule prefers (the first among equals) and range."""
    out: dict[str, _Series] = {}
    values, stamps, steps = c.values, c.stamps, c.steps
    for i, key in enumerate(c.keys):
        v = values[i]
        rank = (steps[i], stamps[i], 0.0 if v != v else v)
        when = (stamps[i], steps[i])
        seen = out.get(key)
        if seen is None:
            out[key] = _Series(rank, i, when, when)
            continue
        if rank > seen.best:
            seen.best, seen.best_index = rank, i
        if when < seen.first:
            seen.first = when
        if when > seen.last:
            seen.last = when
    return out


def _stored_duplicates(cur: Any, series_key: int, key: str, c: _Columns) -> set[int]:
    """Indexes of the batch's points of ``key`` that the series already holds."""
    mine = [i for i, k in enumerate(c.keys) if k == key]
    cur.execute(
        "SELECT value, timestamp, step FROM metric_points WHERE series_key = ? "
        "AND timestamp BETWEEN ? AND ?",
        [series_key, min(c.stamps[i] for i in mine), max(c.stamps[i] for i in mine)],
    )
    stored = {_identity(v, ts, st) for v, ts, st in cur.fetchall()}
    return {i for i in mine if _identity(c.values[i], c.stamps[i], c.steps[i]) in stored}


def write_metrics(cur: Any, db: Any, run_key: int, metrics: Sequence[Metric]) -> None:
    """Store ``metrics`` of one run and update each series' latest point.

    Runs inside the caller's write transaction (``db.write``), which holds the write lock.
    """
    c = _Columns.of(metrics)
    summaries = _summaries(c)
    cache: SeriesCache = db.memo.setdefault("series", SeriesCache())
    known = cache.get(run_key)
    existing = {key: known[key] for key in summaries if key in known}
    missing = [key for key in summaries if key not in known]
    if missing:
        cur.execute(
            "SELECT key, series_key, value, timestamp, step, last_timestamp, last_step "
            "FROM metric_series WHERE run_key = ? AND key IN (SELECT unnest(?::VARCHAR[]))",
            [run_key, missing],
        )
        found = [(row[0], tuple(row[1:])) for row in cur.fetchall()]
        cache.put(run_key, found)  # committed rows: true whatever this batch does
        existing.update(found)  # type: ignore[arg-type]
    duplicates: set[int] = set()
    for key, (series_key, _, _, _, last_ts, last_step) in existing.items():
        if summaries[key].first <= (last_ts, last_step):  # may repeat stored points
            duplicates |= _stored_duplicates(cur, series_key, key, c)
    if duplicates:
        c.keep([i for i in range(len(c.keys)) if i not in duplicates])
        if not c.keys:
            return
        summaries = _summaries(c)
    new_series: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    written: list[tuple[str, SeriesRow]] = []
    series_keys: dict[str, int] = {}
    for key, summary in summaries.items():
        b_step, b_ts, _ = summary.best
        b_value = c.values[summary.best_index]
        row = existing.get(key)
        if row is None:
            series_key = db.next_key(cur, "metric_series", "series_key")
            new: SeriesRow = (series_key, b_value, b_ts, b_step, *summary.last)
            new_series.append((series_key, key, *new[1:]))
        else:
            series_key, value, timestamp, step, last_ts, last_step = row
            if summary.best > (step, timestamp, _rank(value)):
                value, timestamp, step = b_value, b_ts, b_step
            last_ts, last_step = max((last_ts, last_step), summary.last)
            new = (series_key, value, timestamp, step, last_ts, last_step)
            updates.append(new)
        written.append((key, new))
        series_keys[key] = series_key
    db.after_commit(lambda: cache.put(run_key, written))
    if new_series:
        columns = list(zip(*new_series, strict=True))
        cur.execute(
            "INSERT INTO metric_series (series_key, run_key, key, value, timestamp, step, "
            "last_timestamp, last_step) SELECT unnest(?::BIGINT[]), ?, unnest(?::VARCHAR[]), "
            "unnest(?::DOUBLE[]), unnest(?::BIGINT[]), unnest(?::BIGINT[]), "
            "unnest(?::BIGINT[]), unnest(?::BIGINT[])",
            [list(columns[0]), run_key, *(list(col) for col in columns[1:])],
        )
    if updates:
        columns = list(zip(*updates, strict=True))
        cur.execute(
            "UPDATE metric_series SET value = u.value, timestamp = u.timestamp, step = u.step, "
            "last_timestamp = u.last_timestamp, last_step = u.last_step FROM (SELECT "
            "unnest(?::BIGINT[]) AS series_key, unnest(?::DOUBLE[]) AS value, "
            "unnest(?::BIGINT[]) AS timestamp, unnest(?::BIGINT[]) AS step, "
            "unnest(?::BIGINT[]) AS last_timestamp, unnest(?::BIGINT[]) AS last_step) u "
            "WHERE metric_series.run_key = ? AND metric_series.series_key = u.series_key",
            [*(list(col) for col in columns), run_key],
        )
    point_keys = [series_keys[k] for k in c.keys]
    if len(point_keys) < _ARROW_FROM:
        cur.execute(
            "INSERT INTO metric_points (series_key, step, timestamp, value) SELECT "
            "unnest(?::BIGINT[]), unnest(?::BIGINT[]), unnest(?::BIGINT[]), unnest(?::DOUBLE[])",
            [point_keys, c.steps, c.stamps, c.values],
        )
        return
    import pyarrow as pa

    table = pa.table(
        {
            "series_key": pa.array(point_keys, pa.int64()),
            "step": pa.array(c.steps, pa.int64()),
            "timestamp": pa.array(c.stamps, pa.int64()),
            "value": pa.array(c.values, pa.float64()),
        }
    )
    cur.register("trackyard_incoming_points", table)
    try:
        cur.execute("INSERT INTO metric_points SELECT * FROM trackyard_incoming_points")
    finally:
        cur.unregister("trackyard_incoming_points")


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
            WINDOW w AS (PARTITION BY s.series_key ORDER BY {history_order("p")})
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
