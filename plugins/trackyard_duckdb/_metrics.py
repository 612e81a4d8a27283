"""Metric points: column-wise writes into chunks, one series' history, bulk and downsampled reads.

MLflow's rules, as every store keeps them:

- identical points (key, value, timestamp, step) are stored once; NaN equals NaN here;
- a series' latest point is the one with the greatest ``(step, timestamp, value)``, NaN
  counting as 0; a point replaces it only when strictly greater;
- a history is ordered by ``(timestamp, step, value)``, NaN counting as 0 (and before NaN, a
  real 0).

Layout (:mod:`trackyard_duckdb.schema.tracking`): a ``log_batch`` adds one ``metric_chunks``
row per series, holding the batch's points as three lists sorted in history order, plus one
Arrow insert for all of them. Reading a series finds its few chunk rows through the index.
When every chunk of a series starts after the previous one ends (training logs forward in
time), the series is *ordered*: its history is its chunks' lists concatenated, positions are
running counts, and neither a full read nor downsampling has to sort. Points that are not
newer than the series' last one are checked against the stored points of their time range
(and make the series unordered); many small chunks are merged as they accumulate.
"""

from __future__ import annotations

import array
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from trackyard.entities import Metric

__all__ = [
    "SeriesCache",
    "bulk_history_sql",
    "history_order",
    "ordered_history",
    "series_cache",
    "write_metrics",
]

#: A chunk with fewer points than this is small; small chunks are merged.
SMALL_CHUNK = 64
#: How many small chunks a series may have before the next write merges them.
MAX_SMALL_CHUNKS = 64

#: A stored series: (series_key, value, timestamp, step, last_timestamp, last_step, points,
#: small_chunks, ordered).
SeriesRow = tuple[int, float, int, int, int, int, int, int, bool]

#: The columns of ``metric_chunks``, in table order.
CHUNK_COLUMNS = (
    "chunk_key",
    "series_key",
    "points",
    "first_timestamp",
    "first_step",
    "last_timestamp",
    "last_step",
    "steps",
    "timestamps",
    "vals",
)

_SERIES_COLUMNS = (
    "series_key, value, timestamp, step, last_timestamp, last_step, points, small_chunks, ordered"
)

#: The columns of a :data:`SeriesRow` with their SQL types (series_key first).
_UPDATED_COLUMNS = {
    "series_key": "BIGINT",
    "value": "DOUBLE",
    "timestamp": "BIGINT",
    "step": "BIGINT",
    "last_timestamp": "BIGINT",
    "last_step": "BIGINT",
    "points": "BIGINT",
    "small_chunks": "INTEGER",
    "ordered": "BOOLEAN",
}

# The new values of a run's series rows, one list per column, each row's picked by the
# position of its series_key in $series_key. No join (``UPDATE ... FROM (SELECT unnest(...))``
# or ``IN (SELECT unnest(...))``): with DuckDB 2.0.1 every query that runs a join keeps 1.5
# to 4 KiB of heap that only closing the database gives back, so the write path, run for
# every log_batch, uses list functions instead (docs/reliability.md, DuckDB soak).
_SERIES_UPDATE = (
    "UPDATE metric_series SET "
    + ", ".join(
        f"{name} = (${name}::{kind}[])[list_position($series_key::BIGINT[], series_key)]"
        for name, kind in _UPDATED_COLUMNS.items()
        if name != "series_key"
    )
    + " WHERE run_key = $run_key AND list_contains($series_key::BIGINT[], series_key)"
)


class SeriesCache:
    """The stored rows of the series of recently written runs.

    Training loops write the same few runs over and over; remembering their series rows
    spares ``log_batch`` a lookup per batch. The cache is only ever read and changed by
    writers holding the database's write lock, with committed values, and this process is
    the only one that can write the database, so it never goes stale.
    """

    def __init__(self, max_entries: int = 200_000) -> None:
        self._runs: OrderedDict[int, dict[str, SeriesRow]] = OrderedDict()
        self._complete: set[int] = set()
        self._size = 0
        self._max = max_entries

    def get(self, run_key: int) -> tuple[dict[str, SeriesRow], bool]:
        """The known series of a run by key, and whether they are all of its series."""
        rows = self._runs.get(run_key)
        if rows is None:
            return {}, False
        self._runs.move_to_end(run_key)
        return rows, run_key in self._complete

    def put(
        self, run_key: int, rows: Iterable[tuple[str, SeriesRow]], *, complete: bool = False
    ) -> None:
        """Remember committed rows of a run's series (``complete``: all of them)."""
        known = self._runs.get(run_key)
        if known is None:
            known = self._runs[run_key] = {}
        self._runs.move_to_end(run_key)
        if complete:
            self._complete.add(run_key)
        before = len(known)
        known.update(rows)
        self._size += len(known) - before
        while len(self._runs) > 1 and (self._size > self._max or len(self._runs) > 10 * self._max):
            dropped_key, dropped = self._runs.popitem(last=False)
            self._complete.discard(dropped_key)
            self._size -= len(dropped)


def series_cache(db: Any) -> SeriesCache:
    """The series cache of a database (kept in its ``memo``)."""
    cache: SeriesCache = db.memo.setdefault("series", SeriesCache())
    return cache


def _rank(value: float) -> float:
    """A value as it takes part in the latest-point rule and history order: NaN counts as 0."""
    return 0.0 if value != value else value


def _identity(value: float, timestamp: int, step: int) -> tuple[Any, int, int]:
    """What makes two points of one series the same point (NaN equals NaN)."""
    return ("nan" if value != value else value, timestamp, step)


def history_order(alias: str = "") -> str:
    """ORDER BY terms of a history: (timestamp, step, value), NaN counting as 0, then NaN."""
    p = f"{alias}." if alias else ""
    return (
        f"{p}timestamp, {p}step, CASE WHEN isnan({p}value) THEN 0 ELSE {p}value END, "
        f"isnan({p}value)"
    )


@dataclass
class _Batch:
    """The points of one ``log_batch``, as columns, without repeats."""

    keys: list[str]
    values: list[float]
    stamps: list[int]
    steps: list[int]

    @classmethod
    def of(cls, metrics: Sequence[Metric]) -> _Batch:
        batch = cls(
            [m.key for m in metrics],
            [m.value for m in metrics],
            [m.timestamp for m in metrics],
            [m.step for m in metrics],
        )
        if any(v != v for v in batch.values) or len(
            set(zip(batch.keys, batch.values, batch.stamps, batch.steps, strict=True))
        ) != len(metrics):
            seen: set[tuple[Any, ...]] = set()
            keep = []
            for i, key in enumerate(batch.keys):
                ident = (key, *_identity(batch.values[i], batch.stamps[i], batch.steps[i]))
                if ident not in seen:
                    seen.add(ident)
                    keep.append(i)
            batch.keep(keep)
        return batch

    def keep(self, indexes: Sequence[int]) -> None:
        self.keys = [self.keys[i] for i in indexes]
        self.values = [self.values[i] for i in indexes]
        self.stamps = [self.stamps[i] for i in indexes]
        self.steps = [self.steps[i] for i in indexes]

    def by_key(self) -> dict[str, list[int]]:
        """Indexes of each key's points, in batch order."""
        grouped: dict[str, list[int]] = {}
        for i, key in enumerate(self.keys):
            found = grouped.get(key)
            if found is None:
                grouped[key] = [i]
            else:
                found.append(i)
        return grouped

    def order_key(self, i: int) -> tuple[int, int, float, bool]:
        v = self.values[i]
        return (self.stamps[i], self.steps[i], _rank(v), v != v)


def _stored_identities(cur: Any, series_key: int, low: int, high: int) -> set[Any]:
    """Identities of the stored points of a series with a timestamp in [low, high]."""
    cur.execute(
        "SELECT v, t, s FROM (SELECT unnest(vals) AS v, unnest(timestamps) AS t, "
        "unnest(steps) AS s FROM metric_chunks WHERE series_key = ? "
        "AND last_timestamp >= ? AND first_timestamp <= ?) WHERE t BETWEEN ? AND ?",
        [series_key, low, high, low, high],
    )
    return {_identity(v, t, s) for v, t, s in cur.fetchall()}


def _merge_small_chunks(cur: Any, db: Any, series_key: int, ordered: bool) -> tuple[int, bool]:
    """Merge a series' small chunks into one; return (small chunks left, still ordered)."""
    cur.execute(
        "SELECT chunk_key, points FROM metric_chunks WHERE series_key = ? "
        "ORDER BY first_timestamp, first_step",
        [series_key],
    )
    chunks = cur.fetchall()
    small = [i for i, (_, n) in enumerate(chunks) if n < SMALL_CHUNK]
    if len(small) < 2:
        return len(small), ordered
    # A merged chunk spans the small chunks' range: it only keeps the series ordered when
    # no big chunk lies inside that range.
    ordered = ordered and small[-1] - small[0] == len(small) - 1
    keys = [chunks[i][0] for i in small]
    order = "first_timestamp, first_step"
    cur.execute(
        "INSERT INTO metric_chunks SELECT ?, series_key, sum(points), "
        "min(first_timestamp), arg_min(first_step, (first_timestamp, first_step)), "
        "max(last_timestamp), arg_max(last_step, (last_timestamp, last_step)), "
        f"flatten(list(steps ORDER BY {order})), flatten(list(timestamps ORDER BY {order})), "
        f"flatten(list(vals ORDER BY {order})) FROM metric_chunks "
        "WHERE series_key = ? AND list_contains(?::BIGINT[], chunk_key) GROUP BY series_key",
        [db.next_key(cur, "metric_chunks", "chunk_key"), series_key, keys],
    )
    cur.execute(
        "DELETE FROM metric_chunks WHERE series_key = ? AND list_contains(?::BIGINT[], chunk_key)",
        [series_key, keys],
    )
    merged = sum(chunks[i][1] for i in small)
    return (1 if merged < SMALL_CHUNK else 0), ordered


class _Chunks:
    """New ``metric_chunks`` rows, gathered column-wise and inserted in one statement.

    The lists of every chunk are kept flat, with offsets, and handed to DuckDB as Arrow
    arrays built straight from typed buffers: ``pyarrow.array`` on Python lists converts
    nested integers slowly, and its first call imports pandas (seconds) to check for
    pandas objects.
    """

    def __init__(self) -> None:
        # chunk_key, series_key, points (INTEGER), first/last timestamp and step
        self.scalars: list[array.array[int]] = [
            array.array("i" if i == 2 else "q") for i in range(7)
        ]
        self.offsets = array.array("i", [0])
        self.steps = array.array("q")
        self.stamps = array.array("q")
        self.values = array.array("d")

    def add(
        self, head: Sequence[int], steps: list[int], stamps: list[int], values: list[float]
    ) -> None:
        """One chunk: its seven scalar columns, then its points in history order."""
        for column, value in zip(self.scalars, head, strict=True):
            column.append(value)
        self.steps.extend(steps)
        self.stamps.extend(stamps)
        self.values.extend(values)
        self.offsets.append(len(self.values))

    def __bool__(self) -> bool:
        return len(self.offsets) > 1

    def insert(self, cur: Any) -> None:
        """Insert the gathered rows into ``metric_chunks`` (one statement)."""
        import pyarrow as pa

        def column(kind: Any, data: array.array[Any]) -> Any:
            return pa.Array.from_buffers(kind, len(data), [None, pa.py_buffer(data)])

        ints = pa.int64()
        offsets = column(pa.int32(), self.offsets)
        scalars = [column(pa.int32() if c.typecode == "i" else ints, c) for c in self.scalars]
        table = pa.Table.from_arrays(
            [
                *scalars,
                pa.ListArray.from_arrays(offsets, column(ints, self.steps)),
                pa.ListArray.from_arrays(offsets, column(ints, self.stamps)),
                pa.ListArray.from_arrays(offsets, column(pa.float64(), self.values)),
            ],
            names=list(CHUNK_COLUMNS),
        )
        cur.from_arrow(table).insert_into("metric_chunks")


def write_metrics(cur: Any, db: Any, run_key: int, metrics: Sequence[Metric]) -> None:
    """Store ``metrics`` of one run and update each series' latest point.

    Runs inside the caller's write transaction (``db.write``), which holds the write lock.
    """
    batch = _Batch.of(metrics)
    groups = batch.by_key()
    cache = series_cache(db)
    known, complete = cache.get(run_key)
    existing: dict[str, SeriesRow] = {key: known[key] for key in groups if key in known}
    missing = [] if complete else [key for key in groups if key not in known]
    if missing:
        cur.execute(
            f"SELECT key, {_SERIES_COLUMNS} FROM metric_series WHERE run_key = ? "
            "AND list_contains(?::VARCHAR[], key)",
            [run_key, missing],
        )
        found = [(row[0], tuple(row[1:])) for row in cur.fetchall()]
        cache.put(run_key, found)  # committed rows: stay true
        existing.update(found)
    new_series: list[tuple[Any, ...]] = []
    updates: list[SeriesRow] = []
    chunks = _Chunks()
    written: list[tuple[str, SeriesRow]] = []
    for key, indexes in groups.items():
        row = existing.get(key)
        when = [(batch.stamps[i], batch.steps[i]) for i in indexes]
        forward = all(a < b for a, b in pairwise(when))  # the common case
        first = when[0] if forward else min(when)
        newer = row is None or first > (row[4], row[5])
        if not newer:
            assert row is not None
            low = min(t for t, _ in when)
            high = max(t for t, _ in when)
            stored = _stored_identities(cur, row[0], low, high)
            indexes = [
                i
                for i in indexes
                if _identity(batch.values[i], batch.stamps[i], batch.steps[i]) not in stored
            ]
            if not indexes:
                continue
            when = [(batch.stamps[i], batch.steps[i]) for i in indexes]
            forward = False
        # the latest-point rule prefers the first of equal points, in batch order
        ranks = [(batch.steps[i], batch.stamps[i], _rank(batch.values[i])) for i in indexes]
        best_rank = max(ranks)
        best = indexes[ranks.index(best_rank)]
        ordered_points = indexes if forward else sorted(indexes, key=batch.order_key)
        head = ordered_points[0]
        last = when[-1] if forward else max(when)
        n = len(ordered_points)
        if row is None:
            series_key = db.next_key(cur, "metric_series", "series_key")
            value, timestamp, step = batch.values[best], batch.stamps[best], batch.steps[best]
            new: SeriesRow = (
                series_key,
                value,
                timestamp,
                step,
                *last,
                n,
                int(n < SMALL_CHUNK),
                True,
            )
            new_series.append((series_key, key, *new[1:]))
        else:
            series_key, value, timestamp, step, last_ts, last_step, points, small, ordered = row
            if best_rank > (step, timestamp, _rank(value)):
                value, timestamp, step = batch.values[best], batch.stamps[best], batch.steps[best]
            ordered = ordered and newer
            small += int(n < SMALL_CHUNK)
            if small > MAX_SMALL_CHUNKS:
                merged_small, ordered = _merge_small_chunks(cur, db, series_key, ordered)
                small = merged_small + int(n < SMALL_CHUNK)
            new = (
                series_key,
                value,
                timestamp,
                step,
                *max((last_ts, last_step), last),
                points + n,
                small,
                ordered,
            )
            updates.append(new)
        written.append((key, new))
        chunks.add(
            (
                db.next_key(cur, "metric_chunks", "chunk_key"),
                series_key,
                n,
                batch.stamps[head],
                batch.steps[head],
                *last,
            ),
            [batch.steps[i] for i in ordered_points],
            [batch.stamps[i] for i in ordered_points],
            [batch.values[i] for i in ordered_points],
        )
    db.after_commit(lambda: cache.put(run_key, written))
    if new_series:
        columns = [list(col) for col in zip(*new_series, strict=True)]
        cur.execute(
            "INSERT INTO metric_series (series_key, key, value, timestamp, step, last_timestamp, "
            "last_step, points, small_chunks, ordered, run_key) "
            "SELECT unnest(?::BIGINT[]), unnest(?::VARCHAR[]), unnest(?::DOUBLE[]), "
            "unnest(?::BIGINT[]), unnest(?::BIGINT[]), unnest(?::BIGINT[]), "
            "unnest(?::BIGINT[]), unnest(?::BIGINT[]), unnest(?::INTEGER[]), "
            "unnest(?::BOOLEAN[]), ?",
            [*columns, run_key],
        )
    if updates:
        columns = [list(col) for col in zip(*updates, strict=True)]
        named = dict(zip(_UPDATED_COLUMNS, columns, strict=True))
        cur.execute(_SERIES_UPDATE, {**named, "run_key": run_key})
    if chunks:
        chunks.insert(cur)


def ordered_history(cur: Any, series_key: int) -> tuple[list[float], list[int], list[int]]:
    """(values, timestamps, steps) of an ordered series, in history order, without a sort."""
    cur.execute(
        "SELECT vals, timestamps, steps FROM metric_chunks WHERE series_key = ? "
        "ORDER BY first_timestamp, first_step",
        [series_key],
    )
    values: list[float] = []
    stamps: list[int] = []
    steps: list[int] = []
    for v, t, s in cur.fetchall():
        values.extend(v)
        stamps.extend(t)
        steps.extend(s)
    return values, stamps, steps


def _points_cte(*, ordered: bool, unordered: bool, ordered_where: str = "") -> str:
    """CTEs up to ``points``: every point of the series in ``$series`` with its position.

    ``$series``, ``$counts`` and ``$ordered`` are parallel lists (series key, number of
    points, whether ordered); ``ordered`` / ``unordered`` say whether any series is of
    that kind, so the query holds only the branches it needs; ``ordered_where`` narrows the
    ordered series further (``AND ...``).
    """
    branches = []
    if ordered:  # positions are running counts: no sort
        branches.append(
            "SELECT series_key, n, value, timestamp, step, chunk_pos AS pos "
            f"FROM unnested WHERE ordered {ordered_where}"
        )
    if unordered:
        branches.append(
            "SELECT series_key, n, value, timestamp, step, CAST(row_number() OVER "
            f"(PARTITION BY series_key ORDER BY {history_order()}) - 1 AS BIGINT) AS pos "
            "FROM unnested WHERE NOT ordered"
        )
    return f"""
        series AS (
            SELECT unnest($series::BIGINT[]) AS series_key, unnest($counts::BIGINT[]) AS n,
                unnest($ordered::BOOLEAN[]) AS ordered
        ),
        starts AS (
            SELECT chunk_key, CAST(sum(points) OVER (PARTITION BY series_key
                ORDER BY first_timestamp, first_step) - points AS BIGINT) AS start
            FROM metric_chunks WHERE series_key IN (SELECT unnest($series::BIGINT[]))
        ),
        chunks AS (
            SELECT c.series_key, s.n, s.ordered, st.start, c.points, c.vals, c.timestamps,
                c.steps
            FROM metric_chunks c JOIN starts st USING (chunk_key) JOIN series s USING (series_key)
            WHERE c.series_key IN (SELECT unnest($series::BIGINT[]))
        ),
        unnested AS NOT MATERIALIZED (
            SELECT series_key, n, ordered,
                start + CAST(generate_subscripts(vals, 1) AS BIGINT) - 1 AS chunk_pos,
                unnest(vals) AS value, unnest(timestamps) AS timestamp, unnest(steps) AS step
            FROM chunks
        ),
        points AS NOT MATERIALIZED ({" UNION ALL ".join(branches)})
    """


def bulk_history_sql(*, downsample: bool, ordered: bool, unordered: bool) -> str:
    """One query for the points of several series, optionally downsampled.

    Named parameters: ``$series``, ``$counts`` and ``$ordered`` (parallel lists: series
    key, number of points, whether ordered; ``ordered`` / ``unordered`` say whether there
    are any of each kind); with ``downsample``, ``$max_points`` too. Rows are ``(series_key,
    value, timestamp, step)`` ordered by series and history order. Positions are running
    counts in ordered series and a window sort in the others. Downsampling keeps, of each
    series longer than ``max_points``, the first, last, lowest and highest point of each of
    ``max_points // 4`` buckets of consecutive points (the definition is
    :func:`trackyard.analytics.downsample`'s; DuckDB orders NaN above every number, as it
    does); shorter series are returned whole.

    A long ordered series is never unnested: its buckets are ranges of positions, so each
    chunk's list is cut at bucket bounds (``list_slice``) and each slice's lowest and
    highest values and their first positions come from list functions; the slices of a
    bucket are then combined, and the kept points are read from their chunks. Other series
    are unnested and aggregated point by point.
    """
    bucket_count = "($max_points::BIGINT // 4)"
    head = "WITH " + _points_cte(
        ordered=ordered,
        unordered=unordered,
        ordered_where="AND n <= $max_points::BIGINT" if downsample else "",
    )
    if not downsample:
        return (
            f"{head} SELECT series_key, value, timestamp, step FROM points ORDER BY series_key, pos"
        )
    kept = []
    chosen = ["SELECT * FROM short_chosen"]
    long_ctes = ""
    if ordered:  # read the kept points straight from their chunks
        kept.append(
            "SELECT c.series_key, k.pos, c.vals[k.pos - c.start + 1] AS value, "
            "c.timestamps[k.pos - c.start + 1] AS timestamp, c.steps[k.pos - c.start + 1] "
            "AS step FROM chosen k JOIN chunks c ON c.series_key = k.series_key "
            "AND k.pos >= c.start AND k.pos < c.start + c.points WHERE c.ordered"
        )
        chosen.append("SELECT * FROM long_chosen")
        # bucket b holds positions [ceil(b * n / B), ceil((b + 1) * n / B))
        long_ctes = f"""
        slices AS (
            SELECT series_key, start, vals, bucket,
                greatest(start, (bucket * n + {bucket_count} - 1) // {bucket_count}) AS lo,
                least(start + points,
                    ((bucket + 1) * n + {bucket_count} - 1) // {bucket_count}) AS hi
            FROM (
                SELECT *, unnest(range(start * {bucket_count} // n,
                    (start + points - 1) * {bucket_count} // n + 1)) AS bucket
                FROM chunks WHERE ordered AND n > $max_points::BIGINT
            )
        ),
        slice_bounds AS (
            SELECT series_key, bucket, lo, hi, list_min(v) AS low, list_max(v) AS high,
                lo - 1 + list_position(v, list_min(v)) AS low_pos,
                lo - 1 + list_position(v, list_max(v)) AS high_pos
            FROM (SELECT *, list_slice(vals, lo - start + 1, hi - start) AS v FROM slices)
        ),
        long_chosen AS (
            SELECT DISTINCT series_key, unnest([
                min(lo), max(hi) - 1,
                arg_min(low_pos, (low, low_pos)), arg_max(high_pos, (high, -high_pos))
            ]) AS pos
            FROM slice_bounds GROUP BY series_key, bucket
        ),"""
    if unordered:
        kept.append(
            "SELECT p.series_key, p.pos, p.value, p.timestamp, p.step FROM points p "
            "JOIN series s USING (series_key) WHERE NOT s.ordered "
            "AND (p.series_key, p.pos) IN (SELECT series_key, pos FROM chosen)"
        )
    return f"""{head},{long_ctes}
        bucketed AS NOT MATERIALIZED (
            SELECT *, CASE WHEN n <= $max_points::BIGINT THEN pos
                ELSE pos * {bucket_count} // n END AS bucket
            FROM points
        ),
        bounds AS (
            SELECT series_key, bucket, min(pos) AS first_pos, max(pos) AS last_pos,
                min(value) AS low, max(value) AS high
            FROM bucketed GROUP BY series_key, bucket
        ),
        short_chosen AS (
            SELECT DISTINCT series_key, unnest([
                any_value(first_pos), any_value(last_pos),
                min(pos) FILTER (WHERE value = low), min(pos) FILTER (WHERE value = high)
            ]) AS pos
            FROM bucketed JOIN bounds USING (series_key, bucket)
            GROUP BY series_key, bucket
        ),
        chosen AS ({" UNION ALL ".join(chosen)}),
        kept AS ({" UNION ALL ".join(kept)})
        SELECT series_key, value, timestamp, step FROM kept ORDER BY series_key, pos
    """
