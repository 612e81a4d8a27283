"""Tracing benchmark: the caller's cost of ``@trace`` against MLflow 3.x's, in one run.

Both libraries run the *same* scenario code (``@<lib>.trace`` and ``<lib>.start_span`` have
the same API), each in its own interpreter:

    python benchmarks/bench_tracing.py --mlflow-python .venv-mlflow/bin/python

The scenario is a 100-span trace: a decorated root calls 9 decorated steps that each call 10
decorated leaves (1 + 9 + 90 spans, each with inputs and outputs). The same call tree
without the decorator is the baseline; the caller overhead per span is (traced - untraced)
/ 100, measured over many traces (median of rounds). The write to the store happens off the
caller's thread in both libraries; its time is reported separately (a flush after the
rounds) and is not part of the overhead. A ``start_span`` variant of the same tree is
timed too.

Store: MLflow writes to SQLite. trackyard writes to SQLite when its SQL store keeps traces
(it declares the ``traces`` capability), else to the in-memory store (``memory://``), which
is said in the output; the caller overhead does not depend on the store.

Run by hand; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from _harness import emit, mlflow_interpreter, run_worker

SPANS_PER_TRACE = 100
STEPS, LEAVES = 9, 10


def build(lib: Any) -> dict[str, Callable[[int], Any]]:
    """The call tree, decorated with ``lib.trace`` and plain, and a start_span variant."""

    def plain_leaf(i: int, text: str) -> dict[str, Any]:
        return {"i": i, "n": len(text)}

    def plain_step(i: int) -> list[Any]:
        return [plain_leaf(j, "chunk") for j in range(LEAVES)]

    def plain_root(n: int) -> int:
        return sum(len(plain_step(i)) for i in range(STEPS))

    @lib.trace(span_type="TOOL")
    def leaf(i: int, text: str) -> dict[str, Any]:
        return {"i": i, "n": len(text)}

    @lib.trace
    def step(i: int) -> list[Any]:
        return [leaf(j, "chunk") for j in range(LEAVES)]

    @lib.trace(span_type="CHAIN")
    def root(n: int) -> int:
        return sum(len(step(i)) for i in range(STEPS))

    def with_spans(n: int) -> int:
        total = 0
        with lib.start_span("root", span_type="CHAIN") as r:
            r.set_inputs({"n": n})
            for i in range(STEPS):
                with lib.start_span("step") as s:
                    s.set_inputs({"i": i})
                    for j in range(LEAVES):
                        with lib.start_span("leaf", span_type="TOOL") as leaf_span:
                            leaf_span.set_inputs({"i": j, "text": "chunk"})
                            leaf_span.set_outputs({"i": j, "n": 5})
                    s.set_outputs(LEAVES)
                    total += LEAVES
            r.set_outputs(total)
        return total

    return {"plain": plain_root, "decorated": root, "start_span": with_spans}


def _round(fn: Callable[[int], Any], traces: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the calling thread) of ``traces`` calls of ``fn``."""
    wall, cpu = time.perf_counter(), time.thread_time()
    for k in range(traces):
        fn(k)
    return time.perf_counter() - wall, time.thread_time() - cpu


class _Counter(logging.Handler):
    """Counts the warnings a library logs (dropped or failed trace exports)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.first is None:
            self.first = record.getMessage()[:160]


def run_scenarios(lib_name: str, db_path: str, rounds: int, traces: int) -> dict[str, Any]:
    """Time the call tree plain, decorated and with start_span; then the flush."""
    out: dict[str, Any] = {}
    counter = _Counter()
    if lib_name == "trackyard":
        import trackyard as lib
        from trackyard.backends import get_tracking_store

        uri = f"sqlite:///{db_path}"
        if not get_tracking_store(uri).capabilities.traces:
            uri = "memory://bench-tracing"
        lib.set_tracking_uri(uri)
        client = lib.MlflowClient(uri)
        flush: Callable[[], None] = lib.flush_trace_async_logging
    else:
        import mlflow as lib  # type: ignore[import-not-found,no-redef]

        uri = f"sqlite:///{db_path}"
        lib.set_tracking_uri(uri)
        client = lib.MlflowClient(uri)
        flush = lib.flush_trace_async_logging
        client.search_experiments()  # MLflow creates its tables here, outside every figure
    out["store"] = uri.split(":", 1)[0]
    # After the import: MLflow configures its loggers when imported, dropping handlers.
    logging.getLogger(lib_name).addHandler(counter)
    fns = build(lib)
    for fn in fns.values():  # warm-up: imports, caches, the export thread
        _round(fn, 5)
    flush()

    spans = traces * SPANS_PER_TRACE
    wall: dict[str, list[float]] = {"decorated": [], "start_span": []}
    cpu: dict[str, list[float]] = {"decorated": [], "start_span": []}
    caller_s = 0.0
    for _ in range(rounds):
        base_wall, base_cpu = _round(fns["plain"], traces)
        for name in wall:
            w, c = _round(fns[name], traces)
            caller_s += w
            wall[name].append((w - base_wall) / spans)
            cpu[name].append((c - base_cpu) / spans)
    out["plain_per_trace_us"] = base_wall / traces * 1e6
    for name in wall:
        out[f"{name}_wall_us"] = statistics.median(wall[name]) * 1e6
        out[f"{name}_wall_us_min"] = min(wall[name]) * 1e6
        out[f"{name}_cpu_us"] = statistics.median(cpu[name]) * 1e6
    t = time.perf_counter()
    flush()
    out["flush_s"] = time.perf_counter() - t
    out["caller_s"] = caller_s
    out["traces_made"] = 2 * (rounds * traces + 5)  # the experiment holds only these
    found, token = 0, None
    while True:
        page = client.search_traces(
            experiment_ids=["0"],
            max_results=500,
            page_token=token,
            include_spans=False,
        )
        found += len(page)
        token = page.token
        if not token:
            break
    out["traces_found"] = found
    out["warnings"] = counter.count
    out["first_warning"] = counter.first
    return out


def _worker(args: argparse.Namespace) -> None:
    emit(run_scenarios(args.worker, args.db, args.rounds, args.traces))


def _in_subprocess(python: str, lib: str, args: argparse.Namespace, tmp: str) -> dict[str, Any]:
    db = os.path.join(tmp, lib, "bench.db")
    os.makedirs(os.path.dirname(db), exist_ok=True)
    cmd = [python, os.path.abspath(__file__), "--worker", lib, "--db", db]
    cmd += ["--rounds", str(args.rounds), "--traces", str(args.traces)]
    return run_worker(cmd, f"{lib} worker", cwd=os.path.dirname(db))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--traces", type=int, default=20, help="100-span traces per round")
    parser.add_argument(
        "--mlflow-python",
        default=None,
        help="interpreter with mlflow==3.17.2 (default: this one, if it has mlflow)",
    )
    parser.add_argument("--worker", choices=["trackyard", "mlflow"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return

    mlflow_python = mlflow_interpreter(args.mlflow_python)
    print(f"{args.rounds} rounds x {args.traces} traces x {SPANS_PER_TRACE} spans per variant")
    print(f"trackyard: {sys.executable}\nmlflow:    {mlflow_python or '(not available)'}\n")
    with tempfile.TemporaryDirectory(prefix="trackyard-bench-tracing-") as tmp:
        ty = _in_subprocess(sys.executable, "trackyard", args, tmp)
        ml = _in_subprocess(mlflow_python, "mlflow", args, tmp) if mlflow_python else {}

    print(f"stores: trackyard {ty['store']}, mlflow {ml.get('store', '-')}")
    print(f"untraced call tree: {ty['plain_per_trace_us']:.1f} µs per 100 calls")
    print("overhead per span = (traced - untraced) / 100, median of rounds; CPU = the calling")
    print("thread's CPU time (export threads excluded), wall = elapsed (includes waiting for")
    print("the CPU on a loaded machine)\n")
    header = f"{'caller overhead per span':34} {'trackyard':>10} {'mlflow':>10} "
    header += f"{'speed-up':>9}  target"
    print(header)
    print("-" * len(header))
    for name, label in (("decorated", "@trace"), ("start_span", "start_span")):
        for kind in ("cpu", "wall"):
            t, m = ty[f"{name}_{kind}_us"], ml.get(f"{name}_{kind}_us")
            ratio = f"{m / t:8.1f}x" if m else "        -"
            m_text = f"{m:7.1f} µs" if m else "         -"
            target = "< 50 µs" if name == "decorated" else ""
            print(f"{label + ', ' + kind:34} {t:7.1f} µs {m_text} {ratio}  {target}")
    print()
    for lib, res in (("trackyard", ty), ("mlflow", ml)):
        if not res:
            continue
        print(
            f"{lib}: best round {res['decorated_wall_us_min']:.1f} µs/span wall (@trace); "
            f"caller time {res['caller_s']:.2f} s; flush after the rounds "
            f"{res['flush_s'] * 1000:.0f} ms; traces stored "
            f"{res['traces_found']} of {res['traces_made']}; {res['warnings']} warnings logged"
        )
        if res["first_warning"]:
            print(f"  first warning: {res['first_warning']}")


if __name__ == "__main__":
    main()
