"""Async logging benchmark: a training loop of ``log_metric(..., synchronous=False)`` on SQLite.

The same loop runs with trackyard and with MLflow 3.x, each in its own interpreter on its
own fresh SQLite file, through the fluent API inside ``start_run()`` and through
``MlflowClient``:

    python benchmarks/bench_async.py --mlflow-python .venv-mlflow/bin/python

MLflow writes each queued call as its own batch, so its flush of 100,000 points takes most of
an hour on a loaded machine: it runs ``--mlflow-points`` calls (default 10,000; per-call
figures are comparable, totals are not).

For each: the caller's time per call (wall clock, and the calling thread's CPU time, which
leaves out time the machine gave to other threads and processes), the time ``flush`` then
takes, and a check that every point is stored after the flush. Target (issue 15): under
5 us per call in the caller, every point stored.

Run by hand; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any

from _harness import emit, mlflow_interpreter, run_worker


def run_scenarios(lib: str, db_path: str, n: int) -> dict[str, Any]:
    """Both loops with ``lib`` against a fresh SQLite file."""
    if lib == "trackyard":
        import trackyard as mlflow
    else:
        import mlflow  # type: ignore[import-not-found, no-redef]

    os.environ["TRACKYARD_ARTIFACT_ROOT"] = os.path.join(os.path.dirname(db_path), "artifacts")
    mlflow.set_tracking_uri(f"sqlite:///{db_path}")
    mlflow.set_experiment("bench-async")
    client = mlflow.MlflowClient()
    out: dict[str, Any] = {}

    def loop(name: str, log: Any, run_id: str) -> None:
        log(run_id, -1)  # the first call starts the writer: not part of the figure
        mlflow.flush_async_logging()
        wall, cpu = time.perf_counter(), time.thread_time()
        for step in range(n):
            log(run_id, step)
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        flush = time.perf_counter()
        mlflow.flush_async_logging()
        flush = time.perf_counter() - flush
        stored = len(client.get_metric_history(run_id, "loss"))
        out[name] = {
            "call_wall_us": wall / n * 1e6,
            "call_cpu_us": cpu / n * 1e6,
            "loop_s": wall,
            "flush_s": flush,
            "stored": stored - 1,
        }

    with mlflow.start_run() as run:

        def fluent(run_id: str, step: int) -> None:
            mlflow.log_metric("loss", 1.0 / (step + 2), step=step, synchronous=False)

        loop("fluent", fluent, run.info.run_id)

    run_id = client.create_run(run.info.experiment_id).info.run_id

    def with_client(run_id: str, step: int) -> None:
        client.log_metric(run_id, "loss", 1.0 / (step + 2), step=step, synchronous=False)

    loop("client", with_client, run_id)
    client.set_terminated(run_id)
    return out


def _in_subprocess(python: str, lib: str, n: int, tmp: str) -> dict[str, Any]:
    db = os.path.join(tmp, lib, "bench.db")
    os.makedirs(os.path.dirname(db), exist_ok=True)
    cmd = [python, os.path.abspath(__file__), "--worker", lib, "--db", db, "--points", str(n)]
    return run_worker(cmd, f"{lib} worker", cwd=os.path.dirname(db))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--mlflow-points", type=int, default=10_000)
    parser.add_argument(
        "--mlflow-python",
        default=None,
        help="interpreter with mlflow==3.17.2 (default: this one, if it has mlflow)",
    )
    parser.add_argument("--worker", choices=["trackyard", "mlflow"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        emit(run_scenarios(args.worker, args.db, args.points))
        return

    mlflow_python = mlflow_interpreter(args.mlflow_python)
    print(
        f"log_metric(..., synchronous=False) calls per loop on SQLite: trackyard "
        f"{args.points:,}, mlflow {args.mlflow_points:,}"
    )
    print(f"trackyard: {sys.executable}\nmlflow:    {mlflow_python or '(not available)'}")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    with tempfile.TemporaryDirectory(prefix="trackyard-bench-async-") as tmp:
        ty = _in_subprocess(sys.executable, "trackyard", args.points, tmp)
        ml = (
            _in_subprocess(mlflow_python, "mlflow", args.mlflow_points, tmp)
            if mlflow_python
            else {}
        )

    header = (
        f"{'loop':22} {'per call (wall)':>16} {'per call (CPU)':>15} {'flush':>9} "
        f"{'loop+flush':>11} {'stored':>12}"
    )
    print(header)
    print("-" * len(header))
    for lib, result, n in (("trackyard", ty, args.points), ("mlflow", ml, args.mlflow_points)):
        for name in ("fluent", "client"):
            r = result.get(name)
            if r is None:
                continue
            ok = f"all {n:,}" if r["stored"] == n else f"{r['stored']:,} (!)"
            print(
                f"{lib + ' ' + name:22} {r['call_wall_us']:13.2f} us {r['call_cpu_us']:12.2f} us "
                f"{r['flush_s']:7.2f} s {r['loop_s'] + r['flush_s']:9.2f} s {ok:>12}"
            )
    print("\ntarget: < 5 us per call in the caller; every point stored after flush")
    if ml:
        for name in ("fluent", "client"):
            print(
                f"{name}: mlflow/trackyard per call (wall) = "
                f"{ml[name]['call_wall_us'] / ty[name]['call_wall_us']:.1f}x"
            )


if __name__ == "__main__":
    main()
