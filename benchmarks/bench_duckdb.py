"""DuckDB store benchmark: trackyard on DuckDB, trackyard on SQLite and MLflow 3.x on SQLite,
measured side by side in one run, on one machine:

    python benchmarks/bench_duckdb.py --mlflow-python /path/to/mlflow-venv/bin/python

Scenarios, the quick ones first (every figure comes from its own worker process; the search
figure from a fresh process, i.e. a fresh client that has run no query yet):

- **search at scale**: each backend's database grows through ``create_run`` + ``log_batch``
  (10 metrics, 10 params and a tag per run) along a ladder of sizes up to ``--runs``
  (100,000), the backends growing at the same time; at every size, once all have grown, a
  fresh process per backend (one after the other) opens the database, reads one experiment (to open
  the store) and times one ``search_runs`` with a metric filter, a param filter and
  ``order_by`` a metric, first page of 1,000. The three backends must return the same runs
  in the same order (checked). MLflow grows only while it finishes within ``--mlflow-budget``
  seconds (600): the report says the largest size it reached.
- **log_batch throughput**: 100,000 points in batches of 1,000 into a run (median of three
  rounds), per backend; DuckDB twice: with its default of an fsync per commit, and with
  ``TRACKYARD_DUCKDB_FSYNC=none`` (trackyard's SQLite store runs ``synchronous=NORMAL``: no
  fsync per commit in WAL mode).
- **metric history**: one 1,000,000-point series in DuckDB, read whole with
  ``get_metric_history`` and downsampled to 1,000 points with ``get_metric_history_bulk``,
  each in fresh processes (median of three).

``--duckdb-fsync none`` grows the DuckDB search database without an fsync per commit
(quicker to build; the search itself does not write). Run by hand; figures are printed,
never asserted. ``--runs 5000`` gives a quick run.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _harness import emit, fmt_seconds, mlflow_interpreter, run_worker, timed, worker_env

T0 = 1_700_000_000_000
FILTER = "metrics.m0 > 0.5 AND params.p1 != '3'"
ORDER_BY = ["metrics.m2 DESC"]
PAGE = 1000
LADDER = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000)
BACKENDS = ("duckdb", "sqlite", "mlflow")  # trackyard+DuckDB, trackyard+SQLite, MLflow+SQLite


# ---------------------------------------------------------------------------------------------
# Workers (each runs in its own process and emits one RESULT line)


def _client(backend: str, path: str) -> Any:
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    os.environ["TRACKYARD_ARTIFACT_ROOT"] = os.path.join(os.path.dirname(path), "artifacts")
    if backend == "mlflow":
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=f"sqlite:///{path}")
    from trackyard import MlflowClient

    scheme = "duckdb" if backend == "duckdb" else "sqlite"
    return MlflowClient(tracking_uri=f"{scheme}:///{path}")


def _entities(backend: str) -> Any:
    if backend == "mlflow":
        from mlflow.entities import Metric, Param, RunTag
    else:
        from trackyard.entities import Metric, Param, RunTag
    return Metric, Param, RunTag


def _search(client: Any, exp_id: str) -> Any:
    """One first-page search, through the client."""
    return client.search_runs([exp_id], FILTER, order_by=ORDER_BY, max_results=PAGE)


def populate(backend: str, path: str, start: int, stop: int) -> dict[str, Any]:
    """Grow the database from ``start`` to ``stop`` runs; the time it took."""
    client = _client(backend, path)
    Metric, Param, RunTag = _entities(backend)
    existing = client.get_experiment_by_name("bench")
    exp_id = existing.experiment_id if existing else client.create_experiment("bench")

    def grow() -> None:
        for i in range(start, stop):
            rng = random.Random(i)
            run_id = client.create_run(
                exp_id, start_time=T0 + i, tags={"team": f"t{i % 7}"}, run_name=f"r{i:07d}"
            ).info.run_id
            client.log_batch(
                run_id,
                metrics=[Metric(f"m{j}", rng.random(), T0 + i, 0) for j in range(10)],
                params=[Param(f"p{j}", str(rng.randint(0, 9))) for j in range(10)],
                tags=[RunTag("seed", str(i))],
            )

    seconds, _ = timed(grow)
    return {"seconds": seconds}


def search(backend: str, path: str) -> dict[str, Any]:
    """A fresh client: open the store (no query), then one timed search."""
    client = _client(backend, path)
    exp_id = client.get_experiment_by_name("bench").experiment_id
    seconds, page = timed(lambda: _search(client, exp_id))
    return {"seconds": seconds, "names": [run.info.run_name for run in page]}


def log_batches(backend: str, path: str, points: int) -> dict[str, Any]:
    """``points`` metric points in batches of 1,000 into a new run; median of 3 rounds."""
    client = _client(backend, path)
    Metric, _, _ = _entities(backend)
    exp_id = client.create_experiment("log-batch")
    rng = random.Random(42)
    rows = [
        Metric(f"metric_{k}", rng.random(), T0 + s, s)
        for s in range(points // 10)
        for k in range(10)
    ]
    times = []
    for _ in range(3):
        run_id = client.create_run(exp_id).info.run_id

        def batches(run_id: str = run_id) -> None:
            for start in range(0, len(rows), 1000):
                client.log_batch(run_id, metrics=rows[start : start + 1000])

        times.append(timed(batches)[0])
    return {"points_per_s": len(rows) / statistics.median(times)}


def build_series(path: str, points: int) -> dict[str, Any]:
    """One run with one ``points``-point series, logged in batches of 1,000."""
    client = _client("duckdb", path)
    Metric, _, _ = _entities("duckdb")
    exp_id = client.create_experiment("history")
    run_id = client.create_run(exp_id).info.run_id
    rng = random.Random(7)

    def fill() -> None:
        for start in range(0, points, 1000):
            client.log_batch(
                run_id,
                metrics=[
                    Metric("loss", 1.0 / (1 + s) + rng.random() / 10, T0 + s, s)
                    for s in range(start, start + 1000)
                ],
            )

    seconds, _ = timed(fill)
    return {"run_id": run_id, "seconds": seconds}


def read_history(path: str, run_id: str, max_points: int) -> dict[str, Any]:
    """One history read in a fresh process: whole (max_points 0) or downsampled."""
    client = _client("duckdb", path)
    client.get_experiment("0")  # open the store
    if max_points:
        seconds, got = timed(lambda: client.get_metric_history_bulk(run_id, "loss", max_points))
        return {"seconds": seconds, "points": len(got[run_id]["loss"])}
    seconds, got = timed(lambda: client.get_metric_history(run_id, "loss"))
    return {"seconds": seconds, "points": len(got)}


# ---------------------------------------------------------------------------------------------
# Driver


def _worker(args: argparse.Namespace) -> None:
    if args.worker == "populate":
        emit(populate(args.backend, args.db, args.start, args.stop))
    elif args.worker == "search":
        emit(search(args.backend, args.db))
    elif args.worker == "log_batch":
        emit(log_batches(args.backend, args.db, args.points))
    elif args.worker == "build_series":
        emit(build_series(args.db, args.series))
    elif args.worker == "read_history":
        emit(read_history(args.db, args.run_id, args.max_points))


class Runner:
    """Starts workers with the right interpreter and working directory."""

    def __init__(self, tmp: str, mlflow_python: str | None, duckdb_fsync: str) -> None:
        self.tmp = tmp
        self.mlflow_python = mlflow_python
        self.duckdb_fsync = duckdb_fsync

    def db(self, backend: str, name: str) -> str:
        folder = os.path.join(self.tmp, f"{backend}-{name}")
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, "bench.duckdb" if backend == "duckdb" else "bench.db")

    def __call__(
        self, worker: str, backend: str, db: str, *extra: str, fsync: str | None = None
    ) -> dict[str, Any]:
        python = self.mlflow_python if backend == "mlflow" else sys.executable
        env = worker_env(TRACKYARD_DUCKDB_FSYNC=fsync or self.duckdb_fsync)
        command = [
            str(python),
            os.path.abspath(__file__),
            "--worker",
            worker,
            "--backend",
            backend,
            "--db",
            db,
            *extra,
        ]
        return run_worker(command, f"{backend} {worker}", cwd=os.path.dirname(db), env=env)


def _ladder(limit: int) -> list[int]:
    sizes = [s for s in LADDER if s < limit]
    return [*sizes, limit]


def search_at_scale(
    run: Runner, backends: list[str], limit: int, budget: float
) -> tuple[dict[str, dict[int, float]], dict[str, dict[int, float]], bool]:
    """Grow every backend along the ladder; the first-page search time at each size.

    At each size the backends grow at the same time (each in its own worker; the growth
    times include that contention), then each is searched in turn while nothing else of
    this benchmark runs.
    """
    found: dict[str, dict[int, float]] = {b: {} for b in backends}
    grown: dict[str, dict[int, float]] = {b: {} for b in backends}
    dbs = {b: run.db(b, "search") for b in backends}
    size = dict.fromkeys(backends, 0)
    spent = dict.fromkeys(backends, 0.0)
    active = list(backends)
    identical = True
    for target in _ladder(limit):
        if "mlflow" in active and size["mlflow"]:
            rate = spent["mlflow"] / size["mlflow"]
            if spent["mlflow"] + rate * (target - size["mlflow"]) > budget:
                print(
                    f"  mlflow: stopping at {size['mlflow']:,} runs "
                    "(the next size would pass the budget)"
                )
                active.remove("mlflow")
        if not active:
            break

        def grow(backend: str, target: int = target) -> dict[str, Any]:
            start, stop = str(size[backend]), str(target)
            return run("populate", backend, dbs[backend], "--start", start, "--stop", stop)

        with ThreadPoolExecutor(len(active)) as pool:
            results = dict(zip(active, pool.map(grow, active), strict=True))
        names = None
        for backend in active:
            spent[backend] += results[backend]["seconds"]
            size[backend] = target
            grown[backend][target] = spent[backend]
            searched = run("search", backend, dbs[backend])
            found[backend][target] = searched["seconds"]
            names = names or searched["names"]
            if searched["names"] != names:
                identical = False
                print(f"  ! {backend} at {target:,} runs returned other runs than {active[0]}")
            print(
                f"  {backend:7} {target:>8,} runs: grown in {spent[backend]:7.1f} s, "
                f"first page {fmt_seconds(searched['seconds'])}"
            )
        if "mlflow" in active and spent["mlflow"] > budget:
            print(f"  mlflow: {target:,} runs took {spent['mlflow']:.0f} s, past the budget")
            active.remove("mlflow")
    return found, grown, identical


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--mlflow-budget", type=float, default=600.0)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--series", type=int, default=1_000_000)
    parser.add_argument(
        "--duckdb-fsync",
        choices=("commit", "none"),
        default="commit",
        help="TRACKYARD_DUCKDB_FSYNC of the DuckDB workers that grow and read the databases",
    )
    parser.add_argument(
        "--mlflow-python",
        default=None,
        help="interpreter with mlflow==3.17.2 (default: this one, if it has mlflow)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stop", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--run-id", help=argparse.SUPPRESS)
    parser.add_argument("--max-points", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return

    mlflow_python = mlflow_interpreter(args.mlflow_python)
    backends = [b for b in BACKENDS if b != "mlflow" or mlflow_python]
    print(f"trackyard: {sys.executable}\nmlflow:    {mlflow_python or '(not available)'}")
    print(f"DuckDB search databases grown with TRACKYARD_DUCKDB_FSYNC={args.duckdb_fsync}")
    print(f"search: {FILTER!r}, order_by {ORDER_BY}, first page of {PAGE}\n")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="trackyard-bench-duckdb-") as tmp:
        run = Runner(tmp, mlflow_python, args.duckdb_fsync)
        print("log_batch throughput:")
        throughput = {}
        for backend, fsync in [
            ("duckdb", "commit"),
            ("duckdb", "none"),
            *((b, None) for b in backends[1:]),
        ]:
            name = "duckdb, fsync none" if fsync == "none" else backend
            db = run.db(backend, f"batch-{fsync}")
            result = run("log_batch", backend, db, "--points", str(args.points), fsync=fsync)
            throughput[name] = result["points_per_s"]
            print(f"  {name:18} {throughput[name]:>12,.0f} points/s")
        print(f"\nmetric history of one {args.series:,}-point series (DuckDB):")
        db = run.db("duckdb", "history")
        built = run("build_series", "duckdb", db, "--series", str(args.series))
        full, down = [], []
        for _ in range(3):
            whole = run(
                "read_history", "duckdb", db, "--run-id", built["run_id"], "--max-points", "0"
            )
            assert whole["points"] == args.series, whole
            full.append(whole["seconds"])
            part = run(
                "read_history", "duckdb", db, "--run-id", built["run_id"], "--max-points", "1000"
            )
            assert part["points"] <= 1000, part
            down.append(part["seconds"])
        full_s, down_s = statistics.median(full), statistics.median(down)
        print(f"  logged in {built['seconds']:.1f} s")
        print(
            f"  full read {fmt_seconds(full_s)}, downsampled to {part['points']} points "
            f"{fmt_seconds(down_s)}"
        )
        print("\nsearch at scale (each backend grows along the ladder):")
        found, grown, identical = search_at_scale(run, backends, args.runs, args.mlflow_budget)

    print(f"\nsummary (whole run {time.perf_counter() - started:.0f} s)")
    header = f"{'runs':>9} " + " ".join(f"{b:>12}" for b in backends)
    print(f"first page of search_runs, fresh client:\n{header}")
    sizes = sorted({s for per in found.values() for s in per})
    for size in sizes:
        cells = " ".join(f"{fmt_seconds(found[b].get(size)):>12}" for b in backends)
        print(f"{size:>9,} {cells}")
    top = max(found["duckdb"])
    duck = found["duckdb"][top]
    lines = []
    if top in found.get("sqlite", {}):
        ratio = found["sqlite"][top] / duck
        lines.append(f"duckdb vs trackyard sqlite at {top:,} runs: {ratio:.1f}x (target >= 10x)")
    if found.get("mlflow"):
        reached = max(found["mlflow"])
        ratio = found["mlflow"][reached] / duck
        lines.append(
            f"duckdb at {top:,} runs vs mlflow at {reached:,} runs (the largest it grew to "
            f"within {args.mlflow_budget:.0f} s: {grown['mlflow'][reached]:.0f} s): "
            f"{ratio:.1f}x (target >= 50x)"
        )
    lines.append(f"same runs in the same order on every backend: {'yes' if identical else 'NO'}")
    line = ", ".join(f"{b} {v:,.0f}" for b, v in throughput.items())
    lines.append(f"log_batch points/s: {line}")
    if "sqlite" in throughput:
        lines.append(
            f"log_batch duckdb/sqlite = {throughput['duckdb'] / throughput['sqlite']:.2f} "
            f"(fsync none: {throughput['duckdb, fsync none'] / throughput['sqlite']:.2f}; "
            "target >= 1)"
        )
    lines.append(
        f"history of {args.series:,} points: downsampled/full = {down_s / full_s:.3f} "
        "(target < 0.1)"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
