"""Many writers at once: processes x threads on every store whose data outlives a process.

What each test promises (docs/reliability.md): every acknowledged write is present exactly
once, the latest metric values are right, no error reaches a caller, and nothing deadlocks
(every worker finishes within its time limit). Sizes come from
``TRACKYARD_RELIABILITY_PROCESSES`` / ``_THREADS`` / ``_BATCHES``.

DuckDB lets one process open a database file, by design (docs/duckdb.md): on it the same
tests run one writer process with as many threads as the other backends have writers in
all, and a test of its own checks that a second process gets the documented clear error and
that nothing is lost.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.reliability._backends import (
    BATCHES,
    PROCESSES,
    THREADS,
    Backend,
    make_backend,
)
from trackyard.backends import clear_store_cache
from trackyard.entities import Metric, ViewType
from trackyard.errors import ErrorCode

WORKER = str(Path(__file__).with_name("_worker.py"))
TIMEOUT = 600.0  # seconds for one group of workers: reaching it means a deadlock


def client_for(backend: Backend) -> Any:
    from trackyard.backends import get_registry_store, get_tracking_store
    from trackyard.testing import make_client

    return make_client(
        get_tracking_store(backend.uri, backend.artifact_root), get_registry_store(backend.uri)
    )


def group_shape(backend: Backend) -> tuple[int, int]:
    """(processes, threads per process) of a group of writers on ``backend``.

    A backend that serves one process at a time (DuckDB) gets one process with as many
    threads as the others have writers in all.
    """
    if backend.multi_process:
        return PROCESSES, THREADS
    return 1, PROCESSES * THREADS


def run_group(
    backend: Backend,
    job: dict[str, Any],
    tmp_path: Path,
    *,
    processes: int | None = None,
    exit_code: int = 0,
) -> list[list[dict[str, Any]]]:
    """Start a group of workers on ``job``, release them at once, return each one's lines.

    The group has :func:`group_shape`'s size unless ``processes`` is given; each worker must
    end with ``exit_code``. This process's cached stores are closed first, so that it holds
    no DuckDB file; a test that keeps its own store open holds it on purpose.
    """
    shape_processes, threads = group_shape(backend)
    clear_store_cache()
    go = tmp_path / f"go-{time.monotonic_ns()}"
    procs = []
    for worker in range(shape_processes if processes is None else processes):
        payload = {
            "threads": threads,
            **job,
            "uri": backend.uri,
            "artifact_root": backend.artifact_root,
            "worker": worker,
            "go": str(go),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, WORKER, json.dumps(payload)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=str(Path(__file__).parents[2]),
            )
        )
    time.sleep(0.3)
    go.write_text("go")
    outputs, problems = [], []
    for n, proc in enumerate(procs):
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            problems.append(
                f"worker {n} still running after {TIMEOUT} s (deadlock?): {err[-1500:]}"
            )
            continue
        if proc.returncode != exit_code:
            tail = out[-1500:] + err[-3000:]
            problems.append(f"worker {n} ended with exit {proc.returncode}: {tail}")
        lines = [json.loads(line) for line in out.splitlines() if line.strip()]
        outputs.append(lines)
    assert not problems, "\n".join(problems)
    return outputs


def test_processes_and_threads_log_into_shared_and_own_runs(
    persistent_backend: Backend, tmp_path: Path
) -> None:
    client = client_for(persistent_backend)
    exp_id = client.create_experiment("concurrency")
    shared = client.create_run(exp_id, run_name="shared").info.run_id
    job = {"job": "log", "experiment_id": exp_id, "shared_run": shared, "batches": BATCHES}
    outputs = run_group(persistent_backend, job, tmp_path)

    processes, threads = group_shape(persistent_backend)
    lines = [line for out in outputs for line in out]
    own = {line["writer"]: line["own"] for line in lines if "own" in line}
    writers = {f"p{p}t{t}" for p in range(processes) for t in range(threads)}
    assert set(own) == writers
    acked = Counter(line["writer"] for line in lines if "batch" in line)
    assert acked == dict.fromkeys(writers, BATCHES)

    client = client_for(persistent_backend)
    shared_run = client.get_run(shared)
    for writer in writers:
        history = client.get_metric_history(shared, writer)
        assert sorted(m.step for m in history) == list(range(BATCHES)), writer  # once each
        assert shared_run.data.metrics[writer] == float(BATCHES - 1)  # the latest step wins
        assert shared_run.data.tags[writer] == str(BATCHES - 1)
        for b in range(BATCHES):
            assert shared_run.data.params[f"{writer}.{b}"] == str(b)
        run = client.get_run(own[writer])
        assert run.info.run_name == writer
        assert run.data.metrics == {writer: float(BATCHES - 1), "single": float(BATCHES - 1)}
        assert len(client.get_metric_history(own[writer], "single")) == BATCHES
        assert len(run.data.params) == BATCHES
    runs = client.search_runs([exp_id], max_results=1000)
    assert sorted(r.info.run_id for r in runs) == sorted([shared, *own.values()])


def test_one_experiment_name_created_at_once(persistent_backend: Backend, tmp_path: Path) -> None:
    outputs = run_group(persistent_backend, {"job": "same_experiment", "name": "race"}, tmp_path)
    processes, threads = group_shape(persistent_backend)
    lines = [line for out in outputs for line in out if "done" not in line]
    assert len(lines) == processes * threads
    raw = [line["raw"] for line in lines if "raw" in line]
    assert not raw, raw
    created = [line["created"] for line in lines if "created" in line]
    errors = [line["error"] for line in lines if "error" in line]
    assert len(created) == 1, lines
    assert errors == [ErrorCode.RESOURCE_ALREADY_EXISTS] * (len(lines) - 1)
    client = client_for(persistent_backend)
    named = [
        e
        for e in client.search_experiments(view_type=ViewType.ALL, max_results=1000)
        if e.name == "race"
    ]
    assert [e.experiment_id for e in named] == created


def test_versions_of_one_model_created_at_once(persistent_backend: Backend, tmp_path: Path) -> None:
    client = client_for(persistent_backend)
    client.create_registered_model("raced")
    versions = 4
    outputs = run_group(
        persistent_backend, {"job": "versions", "model": "raced", "versions": versions}, tmp_path
    )
    processes, threads = group_shape(persistent_backend)
    numbers = sorted(int(line["version"]) for out in outputs for line in out if "version" in line)
    total = processes * threads * versions
    assert numbers == list(range(1, total + 1))  # distinct, gap-free, all acknowledged
    client = client_for(persistent_backend)
    stored = client.search_model_versions("name = 'raced'", max_results=10_000)
    assert sorted(int(v.version) for v in stored) == numbers
    sources = Counter(v.source for v in stored)
    assert len(sources) == total and set(sources.values()) == {1}


def test_a_second_process_is_refused_a_duckdb_file_and_nothing_is_lost(tmp_path: Path) -> None:
    """While one process has a DuckDB file open, writer processes get RESOURCE_CONFLICT
    naming it, write nothing, and leave the holder able to go on; once it lets go, a writer
    process opens the file and finds everything the holder wrote."""
    import os

    from trackyard.testing import make_client
    from trackyard.testing._state import describe_difference, store_state
    from trackyard_duckdb.registry import DuckDBRegistryStore
    from trackyard_duckdb.tracking import DuckDBTrackingStore

    backend = make_backend("duckdb", tmp_path)
    # stores of their own (not the process's cache, which run_group closes): this process
    # holds the file while the workers start
    tracking = DuckDBTrackingStore(store_uri=backend.uri, artifact_uri=backend.artifact_root)
    registry = DuckDBRegistryStore(store_uri=backend.uri, tracking_uri=backend.uri)
    try:
        holder = make_client(tracking, registry)
        exp_id = holder.create_experiment("held")
        run_id = holder.create_run(exp_id, run_name="holder").info.run_id
        holder.log_batch(run_id, metrics=[Metric("m", float(i), 1, i) for i in range(5)])
        holder.create_registered_model("held")
        before = store_state(holder, registry=True)
        job = {"job": "log", "experiment_id": exp_id, "shared_run": run_id, "batches": 2}
        outputs = run_group(backend, job, tmp_path, processes=PROCESSES, exit_code=3)
        for out in outputs:
            assert len(out) == 1 and "open_error" in out[0], out
            assert out[0]["open_error"] == ErrorCode.RESOURCE_CONFLICT
            message = out[0]["message"]
            assert f"in use by another process (PID {os.getpid()}" in message, message
            assert "nothing was read or written" in message and "sqlite:///" in message
        after = store_state(holder, registry=True)
        assert after == before, describe_difference(before, after)
        holder.log_metric(run_id, "m", 5.0, 1, 5)  # the holder goes on
    finally:
        registry.close()
        tracking.close()

    outputs = run_group(backend, {**job, "threads": 2}, tmp_path, processes=1)
    assert [line for line in outputs[0] if "batch" in line], outputs
    client = client_for(backend)
    history = client.get_metric_history(run_id, "m")
    assert sorted((m.step, m.value) for m in history) == [(i, float(i)) for i in range(6)]
    assert [m.name for m in client.search_registered_models()] == ["held"]


@pytest.mark.parametrize("threads", [8])
def test_threads_share_one_memory_store(tmp_path: Path, threads: int) -> None:
    """The in-process store (contrib memory) under the same load from threads."""
    import threading

    from trackyard.testing import make_client

    memory = pytest.importorskip(
        "trackyard_memory.tracking", reason="contrib/trackyard-memory is not installed"
    )
    client = make_client(memory.MemoryTrackingStore("memory://", str(tmp_path / "artifacts")))
    exp_id = client.create_experiment("threads")
    run_id = client.create_run(exp_id).info.run_id
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for b in range(BATCHES * 4):
                client.log_batch(run_id, metrics=[Metric(f"t{n}", float(b), 1, b)])
                client.set_tag(run_id, f"t{n}", str(b))
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors
    run = client.get_run(run_id)
    for n in range(threads):
        assert len(client.get_metric_history(run_id, f"t{n}")) == BATCHES * 4
        assert run.data.metrics[f"t{n}"] == float(BATCHES * 4 - 1)
        assert run.data.tags[f"t{n}"] == str(BATCHES * 4 - 1)
