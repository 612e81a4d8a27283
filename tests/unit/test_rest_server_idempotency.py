"""``Idempotency-Key`` across server processes: copies of one create racing on two servers."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests._services import postgres_base_uri, worker_database_uri
from tests.rest_server import free_port
from tests.unit.test_rest_server_cli import API, _trackyard, _wait_until_up

_KEYS = 24  # each key is sent at once to both servers by two threads behind a barrier


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'idem.db'}"
    return worker_database_uri(postgres_base_uri(), "idem")


@pytest.fixture
def two_servers(database: str) -> Iterator[list[str]]:
    """Two separate server processes on one database (so copies surely land on both)."""
    procs: list[subprocess.Popen[bytes]] = []
    bases = []
    try:
        for _ in range(2):
            port = free_port()
            procs.append(
                subprocess.Popen(
                    _trackyard("server", "--backend-store-uri", database, "--port", str(port)),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                )
            )
            bases.append(f"http://127.0.0.1:{port}")
        for proc, base in zip(procs, bases, strict=True):
            _wait_until_up(proc, base)
        yield bases
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(30)


def test_copies_of_a_keyed_create_on_two_processes_make_one_run(two_servers: list[str]) -> None:
    first, second = two_servers
    name = f"idem-{uuid.uuid4().hex[:8]}"
    exp = requests.post(first + API + "/experiments/create", json={"name": name}, timeout=30)
    exp_id = exp.json()["experiment_id"]

    def send(base: str, key: str, barrier: threading.Barrier) -> str:
        barrier.wait()
        r = requests.post(
            base + API + "/runs/create",
            json={"experiment_id": exp_id, "run_name": key},
            headers={"Idempotency-Key": key},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        return str(r.json()["run"]["info"]["run_id"])

    with ThreadPoolExecutor(4) as pool:
        answers = []
        for i in range(_KEYS):
            barrier = threading.Barrier(2)
            key = f"key-{i}"
            answers.append(
                (pool.submit(send, first, key, barrier), pool.submit(send, second, key, barrier))
            )
        pairs = [(a.result(), b.result()) for a, b in answers]
    assert all(a == b for a, b in pairs), pairs
    found = requests.post(
        first + API + "/runs/search",
        json={"experiment_ids": [exp_id], "run_view_type": "ALL", "max_results": 1000},
        timeout=30,
    ).json()["runs"]
    # one run per key, none created and deleted again
    assert sorted(r["info"]["run_id"] for r in found) == sorted(a for a, _ in pairs)
    assert {r["info"]["lifecycle_stage"] for r in found} == {"active"}
    assert {r["info"]["run_name"] for r in found} == {f"key-{i}" for i in range(_KEYS)}
