"""Search at 100,000 runs, DuckDB against trackyard's SQLite store, without hours of growth.

``bench_duckdb.py`` grows its databases through the clients, a run at a time; at 100,000
runs that takes longer than a working session. This script grows ``--base`` runs (2,000)
through each store's own client exactly as ``bench_duckdb.py`` does (same runs, metrics,
params and tags), then replicates them with SQL inside each database until it holds
``--runs`` runs (100,000): copy ``k`` of base run ``j`` is run number ``k * base + j``, with
a new run id, the name ``r<number>``, the start time ``T0 + number`` and the same metric,
param and tag values (its ``mlflow.runName`` tag follows the new name). Both databases get
the same copies, so the search must return the same runs in the same order (checked by
name).

It then times, in ``--repeat`` alternating rounds (5) of fresh processes, the same first-page
``search_runs`` as ``bench_duckdb.py`` (a metric filter, a param filter, ``order_by`` a
metric, 1,000 results), with the bench's own search worker::

    python benchmarks/bench_duckdb_scale.py [--runs 100000] [--base 2000] [--repeat 5]

With ``--workdir DIR --search-only`` it grows nothing and searches the databases an earlier
run left in ``DIR`` (after checking that each holds ``--runs`` runs), so the figure can be
taken again in a minute instead of the growth's half hour.

Run by hand; figures are printed, never asserted. MLflow is not searched here (its search
of such a database does not finish within 10 minutes; ``bench_duckdb.py`` reports the
largest size it finishes).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from typing import Any

from _harness import fmt_seconds
from bench_duckdb import FILTER, ORDER_BY, PAGE, T0, Runner


def _names(base: int, runs: int) -> list[tuple[int, int, str, str, int]]:
    """(copy k, base index j, new run id, new name, new start time) of every replica."""
    out = []
    for number in range(base, runs):
        k, j = divmod(number, base)
        out.append((k, j, uuid.uuid4().hex, f"r{number:07d}", T0 + number))
    return out


def replicate_sqlite(path: str, base: int, runs: int) -> float:
    """Replicate the SQLite (MLflow schema) database's ``base`` runs up to ``runs``."""
    start = time.perf_counter()
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("BEGIN")
        con.execute("CREATE TEMP TABLE copies (old TEXT, new TEXT, name TEXT, start INTEGER)")
        old = dict(con.execute("SELECT name, run_uuid FROM runs"))
        con.executemany(
            "INSERT INTO copies VALUES (?, ?, ?, ?)",
            [(old[f"r{j:07d}"], rid, name, st) for _, j, rid, name, st in _names(base, runs)],
        )
        cols = [r[1] for r in con.execute("PRAGMA table_info(runs)")]
        picked = {"run_uuid": "c.new", "name": "c.name", "start_time": "c.start"}
        select = ", ".join(picked.get(c, f"r.{c}") for c in cols)
        con.execute(
            f"INSERT INTO runs ({', '.join(cols)}) SELECT {select} "
            "FROM runs r JOIN copies c ON c.old = r.run_uuid"
        )
        for table in ("params", "tags", "metrics", "latest_metrics"):
            cols = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
            parts = []
            for c in cols:
                if c == "run_uuid":
                    parts.append("c.new")
                elif table == "tags" and c == "value":
                    parts.append("CASE WHEN t.key = 'mlflow.runName' THEN c.name ELSE t.value END")
                else:
                    parts.append(f't."{c}"')
            quoted = ", ".join(f'"{c}"' for c in cols)
            con.execute(
                f"INSERT INTO {table} ({quoted}) SELECT {', '.join(parts)} "
                f"FROM {table} t JOIN copies c ON c.old = t.run_uuid"
            )
        con.execute("COMMIT")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    return time.perf_counter() - start


def replicate_duckdb(path: str, base: int, runs: int) -> float:
    """Replicate the DuckDB store's ``base`` runs up to ``runs`` (keys shifted per copy)."""
    import duckdb

    start = time.perf_counter()
    con = duckdb.connect(path)
    try:
        con.execute("BEGIN TRANSACTION")
        top_run, top_series, top_chunk = con.execute(
            "SELECT (SELECT max(run_key) FROM runs), (SELECT max(series_key) FROM metric_series),"
            " (SELECT max(chunk_key) FROM metric_chunks)"
        ).fetchone()
        old = dict(con.execute("SELECT name, run_key FROM runs").fetchall())
        rows = [(old[f"r{j:07d}"], k, rid, name, st) for k, j, rid, name, st in _names(base, runs)]
        con.execute(
            "CREATE TEMP TABLE copies (old BIGINT, k BIGINT, new VARCHAR, name VARCHAR, "
            "start BIGINT)"
        )
        con.executemany("INSERT INTO copies VALUES (?, ?, ?, ?, ?)", rows)
        cols = [r[0] for r in con.execute("DESCRIBE runs").fetchall()]
        picked = {
            "run_key": f"r.run_key + c.k * {top_run}",
            "run_id": "c.new",
            "name": "c.name",
            "start_time": "c.start",
        }
        con.execute(
            f"INSERT INTO runs ({', '.join(cols)}) SELECT "
            + ", ".join(picked.get(c, f"r.{c}") for c in cols)
            + " FROM runs r JOIN copies c ON c.old = r.run_key"
        )
        con.execute(
            "INSERT INTO run_params SELECT p.run_key + c.k * ?, p.key, p.value "
            "FROM run_params p JOIN copies c ON c.old = p.run_key",
            [top_run],
        )
        con.execute(
            "INSERT INTO run_tags SELECT t.run_key + c.k * ?, t.key, "
            "CASE WHEN t.key = 'mlflow.runName' THEN c.name ELSE t.value END "
            "FROM run_tags t JOIN copies c ON c.old = t.run_key",
            [top_run],
        )
        cols = [r[0] for r in con.execute("DESCRIBE metric_series").fetchall()]
        picked = {"series_key": f"s.series_key + c.k * {top_series}"}
        picked["run_key"] = f"s.run_key + c.k * {top_run}"
        con.execute(
            f"INSERT INTO metric_series ({', '.join(cols)}) SELECT "
            + ", ".join(picked.get(c, f"s.{c}") for c in cols)
            + " FROM metric_series s JOIN copies c ON c.old = s.run_key"
        )
        cols = [r[0] for r in con.execute("DESCRIBE metric_chunks").fetchall()]
        picked = {
            "chunk_key": f"m.chunk_key + c.k * {top_chunk}",
            "series_key": f"m.series_key + c.k * {top_series}",
        }
        con.execute(
            f"INSERT INTO metric_chunks ({', '.join(cols)}) SELECT "
            + ", ".join(picked.get(c, f"m.{c}") for c in cols)
            + " FROM metric_chunks m JOIN metric_series s ON s.series_key = m.series_key "
            "JOIN copies c ON c.old = s.run_key"
        )
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return time.perf_counter() - start


def count_runs(backend: str, path: str) -> int:
    """How many runs a kept database holds (0 if it does not exist)."""
    if not os.path.exists(path):
        return 0
    if backend == "duckdb":
        import duckdb

        con = duckdb.connect(path, read_only=True)
    else:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT count(*) FROM runs").fetchone()[0])
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--base", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", default=None, help="keep the databases here")
    parser.add_argument(
        "--search-only",
        action="store_true",
        help="search the databases an earlier run kept in --workdir; grow nothing",
    )
    args = parser.parse_args()
    if args.search_only and not args.workdir:
        parser.error("--search-only needs --workdir (where an earlier run kept its databases)")
    tmp = args.workdir or tempfile.mkdtemp(prefix="trackyard-bench-duckdb-scale-")
    os.makedirs(tmp, exist_ok=True)
    run = Runner(tmp, None, "none")
    dbs = {b: run.db(b, "scale") for b in ("duckdb", "sqlite")}
    print(f"search: {FILTER!r}, order_by {ORDER_BY}, first page of {PAGE}")
    print(f"databases in {tmp}; load average at the start: {os.getloadavg()}")
    for backend, db in dbs.items():
        if args.search_only:
            held = count_runs(backend, db)
            if held != args.runs:
                sys.exit(f"{db} holds {held:,} runs, not {args.runs:,}: grow it first")
            print(f"  {backend:7} {held:,} runs kept from an earlier run")
            continue
        grown = run("populate", backend, db, "--start", "0", "--stop", str(args.base))
        assert grown is not None
        copy = replicate_duckdb if backend == "duckdb" else replicate_sqlite
        seconds = copy(db, args.base, args.runs)
        print(
            f"  {backend:7} {args.base:,} runs grown through the client in "
            f"{grown['seconds']:.1f} s, replicated to {args.runs:,} in {seconds:.1f} s"
        )
    found: dict[str, list[float]] = {b: [] for b in dbs}
    names: dict[str, list[str]] = {}
    for _ in range(args.repeat):
        for backend, db in dbs.items():
            result: Any = run("search", backend, db)
            found[backend].append(result["seconds"])
            names.setdefault(backend, result["names"])
            if result["names"] != names[backend]:
                print(f"  ! {backend} returned other runs than in its first round")
    same = names["duckdb"] == names["sqlite"] and len(names["duckdb"]) > 0
    print(f"\nfirst page at {args.runs:,} runs, fresh process, {args.repeat} alternating rounds")
    for backend, times in found.items():
        print(
            f"  {backend:7} median {fmt_seconds(statistics.median(times))} "
            f"({fmt_seconds(min(times))} to {fmt_seconds(max(times))}): "
            + ", ".join(fmt_seconds(t) for t in times)
        )
    ratios = [s / d for d, s in zip(found["duckdb"], found["sqlite"], strict=True)]
    overall = statistics.median(found["sqlite"]) / statistics.median(found["duckdb"])
    print(
        f"  SQLite / DuckDB: {overall:.1f}x (ratio of medians); per round "
        + ", ".join(f"{r:.1f}x" for r in ratios)
    )
    print(f"  same runs in the same order on both: {'yes' if same else 'NO'}")
    print(f"load average at the end: {os.getloadavg()}")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
