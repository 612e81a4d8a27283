"""The ASGI app: MLflow's REST API over the stores a :class:`ServerConfig` names.

Routes live in one module per subject (:mod:`.experiments`, :mod:`.runs`, :mod:`.registry`,
:mod:`.versions`); each exposes an ``APIRouter`` with paths relative to
``/api/2.0/mlflow``, and :data:`ROUTERS` mounts every one of them there and, for MLflow's
UI, under ``/ajax-api/2.0/mlflow``. A new subject (traces, logged models, webhooks) is one
more module and one more entry.

Routes are plain ``def`` functions: Starlette runs them in its thread pool, so a slow
store call never blocks the event loop, and each call takes and returns its own database
connection (none is held while waiting for another).
"""

from __future__ import annotations

import importlib
import logging

from fastapi import APIRouter, FastAPI
from starlette.responses import PlainTextResponse

import trackyard
from trackyard_rest.server.artifacts import make_artifact_router
from trackyard_rest.server.backend import Backend
from trackyard_rest.server.config import ServerConfig
from trackyard_rest.server.errors import install_error_handlers
from trackyard_rest.server.security import BodyLimit, HostCheck

__all__ = [
    "API_PREFIXES",
    "ARTIFACT_PREFIXES",
    "MLFLOW_API_VERSION",
    "ROUTERS",
    "app_from_env",
    "create_app",
]

_logger = logging.getLogger("trackyard.server")

#: Router modules, each mounted under every prefix of :data:`API_PREFIXES`.
ROUTERS = (
    "trackyard_rest.server.experiments",
    "trackyard_rest.server.runs",
    "trackyard_rest.server.registry",
    "trackyard_rest.server.versions",
    "trackyard_rest.server.webhooks",
    "trackyard_rest.server.logged_models",
    "trackyard_rest.server.metric_history",
    "trackyard_rest.server.traces",
    "trackyard_rest.server.trace_tags",
    "trackyard_rest.server.assessments",
    "trackyard_rest.server.otlp",
    "trackyard_rest.server.imports",
)
#: Where the tracking and registry API is served (the second for MLflow's UI).
API_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
#: What ``/version`` answers: the MLflow release whose REST API the server speaks. MLflow's
#: client reads it to choose features (it sends spans to ``/v1/traces`` from 3.4 on);
#: trackyard's own version is in ``/api/3.0/mlflow/server-info``.
MLFLOW_API_VERSION = "3.17.2"
#: Where the artifact proxy is served (the second for MLflow's UI).
ARTIFACT_PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")


def _meta_router() -> APIRouter:
    router = APIRouter(tags=["server"])

    @router.get("/health", response_class=PlainTextResponse)
    def health() -> str:
        """``OK`` while the server runs."""
        return "OK"

    @router.get("/version", response_class=PlainTextResponse)
    def version() -> str:
        """The MLflow version whose REST API is served (:data:`MLFLOW_API_VERSION`)."""
        return MLFLOW_API_VERSION

    return router


def create_app(
    backend_store_uri: str | ServerConfig,
    registry_store_uri: str | None = None,
    default_artifact_root: str | None = None,
    artifacts_destination: str | None = None,
    serve_artifacts: bool = True,
    allowed_hosts: tuple[str, ...] | list[str] = (),
    max_body_bytes: int | None = None,
    bind_host: str = "127.0.0.1",
    auth: str | None = None,
    auth_database_uri: str | None = None,
    auth_default_permission: str = "READ",
) -> FastAPI:
    """Build the tracking server app over any trackyard store URI.

    Args:
        backend_store_uri: the tracking store URI, or a whole :class:`ServerConfig`.
        registry_store_uri: the registry store URI (default: the tracking URI).
        default_artifact_root: artifact root of new experiments (default
            ``mlflow-artifacts:/`` when serving artifacts, else the store's own).
        artifacts_destination: where the artifact proxy stores files.
        serve_artifacts: serve ``/api/2.0/mlflow-artifacts/...``.
        allowed_hosts: extra ``Host`` names to accept (``"*"``: any).
        max_body_bytes: request body limit of the JSON API.
        bind_host: the host the server listens on (accepted in ``Host``).
        auth: ``"basic"`` turns on authentication (see :mod:`trackyard_rest.server.auth`).
        auth_database_uri: where users and permissions live.
        auth_default_permission: a user's level on a resource without a grant.
    """
    if isinstance(backend_store_uri, ServerConfig):
        config = backend_store_uri
    else:
        from trackyard_rest.server.config import DEFAULT_MAX_BODY_BYTES

        config = ServerConfig(
            backend_store_uri=backend_store_uri,
            registry_store_uri=registry_store_uri,
            default_artifact_root=default_artifact_root,
            artifacts_destination=artifacts_destination,
            serve_artifacts=serve_artifacts,
            allowed_hosts=tuple(allowed_hosts),
            bind_host=bind_host,
            max_body_bytes=DEFAULT_MAX_BODY_BYTES if max_body_bytes is None else max_body_bytes,
            auth=auth,
            auth_database_uri=auth_database_uri,
            auth_default_permission=auth_default_permission,
        )
    app = FastAPI(
        title="trackyard tracking server",
        version=trackyard.__version__,
        description="MLflow's REST API (tracking and model registry) over any trackyard store.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.backend = Backend(config)
    app.state.config = config
    install_error_handlers(app)
    app.include_router(_meta_router())
    for name in ROUTERS:
        module = importlib.import_module(name)
        router: APIRouter = module.router
        prefixes: tuple[str, ...] = getattr(module, "PREFIXES", API_PREFIXES)  # traces: 3.0
        for prefix in prefixes:
            app.include_router(router, prefix=prefix, include_in_schema=prefix == prefixes[0])
    if config.serve_artifacts:
        for prefix in ARTIFACT_PREFIXES:
            app.include_router(make_artifact_router(config.destination, prefix=prefix))
    if config.auth:  # after every router: its middleware must see all routes
        from trackyard_rest.server.auth.setup import install

        install(app, config)
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    hosts = config.host_names()
    if hosts is not None:
        app.add_middleware(HostCheck, allowed=hosts)
    return app


def app_from_env() -> FastAPI:
    """The app of a ``trackyard server`` worker process (config from the environment)."""
    return create_app(ServerConfig.from_env())
