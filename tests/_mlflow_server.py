"""A real ``mlflow server`` on a free loopback port, for the REST client's tests.

Started from the MLflow peer interpreter (``TRACKYARD_TEST_MLFLOW_PYTHON``) over SQLite with
``--workers 1`` and job execution off; it takes several seconds to start, so tests share one
per pytest process (see ``mlflow_server`` in ``tests/conftest.py``) and call :meth:`reset`
for a fresh, empty store (only the Default experiment) before each test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MlflowServer", "free_port", "start_mlflow_server"]

# Tables holding what a test writes (tracking, registry, traces, webhooks); the rest (schema
# version, workspaces, gateway, jobs) stays. Experiment 0 is kept and put back as new.
_DATA_TABLES = (
    "assessments",
    "datasets",
    "entity_associations",
    "experiment_tags",
    "input_tags",
    "inputs",
    "latest_metrics",
    "logged_model_metrics",
    "logged_model_params",
    "logged_model_tags",
    "logged_models",
    "metrics",
    "model_version_tags",
    "model_versions",
    "params",
    "registered_model_aliases",
    "registered_model_tags",
    "registered_models",
    "runs",
    "span_metrics",
    "spans",
    "tags",
    "trace_info",
    "trace_metrics",
    "trace_request_metadata",
    "trace_tags",
    "webhook_events",
    "webhooks",
)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class MlflowServer:
    """A running ``mlflow server``: its URL, database and artifact directory."""

    url: str
    db_path: Path
    artifacts: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def address(self) -> str:
        """``host:port`` (for ``mlflow-artifacts://host:port/...`` URIs)."""
        return self.url.split("://", 1)[1]

    def reset(self) -> None:
        """Empty the server's store: only the Default experiment remains, as in a new one."""
        con = sqlite3.connect(self.db_path, timeout=30)
        try:
            existing = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
            with con:
                for table in _DATA_TABLES:
                    if table in existing:
                        con.execute(f"DELETE FROM {table}")
                con.execute("DELETE FROM experiments WHERE experiment_id != 0")
                con.execute(
                    "UPDATE experiments SET name = 'Default', lifecycle_stage = 'active' "
                    "WHERE experiment_id = 0"
                )
        finally:
            con.close()

    def stop(self) -> None:
        """Stop the server's process group (it was started in its own session)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)


def start_mlflow_server(
    python: str, workdir: Path, timeout: float = 240.0, backend_store_uri: str | None = None
) -> MlflowServer:
    """Start ``mlflow server`` from the interpreter ``python`` and wait until it answers.

    The store is a new SQLite file in ``workdir`` unless ``backend_store_uri`` names one
    (:meth:`MlflowServer.reset` works only on the SQLite file).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    db_path = workdir / "mlflow.db"
    artifacts = workdir / "artifacts"
    log = workdir / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRACKYARD_"))}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    command = [
        python,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend_store_uri or f"sqlite:///{db_path}",
        "--artifacts-destination",
        str(artifacts),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = MlflowServer(f"http://127.0.0.1:{port}", db_path, artifacts, process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(server.url + "/health", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.25)
    server.stop()
    raise RuntimeError(
        f"mlflow server did not answer in {timeout:.0f} s:\n{log.read_text()[-3000:]}"
    )
