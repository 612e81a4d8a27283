"""The MLflow peer harness works: MLflow 3.17.2 creates a SQLite store we can read."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.compat.peer import PeerError, requires_mlflow, run_mlflow

pytestmark = [pytest.mark.compat, requires_mlflow]

MLFLOW_VERSION = "3.17.2"
ALEMBIC_HEAD = "dc11669786a5"


def test_peer_creates_mlflow_sqlite_store(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    result = run_mlflow(
        """
        import mlflow
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=ARGS["uri"])
        exp_id = client.create_experiment(ARGS["experiment"])
        run = client.create_run(exp_id)
        client.log_metric(run.info.run_id, "loss", 0.5, timestamp=1000, step=3)
        emit({
            "version": mlflow.__version__,
            "experiment_id": exp_id,
            "run_id": run.info.run_id,
        })
        """,
        uri=f"sqlite:///{db}",
        experiment="peer-smoke",
        cwd=tmp_path,
    )
    assert result["version"] == MLFLOW_VERSION
    assert result["experiment_id"] == "1"  # "0" is the Default experiment

    with sqlite3.connect(db) as conn:
        (head,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        metric = conn.execute(
            "SELECT key, value, step, timestamp FROM metrics WHERE run_uuid = ?",
            (result["run_id"],),
        ).fetchall()
        name = conn.execute(
            "SELECT name FROM experiments WHERE experiment_id = ?",
            (int(result["experiment_id"]),),
        ).fetchone()
    assert head == ALEMBIC_HEAD
    assert metric == [("loss", 0.5, 3, 1000)]
    assert name == ("peer-smoke",)


def test_peer_reports_snippet_errors() -> None:
    with pytest.raises(PeerError, match="boom from the snippet"):
        run_mlflow("raise RuntimeError('boom from the snippet')")


def test_peer_passes_args_and_unsets_tracking_uri() -> None:
    result = run_mlflow(
        """
        import os
        print("noise on stdout")
        emit({"args": ARGS, "uri": os.environ.get("MLFLOW_TRACKING_URI"),
              "file_store": os.environ.get("MLFLOW_ALLOW_FILE_STORE")})
        print("more noise")
        """,
        a=1,
        b=["x"],
    )
    assert result == {"args": {"a": 1, "b": ["x"]}, "uri": None, "file_store": "true"}
