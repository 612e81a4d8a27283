"""The server's settings: one frozen value, passed to worker processes through the environment.

``trackyard server --workers N`` starts uvicorn with an import string
(``trackyard_rest.server.app:app_from_env``); each worker rebuilds the same
:class:`ServerConfig` from ``TRACKYARD_SERVER_CONFIG`` (JSON). This module imports nothing
heavy, so the CLI hook can use it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "ENV_VAR",
    "LOCAL_HOSTS",
    "ServerConfig",
]

#: Environment variable carrying a :class:`ServerConfig` as JSON to worker processes.
ENV_VAR = "TRACKYARD_SERVER_CONFIG"
#: Default request body limit for the JSON API (artifact uploads are not limited by it).
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
#: Host names always accepted in the ``Host`` header.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")
#: The artifact root runs get when the server proxies artifacts (as ``mlflow server``).
PROXIED_ARTIFACT_ROOT = "mlflow-artifacts:/"


@dataclass(frozen=True)
class ServerConfig:
    """Everything :func:`trackyard_rest.server.create_app` needs.

    Attributes:
        backend_store_uri: tracking store URI (any scheme a trackyard plugin serves).
        registry_store_uri: registry store URI; defaults to ``backend_store_uri``.
        default_artifact_root: artifact root of new experiments; with ``serve_artifacts`` on
            and nothing given, ``mlflow-artifacts:/`` (clients then upload through the proxy).
        artifacts_destination: where proxied artifacts are stored (default
            ``./trackyard-artifacts``).
        serve_artifacts: serve ``/api/2.0/mlflow-artifacts/...``.
        allowed_hosts: accepted ``Host`` header names (``*`` accepts all); local names and
            ``bind_host`` are always accepted.
        bind_host: the host the server listens on.
        max_body_bytes: largest request body of the JSON API, in bytes.
        auth: ``"basic"`` turns on authentication (:mod:`trackyard_rest.server.auth`).
        auth_database_uri: where users and permissions live (default: the backend database
            when it is SQL, else a SQLite file beside it).
        auth_default_permission: a user's level on a resource without a grant.
    """

    backend_store_uri: str
    registry_store_uri: str | None = None
    default_artifact_root: str | None = None
    artifacts_destination: str | None = None
    serve_artifacts: bool = True
    allowed_hosts: tuple[str, ...] = field(default_factory=tuple)
    bind_host: str = "127.0.0.1"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    auth: str | None = None
    auth_database_uri: str | None = None
    auth_default_permission: str = "READ"

    @property
    def artifact_root(self) -> str | None:
        """The artifact root new experiments get (None: the tracking store's default)."""
        if self.default_artifact_root:
            return self.default_artifact_root
        return PROXIED_ARTIFACT_ROOT if self.serve_artifacts else None

    @property
    def destination(self) -> str:
        """Where proxied artifacts go."""
        return self.artifacts_destination or os.path.abspath("trackyard-artifacts")

    def host_names(self) -> frozenset[str] | None:
        """Accepted ``Host`` names (lower case, no port), or None to accept any."""
        if "*" in self.allowed_hosts:
            return None
        names = {*LOCAL_HOSTS, *(h.strip().lower() for h in self.allowed_hosts if h.strip())}
        if self.bind_host not in ("0.0.0.0", "::", ""):
            names.add(self.bind_host.lower())
            if ":" in self.bind_host and not self.bind_host.startswith("["):
                names.add(f"[{self.bind_host.lower()}]")
        return frozenset(names)

    def to_env(self) -> str:
        """The config as JSON, for :data:`ENV_VAR`."""
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServerConfig:
        """Read the config that ``trackyard server`` put in :data:`ENV_VAR`."""
        raw = (os.environ if environ is None else environ).get(ENV_VAR)
        if not raw:
            raise RuntimeError(
                f"{ENV_VAR} is not set: start workers with `trackyard server`, or build the "
                "app with trackyard_rest.server.create_app(...)."
            )
        data = json.loads(raw)
        data["allowed_hosts"] = tuple(data.get("allowed_hosts") or ())
        return cls(**data)
