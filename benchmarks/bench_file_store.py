"""File store benchmark: trackyard's file store against MLflow 3.x's, in one run, on one machine.

Both libraries run the *same* scenario code through their ``MlflowClient`` (the APIs match),
each in its own interpreter and on its own fresh ``mlruns`` folder (MLflow with
``MLFLOW_ALLOW_FILE_STORE=true``):

    python benchmarks/bench_file_store.py --mlflow-python .venv-mlflow/bin/python

Scenarios:

- creating N runs (default 2,000), each with 5 metrics, 5 params and 2 tags;
- ``search_runs`` with a metric filter and ``order_by`` over those runs: *warm* (median of 5
  calls after one warm-up, in the process that wrote the runs) and *cold* (the first search
  of a fresh process; median over 3 processes);
- 100,000 metric points through ``log_batch`` in batches of 1,000, then reading them back;
- 4 processes x 5,000 ``log_metric`` calls into one run: wall time, and whether every point
  is there afterwards (counted through each library's own ``get_metric_history``);
- trackyard's first search over the folder *MLflow* wrote (no summaries yet: they are built).

Run by hand; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from _harness import emit, mlflow_interpreter, parse_result, run_worker, timed, worker_env

_ENV = worker_env(MLFLOW_ALLOW_FILE_STORE="true")

T0 = 1_700_000_000_000
FILTER = "metrics.m0 > 0.5 AND params.p1 != '3'"
ORDER = ["metrics.m2 DESC"]


def _client(lib: str, root: str) -> Any:
    if lib == "trackyard":
        from trackyard import MlflowClient
    else:
        from mlflow import MlflowClient
    uri = "file://" + os.path.abspath(root)
    return MlflowClient(tracking_uri=uri)


def _entities(lib: str) -> Any:
    if lib == "trackyard":
        from trackyard import entities
    else:
        from mlflow import entities
    return entities


def _search(client: Any, exp_id: str) -> int:
    return len(client.search_runs([exp_id], FILTER, order_by=ORDER, max_results=1000))


def phase_main(lib: str, root: str, n_runs: int, n_points: int) -> dict[str, Any]:
    """Create the runs, search them warm, log and read back a long metric history."""
    e = _entities(lib)
    client = _client(lib, root)
    out: dict[str, Any] = {}
    exp_id = client.create_experiment("bench")
    out["experiment_id"] = exp_id
    rng = random.Random(1)

    def create_runs() -> None:
        for i in range(n_runs):
            run = client.create_run(exp_id, start_time=T0 + i, tags={"team": f"t{i % 7}"})
            client.log_batch(
                run.info.run_id,
                metrics=[e.Metric(f"m{j}", rng.random(), T0 + i, 0) for j in range(5)],
                params=[e.Param(f"p{j}", str(rng.randint(0, 9))) for j in range(5)],
                tags=[e.RunTag("group", f"g{i % 10}"), e.RunTag("seed", str(i))],
            )

    out["create_runs_s"], _ = timed(create_runs)
    _search(client, exp_id)  # warm-up
    times = []
    for _ in range(5):
        t, hits = timed(lambda: _search(client, exp_id))
        times.append(t)
    out["search_warm_s"] = statistics.median(times)
    out["search_hits"] = hits

    batch_exp = client.create_experiment("bench-batch")
    run_id = client.create_run(batch_exp).info.run_id
    rows = [
        e.Metric(f"metric_{k}", rng.random(), T0 + step, step)
        for step in range(n_points // 10)
        for k in range(10)
    ]

    def log_batches() -> None:
        for start in range(0, len(rows), 1000):
            client.log_batch(run_id, metrics=rows[start : start + 1000])

    out["log_batch_s"], _ = timed(log_batches)
    out["history_s"], count = timed(
        lambda: sum(len(client.get_metric_history(run_id, f"metric_{k}")) for k in range(10))
    )
    assert count == n_points, count
    return out


def phase_cold(lib: str, root: str, exp_id: str) -> dict[str, Any]:
    """The first search of a fresh process (modules and the store already loaded)."""
    client = _client(lib, root)
    client.get_experiment(exp_id)  # resolve the store: imports are not part of the figure
    t, hits = timed(lambda: _search(client, exp_id))
    return {"search_cold_s": t, "search_hits": hits}


def phase_setup_run(lib: str, root: str) -> dict[str, Any]:
    client = _client(lib, root)
    exp_id = client.create_experiment(f"concurrent-{time.time_ns()}")
    return {"run_id": client.create_run(exp_id).info.run_id}


def phase_logger(lib: str, root: str, run_id: str, worker: int, n: int, start: float) -> dict:
    client = _client(lib, root)
    while time.time() < start:
        time.sleep(0.001)
    t0 = time.perf_counter()
    for i in range(n):
        client.log_metric(run_id, "shared", float(i), timestamp=T0 + i, step=worker * n + i)
    return {"seconds": time.perf_counter() - t0}


def phase_count(lib: str, root: str, run_id: str) -> dict[str, Any]:
    client = _client(lib, root)
    history = client.get_metric_history(run_id, "shared")
    return {"points": len(history), "distinct_steps": len({p.step for p in history})}


# ---------------------------------------------------------------------------------------------
# Orchestration


def _worker_main(args: argparse.Namespace) -> None:
    phase, lib, root = args.phase, args.worker, args.root
    if phase == "main":
        result = phase_main(lib, root, args.runs, args.points)
    elif phase == "cold":
        result = phase_cold(lib, root, args.experiment)
    elif phase == "setup":
        result = phase_setup_run(lib, root)
    elif phase == "logger":
        result = phase_logger(lib, root, args.run, args.index, args.calls, args.start)
    elif phase == "count":
        result = phase_count(lib, root, args.run)
    else:  # pragma: no cover
        raise SystemExit(f"unknown phase {phase}")
    emit(result)


def _command(python: str, lib: str, phase: str, root: str, **extra: Any) -> list[str]:
    cmd = [python, os.path.abspath(__file__), "--worker", lib, "--phase", phase, "--root", root]
    for key, value in extra.items():
        cmd += [f"--{key}", str(value)]
    return cmd


def _run(python: str, lib: str, phase: str, root: str, **extra: Any) -> dict[str, Any]:
    return run_worker(
        _command(python, lib, phase, root, **extra),
        f"{lib} {phase}",
        cwd=os.path.dirname(root),
        env=_ENV,
    )


def _concurrent(python: str, lib: str, root: str, calls: int, procs: int = 4) -> dict[str, Any]:
    run_id = _run(python, lib, "setup", root)["run_id"]
    start = time.time() + 3.0  # every process is up and has imported its library by then
    children = [
        subprocess.Popen(
            _command(python, lib, "logger", root, run=run_id, index=i, calls=calls, start=start),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_ENV,
        )
        for i in range(procs)
    ]
    seconds = []
    for child in children:
        out, err = child.communicate()
        seconds.append(parse_result(child.returncode, out, err, lib))
    wall = max(s["seconds"] for s in seconds)
    counted = _run(python, lib, "count", root, run=run_id)
    return {"wall_s": wall, **counted, "expected": procs * calls}


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=5000, help="log_metric calls per process")
    parser.add_argument("--mlflow-python", default=None, help="interpreter with mlflow==3.17.2")
    parser.add_argument("--worker", choices=["trackyard", "mlflow"], help=argparse.SUPPRESS)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--experiment", help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--start", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker_main(args)
        return

    mlflow_python = mlflow_interpreter(args.mlflow_python)
    pythons = {"trackyard": sys.executable, "mlflow": mlflow_python}
    print(f"runs={args.runs} points={args.points} log_metric calls=4x{args.calls}")
    print(f"trackyard: {sys.executable}\nmlflow:    {mlflow_python or '(not available)'}\n")

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="trackyard-file-bench-") as tmp:
        for lib, python in pythons.items():
            if python is None:
                continue
            root = os.path.join(tmp, lib, "mlruns")
            os.makedirs(os.path.dirname(root))
            print(f"running {lib} ...", flush=True)
            res = _run(python, lib, "main", root, runs=args.runs, points=args.points)
            colds = [
                _run(python, lib, "cold", root, experiment=res["experiment_id"])["search_cold_s"]
                for _ in range(3)
            ]
            res["search_cold_s"] = statistics.median(colds)
            res["concurrent"] = _concurrent(python, lib, root, args.calls)
            results[lib] = res
        if "mlflow" in results:
            mlflow_root = os.path.join(tmp, "mlflow", "mlruns")
            exp_id = results["mlflow"]["experiment_id"]
            first = _run(sys.executable, "trackyard", "cold", mlflow_root, experiment=exp_id)
            again = _run(sys.executable, "trackyard", "cold", mlflow_root, experiment=exp_id)
            results["trackyard"]["on_mlflow_first_s"] = first["search_cold_s"]
            results["trackyard"]["on_mlflow_next_s"] = again["search_cold_s"]
            results["trackyard"]["on_mlflow_hits"] = first["search_hits"]

    ty, ml = results["trackyard"], results.get("mlflow", {})
    rows = [
        (f"create {args.runs} runs + metrics/params/tags", "create_runs_s", "-"),
        (f"search_runs filter+order, {args.runs} runs, warm", "search_warm_s", ">= 10x"),
        (f"search_runs filter+order, {args.runs} runs, cold", "search_cold_s", "-"),
        (f"log_batch {args.points} points (x1000)", "log_batch_s", ">= 5x"),
        (f"get_metric_history {args.points} points", "history_s", "-"),
    ]
    header = f"{'scenario':48} {'trackyard':>12} {'mlflow':>12} {'speed-up':>9}  target"
    print()
    print(header)
    print("-" * len(header))
    for name, key, target in rows:
        t, m = ty.get(key), ml.get(key)
        ratio = f"{m / t:8.1f}x" if m and t else "        -"
        print(f"{name:48} {_fmt(t):>12} {_fmt(m):>12} {ratio}  {target}")
    for lib, res in results.items():
        c = res["concurrent"]
        ok = "all present" if c["distinct_steps"] == c["expected"] else "POINTS MISSING"
        print(
            f"4 processes x {args.calls} log_metric, {lib:9}: {_fmt(c['wall_s'])} wall, "
            f"{c['points']} points, {c['distinct_steps']}/{c['expected']} steps: {ok}"
        )
    print(f"search hits: trackyard {ty['search_hits']}, mlflow {ml.get('search_hits', '-')}")
    if "on_mlflow_first_s" in ty:
        print(
            f"trackyard searching the folder MLflow wrote: first {_fmt(ty['on_mlflow_first_s'])} "
            f"(builds summaries), next process {_fmt(ty['on_mlflow_next_s'])}, "
            f"hits {ty['on_mlflow_hits']}"
        )


if __name__ == "__main__":
    main()
