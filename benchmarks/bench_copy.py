"""Copy benchmark: ``trackyard.copy_store`` against replaying the data through MLflow's client.

The issue's target: copy 1,000 runs x 10 metrics x 1,000 steps from an MLflow-created SQLite
database to a file store and back, losslessly, at least 20x faster than replaying the same
data through MLflow's own client. In one run:

1. MLflow 3.17.2 (its own interpreter) creates the SQLite database and logs the runs through
   ``MlflowClient``: ``create_run``, then ``log_batch`` (1,000 points per call, MLflow's limit)
   for each run's whole history, params and tags, then ``set_terminated``. The time of that
   replay is the reference.
2. trackyard copies the database into a file store, and the file store into a new SQLite
   database (``copy_store``, artifacts off: there are none), each timed.
3. ``dump_store`` of the three stores must be equal (every point, param, tag, run info).
4. With ``--server``: trackyard copies the database into a ``trackyard server`` over a new
   SQLite file (its own process on a free loopback port) through the REST import API, timed
   beside the direct copies; the server's database must dump equal too.

::

    python benchmarks/bench_copy.py --mlflow-python /work/main/.venv-mlflow/bin/python \\
        --runs 1000 --metrics 10 --steps 1000 [--server]

Run by hand; figures are printed, never asserted (the lossless check exits non-zero).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import emit, fmt_seconds, mlflow_interpreter, run_worker, worker_env

T0 = 1_700_000_000_000
BATCH = 1_000  # MLflow's log_batch limit on metrics per call


def _points(run: int, metrics: int, steps: int) -> list[tuple[str, float, int, int]]:
    """(key, value, timestamp, step) of one run's histories, step-major as a loop logs them."""
    return [
        (f"m{k}", math.sin(run * 0.37 + k * 1.3 + s * 0.011), T0 + run * steps + s, s)
        for s in range(steps)
        for k in range(metrics)
    ]


def mlflow_worker(uri: str, runs: int, metrics: int, steps: int) -> None:
    """In MLflow's interpreter: create the database, then replay the runs (timed)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("bench")  # creates the schema: not part of the replay
    start = time.perf_counter()
    for r in range(runs):
        run = client.create_run(exp, start_time=T0 + r, run_name=f"run-{r}")
        rid = run.info.run_id
        points = [Metric(k, v, t, s) for k, v, t, s in _points(r, metrics, steps)]
        params = [Param("lr", str(0.001 * (r + 1))), Param("layers", str(r % 7))]
        tags = [RunTag("team", "bench")]
        for i in range(0, max(len(points), 1), BATCH):
            first = i == 0
            client.log_batch(
                rid,
                metrics=points[i : i + BATCH],
                params=params if first else [],
                tags=tags if first else [],
            )
        client.set_terminated(rid, end_time=T0 + r + 1)
    emit({"seconds": time.perf_counter() - start, "points": runs * metrics * steps})


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000)
    parser.add_argument("--metrics", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument("--mlflow-python", default=None, help="interpreter with mlflow 3.17.2")
    parser.add_argument("--workdir", default=None, help="where the stores go (default: a tmp)")
    parser.add_argument("--server", action="store_true", help="also copy into a trackyard server")
    parser.add_argument("--worker", nargs=4, metavar=("URI", "RUNS", "METRICS", "STEPS"))
    args = parser.parse_args()
    if args.worker:
        uri, runs, metrics, steps = args.worker
        mlflow_worker(uri, int(runs), int(metrics), int(steps))
        return

    python = mlflow_interpreter(args.mlflow_python)
    if python is None:
        raise SystemExit("MLflow is needed: pass --mlflow-python")
    with tempfile.TemporaryDirectory(prefix="bench-copy-", dir=args.workdir) as tmp:
        src = f"sqlite:///{os.path.join(tmp, 'mlflow.db')}"
        mid = "file://" + os.path.join(tmp, "mlruns")
        back = f"sqlite:///{os.path.join(tmp, 'back.db')}"
        sizes = (args.runs, args.metrics, args.steps)
        size = f"{args.runs} runs x {args.metrics} metrics x {args.steps} steps"
        print(f"{size} = {args.runs * args.metrics * args.steps:,} points", flush=True)
        replay = run_worker(
            [python, os.path.abspath(__file__), "--worker", src, *map(str, sizes)],
            "MLflow replay",
            cwd=tmp,
            env=worker_env(TRACKYARD_ARTIFACT_ROOT=os.path.join(tmp, "art")),
        )
        print(f"MLflow replay: {fmt_seconds(replay['seconds'])}", flush=True)
        os.environ["TRACKYARD_ARTIFACT_ROOT"] = os.path.join(tmp, "art")
        figures = _copy_both_ways(src, mid, back, tmp)
        if args.server:
            seconds, same = _copy_to_server(src, tmp)
            figures["sqlite -> server"] = seconds
            figures["lossless"] = figures["lossless"] and same
        _table(size, replay["seconds"], figures)


def _copy_both_ways(src: str, mid: str, back: str, tmp: str) -> dict[str, Any]:
    # Imports are not timed (as MLflow's are not): both plugins load before the clock starts.
    import trackyard_file.tracking  # noqa: F401
    import trackyard_sql.tracking  # noqa: F401
    from trackyard.backends import clear_store_cache
    from trackyard.copy import copy_store, dump_store

    figures: dict[str, Any] = {}
    for name, a, b in (("sqlite -> file", src, mid), ("file -> sqlite", mid, back)):
        start = time.perf_counter()
        report = copy_store(
            a, b, include_artifacts=False, progress=False, dst_artifact_root=f"{tmp}/art2"
        )
        figures[name] = time.perf_counter() - start
        print(f"{name}: {fmt_seconds(figures[name])} ({report.summary()})", flush=True)
        clear_store_cache()
    start = time.perf_counter()
    original = dump_store(src, artifacts=False)
    figures["lossless"] = (
        dump_store(mid, artifacts=False) == original
        and dump_store(back, artifacts=False) == original
    )
    figures["compare"] = time.perf_counter() - start
    return figures


def _copy_to_server(src: str, tmp: str) -> tuple[float, bool]:
    """Copy ``src`` into a ``trackyard server`` over SQLite (timed); check its database."""
    import socket

    from bench_server import start_server, stop_server

    from trackyard.backends import clear_store_cache
    from trackyard.copy import copy_store, dump_store

    backing = f"sqlite:///{os.path.join(tmp, 'server.db')}"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    proc = start_server("trackyard", backing, port, Path(tmp) / "server.log")
    try:
        start = time.perf_counter()
        report = copy_store(
            src, f"http://127.0.0.1:{port}", include_artifacts=False, progress=False
        )
        seconds = time.perf_counter() - start
        print(f"sqlite -> server: {fmt_seconds(seconds)} ({report.summary()})", flush=True)
    finally:
        stop_server(proc)
        clear_store_cache()
    same = dump_store(backing, artifacts=False) == dump_store(src, artifacts=False)
    return seconds, same


def _table(size: str, replay: float, figures: dict[str, Any]) -> None:
    print()
    print(f"copy benchmark, {size}")
    print(f"{'':<36}{'seconds':>10}{'vs replay':>12}")
    print(f"{'MLflow client replay (log_batch)':<36}{replay:>10.1f}{'1.0x':>12}")
    for name in ("sqlite -> file", "file -> sqlite", "sqlite -> server"):
        if name not in figures:
            continue
        seconds = figures[name]
        label = f"trackyard copy_store {name}"
        print(f"{label:<36}{seconds:>10.1f}{replay / seconds:>11.1f}x")
    verdict = "yes" if figures["lossless"] else "NO"
    took = figures["compare"]
    print(f"lossless (dump_store equal, every store): {verdict}  (compared in {took:.1f} s)")
    if not figures["lossless"]:
        sys.exit(1)


if __name__ == "__main__":
    _main()
