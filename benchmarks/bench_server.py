"""Load test: trackyard server vs ``mlflow server`` on the same backend, side by side.

Scenarios (N client threads for T seconds, every request on 127.0.0.1):

- ``mixed`` (the default): each client logs ``runs/log-batch`` with 500 metrics to its run,
  then ``runs/search`` (filter on a metric, 100 results), again and again;
- ``create``: each client does ``runs/create`` then ``runs/log-batch`` (50 metrics, 5
  params), again and again: MLflow 3.17.2's server stalls and answers HTTP 400 "QueuePool
  limit reached" here at 40 clients;
- ``logbatch``: ``runs/log-batch`` with 500 metrics only (throughput; use with
  ``--workers``).

Each prints p50/p95/max latency, throughput and errors per operation, then checks that no
write was lost (every logged batch and created run is read back).

    .venv/bin/python benchmarks/bench_server.py --clients 20 --seconds 30
    .venv/bin/python benchmarks/bench_server.py --scenario create --clients 40 --seconds 20
    .venv/bin/python benchmarks/bench_server.py --scenario logbatch --servers trackyard \\
        --workers 1,2,4 --backend postgresql

``--backend postgresql`` needs ``BENCH_POSTGRES_URI`` (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/bench``): every server gets a fresh database
``<name>_<server>`` (dropped and created by the script). The MLflow server is
``/work/main/.venv-mlflow/bin/mlflow`` (override with ``BENCH_MLFLOW``), started with
``--workers 1`` and ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import requests

MLFLOW = os.environ.get("BENCH_MLFLOW", "/work/main/.venv-mlflow/bin/mlflow")
API = "/api/2.0/mlflow"
TIMEOUT = 120


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_postgres(base: str, suffix: str) -> str:
    """``base`` with database ``<name>_<suffix>``, dropped and created anew."""
    import sqlalchemy as sa

    url = sa.engine.make_url(base)
    name = f"{url.database}_{suffix}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def start_server(
    kind: str, uri: str, port: int, log: Path, workers: int = 1
) -> subprocess.Popen[bytes]:
    """Start a trackyard or mlflow server on ``port``; return once ``/health`` answers."""
    if kind == "mlflow":
        cmd = [MLFLOW, "server", "--backend-store-uri", uri, "--workers", "1"]
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    else:
        code = "from trackyard.cli import main; main()"
        cmd = [sys.executable, "-c", code, "server", "--backend-store-uri", uri]
        cmd += ["--workers", str(workers)]
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
    stop_server(proc)
    raise RuntimeError(f"{kind} server did not start; see {log}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server started by :func:`start_server` (its own process group)."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Recorder:
    """Latencies, errors (with a sample message) and what was written, shared by clients."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lat: dict[str, list[float]] = {}
        self.errors: Counter[str] = Counter()
        self.sample: dict[str, str] = {}
        self.batches: Counter[str] = Counter()  # run id -> batches acknowledged
        self.runs: list[str] = []

    def call(self, sess: requests.Session, op: str, url: str, body: dict[str, Any]) -> Any:
        """POST ``body``; record the latency or the error; the JSON answer or None."""
        t0 = time.perf_counter()
        try:
            r = sess.post(url, json=body, timeout=TIMEOUT)
            ok, text = r.ok, f"HTTP {r.status_code}: {r.text[:160]}"
        except requests.RequestException as exc:
            r, ok, text = None, False, f"{type(exc).__name__}: {exc}"[:200]
        dt = time.perf_counter() - t0
        with self.lock:
            if ok:
                self.lat.setdefault(op, []).append(dt)
            else:
                self.errors[op] += 1
                self.sample.setdefault(op, text)
        return r.json() if ok and r is not None else None


def _metrics(n: int, step: int) -> list[dict[str, Any]]:
    return [
        {"key": f"m{k}", "value": k * 0.5, "timestamp": 1000 + step, "step": step} for k in range(n)
    ]


def run_load(base: str, scenario: str, clients: int, seconds: float) -> dict[str, Any]:
    """Drive one server with ``scenario``; return the recorder's figures and lost writes."""
    api = base + API
    s = requests.Session()
    exp = s.post(api + "/experiments/create", json={"name": f"b{uuid.uuid4().hex}"}, timeout=60)
    exp_id = exp.json()["experiment_id"]
    rec = Recorder()
    stop = time.monotonic() + seconds

    def new_run(sess: requests.Session) -> str | None:
        got = rec.call(sess, "create", api + "/runs/create", {"experiment_id": exp_id})
        if got is None:
            return None
        rid = str(got["run"]["info"]["run_id"])
        with rec.lock:
            rec.runs.append(rid)
        return rid

    def log(sess: requests.Session, rid: str, body: dict[str, Any]) -> None:
        if rec.call(sess, "log-batch", api + "/runs/log-batch", {"run_id": rid, **body}):
            with rec.lock:
                rec.batches[rid] += 1

    def client(i: int) -> None:
        sess = requests.Session()
        step = 0
        rid = None if scenario == "create" else new_run(sess)
        while time.monotonic() < stop:
            if scenario == "create":
                rid = new_run(sess)
                if rid is not None:
                    params = [{"key": f"p{k}", "value": str(k)} for k in range(5)]
                    log(sess, rid, {"metrics": _metrics(50, 0), "params": params})
                continue
            if rid is None:
                return
            log(sess, rid, {"metrics": _metrics(500, step)})
            step += 1
            if scenario == "mixed":
                body = {"experiment_ids": [exp_id], "filter": "metrics.m1 > 0", "max_results": 100}
                rec.call(sess, "search", api + "/runs/search", body)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t_start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t_start
    return {"rec": rec, "elapsed": elapsed, "lost": lost_writes(s, api, exp_id, rec)}


def lost_writes(s: requests.Session, api: str, exp_id: str, rec: Recorder) -> int:
    """Acknowledged writes that cannot be read back (runs, and batches via one metric)."""
    lost = 0
    found: set[str] = set()
    token = None
    while True:
        body: dict[str, Any] = {"experiment_ids": [exp_id], "max_results": 1000}
        if token:
            body["page_token"] = token
        page = s.post(api + "/runs/search", json=body, timeout=TIMEOUT).json()
        found.update(r["info"]["run_id"] for r in page.get("runs", []))
        token = page.get("next_page_token")
        if not token:
            break
    lost += len(set(rec.runs) - found)
    for rid, batches in rec.batches.items():
        params = {"run_id": rid, "metric_key": "m7"}
        hist = s.get(api + "/metrics/get-history", params=params, timeout=TIMEOUT).json()
        # the create scenario logs step 0 once per run; the others one step per batch
        lost += batches - len(hist.get("metrics", []))
    return lost


def report(title: str, rows: list[tuple[str, dict[str, Any]]]) -> None:
    """Print one table: a line per server and operation."""
    print(title)
    print(
        f"{'server':14} {'op':10} {'n':>6} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9} "
        f"{'req/s':>8} {'errors':>6} {'lost':>5}"
    )
    for kind, res in rows:
        rec: Recorder = res["rec"]
        for op in sorted(set(rec.lat) | set(rec.errors)):
            values = rec.lat.get(op, [])
            print(
                f"{kind:14} {op:10} {len(values):6d} {_pct(values, 0.5):9.1f} "
                f"{_pct(values, 0.95):9.1f} {max(values, default=float('nan')) * 1000:9.1f} "
                f"{len(values) / res['elapsed']:8.1f} {rec.errors[op]:6d} "
                f"{res['lost'] if op == 'log-batch' else '':>5}"
            )
        for op, text in rec.sample.items():
            print(f"  {kind} {op} first error: {text}")
    names = [kind for kind, _ in rows]
    if "trackyard" in names and "mlflow" in names:
        ty, ml = rows[names.index("trackyard")][1]["rec"], rows[names.index("mlflow")][1]["rec"]
        for op in sorted(set(ty.lat) & set(ml.lat)):
            ratio = _pct(ml.lat[op], 0.5) / _pct(ty.lat[op], 0.5)
            print(f"{op}: trackyard p50 is {ratio:.1f}x lower than mlflow server")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", choices=["mixed", "create", "logbatch"], default="mixed")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default=None)
    parser.add_argument(
        "--servers", default="trackyard,mlflow", help="comma-separated: trackyard, mlflow"
    )
    parser.add_argument(
        "--workers", default="1", help="trackyard worker processes, comma-separated list"
    )
    args = parser.parse_args()
    pg = os.environ.get("BENCH_POSTGRES_URI")
    backend = args.backend or ("postgresql" if pg else "sqlite")
    if backend == "postgresql" and not pg:
        parser.error("--backend postgresql needs BENCH_POSTGRES_URI")
    servers = [(k, 1) for k in args.servers.split(",") if k == "mlflow"]
    if "trackyard" in args.servers.split(","):
        servers[:0] = [("trackyard", int(w)) for w in args.workers.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, workers in servers:
            label = kind if kind == "mlflow" or len(servers) < 3 else f"{kind} w={workers}"
            if backend == "postgresql":
                uri = fresh_postgres(pg or "", kind)
            else:
                uri = f"sqlite:///{tmp}/{kind}{workers}.db"
            port = _port()
            proc = start_server(kind, uri, port, Path(tmp) / f"{kind}.log", workers)
            try:
                res = run_load(
                    f"http://127.0.0.1:{port}", args.scenario, args.clients, args.seconds
                )
            finally:
                stop_server(proc)
            rows.append((label, res))
    report(
        f"scenario={args.scenario} backend={backend} clients={args.clients} "
        f"seconds={args.seconds} cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f}",
        rows,
    )


if __name__ == "__main__":
    main()
