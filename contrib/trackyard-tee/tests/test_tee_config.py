"""The tee's configuration forms: URI, YAML and JSON files, and what they refuse."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from trackyard.errors import ErrorCode, TrackyardError, UnknownSchemeError

from trackyard_tee import format_tee_uri, get_store, parse_tee_uri
from trackyard_tee.config import DEFAULT_RETRY_INTERVAL


def _invalid(uri: str) -> str:
    with pytest.raises(TrackyardError) as excinfo:
        parse_tee_uri(uri)
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    return str(excinfo.value)


def test_uri_form_with_comma_separated_targets(tmp_path: Path) -> None:
    targets = ["postgresql+psycopg://ml:s3cret@db:5432/ml?sslmode=require", "file:///mnt/a,b"]
    uri = format_tee_uri(targets, tmp_path / "q", retry_interval=5)
    config = parse_tee_uri(uri)
    assert config.targets == tuple(targets)  # a comma inside an encoded target survives
    assert config.primary == targets[0] and config.secondaries == (targets[1],)
    assert config.queue == str(tmp_path / "q")
    assert config.retry_interval == 5.0
    assert "s3cret" not in config.source


def test_uri_form_with_repeated_target_and_relative_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = parse_tee_uri("tee:///?target=sqlite%3A%2F%2F%2Fa.db&target=mlruns&queue=q")
    assert config.targets == ("sqlite:///a.db", "mlruns")
    assert config.queue == str(tmp_path / "q")
    assert config.retry_interval == DEFAULT_RETRY_INTERVAL
    # an unencoded "+" stays a "+" (it is not a space here)
    config = parse_tee_uri("tee:///?targets=postgresql+psycopg://h/db,mlruns&queue=q")
    assert config.primary == "postgresql+psycopg://h/db"


def test_yaml_file_form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIRROR_PASSWORD", "pw")
    path = tmp_path / "conf" / "tee.yaml"
    path.parent.mkdir()
    path.write_text(
        "targets:\n"
        "  - sqlite:////var/lib/ml/primary.db\n"
        "  - postgresql://ml:${MIRROR_PASSWORD}@mirror/ml\n"
        "queue: queue-dir\n"
        "retry_interval: 0.5\n"
    )
    config = parse_tee_uri(f"tee://{path}")
    assert config.targets == ("sqlite:////var/lib/ml/primary.db", "postgresql://ml:pw@mirror/ml")
    assert config.queue == str(tmp_path / "conf" / "queue-dir")  # relative to the file
    assert config.retry_interval == 0.5
    assert config.source == str(path)
    monkeypatch.chdir(tmp_path)
    assert parse_tee_uri("tee:conf/tee.yaml").targets == config.targets


def test_json_file_form(tmp_path: Path) -> None:
    path = tmp_path / "tee.json"
    path.write_text(json.dumps({"targets": ["a", "b", "c"], "queue": "/var/q"}))
    config = parse_tee_uri(f"tee://{path}")
    assert config.targets == ("a", "b", "c") and config.queue == "/var/q"


@pytest.mark.parametrize(
    "uri, words",
    [
        ("tee:///?targets=sqlite%3A%2F%2F%2Fa.db&queue=/q", "at least two targets"),
        ("tee:///?targets=a,a&queue=/q", "named twice"),
        ("tee:///?targets=a,tee%3A%2F%2F%2Fx.yaml&queue=/q", "cannot be another tee"),
        ("tee:///?targets=a,b", "no queue directory"),
        ("tee:///?targets=a,b&queue=/q&colour=red", "unknown setting 'colour'"),
        ("tee:///?targets=a,b&queue=/q&retry_interval=-1", "retry_interval"),
        ("tee:///?targets=a,b&queue=/q&retry_interval=soon", "retry_interval"),
        ("tee:///?targets=a,b&queue=/q&queue=/r", "given twice"),
        ("tee:///?targets=a,b&queue", "has no value"),
        ("tee://host/?targets=a,b&queue=/q", "no host part"),
        ("tee:///etc/tee.toml", ".yaml, .yml or .json"),
        ("tee:///no/such/tee.yaml", "Cannot read"),
        ("tee:///x.yaml?queue=/q", "takes no query"),
    ],
)
def test_bad_uris(uri: str, words: str) -> None:
    assert words in _invalid(uri)


@pytest.mark.parametrize(
    "text, words",
    [
        ("- a\n- b\n", "mapping"),
        ("targets: a\nqueue: q\n", "list its 'targets'"),
        ("targets: [a, 1]\nqueue: q\n", "URI string"),
        ("targets: [a, b]\n", "no 'queue'"),
        ("targets: [a, b]\nqueue: q\nprimary: a\n", "unknown settings ['primary']"),
        ("targets: [a, b\n", "not valid YAML"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "tee.yaml"
    path.write_text(text)
    assert words in _invalid(f"tee://{path}")


def test_unknown_target_scheme_fails_at_once(tmp_path: Path) -> None:
    uri = format_tee_uri([str(tmp_path / "a"), "postgress://h/db"], tmp_path / "q")
    with pytest.raises(UnknownSchemeError) as excinfo:
        get_store(uri)
    assert "did you mean 'postgresql'" in str(excinfo.value)


def test_credentials_never_reach_the_queue_directory_or_repr(tmp_path: Path) -> None:
    secret = "hunter2-secret"
    uri = format_tee_uri(
        [str(tmp_path / "mlruns"), f"postgresql://ml:{secret}@127.0.0.1:9/ml"], tmp_path / "q"
    )
    store = get_store(uri)  # targets are built on first use: no connection is attempted
    assert secret not in repr(store) and secret not in " ".join(store.targets)
    (status,) = store.status()
    assert secret not in status.target
    for root, _, files in os.walk(tmp_path / "q"):
        for name in files:
            assert secret not in (Path(root) / name).read_text()
