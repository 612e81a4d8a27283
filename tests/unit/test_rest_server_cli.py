"""``trackyard server`` as a command: several worker processes on SQLite, refusals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.rest_server import free_port

pytest.importorskip("uvicorn", reason="the server needs trackyard[server]")

API = "/api/2.0/mlflow"


def _trackyard(*args: str) -> list[str]:
    return [sys.executable, "-c", "from trackyard.cli import main; main()", *args]


def _wait_until_up(proc: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(base + "/health", timeout=2).text == "OK":
                return
        except requests.ConnectionError:
            pass
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.2)


def test_two_workers_on_sqlite_share_one_database(tmp_path: Path) -> None:
    port = free_port()
    uri = f"sqlite:///{tmp_path / 'w.db'}"
    proc = subprocess.Popen(
        _trackyard("server", "--backend-store-uri", uri, "--port", str(port), "--workers", "2"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, base)
        exp = requests.post(base + API + "/experiments/create", json={"name": "w"}, timeout=10)
        exp_id = exp.json()["experiment_id"]
        for i in range(20):  # new connections: spread over both workers
            r = requests.post(
                base + API + "/runs/create",
                json={"experiment_id": exp_id, "run_name": f"r{i}"},
                headers={"Connection": "close"},
                timeout=10,
            )
            assert r.status_code == 200, r.text
        # a create retried with its Idempotency-Key, on new connections (either worker)
        keyed = {"Idempotency-Key": "retry-after-timeout", "Connection": "close"}
        ids = set()
        for _ in range(6):
            r = requests.post(
                base + API + "/runs/create",
                json={"experiment_id": exp_id, "run_name": "keyed"},
                headers=keyed,
                timeout=10,
            )
            assert r.status_code == 200, r.text
            ids.add(r.json()["run"]["info"]["run_id"])
        assert len(ids) == 1
        found = requests.post(
            base + API + "/runs/search", json={"experiment_ids": [exp_id]}, timeout=10
        ).json()
        assert len(found["runs"]) == 21
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def test_several_workers_refused_for_a_single_process_store(tmp_path: Path) -> None:
    pytest.importorskip("duckdb", reason="needs trackyard[duckdb]")
    uri = f"duckdb:///{tmp_path / 'd.duckdb'}"
    out = subprocess.run(
        _trackyard("server", "--backend-store-uri", uri, "--workers", "2"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "--workers 2" in out.stderr and "several processes" in out.stderr


def test_server_help_lists_mlflow_options() -> None:
    out = subprocess.run(_trackyard("server", "--help"), capture_output=True, text=True, timeout=60)
    for option in (
        "--backend-store-uri",
        "--registry-store-uri",
        "--default-artifact-root",
        "--artifacts-destination",
        "--serve-artifacts / --no-serve-artifacts",
        "--allowed-hosts",
        "--max-body-size",
        "--workers",
    ):
        assert option in out.stdout


def test_auth_with_two_workers_keeps_its_state_in_the_database(tmp_path: Path) -> None:
    port = free_port()
    uri = f"sqlite:///{tmp_path / 'a.db'}"
    admin = ("boss", "boss-password-0001")
    env = {
        **os.environ,
        "TRACKYARD_AUTH_ADMIN_USERNAME": admin[0],
        "TRACKYARD_AUTH_ADMIN_PASSWORD": admin[1],
    }
    args = ("server", "--backend-store-uri", uri, "--port", str(port), "--workers", "2")
    proc = subprocess.Popen(
        _trackyard(*args, "--auth", "basic"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    base = f"http://127.0.0.1:{port}" + API
    try:
        _wait_until_up(proc, base.removesuffix(API))
        new = {"username": "ann", "password": "ann-password-0001"}
        assert requests.post(base + "/users/create", json=new, auth=admin, timeout=30).ok

        def statuses(who: tuple[str, str]) -> set[int]:
            return {  # new connections: spread over both workers
                requests.get(
                    base + "/users/current", auth=who, headers={"Connection": "close"}, timeout=30
                ).status_code
                for _ in range(4)
            }

        assert statuses(("ann", new["password"])) == {200}
        change = {"username": "ann", "password": "ann-password-0002"}
        assert requests.patch(base + "/users/update-password", json=change, auth=admin).ok
        assert statuses(("ann", new["password"])) == {401}
        assert statuses(("ann", change["password"])) == {200}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def test_auth_without_an_admin_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if "_AUTH_ADMIN_" not in k}
    out = subprocess.run(
        _trackyard(
            "server", "--backend-store-uri", f"sqlite:///{tmp_path / 'n.db'}", "--auth", "basic"
        ),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    assert out.returncode != 0
    assert "no admin user" in out.stderr and "no default password" in out.stderr
