"""Garbage collection benchmark: ``trackyard gc`` against ``mlflow gc`` on the same data.

    python benchmarks/bench_gc.py [--runs 200] [--metrics 5] [--steps 100]

Scenario: a SQLite database in MLflow's layout (written by trackyard) with one experiment of
``--runs`` deleted runs, each with ``--metrics`` metric histories of ``--steps`` points, a
param, a tag and one artifact file in a local artifact root. The database and artifacts are
copied, then ``trackyard gc --backend-store-uri ...`` and MLflow's
``mlflow gc --backend-store-uri ...`` (``--mlflow-python``, default
``$TRACKYARD_TEST_MLFLOW_PYTHON``, names MLflow's interpreter) each remove everything from
their copy, as commands (interpreter start and imports included). Prints wall times and
checks that both left no run, metric row or artifact. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import mlflow_interpreter, worker_env


def _populate(db: str, artifacts: str, runs: int, metrics: int, steps: int) -> None:
    from trackyard import MlflowClient
    from trackyard.entities import Metric, Param, RunTag

    client = MlflowClient(f"sqlite:///{db}")
    exp = client.create_experiment("gc-bench", artifact_location=artifacts)
    for _ in range(runs):
        run_id = client.create_run(exp).info.run_id
        points = [
            Metric(f"m{k}", float(s), 1_700_000_000_000 + s, s)
            for k in range(metrics)
            for s in range(steps)
        ]
        client.log_batch(run_id, metrics=points, params=[Param("p", "1")], tags=[RunTag("t", "x")])
        client.log_text(run_id, "weights", "model/weights.txt")
        client.delete_run(run_id)


def _left(db: str, artifacts: str) -> tuple[int, int, int]:
    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        points = conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
    files = sum(len(f) for _, _, f in os.walk(artifacts))
    return int(runs), int(points), files


def _timed(command: list[str], cwd: str) -> float:
    t = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=worker_env())
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"{command[0]} failed:\n{proc.stderr[-4000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--metrics", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--mlflow-python", default=os.environ.get("TRACKYARD_TEST_MLFLOW_PYTHON"))
    args = parser.parse_args()
    mlflow_python = mlflow_interpreter(args.mlflow_python)
    with tempfile.TemporaryDirectory(prefix="bench-gc-") as tmp:
        base = os.path.join(tmp, "base")
        os.makedirs(base)
        _populate(
            os.path.join(base, "db.sqlite"),
            os.path.join(base, "artifacts"),
            args.runs,
            args.metrics,
            args.steps,
        )
        print(
            f"{args.runs} deleted runs x {args.metrics} metrics x {args.steps} steps "
            "(+1 artifact file each), SQLite"
        )
        tools: list[tuple[str, list[str], list[str]]] = [
            ("trackyard gc", [sys.executable, "-m", "trackyard.cli"], [])
        ]
        if mlflow_python:  # mlflow gc also wants the tracking URI
            tools.append(("mlflow gc", [mlflow_python, "-m", "mlflow"], ["--tracking-uri"]))
        else:
            print("mlflow gc: skipped (no MLflow interpreter found)")
        for name, prefix, uri_again in tools:
            work = os.path.join(tmp, name.split()[0])
            shutil.copytree(base, work)
            db, artifacts = os.path.join(work, "db.sqlite"), os.path.join(work, "artifacts")
            # the artifact URIs name the base copy: point them at this copy
            with sqlite3.connect(db) as conn:
                conn.execute(
                    "UPDATE runs SET artifact_uri = REPLACE(artifact_uri, ?, ?)", (base, work)
                )
            uri = f"sqlite:///{db}"
            extra = [uri_again[0], uri] if uri_again else []
            seconds = _timed([*prefix, "gc", "--backend-store-uri", uri, *extra], work)
            runs, points, files = _left(db, artifacts)
            print(
                f"{name:14s} {seconds:7.2f} s   left: {runs} runs, {points} metric rows, "
                f"{files} artifact files"
            )


if __name__ == "__main__":
    main()
