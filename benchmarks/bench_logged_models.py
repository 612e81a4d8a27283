"""Logged-model benchmark: trackyard against MLflow 3.x on SQLite, in one run, on one machine.

Both libraries run the *same* scenario code through their ``MlflowClient``, each in its own
interpreter and on its own SQLite file:

    python benchmarks/bench_logged_models.py --mlflow-python .venv-mlflow/bin/python

Scenario: 10,000 logged models in one experiment (two tags, one param, an ``acc`` point on a
``train`` and an ``eval`` dataset each), created by trackyard; MLflow searches a copy of that
database with trackyard's own indexes dropped, so exactly MLflow's schema (MLflow opens it as
its own; ``--separate-data`` makes MLflow create its own models, at about 0.1 s a model).
Then ``search_logged_models`` with a metric filter (``metrics.acc > 0.95``, first page of
100: the issue's target), also cold: right after a write (nothing can be reused), and as the
first search of a fresh client (trackyard: the previous store closed, so a new connection
with an empty page cache; MLflow: a new ``MlflowClient``); the same ordered by the metric,
with a param filter, with a dataset restriction, and ``get_logged_model``. Reads report the
best of several repetitions after a warm-up call; the cold searches also report the median
CPU time of the calling thread (both libraries run SQLite in it), which another job's load on
the machine disturbs far less than wall time.

``--duckdb`` adds a third column: the same scenarios on trackyard's DuckDB store
(``duckdb:///``), which fills its own database with the same models (the formats differ).

Run by hand; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from _harness import emit, fmt_seconds, mlflow_interpreter, run_worker, timed

ROUNDS = 9  # cold searches per scenario: the best wall time, the median CPU time


def _timed_cpu(fn: Any) -> tuple[float, float]:
    """Wall and CPU seconds (of this thread: SQLite runs in it) of one call of ``fn``."""
    cpu = time.thread_time()
    wall, _ = timed(fn)
    return wall, time.thread_time() - cpu


def _best(fn: Any, repeat: int) -> tuple[float, Any]:
    fn()
    times = []
    result = None
    for _ in range(repeat):
        t, result = timed(fn)
        times.append(t)
    return min(times), result


def run_scenarios(lib: str, db_path: str, n_models: int, populated: bool) -> dict[str, Any]:
    """Run every scenario with ``lib``'s MlflowClient against a fresh database file.

    ``lib`` is ``trackyard`` (SQLite), ``duckdb`` (trackyard on DuckDB) or ``mlflow``.
    """
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.INFO)
    if lib in ("trackyard", "duckdb"):
        from trackyard import MlflowClient
        from trackyard.entities import Metric
    else:
        from mlflow import MlflowClient
        from mlflow.entities import Metric

    os.environ["TRACKYARD_ARTIFACT_ROOT"] = os.path.join(os.path.dirname(db_path), "artifacts")
    uri = f"{'duckdb' if lib == 'duckdb' else 'sqlite'}:///{db_path}"
    client = MlflowClient(tracking_uri=uri)
    out: dict[str, Any] = {}
    if populated:  # the same database, filled by the other library: only searches are timed
        exp = client.get_experiment_by_name("bench").experiment_id
        ids = [m.model_id for m in client.search_logged_models([exp], max_results=n_models)]
        out["init_s"] = out["populate_s"] = None
        return _searches(client, uri, exp, ids, out)
    out["init_s"], exp = timed(lambda: client.create_experiment("bench"))
    run = client.create_run(exp).info.run_id

    def populate() -> list[str]:
        ids = []
        for i in range(n_models):
            m = client.create_logged_model(
                exp,
                name=f"model-{i}",
                source_run_id=run,
                tags={"team": f"t{i % 7}", "kind": "clf"},
                params={"lr": str(10 ** -(i % 4))},
                model_type="sklearn",
            )
            acc = (i * 7919 % 10000) / 10000
            client.log_batch(
                run,
                metrics=[
                    Metric(
                        "acc",
                        acc,
                        1_700_000_000_000 + i,
                        0,
                        model_id=m.model_id,
                        dataset_name="train",
                        dataset_digest="t1",
                    ),
                    Metric(
                        "acc",
                        1 - acc,
                        1_700_000_000_000 + i,
                        1,
                        model_id=m.model_id,
                        dataset_name="eval",
                        dataset_digest="e1",
                    ),
                ],
            )
            ids.append(m.model_id)
        return ids

    out["populate_s"], ids = timed(populate)
    return _searches(client, uri, exp, ids, out)


def _searches(
    client: Any, uri: str, exp: str, ids: list[str], out: dict[str, Any]
) -> dict[str, Any]:

    def metric_filter() -> int:
        return len(client.search_logged_models([exp], filter_string="metrics.acc > 0.95"))

    out["metric_filter_s"], out["metric_filter_hits"] = _best(metric_filter, 5)

    # Cold: each search right after a write, so no library can reuse earlier work
    # (trackyard's SQLite store otherwise answers a repeated search from its snapshot).
    cold, cold_cpu = [], []
    for i in range(ROUNDS):
        client.set_logged_model_tags(ids[0], {"bench": str(i)})
        t, cpu = _timed_cpu(metric_filter)
        cold.append(t)
        cold_cpu.append(cpu)
    out["metric_filter_cold_s"] = min(cold)
    out["metric_filter_cold_cpu_s"] = statistics.median(cold_cpu)

    # Cold: the first metric search of a fresh client (modules already imported).
    fresh, fresh_cpu = [], []
    for _ in range(ROUNDS):
        if uri.startswith("duckdb:"):  # close and forget the process's shared store
            from trackyard.backends import clear_store_cache

            clear_store_cache()
        else:
            close = getattr(getattr(client, "_store", None), "close", None)
            if close is not None:
                close()
        client = type(client)(tracking_uri=uri)
        client.search_logged_models([exp], filter_string="params.lr = '1'", max_results=1)
        client.set_logged_model_tags(ids[0], {"bench": "fresh"})
        t, cpu = _timed_cpu(metric_filter)
        fresh.append(t)
        fresh_cpu.append(cpu)
    out["metric_filter_fresh_s"] = min(fresh)
    out["metric_filter_fresh_cpu_s"] = statistics.median(fresh_cpu)

    def metric_ordered() -> int:
        return len(
            client.search_logged_models(
                [exp],
                filter_string="metrics.acc > 0.95",
                order_by=[{"field_name": "metrics.acc", "ascending": False}],
            )
        )

    out["metric_order_s"], out["metric_order_hits"] = _best(metric_ordered, 5)

    def param_filter() -> int:
        return len(
            client.search_logged_models([exp], filter_string="params.lr = '0.01'", max_results=100)
        )

    out["param_filter_s"], out["param_filter_hits"] = _best(param_filter, 5)

    def dataset_filter() -> int:
        return len(
            client.search_logged_models(
                [exp],
                filter_string="metrics.acc > 0.95",
                datasets=[{"dataset_name": "eval"}],
            )
        )

    out["dataset_filter_s"], out["dataset_filter_hits"] = _best(dataset_filter, 5)

    picks = ids[:: max(1, len(ids) // 20)][:20]

    def gets() -> int:
        for mid in picks:
            client.get_logged_model(mid)
        return len(picks)

    t, n = _best(gets, 5)
    out["get_s"] = t / n
    return out


def _in_subprocess(
    python: str, lib: str, args: argparse.Namespace, tmp: str, populated_from: str | None = None
) -> dict[str, Any]:
    db = os.path.join(tmp, lib, "bench.db")
    os.makedirs(os.path.dirname(db), exist_ok=True)
    cmd = [
        python,
        os.path.abspath(__file__),
        "--worker",
        lib,
        "--db",
        db,
        "--models",
        str(args.models),
    ]
    if populated_from:
        import shutil

        for suffix in ("", "-wal", "-shm"):  # SQLite in WAL mode may keep pages aside
            if os.path.exists(populated_from + suffix):
                shutil.copyfile(populated_from + suffix, db + suffix)
        if lib == "mlflow":  # MLflow's own schema: without trackyard's indexes
            import sqlite3

            with sqlite3.connect(db) as conn:
                for (name,) in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'index' "
                    "AND name LIKE 'trackyard_%'"
                ).fetchall():
                    conn.execute(f"DROP INDEX {name}")
        cmd.append("--populated")
    return run_worker(cmd, f"{lib} worker", cwd=os.path.dirname(db))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument(
        "--mlflow-python",
        default=None,
        help="interpreter with mlflow==3.17.2 (default: this one, if it has mlflow)",
    )
    parser.add_argument(
        "--worker", choices=["trackyard", "duckdb", "mlflow"], help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--duckdb", action="store_true", help="also run the scenarios on trackyard's DuckDB store"
    )
    parser.add_argument(
        "--separate-data",
        action="store_true",
        help="let MLflow create its own models too (slow: about 0.1 s a model) instead of "
        "searching a copy of the database trackyard filled",
    )
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--populated", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        emit(run_scenarios(args.worker, args.db, args.models, args.populated))
        return

    mlflow_python = mlflow_interpreter(args.mlflow_python)
    print(f"logged models={args.models}")
    print(f"trackyard: {sys.executable}\nmlflow:    {mlflow_python or '(not available)'}\n")
    with tempfile.TemporaryDirectory(prefix="trackyard-bench-") as tmp:
        ty = _in_subprocess(sys.executable, "trackyard", args, tmp)
        shared = None if args.separate_data else os.path.join(tmp, "trackyard", "bench.db")
        ml = _in_subprocess(mlflow_python, "mlflow", args, tmp, shared) if mlflow_python else {}
        dk = _in_subprocess(sys.executable, "duckdb", args, tmp) if args.duckdb else {}

    rows = [
        (f"create {args.models} models + 2 metric points each", "populate_s", ""),
        (f"search metrics.acc > 0.95 (x{ty['metric_filter_hits']})", "metric_filter_s", ">= 10x"),
        ("  ... right after a write (cold)", "metric_filter_cold_s", ">= 10x"),
        ("  ... first search of a fresh client (cold)", "metric_filter_fresh_s", ">= 10x"),
        ("  ... right after a write, CPU time (median)", "metric_filter_cold_cpu_s", ""),
        ("  ... first search of a fresh client, CPU (median)", "metric_filter_fresh_cpu_s", ""),
        (f"  ... ordered by metrics.acc (x{ty['metric_order_hits']})", "metric_order_s", ""),
        (f"search params.lr = '0.01' (x{ty['param_filter_hits']})", "param_filter_s", ""),
        (f"search metric on dataset eval (x{ty['dataset_filter_hits']})", "dataset_filter_s", ""),
        ("get_logged_model", "get_s", ""),
    ]
    duck_head = f" {'duckdb':>11} {'vs mlflow':>9}" if dk else ""
    print(f"{'scenario':<52} {'trackyard':>11} {'mlflow':>11} {'speed-up':>9}{duck_head}  target")
    for label, key, target in rows:
        a, b = ty.get(key), ml.get(key)
        ratio = f"{b / a:.1f}x" if a and b else "-"
        duck = ""
        if dk:
            c = dk.get(key)
            duck = f" {fmt_seconds(c, 2):>11} {f'{b / c:.1f}x' if b and c else '-':>9}"
        print(
            f"{label:<52} {fmt_seconds(a, 2):>11} {fmt_seconds(b, 2):>11} {ratio:>9}{duck}"
            f"  {target}"
        )
    for key in (
        "metric_filter_hits",
        "metric_order_hits",
        "param_filter_hits",
        "dataset_filter_hits",
    ):
        if ml and ml.get(key) != ty.get(key):
            print(f"warning: {key} differs: trackyard {ty.get(key)}, mlflow {ml.get(key)}")
        if dk and dk.get(key) != ty.get(key):
            print(f"warning: {key} differs: sqlite {ty.get(key)}, duckdb {dk.get(key)}")


if __name__ == "__main__":
    main()
