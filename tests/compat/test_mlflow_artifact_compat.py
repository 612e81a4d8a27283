"""Rich artifacts are interchangeable with MLflow 3.17.2: tables and image series that one
logs, the other reads (same SQLite store, same artifact folder)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.compat.peer import requires_mlflow, run_mlflow
from trackyard import MlflowClient

pytestmark = [pytest.mark.compat, requires_mlflow]

np = pytest.importorskip("numpy")
pytest.importorskip("pandas")
pytest.importorskip("PIL")

SERIES = re.compile(r"^images/train~img\+step\+(\d+)\+timestamp\+\d+\+[0-9a-f-]{36}")


def test_mlflow_reads_what_trackyard_logs(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    exp = run_mlflow(  # MLflow makes the store; trackyard logs into it
        """
        from mlflow import MlflowClient
        emit(MlflowClient(ARGS["uri"]).create_experiment("rich", ARGS["artifacts"]))
        """,
        uri=uri,
        artifacts=str(tmp_path / "artifacts"),
    )
    client = MlflowClient(uri)
    run_id = client.create_run(exp).info.run_id
    client.log_table(run_id, {"q": ["a", "b"], "score": [1, 2]}, "eval/t.json")
    client.log_table(run_id, {"q": ["c"], "score": [3]}, "eval/t.json")
    client.log_image(run_id, np.zeros((8, 8, 3), dtype=np.uint8), key="train/img", step=2)
    seen = run_mlflow(
        """
        import mlflow
        from mlflow import MlflowClient
        mlflow.set_tracking_uri(ARGS["uri"])
        client = MlflowClient(ARGS["uri"])
        table = client.load_table(ARGS["exp"], "eval/t.json", run_ids=[ARGS["run"]],
                                  extra_columns=["run_id"])
        images = [f.path for f in client.list_artifacts(ARGS["run"], "images")]
        emit({"rows": table[["q", "score", "run_id"]].values.tolist(), "images": images,
              "tags": client.get_run(ARGS["run"]).data.tags})
        """,
        uri=uri,
        exp=exp,
        run=run_id,
    )
    assert seen["rows"] == [["a", 1, run_id], ["b", 2, run_id], ["c", 3, run_id]]
    assert len(seen["images"]) == 2
    assert all(SERIES.match(p) and SERIES.match(p).group(1) == "2" for p in seen["images"])
    assert seen["tags"]["mlflow.loggedImages"] == "True"
    assert seen["tags"]["mlflow.loggedArtifacts"] == '[{"path": "eval/t.json", "type": "table"}]'


def test_trackyard_reads_what_mlflow_logs(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    made = run_mlflow(
        """
        import numpy as np
        from mlflow import MlflowClient
        client = MlflowClient(ARGS["uri"])
        exp = client.create_experiment("rich", artifact_location=ARGS["artifacts"])
        run_id = client.create_run(exp).info.run_id
        client.log_table(run_id, {"q": ["x"], "score": [7]}, "eval/t.json")
        client.log_table(run_id, {"q": ["y"], "score": [8]}, "eval/t.parquet")
        client.log_image(run_id, np.zeros((8, 8, 3), dtype=np.uint8), key="train/img", step=4,
                         synchronous=True)
        emit({"exp": exp, "run": run_id})
        """,
        uri=uri,
        artifacts=str(tmp_path / "artifacts"),
    )
    client = MlflowClient(uri)
    table = client.load_table(made["exp"], "eval/t.json", run_ids=[made["run"]])
    assert table[["q", "score"]].values.tolist() == [["x", 7]]
    parquet = client.load_table(made["exp"], "eval/t.parquet", run_ids=[made["run"]])
    assert parquet[["q", "score"]].values.tolist() == [["y", 8]]
    images = [f.path for f in client.list_artifacts(made["run"], "images")]
    assert len(images) == 2 and all(SERIES.match(p).group(1) == "4" for p in images)
    client.log_table(made["run"], {"q": ["z"], "score": [9]}, "eval/t.json")  # appends
    again = client.load_table(made["exp"], "eval/t.json", run_ids=[made["run"]])
    assert again["q"].tolist() == ["x", "z"]
