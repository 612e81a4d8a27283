"""Soak: log at a steady rate to each backend and report memory growth and latency drift.

Run by hand, never in the test suite::

    python benchmarks/soak.py                          # an hour per backend (the target)
    python benchmarks/soak.py --seconds 120 --rate 50 sqlite file duckdb
    python benchmarks/soak.py --seconds 600 postgresql mysql   # needs TRACKYARD_TEST_*_URI

Each backend gets a fresh store in a temporary folder (PostgreSQL and MariaDB: the database in
``TRACKYARD_TEST_POSTGRES_URI`` / ``TRACKYARD_TEST_MYSQL_URI``, whose rows it leaves behind).
One process logs ``--rate`` operations a second (a ``log_batch`` of 10 metrics, a tag, now and
then a param, a new run every 500 operations, a search every 100) for ``--seconds``, with
nothing but the store on this machine. It prints, per tenth of the run, the resident memory
and the median and 99th-percentile latency of an operation, then the growth of memory from the
first tenth (after warm-up) to the last, and the latency drift. Besides the resident memory at
the end of each tenth, it prints the median and the peak of the samples it takes every 100
operations during the tenth (a store that frees memory now and then, such as DuckDB's
reopens, makes a sawtooth that one sample a tenth reads at a random point). The target is
memory growth under 5% over an hour.

``--trace`` also says where the memory goes (slower: Python's allocations are traced): the
Python allocations that grew most between the middle and the end of the run (``tracemalloc``),
the object types whose count grew (``gc``), and for DuckDB its own buffer memory by tag
(``duckdb_memory()``) and the database size.

Every tenth also prints the anonymous (heap) part of resident memory and, for DuckDB, the
size of its write-ahead log. To compare settings and diagnose, ``--duckdb-set NAME=VALUE``
applies a DuckDB setting to the soak's database (repeatable), and ``--malloc-trim`` calls
glibc's ``malloc_trim(0)`` after each tenth and prints what it gave back (free heap memory
that the C allocator kept; it changes the RSS of later tenths, so read growth from a run
without it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BACKENDS = ("sqlite", "file", "memory", "duckdb", "postgresql", "mysql")


def rss_mib() -> float:
    """Resident memory of this process in MiB (Linux ``/proc``; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover - not Linux
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_breakdown() -> dict[str, float]:
    """Anonymous (heap) and file-backed resident memory in MiB, from ``/proc/self/smaps_rollup``."""
    out: dict[str, float] = {}
    try:
        with open("/proc/self/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Anonymous", "Private_Dirty"):
                    out[key] = int(rest.split()[0]) / 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return out


def malloc_trim() -> float:
    """Diagnosis only: hand the C heap's free memory back to the system, return MiB released."""
    import ctypes

    before = rss_mib()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return before - rss_mib()


def open_client(name: str, tmp: Path) -> Any:
    from trackyard.backends import get_tracking_store
    from trackyard.testing import make_client

    artifacts = str(tmp / "artifacts")
    if name == "sqlite":
        return make_client(get_tracking_store(f"sqlite:///{tmp / 'soak.db'}", artifacts))
    if name == "file":
        return make_client(get_tracking_store(str(tmp / "mlruns"), artifacts))
    if name == "duckdb":
        return make_client(get_tracking_store(f"duckdb:///{tmp / 'soak.duckdb'}", artifacts))
    if name == "memory":
        from trackyard_memory.tracking import MemoryTrackingStore

        return make_client(MemoryTrackingStore("memory://", artifacts))
    variable = {"postgresql": "TRACKYARD_TEST_POSTGRES_URI", "mysql": "TRACKYARD_TEST_MYSQL_URI"}
    uri = os.environ.get(variable[name])
    if not uri:
        raise SystemExit(f"{name}: set {variable[name]} (scripts/services.sh up)")
    return make_client(get_tracking_store(uri, artifacts))


def _type_counts() -> dict[str, int]:
    import gc
    from collections import Counter

    gc.collect()
    return dict(Counter(type(o).__qualname__ for o in gc.get_objects()))


def _duckdb_memory(client: Any) -> dict[str, Any]:
    """DuckDB's buffer memory by tag and its database size, through the store's connection."""
    db = getattr(client._store, "_db", None)
    if db is None or not hasattr(db, "cursor"):
        return {}
    conn = db.cursor()
    out: dict[str, Any] = {}
    try:
        rows = conn.execute(
            "SELECT tag, memory_usage_bytes FROM duckdb_memory() WHERE memory_usage_bytes > 0"
        ).fetchall()
        out["buffers MiB"] = {str(t): round(b / 2**20, 1) for t, b in rows}
        size = conn.execute(
            "SELECT database_size, memory_usage, memory_limit FROM pragma_database_size()"
        ).fetchall()
        out["database"] = [list(r) for r in size]
    except Exception as exc:  # diagnostics only
        out["error"] = str(exc)
    if "pyarrow" in sys.modules:  # the store hands metric batches to DuckDB as Arrow tables
        pool = sys.modules["pyarrow"].default_memory_pool()
        out["arrow pool"] = f"{pool.backend_name}: {pool.bytes_allocated() / 2**20:.1f} MiB"
    return out


def _snapshot(client: Any, name: str) -> dict[str, Any]:
    import tracemalloc

    found: dict[str, Any] = {"trace": tracemalloc.take_snapshot(), "types": _type_counts()}
    if name == "duckdb":
        found["duckdb"] = _duckdb_memory(client)
    return found


def report_trace(middle: dict[str, Any], end: dict[str, Any]) -> None:
    """What grew between the middle and the end of a traced soak."""
    import tracemalloc

    keep = tracemalloc.Filter(False, tracemalloc.__file__)
    stats = (
        end["trace"]
        .filter_traces([keep])
        .compare_to(middle["trace"].filter_traces([keep]), "lineno")
    )
    total = sum(s.size_diff for s in stats)
    print(f"  traced Python memory, middle -> end: {total / 2**10:+.1f} KiB; largest growth:")
    for s in stats[:12]:
        frame = s.traceback[0]
        print(
            f"    {s.size_diff / 2**10:+9.1f} KiB {s.count_diff:+7d} blocks  "
            f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno}"
        )
    growth = sorted(
        ((n - middle["types"].get(t, 0), t) for t, n in end["types"].items()), reverse=True
    )
    print("  object counts that grew: " + ", ".join(f"{t} {d:+d}" for d, t in growth[:8] if d))
    if "duckdb" in end:
        print(f"  duckdb middle: {middle['duckdb']}")
        print(f"  duckdb end:    {end['duckdb']}")


def soak(
    name: str,
    seconds: float,
    rate: float,
    trace: bool = False,
    duckdb_settings: list[str] | None = None,
    trim: bool = False,
) -> dict[str, Any]:
    from trackyard.entities import Metric, Param, RunTag

    if trace:
        import tracemalloc

        tracemalloc.start(5)
    snapshots: list[dict[str, Any]] = []

    tmp = Path(tempfile.mkdtemp(prefix=f"trackyard-soak-{name}-"))
    try:
        client = open_client(name, tmp)
        for setting in duckdb_settings if name == "duckdb" and duckdb_settings else []:
            key, _, value = setting.partition("=")
            client._store._db.cursor().execute(f"SET GLOBAL {key} = '{value}'")
        exp = client.create_experiment(f"soak-{os.getpid()}-{time.time_ns()}")
        run_id = client.create_run(exp).info.run_id
        windows: list[dict[str, Any]] = []
        window_len = seconds / 10
        latencies: list[float] = []
        samples: list[float] = []  # RSS every 100 operations: a tenth's median and peak
        start = time.monotonic()
        next_window = start + window_len
        n = 0
        while True:
            now = time.monotonic()
            if now >= next_window:
                samples.append(rss_mib())
                windows.append(
                    {
                        "rss": samples[-1],
                        "rss_median": statistics.median(samples),
                        "rss_max": max(samples),
                        "p50": statistics.median(latencies) if latencies else 0.0,
                        "p99": sorted(latencies)[int(len(latencies) * 0.99)] if latencies else 0.0,
                        "ops": len(latencies),
                        **memory_breakdown(),
                    }
                )
                if name == "duckdb":
                    wal = tmp / "soak.duckdb.wal"
                    windows[-1]["wal"] = wal.stat().st_size / 2**20 if wal.exists() else 0.0
                if trim:
                    windows[-1]["trimmed"] = malloc_trim()
                latencies = []
                samples = []
                next_window += window_len
                if trace and len(windows) in (5, 10):
                    snapshots.append(_snapshot(client, name))
                    next_window = time.monotonic() + window_len
                if name == "duckdb" and len(windows) in (2, 10):
                    windows[-1]["duckdb"] = _duckdb_memory(client)
                if len(windows) == 10:
                    break
            due = start + n / rate
            if due > now:
                time.sleep(min(due - now, next_window - now))
                continue
            t = time.perf_counter()
            if n % 500 == 499:
                run_id = client.create_run(exp).info.run_id
            elif n % 100 == 99:
                client.search_runs([exp], "metrics.m0 > 0.5", max_results=50)
            else:
                client.log_batch(
                    run_id,
                    metrics=[
                        Metric(f"m{k}", (n % 97) / 97, int(time.time() * 1000), n)
                        for k in range(10)
                    ],
                    params=[Param(f"p{n}", str(n))] if n % 50 == 0 else [],
                    tags=[RunTag("last", str(n))],
                )
            latencies.append(time.perf_counter() - t)
            n += 1
            if n % 100 == 0:
                samples.append(rss_mib())
        close = getattr(client._store, "close", None)
        if close is not None:
            close()
        return {"backend": name, "ops": n, "windows": windows, "snapshots": snapshots}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(result: dict[str, Any]) -> None:
    windows = result["windows"]
    print(f"\n{result['backend']}: {result['ops']} operations")
    print(
        "  tenth    RSS MiB  median    peak   ops   p50 ms   p99 ms   anon MiB   WAL MiB"
        "   trimmed MiB"
    )
    for i, w in enumerate(windows, 1):
        p50, p99 = w["p50"] * 1e3, w["p99"] * 1e3
        print(
            f"  {i:5d}  {w['rss']:8.1f}  {w['rss_median']:6.1f}  {w['rss_max']:6.1f}"
            f"  {w['ops']:5d}  {p50:7.2f}  {p99:7.2f}"
            f"  {w.get('Anonymous', 0.0):9.1f}  {w.get('wal', 0.0):8.1f}"
            f"  {w['trimmed'] if 'trimmed' in w else float('nan'):12.1f}"
        )
    first, last = windows[0], windows[-1]
    growth = (last["rss"] - first["rss"]) / first["rss"] * 100
    drift = (last["p50"] - first["p50"]) / first["p50"] * 100 if first["p50"] else 0.0
    after = (last["rss"] - windows[1]["rss"]) / windows[1]["rss"] * 100
    print(
        f"  memory growth (tenth 1 -> 10): {growth:+.1f}%  (tenth 2 -> 10): {after:+.1f}%   "
        f"median latency drift: {drift:+.1f}%   (target: memory growth under 5%)"
    )

    def change(key: str, a: int) -> float:
        return (last[key] - windows[a][key]) / windows[a][key] * 100

    print(
        f"  by each tenth's median RSS: tenth 1 -> 10 {change('rss_median', 0):+.1f}%, "
        f"tenth 2 -> 10 {change('rss_median', 1):+.1f}%; by its peak: "
        f"{change('rss_max', 0):+.1f}%, {change('rss_max', 1):+.1f}%"
    )
    for i, w in enumerate(windows, 1):
        if "duckdb" in w:
            print(f"  DuckDB after tenth {i}: {w['duckdb']}")
    if result.get("snapshots"):
        report_trace(*result["snapshots"])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("backends", nargs="*", default=["sqlite", "file", "memory"])
    parser.add_argument("--seconds", type=float, default=3600.0, help="per backend (default 3600)")
    parser.add_argument("--rate", type=float, default=20.0, help="operations a second (default 20)")
    parser.add_argument(
        "--trace", action="store_true", help="say where memory grows (tracemalloc, gc, DuckDB)"
    )
    parser.add_argument(
        "--duckdb-set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a DuckDB setting for the soak (SET GLOBAL; repeatable), to compare settings",
    )
    parser.add_argument(
        "--malloc-trim",
        action="store_true",
        help="diagnosis: call glibc malloc_trim(0) after each tenth and print what it released",
    )
    args = parser.parse_args(argv)
    for name in args.backends:
        if name not in BACKENDS:
            parser.error(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
        report(soak(name, args.seconds, args.rate, args.trace, args.duckdb_set, args.malloc_trim))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
