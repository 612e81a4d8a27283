"""MLflow's own client against a trackyard server on SQLite (``mlflow.MlflowClient`` over http)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat.peer import requires_mlflow, run_mlflow
from tests.rest_server import serve

pytestmark = [pytest.mark.compat, requires_mlflow]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    pytest.importorskip("fastapi", reason="the server needs trackyard[server]")
    from trackyard_rest.server import create_app

    app = create_app(f"sqlite:///{tmp_path / 'ty.db'}", artifacts_destination=str(tmp_path / "a"))
    with serve(app) as url:
        yield url


SCENARIO = """
import math
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

mlflow.set_tracking_uri(ARGS["uri"])
client = MlflowClient(tracking_uri=ARGS["uri"])
exp_id = client.create_experiment("compat", tags={"team": "a"})
assert client.get_experiment_by_name("compat").tags == {"team": "a"}
mlflow.set_experiment("compat")
with mlflow.start_run(run_name="first") as run:
    mlflow.log_metric("loss", 0.5, step=1)
    mlflow.log_metric("loss", 0.25, step=2)
    mlflow.log_metric("nan", float("nan"))
    mlflow.log_params({"lr": "0.1", "bs": 32})
    mlflow.set_tag("phase", "train")
rid = run.info.run_id
client.log_batch(rid, metrics=[Metric("acc", 0.9, 1000, 3)], params=[Param("opt", "adam")],
                 tags=[RunTag("x", "y")])
got = client.get_run(rid)
history = [m.value for m in client.get_metric_history(rid, "loss")]
runs = client.search_runs([exp_id], "metrics.acc > 0.5 and params.lr = '0.1'")
client.delete_tag(rid, "x")
client.create_registered_model("model", tags={"k": "v"})
mv = client.create_model_version("model", f"runs:/{rid}/model", run_id=rid)
client.set_registered_model_alias("model", "champion", mv.version)
by_alias = client.get_model_version_by_alias("model", "champion")
models = client.search_registered_models(filter_string="name = 'model'")

client.set_model_version_tag("model", mv.version, "stage", "ok")
client.update_model_version("model", mv.version, description="desc")
versions = client.search_model_versions("name = 'model'")
errors = {}
try:
    client.get_run("f" * 32)
except mlflow.exceptions.MlflowException as exc:
    errors["run"] = exc.error_code
try:
    client.create_experiment("compat")
except mlflow.exceptions.MlflowException as exc:
    errors["dup"] = exc.error_code
client.delete_run(rid)
deleted = client.search_runs([exp_id], run_view_type=2)
emit({
    "status": got.info.status,
    "name": got.info.run_name,
    "metrics": {k: (None if math.isnan(v) else v) for k, v in got.data.metrics.items()},
    "params": got.data.params,
    "phase": got.data.tags.get("phase"),
    "history": history,
    "found": [r.info.run_id for r in runs],
    "rid": rid,
    "version": mv.version,
    "alias": [by_alias.version, list(by_alias.aliases)],
    "models": [m.name for m in models],
    "model_aliases": models[0].aliases,
    "versions": [(v.version, v.description, v.tags) for v in versions],
    "errors": errors,
    "deleted": [r.info.run_id for r in deleted],
})
"""


def test_mlflow_client_against_trackyard_server(server: str) -> None:
    out = run_mlflow(SCENARIO, uri=server)
    assert out["status"] == "FINISHED" and out["name"] == "first"
    assert out["metrics"] == {"loss": 0.25, "nan": None, "acc": 0.9}
    assert out["params"] == {"lr": "0.1", "bs": "32", "opt": "adam"}
    assert out["phase"] == "train"
    assert out["history"] == [0.5, 0.25]
    assert out["found"] == [out["rid"]]
    assert out["version"] == "1" and out["alias"] == ["1", ["champion"]]
    assert out["models"] == ["model"] and out["model_aliases"] == {"champion": "1"}
    assert out["versions"] == [["1", "desc", {"stage": "ok"}]]
    assert out["errors"] == {"run": "RESOURCE_DOES_NOT_EXIST", "dup": "RESOURCE_ALREADY_EXISTS"}
    assert out["deleted"] == [out["rid"]]
