"""The conformance kit through trackyard's REST client against trackyard's own server.

trackyard's http(s) tracking and registry stores and its ``mlflow-artifacts:`` repository
talk to an in-process trackyard server (``trackyard_rest.server.create_app``, uvicorn on a
free loopback port, one per pytest process). Each test gets a new app over a fresh
``memory://`` store (contrib/trackyard-memory): building one takes ~10 ms, where a SQLite
file takes ~450 ms to create and ~45 ms to reopen, and the memory store is the reference
(the kit's own evaluator), so a failure here is the server's or the client's. The uvicorn
server keeps running; only the app it dispatches to changes.

Skipped tests (``NOT_SERVED``) are deliberate gaps, with the reason. The whole kit runs by
default (~4 minutes with ``-n 2`` on a loaded 2-core machine): this is the proof that
trackyard's client and server together equal every other backend.
``TRACKYARD_TEST_REST_QUICK_KIT=1`` runs a parametrized test only with its first three
parameter sets (~1 minute).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server needs trackyard[server]")
pytest.importorskip("trackyard_memory", reason="contrib/trackyard-memory is not installed")

from tests.conformance.test_rest_mlflow import _repos
from tests.rest_server import serve
from trackyard.plugins.hookspecs import Event, hookimpl
from trackyard.testing import (
    ArtifactRepositorySuite,
    RegistryStoreSuite,
    TraceStoreSuite,
    TrackingStoreSuite,
)
from trackyard.testing._registry_helpers import _Listener
from trackyard_rest.client.artifacts import MlflowArtifactsRepository
from trackyard_rest.client.registry import RestRegistryStore
from trackyard_rest.client.tracking import RestTrackingStore

#: Kit tests our server does not pass, with why (deliberate gaps, not bugs).
NOT_SERVED: dict[str, str] = {
    "test_download_artifacts_through_models_uri": "refuses a model-version source that is a "
    "local path outside its run's artifact directory (a client could otherwise register, "
    "then download, any file the server can read); the test registers a local folder",
    "test_artifact_paths_at_the_limits_are_taken": "checks the 64-segment artifact path "
    "limit on the proxied path, which includes the repository's root",
    "test_paths_at_the_limits_round_trip": "checks the 64-segment artifact path limit on "
    "the proxied path, which includes the repository's root",
    **dict.fromkeys(
        ("test_secret_is_write_only", "test_document_form"),
        "never answers a webhook's secret (the test reads it back through the store)",
    ),
}


@dataclass
class _Switch:
    """An ASGI app forwarding to whichever app a test installed."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@dataclass
class TrackyardServer:
    """One running uvicorn server; :meth:`fresh` gives it a new app over an empty store."""

    url: str
    switch: _Switch
    root: Path
    uris: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        """``host:port`` (for ``mlflow-artifacts://host:port/...`` URIs)."""
        return self.url.split("://", 1)[1]

    def fresh(self) -> None:
        """Serve a new app over a never-used ``memory://`` store and artifact directory."""
        import trackyard_memory

        from trackyard_rest.server import create_app

        self.forget()
        uri = trackyard_memory.fresh_uri("rest")
        self.uris.append(uri)
        destination = self.root / uri.rsplit("/", 1)[-1]
        self.switch.app = create_app(uri, artifacts_destination=str(destination))

    def forget(self) -> None:
        """Drop the data of the stores served so far."""
        import trackyard_memory

        while self.uris:
            trackyard_memory.reset(self.uris.pop())


@pytest.fixture(scope="session")
def trackyard_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackyardServer]:
    switch = _Switch()
    with serve(switch) as url:
        server = TrackyardServer(url, switch, tmp_path_factory.mktemp("trackyard-server"))
        yield server
        server.forget()


@pytest.fixture
def server(trackyard_server: TrackyardServer, monkeypatch: pytest.MonkeyPatch) -> TrackyardServer:
    """The server with a fresh app over an empty store (after this test's isolation)."""
    monkeypatch.setenv("TRACKYARD_PLUGINS", "trackyard,trackyard-memory")
    # a failure answered 5xx is a bug here: report it after one quick retry, not seven slow ones
    monkeypatch.setenv("TRACKYARD_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("TRACKYARD_HTTP_REQUEST_BACKOFF_FACTOR", "0.01")
    monkeypatch.setenv("TRACKYARD_HTTP_REQUEST_BACKOFF_JITTER", "0")
    trackyard_server.fresh()
    return trackyard_server


QUICK_KIT = os.environ.get("TRACKYARD_TEST_REST_QUICK_KIT") == "1"


@pytest.fixture(autouse=True)
def _not_served_or_not_selected(request: pytest.FixtureRequest) -> None:
    base = getattr(request.node, "originalname", request.node.name)
    reason = NOT_SERVED.get(request.node.name) or NOT_SERVED.get(base)
    if reason:
        pytest.skip(f"trackyard's server {reason}")
    callspec = getattr(request.node, "callspec", None)
    if QUICK_KIT and callspec is not None and any(i >= 3 for i in callspec.indices.values()):
        pytest.skip(
            "beyond the quick selection TRACKYARD_TEST_REST_QUICK_KIT=1 asked for (the first "
            "three parameter sets of each parametrized test)"
        )


class TestRestTrackingOnTrackyardServer(TrackingStoreSuite):
    covers = "trackyard_rest.client.tracking:RestTrackingStore"

    @pytest.fixture
    def tracking_store(self, server: TrackyardServer) -> Iterator[RestTrackingStore]:
        # the server's artifact root, where the kit's imported experiments keep their files
        store = RestTrackingStore(store_uri=server.url, artifact_uri="mlflow-artifacts:/")
        yield store
        store.close()


class TestRestTracesOnTrackyardServer(TraceStoreSuite):
    """Traces and assessments: StartTraceV3, OTLP span export, reads, tags, assessments."""

    covers = "trackyard_rest.client.tracking:RestTrackingStore"
    tracking_store = TestRestTrackingOnTrackyardServer.tracking_store


class TestRestRegistryOnTrackyardServer(RegistryStoreSuite):
    covers = "trackyard_rest.client.registry:RestRegistryStore"

    @pytest.fixture
    def tracking_store(self, server: TrackyardServer) -> Iterator[RestTrackingStore]:
        store = RestTrackingStore(store_uri=server.url)
        yield store
        store.close()

    @pytest.fixture
    def registry_store(
        self, server: TrackyardServer, tracking_store: RestTrackingStore
    ) -> Iterator[RestRegistryStore]:
        store = RestRegistryStore(store_uri=server.url, tracking_uri=server.url)
        yield store
        store.close()

    @pytest.fixture
    def listener(self) -> Iterator[_Listener]:
        """The kit's event recorder, deaf to the in-process server's own events.

        The server fires the same events for the changes it commits (webhooks listen), and
        here it shares the test's plugin manager: only the client's events are recorded.
        """
        from trackyard.plugins.manager import get_plugin_manager

        recorder = _ClientEvents()
        name = f"rest-suite-listener-{id(recorder)}"
        get_plugin_manager().register(recorder, name)
        try:
            yield recorder
        finally:
            get_plugin_manager().unregister(name)


class _ClientEvents(_Listener):
    @hookimpl
    def trackyard_on_event(self, event: Event) -> None:
        if event.store_uri.startswith("http"):
            super().trackyard_on_event(event)


class TestMlflowArtifactsOnTrackyardServer(ArtifactRepositorySuite):
    """``mlflow-artifacts://host:port/<unique>/...``: the URI names the server."""

    covers = "trackyard_rest.client.artifacts:MlflowArtifactsRepository"

    @pytest.fixture
    def artifact_repo_factory(
        self, server: TrackyardServer
    ) -> Callable[..., MlflowArtifactsRepository]:
        return _repos(f"mlflow-artifacts://{server.address}/t", None)


class TestMlflowArtifactsThroughTrackingUriOnTrackyardServer(ArtifactRepositorySuite):
    """``mlflow-artifacts:/<unique>/...``: resolved against the tracking URI, as runs' roots are."""

    covers = "trackyard_rest.client.artifacts:MlflowArtifactsRepository"

    @pytest.fixture
    def artifact_repo_factory(
        self, server: TrackyardServer
    ) -> Callable[..., MlflowArtifactsRepository]:
        return _repos("mlflow-artifacts:/u", server.url)
