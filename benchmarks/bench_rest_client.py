"""REST client overhead: trackyard's http(s) store against MLflow's own client, one mlflow server.

Starts one ``mlflow server`` (SQLite, ``--workers 1``, job execution off) on a free loopback
port, then runs the same scenario with each library's ``MlflowClient`` in its own interpreter,
one after the other, against that server:

    python benchmarks/bench_rest_client.py --mlflow-python .venv-mlflow/bin/python

Scenarios: ``log_metric`` round trip (median of N calls), ``log_batch`` of 1000 metrics
(median), ``get_run``, and ``search_runs`` over the experiment. Both clients pay the same server
time, so the difference is client overhead. Also printed: the raw cost of one small GET
(``/health``) through a urllib3 ``PoolManager`` and a ``requests.Session`` in this
interpreter, the measurement behind the choice of urllib3.

Run by hand; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import emit, fmt_seconds, mlflow_interpreter, run_worker, timed, worker_env

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _median(fn: Any, n: int) -> float:
    fn()  # warm-up: connection, first-request costs
    times = []
    for _ in range(n):
        t, _ = timed(fn)
        times.append(t)
    return statistics.median(times)


def run_scenarios(lib: str, url: str, n_calls: int, n_batches: int) -> dict[str, Any]:
    """Run the scenarios with ``lib``'s MlflowClient against the server at ``url``."""
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.INFO)
    if lib == "trackyard":
        from trackyard import MlflowClient
        from trackyard.entities import Metric
    else:
        from mlflow import MlflowClient
        from mlflow.entities import Metric

    client = MlflowClient(tracking_uri=url)
    exp = client.create_experiment(f"bench-{lib}-{time.time_ns()}")
    run_id = client.create_run(exp).info.run_id
    step = iter(range(10**9))
    out: dict[str, Any] = {}
    out["log_metric_s"] = _median(
        lambda: client.log_metric(run_id, "m", 0.5, step=next(step)), n_calls
    )
    ts = int(time.time() * 1000)

    def batch() -> None:
        base = next(step) * 1000
        client.log_batch(run_id, metrics=[Metric("b", float(i), ts, base + i) for i in range(1000)])

    out["log_batch_1000_s"] = _median(batch, n_batches)
    out["get_run_s"] = _median(lambda: client.get_run(run_id), n_calls)
    for _ in range(20):
        client.create_run(exp)
    out["search_runs_s"] = _median(lambda: client.search_runs([exp]), max(5, n_calls // 4))
    return out


def raw_get_overhead(url: str, n: int) -> dict[str, float]:
    """Median time of ``GET /health`` through urllib3 and requests (when installed)."""
    import urllib3

    pool = urllib3.PoolManager()
    out = {"urllib3_s": _median(lambda: pool.request("GET", url + "/health").data, n)}
    try:
        import requests
    except ImportError:
        return out
    session = requests.Session()
    out["requests_s"] = _median(lambda: session.get(url + "/health").content, n)
    return out


def _worker(args: argparse.Namespace) -> None:
    emit(run_scenarios(args.worker, args.url, args.calls, args.batches))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlflow-python", help="interpreter with mlflow (runs the server too)")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--worker", choices=["trackyard", "mlflow"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    python = mlflow_interpreter(args.mlflow_python)
    if python is None:
        raise SystemExit("needs --mlflow-python (an interpreter with mlflow installed)")
    from tests._mlflow_server import start_mlflow_server

    with tempfile.TemporaryDirectory() as tmp:
        server = start_mlflow_server(python, Path(tmp) / "server")
        try:
            results = {}
            for lib, interpreter in (("trackyard", sys.executable), ("mlflow", python)):
                cmd = [interpreter, os.path.abspath(__file__), "--worker", lib, "--url", server.url]
                cmd += ["--calls", str(args.calls), "--batches", str(args.batches)]
                results[lib] = run_worker(cmd, f"{lib} worker", cwd=tmp, env=worker_env())
            raw = raw_get_overhead(server.url, args.calls)
        finally:
            server.stop()
    print(f"mlflow server 3.17.2 on SQLite, 1 worker, {server.url} (medians)")
    print(f"{'scenario':<28}{'trackyard':>14}{'MLflow':>14}{'MLflow/trackyard':>18}")
    for key, label in (
        ("log_metric_s", "log_metric round trip"),
        ("log_batch_1000_s", "log_batch, 1000 metrics"),
        ("get_run_s", "get_run"),
        ("search_runs_s", "search_runs, 21 runs"),
    ):
        t, m = results["trackyard"][key], results["mlflow"][key]
        print(f"{label:<28}{fmt_seconds(t, 2):>14}{fmt_seconds(m, 2):>14}{m / t:>17.2f}x")
    print(
        f"raw GET /health: urllib3 PoolManager {fmt_seconds(raw['urllib3_s'], 3)}, "
        f"requests.Session {fmt_seconds(raw.get('requests_s'), 3)}"
    )


if __name__ == "__main__":
    main()
