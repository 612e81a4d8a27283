"""Webhooks in one SQLite database, shared by trackyard and MLflow 3.17.2, both ways.

Both sides get the same ``MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY``, so each reads the secrets
the other stored. URLs are public IP literals that are never contacted (no registry event
fires here). Needs ``TRACKYARD_TEST_MLFLOW_PYTHON``; skips otherwise.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.compat.peer import requires_mlflow, run_mlflow
from trackyard import MlflowClient

pytestmark = [pytest.mark.compat, requires_mlflow]

URL = "https://93.184.215.14/hooks/compat"


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    from cryptography.fernet import Fernet

    value = Fernet.generate_key().decode()
    monkeypatch.setenv("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY", value)
    return value


def test_mlflow_reads_webhooks_trackyard_wrote(tmp_path: Path, key: str) -> None:
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    client = MlflowClient(uri)
    first = client.create_webhook(
        "from-trackyard",
        URL,
        ["model_version.created", "prompt_alias.deleted"],
        description="made by trackyard",
        secret="shared-secret",
        status="DISABLED",
    )
    # list_webhooks is newest first by creation time (milliseconds): make the order defined
    time.sleep(0.005)
    second = client.create_webhook("second", URL, ["registered_model.created"])
    gone = client.create_webhook("gone", URL, ["registered_model.created"])
    client.delete_webhook(gone.webhook_id)

    seen = run_mlflow(
        """
        from mlflow import MlflowClient
        client = MlflowClient(tracking_uri=ARGS["uri"], registry_uri=ARGS["uri"])
        out = []
        for w in client.list_webhooks():
            full = client.get_webhook(w.webhook_id)
            out.append({
                "id": w.webhook_id, "name": w.name, "url": w.url,
                "events": sorted(str(e) for e in w.events), "status": str(w.status),
                "description": w.description, "secret": full.secret,
                "created": w.creation_timestamp,
            })
        emit(out)
        """,
        uri=uri,
        env={"MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": key},
    )
    assert [w["id"] for w in seen] == [second.webhook_id, first.webhook_id]
    by_id = {w["id"]: w for w in seen}
    assert by_id[first.webhook_id] == {
        "id": first.webhook_id,
        "name": "from-trackyard",
        "url": URL,
        "events": ["model_version.created", "prompt_alias.deleted"],
        "status": "DISABLED",
        "description": "made by trackyard",
        "secret": "shared-secret",
        "created": first.creation_timestamp,
    }
    assert by_id[second.webhook_id]["secret"] is None


def test_trackyard_reads_webhooks_mlflow_wrote(tmp_path: Path, key: str) -> None:
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    made = run_mlflow(
        """
        from mlflow import MlflowClient
        client = MlflowClient(tracking_uri=ARGS["uri"], registry_uri=ARGS["uri"])
        w = client.create_webhook(
            name="from-mlflow", url=ARGS["url"],
            events=["model_version_tag.set", "registered_model.created"],
            description="made by mlflow", secret="mlflow-secret",
        )
        client.update_webhook(w.webhook_id, status="DISABLED")
        emit({"id": w.webhook_id, "created": w.creation_timestamp})
        """,
        uri=uri,
        url=URL,
        env={"MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": key},
    )
    client = MlflowClient(uri)
    hooks = list(client.list_webhooks())
    assert [w.webhook_id for w in hooks] == [made["id"]]
    hook = client.get_webhook(made["id"])
    assert (hook.name, hook.url, hook.description, str(hook.status)) == (
        "from-mlflow",
        URL,
        "made by mlflow",
        "DISABLED",
    )
    assert sorted(map(str, hook.events)) == ["model_version_tag.set", "registered_model.created"]
    assert hook.creation_timestamp == made["created"] and hook.secret is None
    assert client._registry_store.get_webhook_secret(made["id"]) == "mlflow-secret"
    client.update_webhook(made["id"], status="ACTIVE", secret="rotated")
    again = run_mlflow(
        """
        from mlflow import MlflowClient
        client = MlflowClient(tracking_uri=ARGS["uri"], registry_uri=ARGS["uri"])
        w = client.get_webhook(ARGS["id"])
        emit({"status": str(w.status), "secret": w.secret})
        """,
        uri=uri,
        id=made["id"],
        env={"MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": key},
    )
    assert again == {"status": "ACTIVE", "secret": "rotated"}


def test_mlflow_file_store_ignores_the_webhook_file(tmp_path: Path, key: str) -> None:
    root = tmp_path / "mlruns"
    client = MlflowClient(str(root))
    experiment_id = client.create_experiment("e")
    client.create_registered_model("m")
    client.create_webhook("h", URL, ["registered_model.created"], secret="s")
    assert (root / ".trackyard-webhooks.json").is_file()
    seen = run_mlflow(
        """
        import warnings
        warnings.simplefilter("ignore")
        from mlflow import MlflowClient
        client = MlflowClient(tracking_uri=ARGS["uri"], registry_uri=ARGS["uri"])
        emit({
            "experiments": sorted(e.name for e in client.search_experiments()),
            "models": [m.name for m in client.search_registered_models()],
        })
        """,
        uri=root.as_uri(),
    )
    assert seen == {"experiments": ["Default", "e"], "models": ["m"]}
    assert client.get_experiment(experiment_id).name == "e"
