"""``trackyard models list | versions | alias`` against a real SQLite registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from trackyard.cli import cli


@pytest.fixture
def uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from trackyard import MlflowClient
    from trackyard.backends import clear_store_cache

    monkeypatch.setenv("TRACKYARD_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    client = MlflowClient(tracking_uri=uri)
    client.create_registered_model("fraud", description="fraud scores")
    for i in range(3):
        client.create_model_version("fraud", f"s3://bucket/fraud/{i}", run_id=f"run{i}")
    client.set_registered_model_alias("fraud", "champion", "2")
    client.create_registered_model("churn")
    client.register_prompt("greeting", "Hello {{ name }}")
    yield uri
    clear_store_cache()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_models_list(uri: str) -> None:
    code, out = run("models", "list", "--registry-uri", uri)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ["name", "newest", "aliases", "updated", "description"]
    assert lines[2].startswith("churn")
    assert "fraud  3       champion->2" in out and "fraud scores" in out
    assert "greeting" not in out  # prompts are not models
    code, out = run("models", "list", "--tracking-uri", uri, "--filter", "name LIKE 'f%'")
    assert code == 0 and "fraud" in out and "churn" not in out


def test_models_versions(uri: str) -> None:
    code, out = run("models", "versions", "fraud", "--registry-uri", uri)
    assert code == 0, out
    body = [line.split()[0] for line in out.splitlines()[2:]]
    assert body == ["3", "2", "1"]
    assert "champion" in out and "s3://bucket/fraud/0" in out and "run1" in out
    code, out = run("models", "versions", "nope", "--registry-uri", uri)
    assert code == 1 and "RESOURCE_DOES_NOT_EXIST" in out


def test_models_alias(uri: str) -> None:
    code, out = run("models", "alias", "fraud", "champion", "3", "--registry-uri", uri)
    assert code == 0, out
    assert out.strip() == "fraud@champion -> version 3 (was version 2)"
    code, out = run("models", "alias", "fraud", "shadow", "1", "--registry-uri", uri)
    assert out.strip() == "fraud@shadow -> version 1"
    for bad in (["latest", "1"], ["v2", "1"], ["ok", "9"], ["ok", "x"]):
        code, out = run("models", "alias", "fraud", *bad, "--registry-uri", uri)
        assert code == 1, out
        assert "Error:" in out
    code, out = run("models", "versions", "fraud", "--registry-uri", uri)
    assert "champion" in out.splitlines()[2] and "shadow" in out.splitlines()[4]
