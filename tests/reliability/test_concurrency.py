"""Many writers at once: processes x threads on every store several processes can share.

What each test promises (docs/reliability.md): every acknowledged write is present exactly
once, the latest metric values are right, no error reaches a caller, and nothing deadlocks
(every worker finishes within its time limit). Sizes come from
``TRACKYARD_RELIABILITY_PROCESSES`` / ``_THREADS`` / ``_BATCHES``.
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
)
from trackyard.entities import ViewType
from trackyard.errors import ErrorCode

WORKER = str(Path(__file__).with_name("_worker.py"))
TIMEOUT = 600.0  # seconds for one group of workers: reaching it means a deadlock


def client_for(backend: Backend) -> Any:
    from trackyard.backends import get_registry_store, get_tracking_store
    from trackyard.testing import make_client

    return make_client(
        get_tracking_store(backend.uri, backend.artifact_root), get_registry_store(backend.uri)
    )


def run_group(backend: Backend, job: dict[str, Any], tmp_path: Path) -> list[list[dict[str, Any]]]:
    """Start PROCESSES workers on ``job``, release them at once, return each one's lines."""
    go = tmp_path / f"go-{time.monotonic_ns()}"
    procs = []
    for worker in range(PROCESSES):
        payload = {
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
        if proc.returncode != 0:
            problems.append(f"worker {n} failed with exit {proc.returncode}: {err[-3000:]}")
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
    job = {
        "job": "log",
        "experiment_id": exp_id,
        "shared_run": shared,
        "threads": THREADS,
        "batches": BATCHES,
    }
    outputs = run_group(persistent_backend, job, tmp_path)

    lines = [line for out in outputs for line in out]
    own = {line["writer"]: line["own"] for line in lines if "own" in line}
    writers = {f"p{p}t{t}" for p in range(PROCESSES) for t in range(THREADS)}
    assert set(own) == writers
    acked = Counter(line["writer"] for line in lines if "batch" in line)
    assert acked == dict.fromkeys(writers, BATCHES)

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
    outputs = run_group(
        persistent_backend, {"job": "same_experiment", "name": "race", "threads": THREADS}, tmp_path
    )
    lines = [line for out in outputs for line in out if "done" not in line]
    assert len(lines) == PROCESSES * THREADS
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
        persistent_backend,
        {"job": "versions", "model": "raced", "threads": THREADS, "versions": versions},
        tmp_path,
    )
    numbers = sorted(int(line["version"]) for out in outputs for line in out if "version" in line)
    total = PROCESSES * THREADS * versions
    assert numbers == list(range(1, total + 1))  # distinct, gap-free, all acknowledged
    stored = client.search_model_versions("name = 'raced'", max_results=10_000)
    assert sorted(int(v.version) for v in stored) == numbers
    sources = Counter(v.source for v in stored)
    assert len(sources) == total and set(sources.values()) == {1}


@pytest.mark.parametrize("threads", [8])
def test_threads_share_one_memory_store(tmp_path: Path, threads: int) -> None:
    """The in-process store (contrib memory) under the same load from threads."""
    import threading

    from trackyard.entities import Metric
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
