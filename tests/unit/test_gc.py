"""``trackyard.gc`` and ``trackyard gc`` beyond the kit: retentions, the CLI, and artifacts that
cannot (or must not) be deleted. On real SQLite databases and local folders."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from trackyard import MlflowClient
from trackyard.cli import cli
from trackyard.entities import LifecycleStage
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.gc import gc, parse_older_than
from trackyard.plugins import BackendSpec, get_plugin_manager
from trackyard.plugins.manager import reset_plugin_manager
from trackyard.stores import ArtifactRepository, Capabilities


class _KeepingRepo(ArtifactRepository):
    """An artifact repository that cannot delete (no ``delete_artifacts`` capability)."""

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        raise NotImplementedError("not used here")

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        raise NotImplementedError("not used here")

    def list_artifacts(self, path: str | None = None) -> list[Any]:
        return []

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        raise NotImplementedError("not used here")


class _FailingRepo(_KeepingRepo):
    """Claims ``delete_artifacts`` but its storage refuses."""

    capabilities = Capabilities(delete_artifacts=True)

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        raise PermissionError("storage says no")


@pytest.fixture
def odd_repos() -> Iterator[None]:
    manager = get_plugin_manager()
    manager.register_backend(
        "artifact", BackendSpec(("keeping",), "tests.unit.test_gc:_KeepingRepo"), plugin="gc-test"
    )
    manager.register_backend(
        "artifact", BackendSpec(("failing",), "tests.unit.test_gc:_FailingRepo"), plugin="gc-test"
    )
    yield
    reset_plugin_manager()


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gc.db'}"


def _deleted_run(client: MlflowClient, exp_id: str, text: str | None = "x") -> str:
    run_id = client.create_run(exp_id).info.run_id
    if text is not None:
        client.log_text(run_id, text, "f.txt")
    client.delete_run(run_id)
    return str(run_id)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("30d", 30 * 86_400_000),
        ("1d2h3m4s", 93_784_000),
        ("1.5h", 5_400_000),
        (".5s", 500),
        (" 2m ", 120_000),
        ("0s", 0),
        ("3D", 3 * 86_400_000),
    ],
)
def test_retentions_parse_as_milliseconds(text: str, ms: int) -> None:
    assert parse_older_than(text) == ms


def test_retention_as_timedelta_and_none() -> None:
    assert parse_older_than(timedelta(minutes=1)) == 60_000
    assert parse_older_than(None) is None


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("-1d", "negative"),
        (timedelta(seconds=-1), "future"),
        ("", "Could not parse"),
        ("-", "Could not parse"),
        ("3h2d", "in that order"),
        ("1x", "Could not parse"),
        ("1.2.3d", "Could not parse"),
        ("99999999999d", "too long"),
        (30, "duration string"),
    ],
)
def test_bad_retentions_are_invalid_parameter_values(value: Any, says: str) -> None:
    with pytest.raises(TrackyardError) as info:
        parse_older_than(value)
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert says in str(info.value)


def test_artifacts_that_cannot_be_deleted_keep_their_run_and_are_reported(
    db: str, tmp_path: Path, odd_repos: None
) -> None:
    client = MlflowClient(db)
    keeping = client.create_experiment("keeping", artifact_location="keeping://bucket/k")
    failing = client.create_experiment("failing", artifact_location="failing://bucket/f")
    local = client.create_experiment("local", artifact_location=str(tmp_path / "local"))
    kept = _deleted_run(client, keeping, text=None)
    refused = _deleted_run(client, failing, text=None)
    removed = _deleted_run(client, local)
    client.delete_experiment(failing)

    plan = gc(db, dry_run=True)
    # a storage failure only shows when deleting; a missing capability already in the plan
    assert set(plan.runs) == {removed, refused} and plan.experiments == (failing,)
    assert {(p.kind, p.id) for p in plan.failures} == {("run", kept)}

    report = gc(db)
    assert report.runs == (removed,) and report.experiments == () and not report.ok
    reasons = {(p.kind, p.id): p.reason for p in report.failures}
    assert "cannot delete artifacts" in reasons[("run", kept)]
    assert "storage says no" in reasons[("run", refused)]
    assert "could not be removed" in reasons[("experiment", failing)]
    for run_id in (kept, refused):
        assert client.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    assert client.get_experiment(failing).lifecycle_stage == LifecycleStage.DELETED
    assert not (tmp_path / "local" / removed / "artifacts" / "f.txt").exists()


def _set_artifact_uri(db: str, run_id: str, uri: str) -> None:
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?", (uri, run_id))


def test_an_artifact_uri_that_does_not_name_the_run_is_never_deleted(
    db: str, tmp_path: Path
) -> None:
    client = MlflowClient(db)
    location = tmp_path / "shared"
    exp = client.create_experiment("shared", artifact_location=str(location))
    neighbour = client.create_run(exp).info.run_id
    client.log_text(neighbour, "precious", "f.txt")
    odd = _deleted_run(client, exp, text=None)
    _set_artifact_uri(db, odd, str(location))  # as a bad import could leave it

    report = gc(db)
    assert report.runs == () and [p.id for p in report.failures] == [odd]
    assert "does not name the run" in report.failures[0].reason
    assert (location / neighbour / "artifacts" / "f.txt").read_text() == "precious"
    assert client.get_run(odd).info.lifecycle_stage == LifecycleStage.DELETED


def test_proxied_artifacts_are_deleted_at_the_artifacts_destination(
    db: str, tmp_path: Path
) -> None:
    client = MlflowClient(db)
    exp = client.create_experiment("proxied")
    run_id = _deleted_run(client, exp, text=None)
    _set_artifact_uri(db, run_id, f"mlflow-artifacts:/{exp}/{run_id}/artifacts")
    served = tmp_path / "served" / exp / run_id / "artifacts"
    served.mkdir(parents=True)
    (served / "model.bin").write_bytes(b"1")
    (tmp_path / "served" / "other.bin").write_bytes(b"2")

    report = gc(db, artifacts_destination=str(tmp_path / "served"))
    assert report.ok and report.runs == (run_id,)
    assert list(served.iterdir()) == []
    assert (tmp_path / "served" / "other.bin").exists()


def _cli(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_cli_dry_run_then_gc(db: str, tmp_path: Path) -> None:
    client = MlflowClient(db)
    exp = client.create_experiment("cli", artifact_location=str(tmp_path / "cli"))
    active = client.create_run(exp).info.run_id
    doomed = _deleted_run(client, exp)

    result = _cli("gc", "--backend-store-uri", db, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"Run with ID {doomed} would be permanently deleted." in result.output
    assert client.get_run(doomed).info.lifecycle_stage == LifecycleStage.DELETED

    result = _cli("gc", "--backend-store-uri", db, "--run-ids", f"{doomed},{active}")
    assert result.exit_code != 0 and "INVALID_PARAMETER_VALUE" in result.output
    assert active in result.output and "Nothing was removed" in result.output
    result = _cli("gc", "--backend-store-uri", db, "--older-than", "-2h")
    assert result.exit_code != 0 and "negative" in result.output

    result = _cli("gc", "--backend-store-uri", db, "--older-than", "1d")
    assert result.exit_code == 0 and "Nothing to delete." in result.output
    result = _cli("gc", "--backend-store-uri", db, "--run-ids", doomed)
    assert result.exit_code == 0
    assert f"Run with ID {doomed} has been permanently deleted." in result.output
    assert not (tmp_path / "cli" / doomed).joinpath("artifacts", "f.txt").exists()
    assert client.get_run(active).info.lifecycle_stage == LifecycleStage.ACTIVE


def test_cli_exits_1_when_something_could_not_be_removed(db: str, odd_repos: None) -> None:
    client = MlflowClient(db)
    exp = client.create_experiment("keeping", artifact_location="keeping://bucket/k")
    run_id = _deleted_run(client, exp, text=None)
    result = _cli("gc", "--backend-store-uri", db)
    assert result.exit_code == 1
    assert f"Not deleted: run {run_id}: the artifact repository" in result.output
