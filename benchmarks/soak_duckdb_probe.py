"""Probe where the DuckDB store's memory grows: the soak's operations in a tight loop.

Run by hand (diagnosis for ``benchmarks/soak.py``; figures in ``docs/reliability.md``)::

    TRACKYARD_DUCKDB_FSYNC=none python benchmarks/soak_duckdb_probe.py base 2500
    python benchmarks/soak_duckdb_probe.py nometrics 2500     # log_batch without metrics
    python benchmarks/soak_duckdb_probe.py newcursor 2500     # a fresh cursor every 100 ops
    python benchmarks/soak_duckdb_probe.py checkpoint 2500    # CHECKPOINT every 1,000 ops
    python benchmarks/soak_duckdb_probe.py base 2500 --set "checkpoint_threshold='1GB'"

It runs the soak's mix (a ``log_batch`` of 10 metrics and a tag, a param every 50, a new run
every 500, a search every 100) as fast as it can, prints the anonymous resident memory, the
write-ahead log and ``duckdb_memory()`` after each tenth, then closes the store and prints the
anonymous memory again, before and after glibc's ``malloc_trim(0)``: what closing gives back
was held by the DuckDB instance; what only the trim gives back was free heap kept by malloc.
``--reopen`` then opens the same file in this process again, logs a few batches and prints
what a fresh instance holds for the same data.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from soak import memory_breakdown, open_client

VARIANTS = ("base", "nometrics", "newcursor", "checkpoint")


def anon() -> float:
    return memory_breakdown().get("Anonymous", 0.0)


def close_all(client: Any) -> tuple[float, float]:
    """Close the store; the anonymous MiB after closing and after ``malloc_trim(0)``."""
    from trackyard.backends import clear_store_cache

    client._store.close()
    clear_store_cache()
    gc.collect()
    closed = anon()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return closed, anon()


def one_op(client: Any, exp: str, run_id: str, n: int, metrics: bool) -> str:
    from trackyard.entities import Metric, Param, RunTag

    if n % 500 == 499:
        return str(client.create_run(exp).info.run_id)
    if n % 100 == 99:
        client.search_runs([exp], "metrics.m0 > 0.5", max_results=50)
        return run_id
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(f"m{k}", (n % 97) / 97, now, n) for k in range(10)] if metrics else [],
        params=[Param(f"p{n}", str(n))] if n % 50 == 0 else [],
        tags=[RunTag("last", str(n))],
    )
    return run_id


def probe(variant: str, ops: int, settings: list[str], reopen: bool) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="trackyard-probe-"))
    try:
        client = open_client("duckdb", tmp)
        db = client._store._db
        for setting in settings:
            db.cursor().execute(f"SET GLOBAL {setting}")
        exp = client.create_experiment("probe")
        run_id = client.create_run(exp).info.run_id
        start, tenth = time.monotonic(), max(ops // 10, 1)
        for n in range(ops):
            run_id = one_op(client, exp, run_id, n, variant != "nometrics")
            if variant == "newcursor" and n % 100 == 0:
                db._cursors.pop(threading.get_ident()).close()
            if variant == "checkpoint" and n % 1000 == 999:
                db.cursor().execute("CHECKPOINT")
            if n % tenth == tenth - 1:
                wal = tmp / "soak.duckdb.wal"
                wal_mib = wal.stat().st_size / 2**20 if wal.exists() else 0.0
                owned = db.cursor().execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()")
                print(
                    f"{variant} ops={n + 1:6d} {time.monotonic() - start:5.0f}s "
                    f"anon={anon():6.1f} MiB  WAL={wal_mib:6.1f}"
                    f" MiB  duckdb_memory={owned.fetchone()[0] / 2**20:5.1f} MiB",
                    flush=True,
                )
        held = anon()
        closed, trimmed = close_all(client)
        print(f"open {held:.1f} MiB -> closed {closed:.1f} -> malloc_trim {trimmed:.1f}")
        if reopen:
            client = open_client("duckdb", tmp)
            exp = client.get_experiment_by_name("probe").experiment_id
            run_id = client.search_runs([exp], max_results=1)[0].info.run_id
            for n in range(20):
                one_op(client, exp, run_id, n, True)
            held = anon()
            closed, trimmed = close_all(client)
            print(f"reopened, same data: {held:.1f} MiB -> closed and trimmed {trimmed:.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("ops", type=int, nargs="?", default=2500)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--reopen", action="store_true")
    args = parser.parse_args(argv)
    probe(args.variant, args.ops, args.set, args.reopen)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
