"""Trace search benchmark: trackyard against MLflow 3.x on SQLite, in one run, on one machine.

Both libraries run the *same* search code through their ``MlflowClient``, each in its own
interpreter, on the same data:

    python benchmarks/bench_traces.py --mlflow-python .venv-mlflow/bin/python

Scenario: 10,000 traces in one experiment, each a root span and two children (a RETRIEVER
and an LLM span), tagged ``team`` (seven values) and ``kind``, written by trackyard through
its client; MLflow searches a copy of that database (MLflow opens it as its own, since the
rows are MLflow's). Then ``search_traces`` by a tag (``tags.team = 't3'``, first page of the
default 100, spans included: the issue's target), the same without spans, by name, by span
type, the default listing, and ``get_trace``. Reads report the best of several repetitions
(15 for the target) after a warm-up call, so passing load on a shared machine counts less.

Run by hand; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Any

from _harness import emit, fmt_seconds, mlflow_interpreter, run_worker, timed

T0_NS = 1_700_000_000_000 * 1_000_000


def _best(fn: Any, repeat: int) -> tuple[float, Any]:
    fn()
    times = []
    result = None
    for _ in range(repeat):
        t, result = timed(fn)
        times.append(t)
    return min(times), result


def run_scenarios(lib: str, db_path: str, n_traces: int, populated: bool) -> dict[str, Any]:
    """Fill (trackyard) or open (a copy, MLflow) the database, then time the searches."""
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    if lib == "trackyard":
        from trackyard import MlflowClient
    else:
        from mlflow import MlflowClient

    os.environ["TRACKYARD_ARTIFACT_ROOT"] = os.path.join(os.path.dirname(db_path), "artifacts")
    client = MlflowClient(tracking_uri=f"sqlite:///{db_path}")
    out: dict[str, Any] = {"populate_s": None}
    if populated:
        exp = client.get_experiment_by_name("bench").experiment_id
    else:
        exp = client.create_experiment("bench")

        def populate() -> None:
            for i in range(n_traces):
                start = T0_NS + i * 1_000_000_000
                root = client.start_trace(
                    ["chat", "search", "summarize"][i % 3],
                    span_type="CHAIN",
                    inputs={"question": f"q{i}"},
                    tags={"team": f"t{i % 7}", "kind": "bench"},
                    experiment_id=exp,
                    start_time_ns=start,
                )
                for j, kind in enumerate(("RETRIEVER", "LLM")):
                    span = client.start_span(
                        kind.lower(),
                        root.trace_id,
                        root.span_id,
                        kind,
                        {"i": i},
                        None,
                        start + 1000 * (j + 1),
                    )
                    client.end_span(
                        root.trace_id, span.span_id, [j], None, "OK", start + 1000 * (j + 1) + 500
                    )
                client.end_trace(
                    root.trace_id, {"answer": f"a{i}"}, None, "OK", start + (i % 50 + 1) * 10**6
                )

        out["populate_s"], _ = timed(populate)

    def search(flt: str | None, spans: bool = True) -> Any:
        return lambda: len(
            client.search_traces(experiment_ids=[exp], filter_string=flt, include_spans=spans)
        )

    out["tag_s"], out["tag_hits"] = _best(search("tags.team = 't3'"), 15)
    out["tag_nospans_s"], _ = _best(search("tags.team = 't3'", False), 15)
    out["name_s"], out["name_hits"] = _best(search("name = 'search'"), 5)
    out["span_s"], out["span_hits"] = _best(search("span.type = 'LLM' AND tags.team = 't5'"), 5)
    out["list_s"], out["list_hits"] = _best(search(None), 5)
    ids = [t.info.trace_id for t in client.search_traces(experiment_ids=[exp], max_results=20)]

    def gets() -> int:
        for trace_id in ids:
            client.get_trace(trace_id)
        return len(ids)

    t, n = _best(gets, 3)
    out["get_s"] = t / n
    return out


def _in_subprocess(
    python: str, lib: str, args: argparse.Namespace, tmp: str, populated_from: str | None = None
) -> dict[str, Any]:
    db = os.path.join(tmp, lib, "bench.db")
    os.makedirs(os.path.dirname(db), exist_ok=True)
    cmd = [python, os.path.abspath(__file__), "--worker", lib, "--db", db]
    cmd += ["--traces", str(args.traces)]
    if populated_from:
        import shutil

        for suffix in ("", "-wal", "-shm"):  # SQLite in WAL mode may keep pages aside
            if os.path.exists(populated_from + suffix):
                shutil.copyfile(populated_from + suffix, db + suffix)
        cmd.append("--populated")
    return run_worker(cmd, f"{lib} worker", cwd=os.path.dirname(db))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=int, default=10_000)
    parser.add_argument(
        "--mlflow-python",
        default=None,
        help="interpreter with mlflow==3.17.2 (default: this one, if it has mlflow)",
    )
    parser.add_argument("--worker", choices=["trackyard", "mlflow"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--populated", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        emit(run_scenarios(args.worker, args.db, args.traces, args.populated))
        return

    mlflow_python = mlflow_interpreter(args.mlflow_python)
    print(f"traces={args.traces} (3 spans each), SQLite")
    print(f"trackyard: {sys.executable}\nmlflow:    {mlflow_python or '(not available)'}\n")
    with tempfile.TemporaryDirectory(prefix="trackyard-bench-") as tmp:
        ty = _in_subprocess(sys.executable, "trackyard", args, tmp)
        shared = os.path.join(tmp, "trackyard", "bench.db")
        ml = _in_subprocess(mlflow_python, "mlflow", args, tmp, shared) if mlflow_python else {}

    rows = [
        (f"write {args.traces} traces (trackyard client)", "populate_s", ""),
        (f"search tags.team = 't3', 1st page ({ty['tag_hits']})", "tag_s", "< 50 ms, >= 10x"),
        ("  ... include_spans=False", "tag_nospans_s", ""),
        (f"search name = 'search' ({ty['name_hits']})", "name_s", ""),
        (f"search span.type = 'LLM' AND tag ({ty['span_hits']})", "span_s", ""),
        (f"search, no filter ({ty['list_hits']})", "list_s", ""),
        ("get_trace", "get_s", ""),
    ]
    print(f"{'scenario':<48} {'trackyard':>11} {'mlflow':>11} {'speed-up':>9}  target")
    for label, key, target in rows:
        a, b = ty.get(key), ml.get(key)
        ratio = f"{b / a:.1f}x" if a and b else "-"
        print(f"{label:<48} {fmt_seconds(a, 2):>11} {fmt_seconds(b, 2):>11} {ratio:>9}  {target}")
    for key in ("tag_hits", "name_hits", "span_hits", "list_hits"):
        if ml and ml.get(key) != ty.get(key):
            print(f"warning: {key} differs: trackyard {ty.get(key)}, mlflow {ml.get(key)}")


if __name__ == "__main__":
    main()
