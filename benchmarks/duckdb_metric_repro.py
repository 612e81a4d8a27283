"""DuckDB alone, no trackyard: the SQL that the DuckDB store's ``log_batch`` issues, in a loop.

Run by hand (diagnosis for the DuckDB soak in ``docs/reliability.md``)::

    python benchmarks/duckdb_metric_repro.py                     # the store's pattern
    python benchmarks/duckdb_metric_repro.py --ops 20000 --no-lists
    python benchmarks/duckdb_metric_repro.py --series delete-insert --no-txn

Each operation is what one soak operation sends to DuckDB (``plugins/trackyard_duckdb``:
``tracking.log_batch`` and ``_metrics.write_metrics``), in one transaction: the run's tag
deleted and inserted again, a param every 50 operations, one ``UPDATE ... FROM (SELECT
unnest(...))`` of the run's 10 ``metric_series`` rows, one Arrow insert of 10
``metric_chunks`` rows (list columns of one point each), and every 65th operation of a run
the merge of each series' small chunks (``INSERT ... SELECT flatten(list(...)) GROUP BY``
then ``DELETE``). A new run (and its 10 series) every 500 operations, a metric search every
100. It prints, every tenth, resident and anonymous memory, what DuckDB accounts for
(``duckdb_memory()``, ``pragma_database_size()``), the WAL, and with ``--tracemalloc`` the
Python heap, so a variant that changes the growth per operation says where it comes from.

``--shape list`` sends the same writes without a join (``list_contains`` for ``IN (SELECT
unnest(?))``, ``list_position`` for ``UPDATE ... FROM (SELECT unnest(?))``): what the store
does since this was found. ``--join-only`` runs nothing but one read per operation of a
100-row table, joined with ``(SELECT unnest(?))`` (``--shape join``) or filtered with
``list_contains`` (``--shape list``): the smallest form of the growth.
"""

from __future__ import annotations

import argparse
import array
import ctypes
import gc
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SCHEMA = [
    """CREATE TABLE runs (run_key BIGINT NOT NULL, run_id VARCHAR NOT NULL,
        experiment_id BIGINT NOT NULL, status VARCHAR NOT NULL, start_time BIGINT,
        lifecycle_stage VARCHAR NOT NULL)""",
    "CREATE UNIQUE INDEX runs_by_run_id ON runs (run_id)",
    "CREATE TABLE run_params (run_key BIGINT NOT NULL, key VARCHAR NOT NULL, "
    "value VARCHAR NOT NULL)",
    "CREATE TABLE run_tags (run_key BIGINT NOT NULL, key VARCHAR NOT NULL, value VARCHAR NOT NULL)",
    """CREATE TABLE metric_series (series_key BIGINT NOT NULL, run_key BIGINT NOT NULL,
        key VARCHAR NOT NULL, value DOUBLE NOT NULL, timestamp BIGINT NOT NULL,
        step BIGINT NOT NULL, last_timestamp BIGINT NOT NULL, last_step BIGINT NOT NULL,
        points BIGINT NOT NULL, small_chunks INTEGER NOT NULL, ordered BOOLEAN NOT NULL)""",
]
LIST_CHUNKS = """CREATE TABLE metric_chunks (chunk_key BIGINT NOT NULL,
    series_key BIGINT NOT NULL, points INTEGER NOT NULL, first_timestamp BIGINT NOT NULL,
    first_step BIGINT NOT NULL, last_timestamp BIGINT NOT NULL, last_step BIGINT NOT NULL,
    steps BIGINT[] NOT NULL, timestamps BIGINT[] NOT NULL, vals DOUBLE[] NOT NULL)"""
FLAT_CHUNKS = """CREATE TABLE metric_chunks (chunk_key BIGINT NOT NULL,
    series_key BIGINT NOT NULL, points INTEGER NOT NULL, first_timestamp BIGINT NOT NULL,
    first_step BIGINT NOT NULL, last_timestamp BIGINT NOT NULL, last_step BIGINT NOT NULL,
    steps BIGINT NOT NULL, timestamps BIGINT NOT NULL, vals DOUBLE NOT NULL)"""
INDEX = "CREATE INDEX metric_chunks_by_series ON metric_chunks (series_key)"
SERIES_UPDATE = (
    "UPDATE metric_series SET value = u.value, timestamp = u.timestamp, step = u.step, "
    "last_timestamp = u.last_timestamp, last_step = u.last_step, points = u.points, "
    "small_chunks = u.small_chunks, ordered = u.ordered FROM (SELECT "
    "unnest(?::BIGINT[]) AS series_key, unnest(?::DOUBLE[]) AS value, "
    "unnest(?::BIGINT[]) AS timestamp, unnest(?::BIGINT[]) AS step, "
    "unnest(?::BIGINT[]) AS last_timestamp, unnest(?::BIGINT[]) AS last_step, "
    "unnest(?::BIGINT[]) AS points, unnest(?::INTEGER[]) AS small_chunks, "
    "unnest(?::BOOLEAN[]) AS ordered) u "
    "WHERE metric_series.run_key = ? AND metric_series.series_key = u.series_key"
)
SERIES_INSERT = (
    "INSERT INTO metric_series (series_key, key, value, timestamp, step, last_timestamp, "
    "last_step, points, small_chunks, ordered, run_key) "
    "SELECT unnest(?::BIGINT[]), unnest(?::VARCHAR[]), unnest(?::DOUBLE[]), "
    "unnest(?::BIGINT[]), unnest(?::BIGINT[]), unnest(?::BIGINT[]), "
    "unnest(?::BIGINT[]), unnest(?::BIGINT[]), unnest(?::INTEGER[]), "
    "unnest(?::BOOLEAN[]), ?"
)
MERGE = (
    "INSERT INTO metric_chunks SELECT ?, series_key, sum(points), "
    "min(first_timestamp), arg_min(first_step, (first_timestamp, first_step)), "
    "max(last_timestamp), arg_max(last_step, (last_timestamp, last_step)), "
    "flatten(list(steps ORDER BY first_timestamp, first_step)), "
    "flatten(list(timestamps ORDER BY first_timestamp, first_step)), "
    "flatten(list(vals ORDER BY first_timestamp, first_step)) FROM metric_chunks "
    "WHERE series_key = ? AND chunk_key IN (SELECT unnest(?::BIGINT[])) GROUP BY series_key"
)
MERGE_DELETE = (
    "DELETE FROM metric_chunks WHERE series_key = ? AND chunk_key IN (SELECT unnest(?::BIGINT[]))"
)
# The same statements without a join: a list parameter read with list functions.
SERIES_UPDATE_LIST = (
    "UPDATE metric_series SET "
    + ", ".join(
        f"{c} = ($" + c + f"::{t}[])[list_position($keys::BIGINT[], series_key)]"
        for c, t in (
            ("value", "DOUBLE"),
            ("timestamp", "BIGINT"),
            ("step", "BIGINT"),
            ("last_timestamp", "BIGINT"),
            ("last_step", "BIGINT"),
            ("points", "BIGINT"),
            ("small_chunks", "INTEGER"),
            ("ordered", "BOOLEAN"),
        )
    )
    + " WHERE run_key = $run_key AND list_contains($keys::BIGINT[], series_key)"
)
MERGE_LIST = MERGE.replace(
    "chunk_key IN (SELECT unnest(?::BIGINT[]))", "list_contains(?::BIGINT[], chunk_key)"
)
MERGE_DELETE_LIST = MERGE_DELETE.replace(
    "chunk_key IN (SELECT unnest(?::BIGINT[]))", "list_contains(?::BIGINT[], chunk_key)"
)
SEARCH = (
    "SELECT r.run_id FROM runs r JOIN metric_series s ON s.run_key = r.run_key "
    "WHERE r.experiment_id = 1 AND s.key = 'm0' AND s.value > 0.5 "
    "ORDER BY r.start_time DESC LIMIT 50"
)
KEYS = [f"m{k}" for k in range(10)]
JOIN_ONLY = {
    "join": "SELECT * FROM probe p JOIN (SELECT unnest(?::BIGINT[]) AS k) u ON p.k = u.k",
    "list": "SELECT * FROM probe WHERE list_contains(?::BIGINT[], k)",
}


def anon_mib() -> float:
    with open("/proc/self/smaps_rollup", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Anonymous:"):
                return int(line.split()[1]) / 1024
    return 0.0


def rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Repro:
    def __init__(self, args: argparse.Namespace, path: Path) -> None:
        import duckdb

        self.args = args
        self.path = path
        config: dict[str, Any] = {}
        self.con = duckdb.connect(str(path), config=config)
        for setting in args.set:
            self.con.execute(f"SET GLOBAL {setting}")
        self.con.execute("SET GLOBAL index_scan_max_count = 1000000000000")
        self.con.execute("SET GLOBAL fsync_mode = 'none'")
        for statement in [*SCHEMA, FLAT_CHUNKS if args.no_lists else LIST_CHUNKS]:
            self.con.execute(statement)
        if not args.no_index:
            self.con.execute(INDEX)
        self.cur = self.con.cursor()  # the store writes through a per-thread cursor
        self.run_key = 0
        self.series: dict[str, list[Any]] = {}  # key -> [series_key, small chunk keys]
        self.next_series = 0
        self.next_chunk = 0
        self.kept: list[Any] = []  # --keep-relations: Python references held on purpose

    def tx(self, sql: str) -> None:
        if not self.args.no_txn:
            self.cur.execute(sql)

    def new_run(self, n: int) -> None:
        cur = self.cur
        self.tx("BEGIN TRANSACTION")
        self.run_key += 1
        cur.execute(
            "INSERT INTO runs VALUES (?, ?, 1, 'RUNNING', ?, 'active')",
            [self.run_key, f"run{self.run_key:032d}", n],
        )
        self.tx("COMMIT")
        self.series = {}

    def op(self, n: int) -> None:
        args, cur = self.args, self.cur
        self.tx("BEGIN TRANSACTION")
        if n > 0:  # the tag 'last', known to the store's run state: delete, then insert
            cur.execute(
                "DELETE FROM run_tags WHERE run_key = ? AND "
                + (
                    "key IN (SELECT unnest(?::VARCHAR[]))"
                    if args.shape == "join"
                    else "list_contains(?::VARCHAR[], key)"
                ),
                [self.run_key, ["last"]],
            )
        cur.execute(
            "INSERT INTO run_tags SELECT ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
            [self.run_key, ["last"], [str(n)]],
        )
        if n % 50 == 0:
            cur.execute(
                "INSERT INTO run_params SELECT ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
                [self.run_key, [f"p{n}"], [str(n)]],
            )
        if not args.no_metrics:
            self.metrics(n)
        self.tx("COMMIT")

    def metrics(self, n: int) -> None:
        args, cur = self.args, self.cur
        now = int(time.time() * 1000)
        value = (n % 97) / 97
        new_rows, updates, chunk_rows = [], [], []
        for key in KEYS:
            known = self.series.get(key)
            self.next_chunk += 1
            if known is None:
                self.next_series += 1
                known = self.series[key] = [self.next_series, []]
                new_rows.append((self.next_series, key, value, now, n, now, n, 1, 1, True))
            else:
                small = known[1]
                if len(small) + 1 > 64 and not (args.no_merge or args.no_lists):
                    self.next_chunk += 1
                    merged = self.next_chunk
                    join = args.shape == "join"
                    if args.merge == "sql":
                        cur.execute(MERGE if join else MERGE_LIST, [merged, known[0], small])
                    else:  # read the small chunks, insert their concatenation
                        self.merge_in_python(merged, known[0], small)
                    cur.execute(MERGE_DELETE if join else MERGE_DELETE_LIST, [known[0], small])
                    known[1] = []
                    self.next_chunk += 1
                updates.append((known[0], value, now, n, now, n, n, len(known[1]) + 1, True))
            known[1].append(self.next_chunk)
            chunk_rows.append((self.next_chunk, known[0], 1, now, n, now, n, n, now, value))
        if new_rows:
            cols = [list(c) for c in zip(*new_rows, strict=True)]
            cur.execute(SERIES_INSERT, [*cols, self.run_key])
        if updates and args.series != "none":
            if args.series == "update" and args.shape == "list":
                cols = [list(c) for c in zip(*updates, strict=True)]
                names = ["keys", "value", "timestamp", "step", "last_timestamp", "last_step"]
                names += ["points", "small_chunks", "ordered"]
                named = dict(zip(names, cols, strict=True))
                cur.execute(SERIES_UPDATE_LIST, {**named, "run_key": self.run_key})
            elif args.series == "update":
                cols = [list(c) for c in zip(*updates, strict=True)]
                cur.execute(SERIES_UPDATE, [*cols, self.run_key])
            else:  # delete-insert
                cur.execute(
                    "DELETE FROM metric_series WHERE run_key = ? AND series_key IN "
                    "(SELECT unnest(?::BIGINT[]))",
                    [self.run_key, [u[0] for u in updates]],
                )
                rows = [(u[0], k, *u[1:]) for k, u in zip(KEYS, updates, strict=True)]
                cols = [list(c) for c in zip(*rows, strict=True)]
                cur.execute(SERIES_INSERT, [*cols, self.run_key])
        self.insert_chunks(chunk_rows)

    def merge_in_python(self, chunk_key: int, series_key: int, small: list[int]) -> None:
        cur = self.cur
        cur.execute(
            "SELECT points, first_timestamp, first_step, last_timestamp, last_step, steps, "
            "timestamps, vals FROM metric_chunks WHERE series_key = ? "
            "AND list_contains(?::BIGINT[], chunk_key) ORDER BY first_timestamp, first_step",
            [series_key, small],
        )
        rows = cur.fetchall()
        steps, stamps, vals = [], [], []
        for row in rows:
            steps.extend(row[5])
            stamps.extend(row[6])
            vals.extend(row[7])
        last = max(rows, key=lambda r: (r[3], r[4]))
        cur.execute(
            "INSERT INTO metric_chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?::BIGINT[], ?::BIGINT[], "
            "?::DOUBLE[])",
            [
                chunk_key,
                series_key,
                len(vals),
                rows[0][1],
                rows[0][2],
                last[3],
                last[4],
                steps,
                stamps,
                vals,
            ],
        )

    def insert_chunks(self, rows: list[tuple[Any, ...]]) -> None:
        args, cur = self.args, self.cur
        cols = [list(c) for c in zip(*rows, strict=True)]
        if args.chunks == "values":  # parameters, no Arrow
            lists = "?::BIGINT[], ?::BIGINT[], ?::DOUBLE[]"
            flat = "unnest(?::BIGINT[]), unnest(?::BIGINT[]), unnest(?::DOUBLE[])"
            if args.no_lists:
                cur.execute(
                    "INSERT INTO metric_chunks SELECT unnest(?::BIGINT[]), unnest(?::BIGINT[]), "
                    "unnest(?::INTEGER[]), unnest(?::BIGINT[]), unnest(?::BIGINT[]), "
                    f"unnest(?::BIGINT[]), unnest(?::BIGINT[]), {flat}",
                    cols,
                )
            else:
                for row in rows:
                    cur.execute(
                        f"INSERT INTO metric_chunks VALUES (?, ?, ?, ?, ?, ?, ?, {lists})",
                        [*row[:7], [row[7]], [row[8]], [row[9]]],
                    )
            return
        import pyarrow as pa

        def column(kind: Any, data: array.array[Any]) -> Any:
            return pa.Array.from_buffers(kind, len(data), [None, pa.py_buffer(data)])

        ints = pa.int64()
        scalars = [
            column(pa.int32() if i == 2 else ints, array.array("i" if i == 2 else "q", cols[i]))
            for i in range(7)
        ]
        steps = column(ints, array.array("q", cols[7]))
        stamps = column(ints, array.array("q", cols[8]))
        vals = column(pa.float64(), array.array("d", cols[9]))
        if not args.no_lists:
            offsets = column(pa.int32(), array.array("i", range(len(rows) + 1)))
            steps = pa.ListArray.from_arrays(offsets, steps)
            stamps = pa.ListArray.from_arrays(offsets, stamps)
            vals = pa.ListArray.from_arrays(offsets, vals)
        names = [
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
        ]
        table = pa.Table.from_arrays([*scalars, steps, stamps, vals], names=names)
        if args.chunks == "arrow-register":
            cur.register("new_chunks", table)
            cur.execute("INSERT INTO metric_chunks SELECT * FROM new_chunks")
            cur.unregister("new_chunks")
        elif args.chunks == "arrow-scan":
            cur.execute("INSERT INTO metric_chunks SELECT * FROM table")
        else:  # the store's: a relation on the Arrow table
            relation = cur.from_arrow(table)
            relation.insert_into("metric_chunks")
            if args.keep_relations:
                self.kept.append(relation)

    def readings(self) -> str:
        cur = self.con.cursor()
        owned = cur.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0]
        size = cur.execute("SELECT database_size, memory_usage FROM pragma_database_size()")
        db_size, mem = size.fetchone()
        cur.close()
        wal = self.path.with_name(self.path.name + ".wal")
        wal_mib = wal.stat().st_size / 2**20 if wal.exists() else 0.0
        return f"duckdb_memory={owned / 2**20:5.1f} MiB  db={db_size} mem={mem}  WAL={wal_mib:5.1f}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument(
        "--no-lists", action="store_true", help="scalar point columns (a row per point, no merge)"
    )
    parser.add_argument(
        "--series",
        choices=("update", "delete-insert", "none"),
        default="update",
        help="how metric_series rows change (the store: UPDATE ... FROM)",
    )
    parser.add_argument(
        "--chunks",
        choices=("relation", "arrow-register", "arrow-scan", "values"),
        default="relation",
        help="how chunk rows are inserted (the store: from_arrow relation)",
    )
    parser.add_argument(
        "--shape",
        choices=("join", "list"),
        default="join",
        help="join: the store's IN (SELECT unnest(?)) and UPDATE ... FROM (SELECT unnest(?)); "
        "list: the same with list_contains / list_position, no join",
    )
    parser.add_argument(
        "--join-only", action="store_true", help="only a read of a small table, per --shape"
    )
    parser.add_argument(
        "--merge",
        choices=("sql", "python"),
        default="sql",
        help="merge small chunks with INSERT ... SELECT flatten(list(... ORDER BY ...)) "
        "(the store's) or by reading them and inserting the concatenation (branch wip-soak-merge)",
    )
    parser.add_argument("--no-txn", action="store_true", help="autocommit each statement")
    parser.add_argument("--no-merge", action="store_true", help="never merge small chunks")
    parser.add_argument("--no-index", action="store_true", help="no index on metric_chunks")
    parser.add_argument("--no-metrics", action="store_true", help="tags and params only")
    parser.add_argument("--no-search", action="store_true")
    parser.add_argument("--checkpoint-every", type=int, default=0)
    parser.add_argument("--new-cursor-every", type=int, default=0)
    parser.add_argument("--keep-relations", action="store_true", help="hold every relation")
    parser.add_argument("--tracemalloc", action="store_true", help="trace the Python heap")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--close-at-end", action="store_true", help="close, trim, reopen")
    args = parser.parse_args(argv)
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start()
    tmp = Path(tempfile.mkdtemp(prefix="duckdb-repro-"))
    try:
        repro = Repro(args, tmp / "repro.duckdb")
        print(f"variant: {' '.join(argv) or '(the store pattern)'}", flush=True)
        repro.new_run(0)
        if args.join_only:
            repro.con.execute("CREATE TABLE probe AS SELECT range AS k, 0.5 AS v FROM range(100)")
        tenth = max(args.ops // 10, 1)
        start = time.monotonic()
        for n in range(args.ops):
            if args.join_only:
                keys = [(n * 10 + k) % 100 for k in range(10)]
                repro.cur.execute(JOIN_ONLY[args.shape], [keys]).fetchall()
            elif n % 500 == 499:
                repro.new_run(n)
            elif n % 100 == 99 and not args.no_search:
                repro.cur.execute(SEARCH).fetchall()
            else:
                repro.op(n)
            if args.checkpoint_every and n % args.checkpoint_every == args.checkpoint_every - 1:
                repro.cur.execute("CHECKPOINT")
            if args.new_cursor_every and n % args.new_cursor_every == 0:
                repro.cur.close()
                repro.cur = repro.con.cursor()
            if n % tenth == tenth - 1:
                gc.collect()
                py = ""
                if args.tracemalloc:
                    import tracemalloc

                    py = f"  python heap={tracemalloc.get_traced_memory()[0] / 2**20:5.1f} MiB"
                print(
                    f"ops={n + 1:6d} {time.monotonic() - start:5.0f}s rss={rss_mib():6.1f} "
                    f"anon={anon_mib():6.1f} MiB  {repro.readings()}{py}",
                    flush=True,
                )
        if args.close_at_end:
            held = anon_mib()
            repro.cur.close()
            repro.con.close()
            del repro
            gc.collect()
            closed = anon_mib()
            ctypes.CDLL("libc.so.6").malloc_trim(0)
            print(f"open {held:.1f} MiB -> closed {closed:.1f} -> trimmed {anon_mib():.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
