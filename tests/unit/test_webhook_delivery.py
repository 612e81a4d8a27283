"""Webhook delivery end to end: real registry stores, a real HTTP receiver on loopback.

Traffic goes only to 127.0.0.1 (allowed per test through TRACKYARD_WEBHOOK_ALLOWED_NETWORKS).
Refusals of other addresses are shown to happen before any connection: they come back
at once as INVALID_PARAMETER_VALUE, where a connection attempt would hang or fail with an
OSError, and the receiver counts the connections it accepts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.webhook_receiver import Receiver, receiving
from trackyard import MlflowClient
from trackyard.entities.webhook import WebhookEvent
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.webhooks import delivery, flush, urls
from trackyard.webhooks.payloads import (
    DELIVERY_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)

SECRET = "whsec-test-0123456789"
ALL_EVENTS = [
    "registered_model.created",
    "model_version.created",
    "model_version_tag.set",
    "model_version_tag.deleted",
    "model_version_alias.created",
    "model_version_alias.deleted",
    "prompt.created",
    "prompt_version.created",
    "prompt_tag.set",
    "prompt_tag.deleted",
    "prompt_version_tag.set",
    "prompt_version_tag.deleted",
    "prompt_alias.created",
    "prompt_alias.deleted",
]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as server:
        yield server


@pytest.fixture
def fernet_key(monkeypatch: pytest.MonkeyPatch) -> str:
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    monkeypatch.setenv("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY", key)
    return key


@pytest.fixture
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(urls.ALLOWED_NETWORKS_ENV, "127.0.0.0/8")
    monkeypatch.setenv("TRACKYARD_WEBHOOK_BACKOFF_FACTOR", "0.01")
    monkeypatch.setenv("TRACKYARD_WEBHOOK_REQUEST_TIMEOUT", "5")


@pytest.fixture
def client(tmp_path: Path, fernet_key: str) -> MlflowClient:
    return MlflowClient(f"sqlite:///{tmp_path / 'hooks.db'}")


def _drain() -> None:
    assert flush(30), "webhook deliveries did not finish"


def test_every_registry_event_is_delivered_signed(
    client: MlflowClient, receiver: Receiver, loopback_allowed: None
) -> None:
    hook = client.create_webhook("all-events", receiver.url, ALL_EVENTS, secret=SECRET)
    client.create_registered_model("m", tags={"team": "a"}, description="d")
    client.create_model_version("m", "s3://bucket/m", tags={"k0": "v0"})
    client.set_model_version_tag("m", "1", "k", "v")
    client.delete_model_version_tag("m", "1", "k")
    client.set_registered_model_alias("m", "champion", "1")
    client.delete_registered_model_alias("m", "champion")
    client.register_prompt("p", "Hello {{ name }}", commit_message="first", tags={"t": "1"})
    client.set_prompt_tag("p", "pk", "pv")
    client.delete_prompt_tag("p", "pk")
    client.set_prompt_version_tag("p", 1, "vk", "vv")
    client.delete_prompt_version_tag("p", 1, "vk")
    client.set_prompt_alias("p", "prod", 1)
    client.delete_prompt_alias("p", "prod")
    client.update_registered_model("m", "not a webhook event")
    _drain()

    assert receiver.connections == len(receiver.requests)
    got = {f"{b['entity']}.{b['action']}": b for b in receiver.bodies()}
    assert sorted(got) == sorted(ALL_EVENTS)
    assert len(receiver.requests) == len(ALL_EVENTS)  # each exactly once
    for path, headers, body in receiver.requests:
        assert path == "/hook"
        assert headers["Content-Type"] == "application/json"
        assert headers[SIGNATURE_HEADER].startswith("v1,")
        assert headers[DELIVERY_ID_HEADER] and headers[TIMESTAMP_HEADER].isdigit()
        assert verify_signature(SECRET, headers, body)
        assert not verify_signature("another-secret", headers, body)
        assert SECRET.encode() not in body
    assert got["registered_model.created"]["data"] == {
        "name": "m",
        "tags": {"team": "a"},
        "description": "d",
    }
    mv = got["model_version.created"]["data"]
    assert (mv["name"], mv["version"], mv["source"], mv["tags"]) == (
        "m",
        "1",
        "s3://bucket/m",
        {"k0": "v0"},
    )
    assert got["model_version_tag.set"]["data"] == {
        "name": "m",
        "version": "1",
        "key": "k",
        "value": "v",
    }
    assert got["model_version_alias.created"]["data"] == {
        "name": "m",
        "alias": "champion",
        "version": "1",
    }
    assert got["model_version_alias.deleted"]["data"] == {"name": "m", "alias": "champion"}
    pv = got["prompt_version.created"]["data"]
    assert (pv["name"], pv["version"], pv["template"], pv["description"]) == (
        "p",
        "1",
        "Hello {{ name }}",
        "first",
    )
    assert got["prompt.created"]["data"]["tags"] == {"t": "1"}
    assert got["prompt_tag.deleted"]["data"] == {"name": "p", "key": "pk"}
    assert "T" in got["prompt_alias.created"]["timestamp"]
    assert client.get_webhook(hook.webhook_id).secret is None


def test_only_active_subscribed_webhooks_receive(
    client: MlflowClient, receiver: Receiver, loopback_allowed: None
) -> None:
    client.create_webhook("versions", receiver.url, ["model_version.created"])
    client.create_webhook("off", receiver.url, ["registered_model.created"], status="DISABLED")
    client.create_registered_model("m")
    client.create_model_version("m", "/tmp/source")
    _drain()
    assert [(b["entity"], b["action"]) for b in receiver.bodies()] == [("model_version", "created")]
    headers = receiver.requests[0][1]
    assert SIGNATURE_HEADER not in headers  # no secret, no signature


def test_webhook_changes_take_effect_at_once(
    client: MlflowClient, receiver: Receiver, loopback_allowed: None
) -> None:
    hook = client.create_webhook("h", receiver.url, ["registered_model.created"])
    client.create_registered_model("a")
    _drain()
    client.update_webhook(hook.webhook_id, status="DISABLED")
    client.create_registered_model("b")
    _drain()
    client.update_webhook(hook.webhook_id, status="ACTIVE")
    client.create_registered_model("c")
    _drain()
    client.delete_webhook(hook.webhook_id)
    client.create_registered_model("d")
    _drain()
    assert [b["data"]["name"] for b in receiver.bodies()] == ["a", "c"]


def test_default_refuses_loopback_without_connecting(
    client: MlflowClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(TrackyardError) as exc:
        client.create_webhook("h", receiver.url, ["registered_model.created"])
    assert exc.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert "loopback" in str(exc.value)
    assert list(client.list_webhooks()) == []
    # stored while allowed, delivered after the allow-list was emptied: refused again
    monkeypatch.setenv(urls.ALLOWED_NETWORKS_ENV, "127.0.0.0/8")
    hook = client.create_webhook("h", receiver.url, ["registered_model.created"])
    monkeypatch.delenv(urls.ALLOWED_NETWORKS_ENV)
    client.create_registered_model("m")
    _drain()
    result = client.test_webhook(hook.webhook_id)
    assert not result.success and "loopback" in (result.error_message or "")
    assert receiver.connections == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/hook",
        "http://localhost:9/hook",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a00:1]/",
        "http://100.64.0.1/",
        "http://0x7f000001/",
    ],
)
def test_refused_before_any_connection(url: str) -> None:
    started = time.monotonic()
    with pytest.raises(TrackyardError) as exc:
        delivery.post(url, b"{}", {}, timeout=30)
    assert exc.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert time.monotonic() - started < 5  # a connection attempt to 10.0.0.1 would hang
    result = delivery.send(url, b"{}", {})
    assert not result.ok and result.attempts == 1  # refusals are never retried


def test_allow_list_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert urls.check_address("127.0.0.1", []) is not None
    monkeypatch.setenv(urls.ALLOWED_NETWORKS_ENV, " 127.0.0.0/8 , ::1/128 ")
    assert urls.check_address("127.0.0.2") is None
    assert urls.check_address("::1") is None
    assert urls.check_address("10.0.0.1") is not None
    assert urls.check_address("93.184.215.14") is None
    monkeypatch.setenv(urls.ALLOWED_NETWORKS_ENV, "not-a-network")
    with pytest.raises(TrackyardError, match="not a network"):
        urls.allowed_networks()


def test_retries_with_backoff_keep_the_delivery_id(
    client: MlflowClient, receiver: Receiver, loopback_allowed: None
) -> None:
    receiver.statuses = [503, 500]
    client.create_webhook("h", receiver.url, ["registered_model.created"], secret=SECRET)
    client.create_registered_model("m")
    _drain()
    assert len(receiver.requests) == 3
    ids = {headers[DELIVERY_ID_HEADER] for _, headers, _ in receiver.requests}
    assert len(ids) == 1
    assert all(verify_signature(SECRET, h, b) for _, h, b in receiver.requests)


def test_gives_up_after_max_retries_and_not_on_client_errors(
    receiver: Receiver, loopback_allowed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKYARD_WEBHOOK_REQUEST_MAX_RETRIES", "2")
    receiver.statuses = [503] * 10
    result = delivery.send(receiver.url, b"{}", {"Content-Type": "application/json"})
    assert not result.ok and result.attempts == 3 and result.status == 503
    receiver.statuses = [404]
    result = delivery.send(receiver.url, b"{}", {})
    assert not result.ok and result.attempts == 1 and result.status == 404


def test_redirects_are_not_followed(receiver: Receiver, loopback_allowed: None) -> None:
    receiver.statuses = [302]
    receiver.headers_out = {"Location": "http://169.254.169.254/latest/meta-data/"}
    result = delivery.send(receiver.url, b"{}", {})
    assert not result.ok and "redirect" in (result.error or "")
    assert len(receiver.requests) == 1


def test_test_webhook_reports_the_answer(
    client: MlflowClient, receiver: Receiver, loopback_allowed: None
) -> None:
    hook = client.create_webhook("h", receiver.url, ["model_version.created"], secret=SECRET)
    result = client.test_webhook(hook.webhook_id)
    assert result.success and result.response_status == 200
    assert result.response_body == "received"
    body = receiver.bodies()[0]
    assert (body["entity"], body["action"]) == ("model_version", "created")
    assert body["data"]["name"] == "example_model"
    _, headers, raw = receiver.requests[0]
    assert verify_signature(SECRET, headers, raw)
    result = client.test_webhook(hook.webhook_id, "prompt_alias.deleted")
    assert receiver.bodies()[1]["data"] == {"name": "example_prompt", "alias": "example_alias"}
    receiver.statuses = [400]
    result = client.test_webhook(hook.webhook_id, WebhookEvent("prompt", "created"))
    assert not result.success and result.response_status == 400


def test_slow_endpoint_never_slows_the_caller(
    client: MlflowClient, receiver: Receiver, loopback_allowed: None
) -> None:
    client.create_registered_model("m")
    client.create_model_version("m", "/tmp/source")
    client.create_webhook("slow", receiver.url, ["model_version_tag.set"])
    receiver.delay = 1.0
    started = time.monotonic()
    for i in range(30):
        client.set_model_version_tag("m", "1", f"k{i}", "v")
    elapsed = time.monotonic() - started
    # waiting for the endpoint would take 30 s (3 s even with all ten workers in parallel)
    assert elapsed < 2.5, f"30 tag writes took {elapsed:.2f}s with a 1 s endpoint"
    _drain()
    keys = sorted(b["data"]["key"] for b in receiver.bodies())
    assert keys == sorted(f"k{i}" for i in range(30))


def test_secret_is_encrypted_at_rest_and_never_logged(
    client: MlflowClient,
    receiver: Receiver,
    loopback_allowed: None,
    fernet_key: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import sqlite3

    from cryptography.fernet import Fernet

    hook = client.create_webhook("h", receiver.url, ["registered_model.created"], secret=SECRET)
    with sqlite3.connect(tmp_path / "hooks.db") as db:
        (stored,) = db.execute(
            "SELECT secret FROM webhooks WHERE webhook_id = ?", (hook.webhook_id,)
        ).fetchone()
    assert SECRET not in stored
    assert Fernet(fernet_key.encode()).decrypt(stored.encode()).decode() == SECRET
    receiver.statuses = [500] * 10
    with caplog.at_level(logging.DEBUG):
        client.create_registered_model("m")
        _drain()
    assert "failed" in caplog.text
    assert SECRET not in caplog.text


def test_secret_from_another_key_is_not_sent_unsigned(
    client: MlflowClient,
    receiver: Receiver,
    loopback_allowed: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cryptography.fernet import Fernet

    hook = client.create_webhook("h", receiver.url, ["registered_model.created"], secret=SECRET)
    monkeypatch.setenv("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY", Fernet.generate_key().decode())
    client.create_registered_model("m")
    _drain()
    assert receiver.requests == []
    result = client.test_webhook(hook.webhook_id)
    assert not result.success and "decrypt" in (result.error_message or "")
    assert SECRET not in (result.error_message or "")


def test_memory_store_delivers_too(receiver: Receiver, loopback_allowed: None) -> None:
    from trackyard.testing import make_client

    pytest.importorskip("trackyard_memory", reason="the contrib memory store is not installed")
    from trackyard_memory.registry import MemoryRegistryStore

    client = make_client(None, MemoryRegistryStore("memory://"))
    client.create_webhook("h", receiver.url, ["registered_model.created"], secret=SECRET)
    client.create_registered_model("m")
    _drain()
    assert [b["data"]["name"] for b in receiver.bodies()] == ["m"]
    assert verify_signature(SECRET, receiver.requests[0][1], receiver.requests[0][2])


def test_file_store_delivers_and_keeps_secrets_encrypted(
    tmp_path: Path, receiver: Receiver, loopback_allowed: None, fernet_key: str
) -> None:
    client = MlflowClient(str(tmp_path / "mlruns"))
    hook = client.create_webhook("h", receiver.url, ["model_version.created"], secret=SECRET)
    client.create_registered_model("m")
    client.create_model_version("m", "/tmp/source")
    _drain()
    assert [b["data"]["version"] for b in receiver.bodies()] == ["1"]
    assert verify_signature(SECRET, receiver.requests[0][1], receiver.requests[0][2])
    stored = (tmp_path / "mlruns" / ".trackyard-webhooks.json").read_text()
    assert hook.webhook_id in stored and SECRET not in stored


def test_full_queue_drops_instead_of_blocking(
    client: MlflowClient,
    receiver: Receiver,
    loopback_allowed: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRACKYARD_WEBHOOK_QUEUE_SIZE", "2")
    monkeypatch.setenv("TRACKYARD_WEBHOOK_DELIVERY_MAX_WORKERS", "1")
    monkeypatch.setattr(delivery, "_dispatcher", None)  # a dispatcher with these settings
    client.create_registered_model("m")
    client.create_model_version("m", "/tmp/source")
    client.create_webhook("slow", receiver.url, ["model_version_tag.set"])
    receiver.delay = 1.0
    started = time.monotonic()
    for i in range(10):
        client.set_model_version_tag("m", "1", f"k{i}", "v")
    assert time.monotonic() - started < 5.0  # waiting on the one worker would take 10 s
    stats = delivery.get_dispatcher().stats
    assert stats["dropped"] >= 5 and stats["queued"] + stats["dropped"] == 10
    _drain()
    assert len(receiver.requests) == stats["queued"]


def test_pending_deliveries_finish_at_exit(
    tmp_path: Path, receiver: Receiver, fernet_key: str
) -> None:
    import os
    import subprocess
    import sys

    script = f"""
import time
from tests.webhook_receiver import Receiver, receiving
from trackyard import MlflowClient
client = MlflowClient({f"sqlite:///{tmp_path / 'exit.db'}"!r})
client.create_webhook("h", {receiver.url!r}, ["registered_model.created"], secret="s")
for i in range(5):
    client.create_registered_model(f"m{{i}}")
# exits at once: the atexit drain sends what is queued
"""
    receiver.delay = 0.3
    env = {
        **os.environ,
        urls.ALLOWED_NETWORKS_ENV: "127.0.0.0/8",
        "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": fernet_key,
    }
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    assert sorted(b["data"]["name"] for b in receiver.bodies()) == [f"m{i}" for i in range(5)]
