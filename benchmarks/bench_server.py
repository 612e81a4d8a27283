"""Load test: trackyard server vs ``mlflow server`` on the same backend type.

N client threads for T seconds each do ``runs/log-batch`` with 500 metrics, then
``runs/search``; prints p50/p95 latency, throughput, errors and a no-lost-writes check.

    .venv/bin/python benchmarks/bench_server.py --clients 20 --seconds 30
    BENCH_POSTGRES_URI=postgresql+psycopg://... (one database per server) to use PostgreSQL

The MLflow server is ``/work/main/.venv-mlflow/bin/mlflow`` (override with BENCH_MLFLOW),
started with ``--workers 1`` and ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

MLFLOW = os.environ.get("BENCH_MLFLOW", "/work/main/.venv-mlflow/bin/mlflow")
API = "/api/2.0/mlflow"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(kind: str, uri: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    if kind == "mlflow":
        cmd = [MLFLOW, "server", "--backend-store-uri", uri, "--workers", "1"]
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    else:
        code = "from trackyard.cli import main; main()"
        cmd = [sys.executable, "-c", code, "server", "--backend-store-uri", uri]
        env = dict(os.environ)
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=out, env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok:
                return proc
        except requests.ConnectionError:
            time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGTERM)
    raise RuntimeError(f"{kind} server did not start; see {log}")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run_load(base: str, clients: int, seconds: float) -> dict[str, Any]:
    """Drive one server; return latencies, counts and the lost-writes check."""
    s = requests.Session()
    exp = s.post(base + API + "/experiments/create", json={"name": f"b{time.time()}"}).json()
    exp_id = exp["experiment_id"]
    lat: dict[str, list[float]] = {"log-batch": [], "search": []}
    errors = {"log-batch": 0, "search": 0}
    written: dict[str, int] = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        sess = requests.Session()
        run = sess.post(base + API + "/runs/create", json={"experiment_id": exp_id}).json()
        rid = run["run"]["info"]["run_id"]
        step = 0
        while time.monotonic() < stop:
            metrics = [
                {"key": f"m{k}", "value": k * 0.5, "timestamp": 1000 + step, "step": step}
                for k in range(500)
            ]
            t0 = time.perf_counter()
            r = sess.post(base + API + "/runs/log-batch", json={"run_id": rid, "metrics": metrics})
            dt = time.perf_counter() - t0
            with lock:
                if r.ok:
                    lat["log-batch"].append(dt)
                    written[rid] = written.get(rid, 0) + 1
                else:
                    errors["log-batch"] += 1
            step += 1
            t0 = time.perf_counter()
            body = {"experiment_ids": [exp_id], "filter": "metrics.m1 > 0", "max_results": 100}
            r = sess.post(base + API + "/runs/search", json=body)
            dt = time.perf_counter() - t0
            with lock:
                if r.ok:
                    lat["search"].append(dt)
                else:
                    errors["search"] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t_start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t_start
    lost = 0
    for rid, batches in written.items():
        hist = s.get(
            base + API + "/metrics/get-history", params={"run_id": rid, "metric_key": "m7"}
        ).json()
        lost += batches - len(hist.get("metrics", []))
    return {"lat": lat, "errors": errors, "elapsed": elapsed, "lost": lost}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--only", choices=["trackyard", "mlflow"], default=None)
    args = parser.parse_args()
    pg = os.environ.get("BENCH_POSTGRES_URI")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("trackyard", "mlflow"):
            if args.only and kind != args.only:
                continue
            uri = f"{pg}_{kind}" if pg else f"sqlite:///{tmp}/{kind}.db"
            port = _port()
            proc = _start(kind, uri, port, Path(tmp) / f"{kind}.log")
            try:
                res = run_load(f"http://127.0.0.1:{port}", args.clients, args.seconds)
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(30)
            rows.append((kind, res))
    backend = "postgresql" if pg else "sqlite"
    print(f"backend={backend} clients={args.clients} seconds={args.seconds}")
    print(
        f"{'server':10} {'op':10} {'n':>6} {'p50 ms':>9} {'p95 ms':>9} {'req/s':>8} "
        f"{'errors':>6} {'lost':>5}"
    )
    for kind, res in rows:
        for op in ("log-batch", "search"):
            values = res["lat"][op]
            print(
                f"{kind:10} {op:10} {len(values):6d} {_pct(values, 0.5):9.1f} "
                f"{_pct(values, 0.95):9.1f} {len(values) / res['elapsed']:8.1f} "
                f"{res['errors'][op]:6d} {res['lost'] if op == 'log-batch' else '':>5}"
            )
    if len(rows) == 2:
        for op in ("log-batch", "search"):
            ty, ml = (statistics.median(r["lat"][op] or [float("nan")]) for _, r in rows)
            print(f"{op}: trackyard p50 is {ml / ty:.1f}x lower than mlflow server")


if __name__ == "__main__":
    main()
