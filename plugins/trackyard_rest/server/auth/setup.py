"""Turning authentication on: the auth store, the first admin, the routes and the middleware."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.uri import mask_credentials
from trackyard_rest.server.auth import admin_from_env, auth_database_uri
from trackyard_rest.server.auth.permissions import Permission
from trackyard_rest.server.auth.store import AuthStore

if TYPE_CHECKING:
    from fastapi import FastAPI

    from trackyard_rest.server.config import ServerConfig

__all__ = ["AuthSetupError", "bootstrap", "install", "open_store"]

_logger = logging.getLogger("trackyard.server.auth")

#: Asks for the first admin's (name, password) on a terminal.
Prompt = Callable[[], tuple[str, str]]


class AuthSetupError(TrackyardError):
    """Authentication cannot start (no admin and no way to create one, a bad password...)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ErrorCode.INVALID_PARAMETER_VALUE)


def open_store(config: ServerConfig) -> AuthStore:
    """The auth store of a server config, its tables created when missing."""
    uri = auth_database_uri(config.backend_store_uri, config.auth_database_uri)
    store = AuthStore(uri)
    store.init_schema()
    _logger.info("auth tables in %s", mask_credentials(uri))
    return store


def _create_admin(store: AuthStore, username: str, password: str) -> None:
    try:
        store.create_user(username, password, is_admin=True)
    except TrackyardError as exc:
        if exc.error_code == ErrorCode.RESOURCE_ALREADY_EXISTS:
            return  # another worker created it first
        raise AuthSetupError(f"Cannot create the admin user '{username}': {exc.message}") from exc
    _logger.warning("created admin user '%s'", username)


def bootstrap(store: AuthStore, prompt: Prompt | None = None) -> None:
    """Make sure an admin exists, or refuse to start.

    An admin named by ``TRACKYARD_AUTH_ADMIN_USERNAME`` (or ``MLFLOW_AUTH_ADMIN_USERNAME``)
    that does not exist yet is created with ``TRACKYARD_AUTH_ADMIN_PASSWORD`` (or
    ``MLFLOW_AUTH_ADMIN_PASSWORD``). When no admin exists afterwards, ``prompt`` (a terminal)
    asks for one; without it, :class:`AuthSetupError`. There is no default password.
    """
    username, password = admin_from_env()
    if username and store.find_user(username) is None:
        if password:
            _create_admin(store, username, password)
        elif prompt is None:
            raise AuthSetupError(
                f"The admin user '{username}' does not exist and no password is set for it: "
                "set TRACKYARD_AUTH_ADMIN_PASSWORD."
            )
    if store.has_admin():
        return
    if prompt is None:
        raise AuthSetupError(
            "Authentication is on but there is no admin user and no way to create one: set "
            "TRACKYARD_AUTH_ADMIN_USERNAME and TRACKYARD_AUTH_ADMIN_PASSWORD (or MLflow's "
            "MLFLOW_AUTH_ADMIN_USERNAME and MLFLOW_AUTH_ADMIN_PASSWORD), or start the server "
            "from a terminal to be asked. trackyard has no default password."
        )
    name, secret = prompt()
    _create_admin(store, name, secret)


def install(app: FastAPI, config: ServerConfig) -> None:
    """Turn authentication on for ``app`` (called by ``create_app`` after every router).

    Raises:
        AuthSetupError: no admin exists and the environment names none.
    """
    from trackyard_rest.server.app import API_PREFIXES
    from trackyard_rest.server.auth import routes
    from trackyard_rest.server.auth.middleware import Authenticator, BasicAuth
    from trackyard_rest.server.auth.rules import unmapped_routes

    if config.auth != "basic":
        raise AuthSetupError(f"Unknown authentication {config.auth!r}; the one known is 'basic'.")
    default = Permission.parse(config.auth_default_permission)
    store = open_store(config)
    bootstrap(store)
    authenticator = Authenticator(store)
    app.state.auth_store = store
    app.state.auth_default = default
    app.state.authenticator = authenticator
    for prefix in API_PREFIXES:
        app.include_router(
            routes.router, prefix=prefix, include_in_schema=prefix.startswith("/api")
        )
        v3 = prefix.replace("/2.0/", "/3.0/")
        app.include_router(routes.router_v3, prefix=v3, include_in_schema=v3.startswith("/api"))
    app.add_middleware(
        BasicAuth, authenticator=authenticator, backend=app.state.backend, default=default
    )
    unmapped = unmapped_routes(app)
    if unmapped:
        _logger.warning(
            "routes without an auth rule (served to admins only): %s", ", ".join(unmapped)
        )
