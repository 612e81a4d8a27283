"""What every route works on: the stores a server was started for, shared by its threads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trackyard import MlflowClient
from trackyard.backends import get_registry_store, get_tracking_store
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.plugins.events import emit_event

if TYPE_CHECKING:
    from starlette.requests import Request

    from trackyard.stores import RegistryStore, TrackingStore
    from trackyard_rest.server.config import ServerConfig

__all__ = ["Backend", "backend"]


class Backend:
    """The tracking and registry stores of one server process.

    Stores are trackyard's shared, thread-safe instances (``trackyard.backends``), so routes
    run in a thread pool and call them directly, as MLflow's handlers call its stores: the
    server applies no run-context tags of its own and hides no prompts. After each committed
    change a route calls :meth:`emit` or :meth:`emit_registry` with the event the client
    would fire (:func:`trackyard.plugins.emit_event`), so plugins such as webhooks see
    changes made through the server too.
    """

    def __init__(self, config: ServerConfig):
        self.config = config
        self.tracking_uri = config.backend_store_uri
        self.registry_uri = config.registry_store_uri or config.backend_store_uri
        self.tracking: TrackingStore = get_tracking_store(
            self.tracking_uri, artifact_root=config.artifact_root
        )
        self._registry: RegistryStore | None = None
        self._client: MlflowClient | None = None

    @property
    def registry(self) -> RegistryStore:
        """The registry store (built on first use: a tracking-only URI may have none)."""
        store = self._registry
        if store is None:
            store = self._registry = get_registry_store(self.registry_uri, self.tracking_uri)
        return store

    @property
    def client(self) -> MlflowClient:
        """A client over the same URIs, for calls whose validation lives in the client."""
        client = self._client
        if client is None:
            client = self._client = MlflowClient(self.tracking_uri, self.registry_uri)
        return client

    def emit(self, name: str, entity: Any, /, **data: Any) -> None:
        """Fire ``trackyard_on_event`` for a committed tracking change, as the client does."""
        emit_event(name, entity, self.tracking_uri, data)

    def emit_registry(self, name: str, entity: Any, /, **data: Any) -> None:
        """Fire ``trackyard_on_event`` for a committed registry change (webhooks listen)."""
        emit_event(name, entity, self.registry_uri, data, self._registry)

    def require(self, capability: str, what: str) -> None:
        """Raise FEATURE_DISABLED when the tracking store lacks ``capability``."""
        if not getattr(self.tracking.capabilities, capability, False):
            raise TrackyardError(
                f"{what} is not supported by this server's tracking store.",
                ErrorCode.FEATURE_DISABLED,
            )


def backend(request: Request) -> Backend:
    """The :class:`Backend` of the app serving ``request``."""
    found: Backend = request.app.state.backend
    return found
