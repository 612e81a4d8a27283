"""MLflow's basic-auth management API: users and per-resource permissions.

Served under ``/api/2.0/mlflow`` (and ``/ajax-api/2.0/mlflow``):

- ``users/create`` (POST), ``users/get``, ``users/current``, ``users/list`` (GET),
  ``users/update-password``, ``users/update-admin`` (PATCH), ``users/delete`` (DELETE);
- ``experiments/permissions/{create,get,update,delete}`` and
  ``registered-models/permissions/{create,get,update,delete}``;

and under ``/api/3.0/mlflow`` MLflow 3's per-user form, ``users/permissions/{grant,revoke}``
(POST), ``users/permissions/{get,list}`` and ``users/current/permissions`` (GET).

Who may call what is decided by the middleware's rules (:mod:`.rules`); these handlers only
do the work. No answer ever carries a password hash.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request as HttpRequest
from starlette.responses import Response

from trackyard.errors import ErrorCode, TrackyardError
from trackyard_rest.server.auth.permissions import (
    EXPERIMENT,
    REGISTERED_MODEL,
    Permission,
    check_resource_type,
)
from trackyard_rest.server.auth.store import AuthStore, Grant, User
from trackyard_rest.server.backend import backend
from trackyard_rest.server.errors import required
from trackyard_rest.server.schemas import Request
from trackyard_rest.server.wire import empty_response, json_response

__all__ = ["router", "router_v3"]

router = APIRouter(tags=["authentication"])
router_v3 = APIRouter(tags=["authentication"])


def _store(request: HttpRequest) -> AuthStore:
    found: AuthStore = request.app.state.auth_store
    return found


def _me(request: HttpRequest) -> User:
    user: User = request.scope["state"]["auth_user"]
    return user


class UserBody(Request):
    username: str | None = None
    password: str | None = None
    current_password: str | None = None
    is_admin: bool | str | None = None


class ExperimentPermissionBody(Request):
    experiment_id: str | None = None
    username: str | None = None
    permission: str | None = None


class ModelPermissionBody(Request):
    name: str | None = None
    username: str | None = None
    permission: str | None = None


class GrantBody(Request):
    username: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    permission: str | None = None


# -- users -------------------------------------------------------------------------------------


@router.post("/users/create")
def create_user(body: UserBody, request: HttpRequest) -> Response:
    """Create a user → ``{user}`` (admins)."""
    if not body.username or not body.password:
        raise TrackyardError.invalid_parameter_value("Username and password cannot be empty.")
    user = _store(request).create_user(body.username, body.password)
    return json_response({"user": user.to_json()})


@router.get("/users/get")
def get_user(request: HttpRequest, username: str | None = None) -> Response:
    """``?username`` → ``{user}`` (the user themself, or admins)."""
    user = _store(request).get_user(required(username, "username"))
    return json_response({"user": user.to_json()})


@router.get("/users/current")
def current_user(request: HttpRequest) -> Response:
    """The authenticated user → ``{user, is_basic_auth}``."""
    return json_response({"user": _me(request).to_json(), "is_basic_auth": True})


@router.get("/users/list")
def list_users(request: HttpRequest) -> Response:
    """Every user → ``{users[]}`` (admins)."""
    return json_response({"users": [u.to_json() for u in _store(request).list_users()]})


@router.patch("/users/update-password")
def update_password(body: UserBody, request: HttpRequest) -> Response:
    """Set a password → ``{}``; changing one's own needs ``current_password``."""
    username = required(body.username, "username")
    password = required(body.password, "password")
    store = _store(request)
    if username == _me(request).username:
        if not body.current_password:
            raise TrackyardError.invalid_parameter_value(
                "Current password is required when changing your own password."
            )
        if request.app.state.authenticator.authenticate(username, body.current_password) is None:
            raise TrackyardError.invalid_parameter_value("Current password does not match.")
        if password == body.current_password:
            raise TrackyardError.invalid_parameter_value(
                "New password must differ from the current password."
            )
    store.update_password(username, password)
    return empty_response()


def _flag(value: bool | str | None) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise TrackyardError.invalid_parameter_value(
        f"Invalid value {value!r} for parameter 'is_admin': expected true or false."
    )


@router.patch("/users/update-admin")
def update_admin(body: UserBody, request: HttpRequest) -> Response:
    """Grant or take away admin rights → ``{}`` (admins)."""
    username = required(body.username, "username")
    _store(request).set_admin(username, _flag(body.is_admin))
    return empty_response()


@router.delete("/users/delete")
def delete_user(body: UserBody, request: HttpRequest) -> Response:
    """Delete a user and their grants → ``{}`` (admins; not oneself)."""
    username = required(body.username, "username")
    if username == _me(request).username:
        raise TrackyardError(
            "Users cannot delete their own account. Ask another admin to delete this user instead.",
            ErrorCode.BAD_REQUEST,
        )
    _store(request).delete_user(username)
    return empty_response()


# -- classic per-resource permissions ----------------------------------------------------------


def _experiment_grant(grant: Grant) -> dict[str, Any]:
    return {
        "experiment_permission": {
            "experiment_id": grant.resource_id,
            "user_id": grant.user_id,
            "permission": grant.permission.value,
        }
    }


def _model_grant(grant: Grant) -> dict[str, Any]:
    return {
        "registered_model_permission": {
            "name": grant.resource_id,
            "user_id": grant.user_id,
            "permission": grant.permission.value,
        }
    }


def _existing(request: HttpRequest, resource_type: str, resource_id: str) -> str:
    """``resource_id`` when that experiment or registered model exists (else 404)."""
    if resource_type == EXPERIMENT:
        backend(request).tracking.get_experiment(resource_id)
    else:
        backend(request).registry.get_registered_model(resource_id)
    return resource_id


@router.post("/experiments/permissions/create")
def create_experiment_permission(body: ExperimentPermissionBody, request: HttpRequest) -> Response:
    """Grant a user a level on an experiment → ``{experiment_permission}``."""
    exp = _existing(request, EXPERIMENT, required(body.experiment_id, "experiment_id"))
    level = Permission.parse(required(body.permission, "permission"))
    grant = _store(request).create_grant(
        required(body.username, "username"), EXPERIMENT, exp, level
    )
    return json_response(_experiment_grant(grant))


@router.get("/experiments/permissions/get")
def get_experiment_permission(
    request: HttpRequest, experiment_id: str | None = None, username: str | None = None
) -> Response:
    """``?experiment_id&username`` → ``{experiment_permission}``."""
    grant = _store(request).get_grant(
        required(username, "username"), EXPERIMENT, required(experiment_id, "experiment_id")
    )
    return json_response(_experiment_grant(grant))


@router.patch("/experiments/permissions/update")
def update_experiment_permission(body: ExperimentPermissionBody, request: HttpRequest) -> Response:
    """Change a user's level on an experiment → ``{}``."""
    level = Permission.parse(required(body.permission, "permission"))
    _store(request).update_grant(
        required(body.username, "username"),
        EXPERIMENT,
        required(body.experiment_id, "experiment_id"),
        level,
    )
    return empty_response()


@router.delete("/experiments/permissions/delete")
def delete_experiment_permission(body: ExperimentPermissionBody, request: HttpRequest) -> Response:
    """Remove a user's grant on an experiment → ``{}``."""
    _store(request).delete_grant(
        required(body.username, "username"),
        EXPERIMENT,
        required(body.experiment_id, "experiment_id"),
    )
    return empty_response()


@router.post("/registered-models/permissions/create")
def create_model_permission(body: ModelPermissionBody, request: HttpRequest) -> Response:
    """Grant a user a level on a registered model → ``{registered_model_permission}``."""
    name = _existing(request, REGISTERED_MODEL, required(body.name, "name"))
    level = Permission.parse(required(body.permission, "permission"))
    grant = _store(request).create_grant(
        required(body.username, "username"), REGISTERED_MODEL, name, level
    )
    return json_response(_model_grant(grant))


@router.get("/registered-models/permissions/get")
def get_model_permission(
    request: HttpRequest, name: str | None = None, username: str | None = None
) -> Response:
    """``?name&username`` → ``{registered_model_permission}``."""
    grant = _store(request).get_grant(
        required(username, "username"), REGISTERED_MODEL, required(name, "name")
    )
    return json_response(_model_grant(grant))


@router.patch("/registered-models/permissions/update")
def update_model_permission(body: ModelPermissionBody, request: HttpRequest) -> Response:
    """Change a user's level on a registered model → ``{}``."""
    level = Permission.parse(required(body.permission, "permission"))
    _store(request).update_grant(
        required(body.username, "username"), REGISTERED_MODEL, required(body.name, "name"), level
    )
    return empty_response()


@router.delete("/registered-models/permissions/delete")
def delete_model_permission(body: ModelPermissionBody, request: HttpRequest) -> Response:
    """Remove a user's grant on a registered model → ``{}``."""
    _store(request).delete_grant(
        required(body.username, "username"), REGISTERED_MODEL, required(body.name, "name")
    )
    return empty_response()


# -- MLflow 3's per-user permission API (/api/3.0/mlflow) ---------------------------------------


@router_v3.post("/users/permissions/grant")
def grant_permission(body: GrantBody, request: HttpRequest) -> Response:
    """Give a user a level on a resource (replacing any they had) → ``{}``."""
    kind = check_resource_type(required(body.resource_type, "resource_type"))
    resource_id = _existing(request, kind, required(body.resource_id, "resource_id"))
    level = Permission.parse(required(body.permission, "permission"))
    _store(request).set_grant(required(body.username, "username"), kind, resource_id, level)
    return empty_response()


@router_v3.post("/users/permissions/revoke")
def revoke_permission(body: GrantBody, request: HttpRequest) -> Response:
    """Remove a user's grant on a resource, if any → ``{}``."""
    _store(request).revoke(
        required(body.username, "username"),
        check_resource_type(required(body.resource_type, "resource_type")),
        required(body.resource_id, "resource_id"),
    )
    return empty_response()


@router_v3.get("/users/permissions/get")
def effective_permission(
    request: HttpRequest,
    username: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
) -> Response:
    """A user's effective level on a resource → ``{allowed, permission}``.

    ``allowed`` is true from EDIT up, as MLflow's "may use" (READ alone is not enough).
    """
    store = _store(request)
    user = store.get_user(required(username, "username"))
    kind = check_resource_type(required(resource_type, "resource_type"))
    rid = required(resource_id, "resource_id")
    if user.is_admin:
        level = Permission.MANAGE
    else:
        level = store.permissions_of(user.id, kind).get(rid, request.app.state.auth_default)
    allowed = level in (Permission.EDIT, Permission.MANAGE)
    return json_response({"allowed": allowed, "permission": level.value})


def _grants_json(store: AuthStore, user: User) -> dict[str, Any]:
    rows = [
        {
            "resource_type": g.resource_type,
            "resource_pattern": g.resource_id,
            "permission": g.permission.value,
        }
        for g in store.grants_of(user.id)
    ]
    return {"is_admin": user.is_admin, "permissions": rows}


@router_v3.get("/users/permissions/list")
def list_permissions(request: HttpRequest, username: str | None = None) -> Response:
    """``?username`` → ``{is_admin, permissions[]}`` (the user themself, or admins)."""
    store = _store(request)
    return json_response(_grants_json(store, store.get_user(required(username, "username"))))


@router_v3.get("/users/current/permissions")
def current_permissions(request: HttpRequest) -> Response:
    """The authenticated user's grants → ``{is_admin, permissions[]}``."""
    store = _store(request)
    return json_response(_grants_json(store, store.get_user(_me(request).username)))
