"""DuckDB store benchmark: trackyard on DuckDB, trackyard on SQLite and MLflow 3.x on SQLite,
measured side by side in one run, on one machine:

    python benchmarks/bench_duckdb.py --mlflow-python /path/to/mlflow-venv/bin/python

Scenarios, the quick ones first (every figure comes from its own worker process; a search
figure from a fresh process, i.e. a fresh client that has run no query yet):

- **log_batch throughput**: 100,000 points in batches of 1,000 into a new run, per variant:
  DuckDB with its default of an fsync per commit, DuckDB with ``TRACKYARD_DUCKDB_FSYNC=none``,
  trackyard's SQLite store and MLflow on SQLite. ``--rounds`` rounds (5); in each round every
  variant runs once, in its own worker, one after the other (so a burst of load on the shared
  machine hits the variants alike); each worker first logs one untimed batch into a
  warm-up run (a process's first ``log_batch`` pays one-time costs: the DuckDB store
  imports pyarrow then). Reported: the median, the lowest and the highest of each
  variant, and the median of the per-round DuckDB/SQLite ratios. Both SQLite stores run with
  their defaults: trackyard's SQLite store uses WAL with ``synchronous=NORMAL`` (a commit is
  not flushed to disk; the write-ahead log is flushed at checkpoints, so a power cut can lose
  the last commits but not corrupt the file), MLflow's uses SQLite's default rollback journal
  with ``synchronous=FULL``.
- **metric history**: one 1,000,000-point series in DuckDB, read whole with
  ``get_metric_history`` and downsampled to 1,000 points with ``get_metric_history_bulk``,
  each in fresh processes (median of three).
- **search at scale**: trackyard's DuckDB and SQLite databases grow through ``create_run`` +
  ``log_batch`` (10 metrics, 10 params and a tag per run) along a ladder of sizes up to
  ``--runs`` (100,000), growing at the same time. At every size, ``--repeat`` rounds (3) of a
  fresh process per backend, one after the other, each open the database, read one
  experiment (to open the store) and time one ``search_runs`` with a metric filter, a param
  filter and ``order_by`` a metric, first page of 1,000; the median is reported, with the
  lowest and highest (a search that took over 30 s is not repeated). Every backend must
  return the same runs in the same order (checked).

  **MLflow is measured on a copy of trackyard's SQLite database.** trackyard's SQL store
  writes MLflow's own schema (the compat tests hold it to that), so at each size the SQLite
  database is copied (SQLite's backup API, WAL included) and the copy is given what MLflow's
  own database has: trackyard's own indexes (``trackyard_*``, which MLflow's queries never
  use) are dropped and the journal goes back to SQLite's default (``DELETE``). MLflow then
  searches the copy; the bench checks that MLflow opened it without migrating it (its schema
  and ``alembic_version`` are the same after the search). Growing MLflow's database through
  MLflow's own client takes a quarter of a second per run or more here (about 2,000 runs in
  10 minutes), so it could only be searched at a few thousand runs, where fixed costs
  dominate. To show that the copy is fair, MLflow also grows its own database through its
  own client up to ``--mlflow-grow`` runs (1,000), and at those sizes both are searched
  (column ``mlflow-own``; at least five rounds): the two times should agree. MLflow's search
  is given ``--mlflow-budget`` seconds (600) per search; the largest size at which it
  finished in that budget is the one the MLflow ratio uses, and the report names it.

  ``--grow-budget SECONDS`` stops the ladder before a size whose growth (projected from the
  slowest backend's rate so far) would take trackyard's backends past that many seconds in
  all; the report's top size is then the largest one grown.

``--duckdb-fsync none`` grows the DuckDB search database without an fsync per commit
(quicker to build; the search itself does not write). ``--workdir DIR`` keeps the databases
in ``DIR`` (default: a temporary directory, removed at the end). Run by hand; figures are
printed, never asserted. ``--runs 5000`` gives a quick run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _harness import (
    emit,
    fmt_seconds,
    mlflow_interpreter,
    parse_result,
    run_worker,
    timed,
    worker_env,
)

T0 = 1_700_000_000_000
FILTER = "metrics.m0 > 0.5 AND params.p1 != '3'"
ORDER_BY = ["metrics.m2 DESC"]
PAGE = 1000
LADDER = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000)
LONG_SEARCH = 30.0  # seconds: a search that took longer is not repeated
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
    """``points`` metric points in batches of 1,000 into a new run: one round.

    One batch goes to a warm-up run first, untimed: a process's first ``log_batch`` pays
    one-time costs (the DuckDB store imports pyarrow then: 0.2 to 0.7 s here, a third of
    a 100,000-point round), which are not throughput.
    """
    client = _client(backend, path)
    Metric, _, _ = _entities(backend)
    existing = client.get_experiment_by_name("log-batch")
    exp_id = existing.experiment_id if existing else client.create_experiment("log-batch")
    rng = random.Random(42)
    rows = [
        Metric(f"metric_{k}", rng.random(), T0 + s, s)
        for s in range(points // 10)
        for k in range(10)
    ]
    client.log_batch(client.create_run(exp_id).info.run_id, metrics=rows[:1000])
    run_id = client.create_run(exp_id).info.run_id

    def batches() -> None:
        for start in range(0, len(rows), 1000):
            client.log_batch(run_id, metrics=rows[start : start + 1000])

    return {"points_per_s": len(rows) / timed(batches)[0]}


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
        self,
        worker: str,
        backend: str,
        db: str,
        *extra: str,
        fsync: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any] | None:
        """The worker's result; None if it ran past ``timeout`` seconds (it is killed)."""
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
        if timeout is None:
            return run_worker(command, f"{backend} {worker}", cwd=os.path.dirname(db), env=env)
        try:
            proc = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=env,
                cwd=os.path.dirname(db),
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return None
        return parse_result(proc.returncode, proc.stdout, proc.stderr, f"{backend} {worker}")


def _ladder(limit: int) -> list[int]:
    sizes = [s for s in LADDER if s < limit]
    return [*sizes, limit]


def _sqlite_schema(path: str) -> list[tuple[Any, ...]]:
    """The schema objects and ``alembic_version`` of a SQLite database (to detect migrations)."""
    con = sqlite3.connect(path)
    try:
        objects = con.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        return [*objects, *con.execute("SELECT * FROM alembic_version").fetchall()]
    finally:
        con.close()


def mlflow_copy(source: str, target: str) -> None:
    """Copy trackyard's SQLite database ``source`` to ``target`` as MLflow's own would be.

    SQLite's backup API copies a consistent snapshot (the write-ahead log included). The
    copy then loses trackyard's own indexes (``trackyard_*``; MLflow's queries never use
    them, and MLflow's own database does not have them) and goes back to SQLite's default
    rollback journal, which is what MLflow runs with.
    """
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(target + suffix):
            os.remove(target + suffix)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
        names = dst.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'trackyard%'"
        ).fetchall()
        for (name,) in names:
            dst.execute(f'DROP INDEX "{name}"')
        dst.commit()
        dst.execute("PRAGMA journal_mode = DELETE")
    finally:
        src.close()
        dst.close()


class Ladder:
    """The search-at-scale scenario: growth along the ladder, searches at every size."""

    def __init__(self, run: Runner, backends: list[str], args: argparse.Namespace) -> None:
        self.run = run
        self.args = args
        self.growing = [b for b in backends if b != "mlflow"]
        self.mlflow = "mlflow" in backends
        if self.mlflow and args.mlflow_grow > 0:
            self.growing.append("mlflow-own")
        self.dbs = {b: run.db(b, "search") for b in self.growing}
        if self.mlflow:
            self.dbs["mlflow"] = run.db("mlflow", "copy")
        self.size = dict.fromkeys(self.growing, 0)
        self.spent = dict.fromkeys(self.growing, 0.0)
        #: backend -> size -> search times (seconds) of the rounds
        self.found: dict[str, dict[int, list[float]]] = {b: {} for b in self.dbs}
        self.mlflow_reached = 0  # the largest size MLflow's search finished within the budget
        self.mlflow_searching = self.mlflow
        self.identical = True
        self.migrated = False

    def grow(self, target: int) -> None:
        """Grow every growing backend to ``target`` runs at the same time."""
        active = [b for b in self.growing if b != "mlflow-own" or target <= self.args.mlflow_grow]

        def grow(backend: str) -> dict[str, Any] | None:
            start, stop = str(self.size[backend]), str(target)
            worker_backend = "mlflow" if backend == "mlflow-own" else backend
            db = self.dbs[backend]
            return self.run("populate", worker_backend, db, "--start", start, "--stop", stop)

        with ThreadPoolExecutor(len(active)) as pool:
            results = dict(zip(active, pool.map(grow, active), strict=True))
        for backend, result in results.items():
            assert result is not None
            self.spent[backend] += result["seconds"]
            self.size[backend] = target
            print(f"  {backend:10} grown to {target:>8,} runs in {self.spent[backend]:7.1f} s")

    def search(self, target: int) -> None:
        """``--repeat`` rounds of one fresh-process search per backend at ``target`` runs."""
        searched = [b for b in self.growing if self.size[b] == target]
        if self.mlflow_searching:
            mlflow_copy(self.dbs["sqlite"], self.dbs["mlflow"])
            before = _sqlite_schema(self.dbs["mlflow"])
            searched.append("mlflow")
        names: list[str] | None = None
        rounds = self.args.repeat
        if "mlflow-own" in searched and "mlflow" in searched:
            rounds = max(rounds, 5)  # the own-versus-copy comparison gets more rounds
        for round_ in range(rounds):
            for backend in list(searched):
                if round_ and min(self.found[backend].get(target, [0.0])) > LONG_SEARCH:
                    continue  # one round of a search this long is enough (and saves minutes)
                worker_backend = "mlflow" if backend.startswith("mlflow") else backend
                timeout = self.args.mlflow_budget if worker_backend == "mlflow" else None
                result = self.run("search", worker_backend, self.dbs[backend], timeout=timeout)
                if result is None:
                    print(
                        f"  ! {backend} at {target:,} runs: the search did not finish within "
                        f"{self.args.mlflow_budget:.0f} s; MLflow is not searched further"
                    )
                    searched.remove(backend)
                    self.found[backend].pop(target, None)
                    self.mlflow_searching = False
                    continue
                self.found[backend].setdefault(target, []).append(result["seconds"])
                names = names or result["names"]
                if result["names"] != names:
                    self.identical = False
                    print(f"  ! {backend} at {target:,} runs returned other runs than duckdb")
        if "mlflow" in searched:
            self.mlflow_reached = target
            if _sqlite_schema(self.dbs["mlflow"]) != before:
                self.migrated = True
                print(f"  ! MLflow changed the schema of the copy at {target:,} runs")
        for backend in searched:
            times = self.found[backend][target]
            print(
                f"  {backend:10} {target:>8,} runs: first page {fmt_seconds(median(times))} "
                f"(median of {len(times)}; {fmt_seconds(min(times))} to "
                f"{fmt_seconds(max(times))})"
            )

    def __call__(self) -> None:
        budget = self.args.grow_budget
        for target in _ladder(self.args.runs):
            done = self.size["duckdb"]
            if budget and done:
                slowest = max(self.spent[b] for b in ("duckdb", "sqlite") if b in self.spent)
                projected = slowest * target / done
                if projected > budget:
                    print(
                        f"  stopping at {done:,} runs: growing to {target:,} would take about "
                        f"{projected:.0f} s in all, past --grow-budget {budget:.0f} s"
                    )
                    break
            self.grow(target)
            self.search(target)


def median(values: list[float]) -> float:
    return statistics.median(values)


def log_batch_rounds(
    run: Runner, backends: list[str], args: argparse.Namespace
) -> dict[str, list[float]]:
    """``--rounds`` rounds; in each, every variant logs ``--points`` points in its own worker."""
    variants = [("duckdb", "duckdb", "commit"), ("duckdb, fsync none", "duckdb", "none")]
    variants += [(b, b, None) for b in backends[1:]]
    found: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for _ in range(args.rounds):
        for name, backend, fsync in variants:
            db = run.db(backend, f"batch-{fsync}")
            result = run("log_batch", backend, db, "--points", str(args.points), fsync=fsync)
            assert result is not None
            found[name].append(result["points_per_s"])
    for name, rates in found.items():
        print(
            f"  {name:18} {median(rates):>10,.0f} points/s (median of {len(rates)}; "
            f"{min(rates):,.0f} to {max(rates):,.0f})"
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="fresh-process searches per size")
    parser.add_argument("--mlflow-budget", type=float, default=600.0)
    parser.add_argument(
        "--mlflow-grow",
        type=int,
        default=1_000,
        help="the largest size MLflow's own client grows its own database to (0: none)",
    )
    parser.add_argument(
        "--grow-budget",
        type=float,
        default=0.0,
        help="stop the ladder before a size whose growth would pass this many seconds",
    )
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5, help="log_batch rounds")
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
    parser.add_argument("--workdir", default=None, help="keep the databases in this directory")
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
    print(f"search: {FILTER!r}, order_by {ORDER_BY}, first page of {PAGE}")
    print(f"load average at the start: {os.getloadavg()}\n")
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if args.workdir:
            os.makedirs(args.workdir, exist_ok=True)
            tmp = args.workdir
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="trackyard-bench-duckdb-"))
        run = Runner(tmp, mlflow_python, args.duckdb_fsync)
        print("log_batch throughput:")
        throughput = log_batch_rounds(run, backends, args)
        print(f"\nmetric history of one {args.series:,}-point series (DuckDB):")
        db = run.db("duckdb", "history")
        built = run("build_series", "duckdb", db, "--series", str(args.series))
        assert built is not None
        full, down = [], []
        points = 0
        for _ in range(3):
            for max_points, into in (("0", full), ("1000", down)):
                read = run(
                    "read_history",
                    "duckdb",
                    db,
                    "--run-id",
                    built["run_id"],
                    "--max-points",
                    max_points,
                )
                assert read is not None
                if max_points == "0":
                    assert read["points"] == args.series, read
                else:
                    assert read["points"] <= 1000, read
                    points = read["points"]
                into.append(read["seconds"])
        full_s, down_s = median(full), median(down)
        print(f"  logged in {built['seconds']:.1f} s")
        print(
            f"  full read {fmt_seconds(full_s)}, downsampled to {points} points "
            f"{fmt_seconds(down_s)}"
        )
        print("\nsearch at scale (trackyard's backends grow along the ladder):")
        ladder = Ladder(run, backends, args)
        ladder()
        print(f"load average at the end: {os.getloadavg()}")

    found = ladder.found
    print(f"\nsummary (whole run {time.perf_counter() - started:.0f} s)")
    columns = [b for b in ("duckdb", "sqlite", "mlflow", "mlflow-own") if b in found]
    header = f"{'runs':>9} " + " ".join(f"{b:>12}" for b in columns)
    print(f"first page of search_runs, fresh client (median of {args.repeat} rounds):\n{header}")
    sizes = sorted({s for per in found.values() for s in per})
    for size in sizes:
        cells = " ".join(
            f"{fmt_seconds(median(found[b][size]) if size in found[b] else None):>12}"
            for b in columns
        )
        print(f"{size:>9,} {cells}")
    top = max(found["duckdb"])
    duck = median(found["duckdb"][top])
    lines = []
    if top in found.get("sqlite", {}):
        ratio = median(found["sqlite"][top]) / duck
        lines.append(f"duckdb vs trackyard sqlite at {top:,} runs: {ratio:.1f}x (target >= 10x)")
    if ladder.mlflow_reached:
        reached = ladder.mlflow_reached
        ratio = median(found["mlflow"][reached]) / duck
        lines.append(
            f"duckdb at {top:,} runs vs mlflow at {reached:,} runs (on the copy; the largest "
            f"size its search finished within {args.mlflow_budget:.0f} s): {ratio:.1f}x "
            "(target >= 50x)"
        )
        lines.append(
            "mlflow opened every copy without migrating it: " + ("NO" if ladder.migrated else "yes")
        )
    own = [s for s in found.get("mlflow-own", {}) if s in found.get("mlflow", {})]
    for size in own:
        lines.append(
            f"mlflow at {size:,} runs, own database vs copy: "
            f"{fmt_seconds(median(found['mlflow-own'][size]))} vs "
            f"{fmt_seconds(median(found['mlflow'][size]))} "
            f"(ratio {median(found['mlflow-own'][size]) / median(found['mlflow'][size]):.2f})"
        )
    lines.append(
        f"same runs in the same order on every backend: {'yes' if ladder.identical else 'NO'}"
    )
    rates = {name: median(values) for name, values in throughput.items()}
    lines.append(
        "log_batch points/s (median): " + ", ".join(f"{b} {v:,.0f}" for b, v in rates.items())
    )
    if "sqlite" in throughput:
        for name in ("duckdb", "duckdb, fsync none"):
            per_round = [d / s for d, s in zip(throughput[name], throughput["sqlite"], strict=True)]
            lines.append(
                f"log_batch {name}/sqlite: median of per-round ratios "
                f"{median(per_round):.2f} ({min(per_round):.2f} to {max(per_round):.2f}; "
                "target >= 1)"
            )
    lines.append(
        f"history of {args.series:,} points: downsampled/full = {down_s / full_s:.3f} "
        "(target < 0.1)"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
