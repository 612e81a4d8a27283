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
first tenth (after warm-up) to the last, and the latency drift. The target is memory growth
under 5% over an hour.
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


def soak(name: str, seconds: float, rate: float) -> dict[str, Any]:
    from trackyard.entities import Metric, Param, RunTag

    tmp = Path(tempfile.mkdtemp(prefix=f"trackyard-soak-{name}-"))
    try:
        client = open_client(name, tmp)
        exp = client.create_experiment(f"soak-{os.getpid()}-{time.time_ns()}")
        run_id = client.create_run(exp).info.run_id
        windows: list[dict[str, Any]] = []
        window_len = seconds / 10
        latencies: list[float] = []
        start = time.monotonic()
        next_window = start + window_len
        n = 0
        while True:
            now = time.monotonic()
            if now >= next_window:
                windows.append(
                    {
                        "rss": rss_mib(),
                        "p50": statistics.median(latencies) if latencies else 0.0,
                        "p99": sorted(latencies)[int(len(latencies) * 0.99)] if latencies else 0.0,
                        "ops": len(latencies),
                    }
                )
                latencies = []
                next_window += window_len
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
        close = getattr(client._store, "close", None)
        if close is not None:
            close()
        return {"backend": name, "ops": n, "windows": windows}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(result: dict[str, Any]) -> None:
    windows = result["windows"]
    print(f"\n{result['backend']}: {result['ops']} operations")
    print("  tenth    RSS MiB   ops   p50 ms   p99 ms")
    for i, w in enumerate(windows, 1):
        p50, p99 = w["p50"] * 1e3, w["p99"] * 1e3
        print(f"  {i:5d}  {w['rss']:8.1f}  {w['ops']:5d}  {p50:7.2f}  {p99:7.2f}")
    first, last = windows[0], windows[-1]
    growth = (last["rss"] - first["rss"]) / first["rss"] * 100
    drift = (last["p50"] - first["p50"]) / first["p50"] * 100 if first["p50"] else 0.0
    print(
        f"  memory growth (tenth 1 -> 10): {growth:+.1f}%   "
        f"median latency drift: {drift:+.1f}%   (target: memory growth under 5%)"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("backends", nargs="*", default=["sqlite", "file", "memory"])
    parser.add_argument("--seconds", type=float, default=3600.0, help="per backend (default 3600)")
    parser.add_argument("--rate", type=float, default=20.0, help="operations a second (default 20)")
    args = parser.parse_args(argv)
    for name in args.backends:
        if name not in BACKENDS:
            parser.error(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
        report(soak(name, args.seconds, args.rate))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
