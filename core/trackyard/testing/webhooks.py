"""``WebhookChecks``: the webhook storage contract, part of every ``RegistryStoreSuite``.

Every test but one needs the ``webhooks`` capability and skips, saying so, without it; the
other checks that a store without it answers FEATURE_DISABLED. Webhook URLs here are public
IP literals that are never contacted (these tests fire no registry event) or addresses the
SSRF guard refuses before any connection; no name is looked up in DNS except ``localhost``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from trackyard.entities.webhook import WebhookEvent, WebhookStatus
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.testing._client import require_capability

__all__ = ["BAD_WEBHOOK_INPUT", "WebhookChecks"]

#: A public address used as a webhook URL; the kit never sends anything to it.
URL = "https://93.184.215.14/hooks/trackyard-kit"
SECRET = "kit-secret-never-echoed"

#: (keyword arguments of ``create_webhook``, why they are refused).
BAD_WEBHOOK_INPUT: list[tuple[dict[str, Any], str]] = [
    ({"url": "http://127.0.0.1:8080/hook"}, "loopback"),
    ({"url": "http://10.0.0.1/hook"}, "private"),
    ({"url": "http://169.254.169.254/latest/meta-data/"}, "link-local (metadata)"),
    ({"url": "http://[::1]:8080/hook"}, "IPv6 loopback"),
    ({"url": "http://[::ffff:10.0.0.1]/hook"}, "IPv4-mapped private"),
    ({"url": "http://localhost:8080/hook"}, "a name resolving to loopback"),
    ({"url": "http://0.0.0.0/hook"}, "unspecified"),
    ({"url": "http://224.0.0.1/hook"}, "multicast"),
    ({"url": "http://2130706433/hook"}, "loopback written as an integer"),
    ({"url": "file:///etc/passwd"}, "file scheme"),
    ({"url": "ftp://93.184.215.14/x"}, "ftp scheme"),
    ({"url": "http://user:pw@93.184.215.14/hook"}, "credentials"),
    ({"url": "https:///nohost"}, "no host"),
    ({"url": ""}, "empty"),
    ({"url": 42}, "not a string"),
    ({"url": "https://93.184.215.14/" + "a" * 500}, "too long"),
    ({"name": "-bad"}, "name starts with a hyphen"),
    ({"name": "a" * 64}, "name too long"),
    ({"name": "sp ace"}, "name with a space"),
    ({"events": []}, "no events"),
    ({"events": ["model_version.exploded"]}, "unknown action"),
    ({"events": ["run.created"]}, "unknown entity"),
    ({"events": ["registered_model.deleted"]}, "pair MLflow does not deliver"),
    ({"events": "model_version.created"}, "events not a list"),
    ({"status": "PAUSED"}, "unknown status"),
    ({"description": "d" * 1001}, "description too long"),
    ({"secret": 12345}, "secret not a string"),
]


def _good(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "name": "kit-hook",
        "url": URL,
        "events": ["model_version.created"],
        "description": "a kit webhook",
        "secret": SECRET,
    }
    args.update(overrides)
    return args


def _code(exc: pytest.ExceptionInfo[TrackyardError]) -> str:
    return str(exc.value.error_code)


class WebhookChecks:
    """Webhook storage: lifecycle, write-only secrets, paging, events, bad input."""

    def test_webhooks_need_the_capability(self, registry_client: Any) -> None:
        store = registry_client._registry_store
        if store.capabilities.webhooks:
            pytest.skip(f"{type(store).__name__} declares 'webhooks' (the other tests apply)")
        with pytest.raises(TrackyardError) as exc:
            registry_client.create_webhook(**_good())
        assert _code(exc) == ErrorCode.FEATURE_DISABLED
        with pytest.raises(TrackyardError) as exc:
            registry_client.list_webhooks()
        assert _code(exc) == ErrorCode.FEATURE_DISABLED

    def test_webhook_lifecycle(self, registry_client: Any) -> None:
        require_capability(registry_client._registry_store, "webhooks")
        before = int(time.time() * 1000)
        hook = registry_client.create_webhook(
            **_good(events=["model_version.created", WebhookEvent("registered_model", "created")])
        )
        assert hook.webhook_id and hook.name == "kit-hook" and hook.url == URL
        assert hook.description == "a kit webhook" and hook.status == WebhookStatus.ACTIVE
        assert hook.creation_timestamp >= before - 1000
        assert hook.last_updated_timestamp == hook.creation_timestamp
        assert set(map(str, hook.events)) == {"model_version.created", "registered_model.created"}
        got = registry_client.get_webhook(hook.webhook_id)
        assert (got.webhook_id, got.name, got.url, got.description, got.status) == (
            hook.webhook_id,
            hook.name,
            hook.url,
            hook.description,
            hook.status,
        )
        assert set(got.events) == set(hook.events)
        assert got.creation_timestamp == hook.creation_timestamp

        time.sleep(0.002)
        updated = registry_client.update_webhook(
            hook.webhook_id,
            name="kit-hook-2",
            description="changed",
            url="https://93.184.215.14/other",
            events=["prompt_alias.deleted"],
            status="DISABLED",
        )
        assert updated.name == "kit-hook-2" and updated.description == "changed"
        assert updated.url == "https://93.184.215.14/other"
        assert [str(e) for e in updated.events] == ["prompt_alias.deleted"]
        assert updated.status == WebhookStatus.DISABLED
        assert updated.last_updated_timestamp >= hook.last_updated_timestamp
        again = registry_client.get_webhook(hook.webhook_id)
        assert (again.name, again.status, [str(e) for e in again.events]) == (
            "kit-hook-2",
            WebhookStatus.DISABLED,
            ["prompt_alias.deleted"],
        )
        # fields not given stay
        kept = registry_client.update_webhook(hook.webhook_id, status="ACTIVE")
        assert kept.name == "kit-hook-2" and kept.url == "https://93.184.215.14/other"
        assert kept.status == WebhookStatus.ACTIVE

        registry_client.delete_webhook(hook.webhook_id)
        calls: list[tuple[str, dict[str, Any]]] = [
            ("get_webhook", {}),
            ("update_webhook", {"name": "x"}),
            ("delete_webhook", {}),
        ]
        for method, kwargs in calls:
            with pytest.raises(TrackyardError) as exc:
                getattr(registry_client, method)(hook.webhook_id, **kwargs)
            assert _code(exc) == ErrorCode.RESOURCE_DOES_NOT_EXIST
        assert list(registry_client.list_webhooks()) == []

    def test_missing_webhook(self, registry_client: Any) -> None:
        require_capability(registry_client._registry_store, "webhooks")
        with pytest.raises(TrackyardError) as exc:
            registry_client.get_webhook("00000000-0000-0000-0000-000000000000")
        assert _code(exc) == ErrorCode.RESOURCE_DOES_NOT_EXIST

    def test_secret_is_write_only(self, registry_client: Any) -> None:
        store = registry_client._registry_store
        require_capability(store, "webhooks")
        hook = registry_client.create_webhook(**_good())
        for seen in (hook, registry_client.get_webhook(hook.webhook_id)):
            assert seen.secret is None
            assert SECRET not in repr(seen)
        assert all(w.secret is None for w in registry_client.list_webhooks())
        assert store.get_webhook_secret(hook.webhook_id) == SECRET
        registry_client.update_webhook(hook.webhook_id, description="no new secret")
        assert store.get_webhook_secret(hook.webhook_id) == SECRET
        registry_client.update_webhook(hook.webhook_id, secret="rotated")
        assert store.get_webhook_secret(hook.webhook_id) == "rotated"
        plain = registry_client.create_webhook(**_good(name="no-secret", secret=None))
        assert store.get_webhook_secret(plain.webhook_id) is None

    def test_list_webhooks_pages_newest_first(self, registry_client: Any) -> None:
        require_capability(registry_client._registry_store, "webhooks")
        made = []
        for i in range(5):
            made.append(registry_client.create_webhook(**_good(name=f"hook-{i}")).webhook_id)
            time.sleep(0.002)
        seen: list[str] = []
        token = None
        pages = 0
        while True:
            page = registry_client.list_webhooks(max_results=2, page_token=token)
            assert len(page) <= 2
            seen += [w.webhook_id for w in page]
            pages += 1
            token = page.token
            if not token:
                break
        assert pages == 3 and seen == made[::-1]
        assert [w.webhook_id for w in registry_client.list_webhooks()] == made[::-1]
        for bad in (0, 1001, -1, "3", True):
            with pytest.raises(TrackyardError) as exc:
                registry_client.list_webhooks(max_results=bad)
            assert _code(exc) == ErrorCode.INVALID_PARAMETER_VALUE
        with pytest.raises(TrackyardError) as exc:
            registry_client.list_webhooks(page_token="not-a-token")
        assert _code(exc) == ErrorCode.INVALID_PARAMETER_VALUE

    def test_list_webhooks_by_event(self, registry_client: Any) -> None:
        store = registry_client._registry_store
        require_capability(store, "webhooks")
        a = registry_client.create_webhook(**_good(name="a", events=["model_version.created"]))
        b = registry_client.create_webhook(
            **_good(name="b", events=["model_version.created", "prompt.created"], status="DISABLED")
        )
        registry_client.create_webhook(**_good(name="c", events=["prompt_tag.set"]))
        found = store.list_webhooks_by_event(WebhookEvent("model_version", "created"), 100, None)
        assert {w.webhook_id for w in found} == {a.webhook_id, b.webhook_id}
        found = store.list_webhooks_by_event(WebhookEvent("prompt", "created"), 100, None)
        assert [w.webhook_id for w in found] == [b.webhook_id]
        assert list(store.list_webhooks_by_event(WebhookEvent("prompt", "created"), 1, None))
        # the document's listing by events
        listed = registry_client.list_webhooks(["prompt.created", "prompt_tag.set"])
        assert {w.name for w in listed} == {"b", "c"}

    @pytest.mark.parametrize(
        ("overrides", "why"), BAD_WEBHOOK_INPUT, ids=[w for _, w in BAD_WEBHOOK_INPUT]
    )
    def test_bad_webhook_input_writes_nothing(
        self, registry_client: Any, overrides: dict[str, Any], why: str
    ) -> None:
        require_capability(registry_client._registry_store, "webhooks")
        with pytest.raises(TrackyardError) as exc:
            registry_client.create_webhook(**_good(**overrides))
        assert _code(exc) == ErrorCode.INVALID_PARAMETER_VALUE, why
        assert SECRET not in str(exc.value)
        assert list(registry_client.list_webhooks()) == []
        hook = registry_client.create_webhook(**_good())
        update = {k: v for k, v in overrides.items() if v is not None}
        if update.get("events") == []:
            update["events"] = ["nope.nope"]
        with pytest.raises(TrackyardError) as exc:
            registry_client.update_webhook(hook.webhook_id, **update)
        assert _code(exc) == ErrorCode.INVALID_PARAMETER_VALUE, why
        after = registry_client.get_webhook(hook.webhook_id)
        assert (after.name, after.url, after.description, after.status) == (
            hook.name,
            hook.url,
            hook.description,
            hook.status,
        )

    def test_document_form(self, registry_client: Any) -> None:
        require_capability(registry_client._registry_store, "webhooks")
        hook = registry_client.create_webhook(
            ["MODEL_VERSION_CREATED", "registered_model.created"],
            {"url": URL, "secret": SECRET},
            "made by the document's form",
            "INACTIVE",
        )
        assert hook.status == WebhookStatus.DISABLED
        assert hook.description == "made by the document's form"
        assert {str(e) for e in hook.events} == {
            "model_version.created",
            "registered_model.created",
        }
        assert registry_client._registry_store.get_webhook_secret(hook.webhook_id) == SECRET
        kw = registry_client.create_webhook(
            events=["prompt.created"], http_url_spec={"url": URL}, status="ACTIVE"
        )
        assert kw.status == WebhookStatus.ACTIVE and kw.name != hook.name
        named = registry_client.create_webhook(
            "named", events=["prompt.created"], http_url_spec={"url": URL}
        )
        assert named.name == "named" and named.url == URL
        with pytest.raises(TrackyardError) as exc:
            registry_client.create_webhook(
                ["model_version.created"], {"url": URL}, model_name="some-model"
            )
        assert _code(exc) == ErrorCode.INVALID_PARAMETER_VALUE
        with pytest.raises(TrackyardError):
            registry_client.create_webhook(["MODEL_VERSION_TRANSITIONED_STAGE"], {"url": URL})
        updated = registry_client.update_webhook(
            kw.webhook_id, http_url_spec={"url": "https://93.184.215.14/new", "secret": "n"}
        )
        assert updated.url == "https://93.184.215.14/new"
        assert registry_client._registry_store.get_webhook_secret(kw.webhook_id) == "n"
