"""StoreURI parsing and masking; configuration precedence."""

from __future__ import annotations

import urllib.parse

import pytest

from trackyard import config
from trackyard.errors import TrackyardError
from trackyard.uri import StoreURI, mask_credentials, parse_runs_uri


@pytest.mark.parametrize(
    "raw, scheme, backend, driver, is_path",
    [
        ("sqlite:///x.db", "sqlite", "sqlite", None, False),
        ("postgresql+psycopg://u:p@h/db", "postgresql+psycopg", "postgresql", "psycopg", False),
        ("MySQL+PyMySQL://h/db", "mysql+pymysql", "mysql", "pymysql", False),
        ("file:///tmp/mlruns", "file", "file", None, False),
        ("/tmp/mlruns", "file", "file", None, True),
        ("./mlruns", "file", "file", None, True),
        ("C:\\runs", "file", "file", None, True),
        ("C:/runs", "file", "file", None, True),
        ("s3://bucket/key", "s3", "s3", None, False),
        ("mlflow-artifacts:/x", "mlflow-artifacts", "mlflow-artifacts", None, False),
    ],
)
def test_parse(raw: str, scheme: str, backend: str, driver: str | None, is_path: bool) -> None:
    uri = StoreURI.parse(raw)
    assert (uri.scheme, uri.backend, uri.driver, uri.is_path) == (scheme, backend, driver, is_path)


def test_more_than_one_driver_is_refused() -> None:
    with pytest.raises(TrackyardError) as excinfo:
        StoreURI.parse("postgresql+a+b://u:secret@h/db")
    assert "secret" not in str(excinfo.value)


def test_masking() -> None:
    uri = StoreURI.parse("postgresql://ml:hunter2@db:5432/ml?sslmode=require&password=x")
    assert "hunter2" not in repr(uri) and "hunter2" not in str(uri)
    assert uri.masked == "postgresql://ml:***@db:5432/ml?sslmode=require&password=***"
    assert uri.raw.endswith("password=x")
    assert mask_credentials("sqlite:///x.db") == "sqlite:///x.db"
    assert mask_credentials("s3://b/k?X-Amz-Signature=abc") == "s3://b/k?X-Amz-Signature=***"


def test_runs_uri() -> None:
    assert parse_runs_uri("runs:/abc/model/data") == ("abc", "model/data")
    assert parse_runs_uri("runs:/abc") == ("abc", "")
    with pytest.raises(TrackyardError):
        parse_runs_uri("runs:/")
    with pytest.raises(TrackyardError):
        parse_runs_uri("models:/x/1")


def test_tracking_uri_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.get_tracking_uri() == "sqlite:///trackyard.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    assert config.get_tracking_uri() == "sqlite:///mlflow.db"
    monkeypatch.setenv("TRACKYARD_TRACKING_URI", "sqlite:///ty.db")
    assert config.get_tracking_uri() == "sqlite:///ty.db"
    config.set_tracking_uri("sqlite:///set.db")
    assert config.get_tracking_uri() == "sqlite:///set.db"


def test_registry_uri_defaults_to_tracking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKYARD_TRACKING_URI", "sqlite:///t.db")
    assert config.get_registry_uri() == "sqlite:///t.db"
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "sqlite:///r.db")
    assert config.get_registry_uri() == "sqlite:///r.db"
    config.set_registry_uri("sqlite:///s.db")
    assert config.get_registry_uri() == "sqlite:///s.db"


def test_plugin_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACKYARD_PLUGINS", raising=False)
    assert config.plugin_allowlist() is None
    monkeypatch.setenv("TRACKYARD_PLUGINS", "")
    assert config.plugin_allowlist() == frozenset()
    monkeypatch.setenv("TRACKYARD_DISABLE_PLUGINS", "a, b;c")
    assert config.plugin_blocklist() == {"a", "b", "c"}


def test_masking_uris_nested_in_query_values() -> None:
    inner = urllib.parse.quote("postgresql://ml:hunter2@db/ml", safe="")
    masked = mask_credentials(f"tee:///?targets={inner},sqlite%3A%2F%2F%2Fx.db&queue=/q")
    assert "hunter2" not in masked and "hunter2" not in urllib.parse.unquote(masked)
    assert "ml:***@db/ml" in urllib.parse.unquote(masked)
    assert masked.endswith("&queue=/q")
    assert mask_credentials("sqlite:///x.db?mode=ro") == "sqlite:///x.db?mode=ro"
