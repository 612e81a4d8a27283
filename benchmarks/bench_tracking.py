"""Tracking benchmark: trackyard against MLflow 3.x on SQLite, in one run, on one machine.

Both libraries run the *same* scenario code through their ``MlflowClient`` (the APIs match),
each in its own interpreter and on its own fresh SQLite file:

    python benchmarks/bench_tracking.py --mlflow-python .venv-mlflow/bin/python

Scenarios: ``import`` wall time; creating N runs with params/tags/metrics; 2,000 single
``log_metric`` calls; 100,000 metric points through ``log_batch`` in batches of 1,000;
``get_metric_history`` of those points; ``search_runs`` with a filter and order_by over the N
runs; paging through all N runs; and, as a floor, a raw ``sqlite3`` ``executemany`` of the
same metric rows into MLflow's ``metrics`` table and indexes in one transaction.

Run by hand; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from typing import Any

from _harness import emit, fmt_seconds, import_time, mlflow_interpreter, run_worker, timed

# MLflow's metrics table and indexes, as MLflow 3.17.2 creates them on SQLite.
METRICS_DDL = [
    'CREATE TABLE metrics ("key" VARCHAR(250) NOT NULL, value FLOAT NOT NULL, '
    "timestamp BIGINT NOT NULL, run_uuid VARCHAR(32) NOT NULL, step BIGINT DEFAULT '0' NOT NULL, "
    "is_nan BOOLEAN DEFAULT '0' NOT NULL, CONSTRAINT metric_pk PRIMARY KEY "
    '("key", timestamp, step, run_uuid, value, is_nan), CHECK (is_nan IN (0, 1)))',
    "CREATE INDEX index_metrics_run_uuid ON metrics (run_uuid)",
    'CREATE INDEX index_metrics_run_uuid_key_step ON metrics (run_uuid, "key", step)',
]


def metric_points(n: int, keys: int = 10) -> list[tuple[str, float, int, int]]:
    """(key, value, timestamp, step) rows: ``keys`` curves of ``n / keys`` steps."""
    rng = random.Random(42)
    t0 = 1_700_000_000_000
    per_key = n // keys
    return [
        (f"metric_{k}", rng.random(), t0 + step, step)
        for step in range(per_key)
        for k in range(keys)
    ]


def run_scenarios(
    lib: str, db_path: str, n_runs: int, n_points: int, n_single: int
) -> dict[str, Any]:
    """Run every scenario with ``lib``'s MlflowClient against a fresh SQLite file."""
    if lib == "trackyard":
        from trackyard import MlflowClient
        from trackyard.entities import Metric, Param, RunTag
    else:
        from mlflow import MlflowClient
        from mlflow.entities import Metric, Param, RunTag

    os.environ["TRACKYARD_ARTIFACT_ROOT"] = os.path.join(os.path.dirname(db_path), "artifacts")
    client = MlflowClient(tracking_uri=f"sqlite:///{db_path}")
    out: dict[str, Any] = {}
    # Store initialisation (MLflow runs its migrations here) is not part of any figure.
    out["init_s"], exp_id = timed(lambda: client.create_experiment("bench"))

    rng = random.Random(1)
    t0 = 1_700_000_000_000

    def create_runs() -> list[str]:
        ids = []
        for i in range(n_runs):
            run = client.create_run(exp_id, start_time=t0 + i, tags={"team": f"t{i % 7}"})
            rid = run.info.run_id
            client.log_batch(
                rid,
                metrics=[Metric(f"m{j}", rng.random(), t0 + i, 0) for j in range(5)],
                params=[Param(f"p{j}", str(rng.randint(0, 9))) for j in range(5)],
                tags=[RunTag("group", f"g{i % 10}"), RunTag("seed", str(i))],
            )
            ids.append(rid)
        return ids

    out["create_runs_s"], _ = timed(create_runs)
    out["create_runs_per_s"] = n_runs / out["create_runs_s"]

    target = client.create_run(exp_id).info.run_id

    def single_metrics() -> None:
        for i in range(n_single):
            client.log_metric(target, "single", float(i), timestamp=t0 + i, step=i)

    out["log_metric_s"], _ = timed(single_metrics)
    out["log_metric_per_s"] = n_single / out["log_metric_s"]

    # log_batch, and (trackyard's worker only) the raw sqlite3 floor measured right before
    # each round in the same process, so both see the same machine state; medians of rounds.
    rows = metric_points(n_points)
    metrics = [Metric(k, v, ts, s) for k, v, ts, s in rows]
    rounds = 3 if lib == "trackyard" else 1
    batch_times, raw_times, batch_runs = [], [], []
    for _ in range(rounds):
        if lib == "trackyard":
            raw_times.append(raw_sqlite_executemany(n_points)["raw_s"])
        run_id = client.create_run(exp_id).info.run_id
        batch_runs.append(run_id)

        def log_batches(run_id: str = run_id) -> None:
            for start in range(0, len(metrics), 1000):
                client.log_batch(run_id, metrics=metrics[start : start + 1000])

        batch_times.append(timed(log_batches)[0])
    batch_run = batch_runs[0]
    out["log_batch_s"] = statistics.median(batch_times)
    out["log_batch_points_per_s"] = n_points / out["log_batch_s"]
    if raw_times:
        out["raw_s"] = statistics.median(raw_times)
        out["raw_points_per_s"] = n_points / out["raw_s"]

    def history() -> int:
        return sum(len(client.get_metric_history(batch_run, f"metric_{k}")) for k in range(10))

    out["history_s"], n_hist = timed(history)
    assert n_hist == n_points, n_hist
    out["history_points_per_s"] = n_points / out["history_s"]

    def search() -> int:
        found = client.search_runs(
            [exp_id],
            "metrics.m0 > 0.5 AND params.p1 != '3'",
            order_by=["metrics.m2 DESC"],
            max_results=1000,
        )
        return len(found)

    search()  # one warm-up call for both libraries
    client.set_tag(target, "bench", "before-search")  # cold: nothing reusable
    out["search_cold_s"], _ = timed(search)
    times = []
    for _ in range(5):
        t, hits = timed(search)
        times.append(t)
    out["search_s"] = statistics.median(times)
    out["search_hits"] = hits

    def page_all() -> int:
        seen, token = 0, None
        while True:
            page = client.search_runs([exp_id], max_results=100, page_token=token)
            seen += len(page)
            token = page.token
            if not token:
                return seen

    # Cold: right after a write, so no library can reuse earlier work. Again: the same
    # page-through with nothing written in between (trackyard's SQLite store then serves
    # pages from a snapshot that any write, by any process, invalidates).
    client.set_tag(target, "bench", "invalidate")
    out["page_all_cold_s"], seen = timed(page_all)
    assert seen == n_runs + 1 + rounds, seen
    times = []
    for _ in range(3):
        t, seen = timed(page_all)
        times.append(t)
    out["page_all_s"] = statistics.median(times)
    return out


def raw_sqlite_executemany(n_points: int) -> dict[str, float]:
    """The floor: one executemany of the same rows into MLflow's metrics table, one commit."""
    rows = [(k, v, ts, "0" * 32, s, 0) for k, v, ts, s in metric_points(n_points)]
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(os.path.join(tmp, "raw.db"))
        conn.execute("PRAGMA journal_mode=WAL")
        for ddl in METRICS_DDL:
            conn.execute(ddl)
        conn.commit()
        t = time.perf_counter()
        with conn:
            conn.executemany(
                'INSERT INTO metrics ("key", value, timestamp, run_uuid, step, is_nan) '
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        elapsed = time.perf_counter() - t
        conn.close()
    return {"raw_s": elapsed, "raw_points_per_s": n_points / elapsed}


def _worker(args: argparse.Namespace) -> None:
    emit(run_scenarios(args.worker, args.db, args.runs, args.points, args.single))


def _in_subprocess(python: str, lib: str, args: argparse.Namespace, tmp: str) -> dict[str, Any]:
    db = os.path.join(tmp, lib, "bench.db")
    os.makedirs(os.path.dirname(db), exist_ok=True)
    cmd = [
        python,
        os.path.abspath(__file__),
        "--worker",
        lib,
        "--db",
        db,
        "--runs",
        str(args.runs),
        "--points",
        str(args.points),
        "--single",
        str(args.single),
    ]
    return run_worker(cmd, f"{lib} worker", cwd=os.path.dirname(db))


def _fmt(value: float | None, unit: str) -> str:
    if unit == "s" or value is None:
        return fmt_seconds(value)
    return f"{value:,.0f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=2000)
    parser.add_argument(
        "--mlflow-python",
        default=None,
        help="interpreter with mlflow==3.17.2 (default: this one, if it has mlflow)",
    )
    parser.add_argument("--worker", choices=["trackyard", "mlflow"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return

    mlflow_python = mlflow_interpreter(args.mlflow_python)
    print(f"runs={args.runs} points={args.points} single log_metric calls={args.single}")
    print(f"trackyard: {sys.executable}\nmlflow:    {mlflow_python or '(not available)'}\n")

    with tempfile.TemporaryDirectory(prefix="trackyard-bench-") as tmp:
        ty = _in_subprocess(sys.executable, "trackyard", args, tmp)
        ml = _in_subprocess(mlflow_python, "mlflow", args, tmp) if mlflow_python else {}
    ty_import = import_time(sys.executable, "trackyard")
    ml_import = import_time(mlflow_python, "mlflow") if mlflow_python else None

    rows = [
        ("import (wall)", ty_import, ml_import, "s", "lower", "<= 1/5 of mlflow"),
        (
            f"create {args.runs} runs + params/tags/metrics",
            ty["create_runs_s"],
            ml.get("create_runs_s"),
            "s",
            "lower",
            ">= 10x",
        ),
        (
            f"{args.single} single log_metric",
            ty["log_metric_s"],
            ml.get("log_metric_s"),
            "s",
            "lower",
            ">= 3x",
        ),
        (
            f"log_batch {args.points} points (x1000)",
            ty["log_batch_s"],
            ml.get("log_batch_s"),
            "s",
            "lower",
            ">= 1/2 raw sqlite3",
        ),
        (
            f"get_metric_history {args.points} points",
            ty["history_s"],
            ml.get("history_s"),
            "s",
            "lower",
            ">= 5x",
        ),
        (
            f"search_runs filter+order over {args.runs}, cold",
            ty["search_cold_s"],
            ml.get("search_cold_s"),
            "s",
            "lower",
            ">= 8x",
        ),
        (
            f"search_runs filter+order over {args.runs} again",
            ty["search_s"],
            ml.get("search_s"),
            "s",
            "lower",
            ">= 8x",
        ),
        (
            f"page through all {args.runs} runs, cold (100/page)",
            ty["page_all_cold_s"],
            ml.get("page_all_cold_s"),
            "s",
            "lower",
            ">= 20x",
        ),
        (
            f"page through all {args.runs} runs again",
            ty["page_all_s"],
            ml.get("page_all_s"),
            "s",
            "lower",
            ">= 20x",
        ),
    ]
    header = f"{'scenario':46} {'trackyard':>12} {'mlflow':>12} {'speed-up':>9}  target"
    print(header)
    print("-" * len(header))
    for name, t, m, unit, _, target in rows:
        ratio = f"{m / t:8.1f}x" if m else "        -"
        print(f"{name:46} {_fmt(t, unit):>12} {_fmt(m, unit):>12} {ratio}  {target}")
    print()
    print(
        f"log_batch throughput: trackyard {_fmt(ty['log_batch_points_per_s'], 'pts/s')}, "
        f"mlflow {_fmt(ml.get('log_batch_points_per_s'), 'pts/s')}, raw sqlite3 executemany "
        f"{_fmt(ty['raw_points_per_s'], 'pts/s')} -> trackyard/raw = "
        f"{ty['log_batch_points_per_s'] / ty['raw_points_per_s']:.2f}"
    )
    print(
        f"single log_metric: trackyard {_fmt(ty['log_metric_per_s'], 'calls/s')}, "
        f"mlflow {_fmt(ml.get('log_metric_per_s'), 'calls/s')}"
    )
    if ml_import:
        print(f"import: trackyard/mlflow = {ty_import / ml_import:.3f}")
    print(f"search hits: trackyard {ty['search_hits']}, mlflow {ml.get('search_hits', '-')}")


if __name__ == "__main__":
    main()
