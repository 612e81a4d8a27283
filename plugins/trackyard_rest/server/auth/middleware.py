"""HTTP basic authentication and per-route authorization, as one ASGI middleware.

For each request: find the route's :class:`~.rules.Rule` (``/health`` is the only public
one); read the ``Authorization: Basic`` credentials (none or wrong: 401 with
``WWW-Authenticate: Basic``); check the password against the auth store; let admins through;
run the rule's check for everyone else (refused: 403 PERMISSION_DENIED). A route without a
rule is refused to non-admins. Then, for a few routes, work around the route itself (the
creator of an experiment or registered model gets MANAGE on it; search results keep only
what the user may read, with pages refilled as MLflow's app refills them).

The database work of a request (user lookup, password check, grants, resource lookups) runs
in one worker-thread hop. Nothing is kept in memory between requests but a cache of
credentials already verified against the *current* stored hash, so several worker processes
always agree.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, QueryParams

from trackyard.errors import ErrorCode, TrackyardError
from trackyard_rest.server.auth.gate import Gate
from trackyard_rest.server.auth.passwords import VerifiedCache, verify_unknown
from trackyard_rest.server.auth.permissions import (
    EXPERIMENT,
    REGISTERED_MODEL,
    Action,
    Permission,
)
from trackyard_rest.server.auth.rules import After, Rule, find_rule

if TYPE_CHECKING:
    from trackyard_rest.server.auth.store import AuthStore, User
    from trackyard_rest.server.backend import Backend

__all__ = ["Authenticator", "BasicAuth", "basic_credentials"]

_logger = logging.getLogger("trackyard.server.auth")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_UNAUTHENTICATED = (
    "You are not authenticated. Send a user name and password with HTTP basic authentication "
    "(MLflow's client: MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD)."
)
_DENIED = "Permission denied"
#: Page sizes search routes use when the request names none (as the routes do).
_DEFAULT_PAGE = {After.FILTER_EXPERIMENTS: 1000, After.FILTER_MODELS: 100}


def basic_credentials(scope: Scope) -> tuple[str, str] | None:
    """The (user, password) of an ``Authorization: Basic`` header, or None."""
    for key, value in scope.get("headers", ()):
        if key == b"authorization":
            scheme, _, token = bytes(value).partition(b" ")
            if scheme.lower() != b"basic":
                return None
            try:
                raw = base64.b64decode(token.strip(), validate=True)
            except (binascii.Error, ValueError):
                return None
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            user, sep, password = text.partition(":")
            return (user, password) if sep and user else None
    return None


async def _send_json(
    send: Send, status: int, payload: dict[str, Any], extra: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Send, exc: TrackyardError) -> None:
    await _send_json(
        send, exc.get_http_status_code(), {"error_code": exc.error_code, "message": exc.message}
    )


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


@dataclass
class _Captured:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def json(self) -> dict[str, Any]:
        found = json.loads(self.body or b"{}")
        return found if isinstance(found, dict) else {}


async def _capture(app: ASGIApp, scope: Scope, body: bytes) -> _Captured:
    out = _Captured(500, [], b"")
    parts: list[bytes] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            out.status = int(message["status"])
            out.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
        elif message["type"] == "http.response.body":
            parts.append(bytes(message.get("body", b"")))

    await app(scope, _replay(body), send)
    out.body = b"".join(parts)
    return out


async def _send_captured(send: Send, captured: _Captured, body: bytes | None = None) -> None:
    if body is None:
        body = captured.body
    headers = [(k, v) for k, v in captured.headers if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": captured.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _params(scope: Scope, body: bytes) -> dict[str, Any]:
    if scope["method"] in ("GET", "HEAD"):  # a repeated key gives a list
        found: dict[str, Any] = {}
        for key, value in QueryParams(scope.get("query_string", b"")).multi_items():
            if key not in found:
                found[key] = value
            elif isinstance(found[key], list):
                found[key].append(value)
            else:
                found[key] = [found[key], value]
        return found
    if not body.strip():
        return {}
    try:
        found = json.loads(body)
    except ValueError:
        raise TrackyardError.invalid_parameter_value(
            "Malformed request body: expected a JSON object."
        ) from None
    if not isinstance(found, dict):
        raise TrackyardError.invalid_parameter_value(
            "Malformed request body: expected a JSON object."
        )
    return found


def _with_params(scope: Scope, params: dict[str, Any]) -> tuple[Scope, bytes]:
    """The same request with other parameters (query for GET, else the JSON body)."""
    sub = dict(scope)
    if scope["method"] in ("GET", "HEAD"):
        sub["query_string"] = str(QueryParams(params)).encode()
        return sub, b""
    body = json.dumps(params).encode()
    headers = [(k, v) for k, v in scope.get("headers", ()) if k != b"content-length"]
    sub["headers"] = [*headers, (b"content-length", str(len(body)).encode())]
    return sub, body


class Authenticator:
    """Checks credentials against the auth store (one per server process)."""

    def __init__(self, store: AuthStore) -> None:
        self.store = store
        self.verified = VerifiedCache()

    def authenticate(self, username: str, password: str) -> User | None:
        """The user these credentials belong to, or None."""
        found = self.store.credentials(username)
        if found is None:
            verify_unknown(password)
            return None
        user, stored = found
        return user if self.verified.check(username, password, stored) else None


class BasicAuth:
    """The authentication and authorization middleware (see the module docstring).

    Args:
        app: the wrapped ASGI app.
        authenticator: checks credentials; its store holds users and permissions.
        backend: the server's stores (to find a run's experiment, an experiment by name).
        default: the level of a user on a resource without a grant.
        realm: the realm named in ``WWW-Authenticate``.
    """

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        backend: Backend,
        default: Permission,
        realm: str = "trackyard",
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.store = authenticator.store
        self.backend = backend
        self.default = default
        self.challenge = f'Basic realm="{realm}"'.encode()

    async def _unauthenticated(self, send: Send) -> None:
        await _send_json(
            send,
            401,
            {"error_code": ErrorCode.UNAUTHENTICATED, "message": _UNAUTHENTICATED},
            ((b"www-authenticate", self.challenge),),
        )

    def _decide(
        self,
        credentials: tuple[str, str],
        rule: Rule | None,
        params: dict[str, Any],
        path_params: dict[str, Any],
        headers: Mapping[str, str],
    ) -> tuple[Gate | None, bool]:
        user = self.authenticator.authenticate(*credentials)
        if user is None:
            return None, False
        gate = Gate(user, params, path_params, self.store, self.backend, self.default, headers)
        if user.is_admin:
            return gate, True
        if rule is None:
            return gate, False
        allowed = rule.check(gate)
        if allowed and rule.after in (After.FILTER_EXPERIMENTS, After.FILTER_RUN_SEARCH):
            gate.levels(EXPERIMENT)
        elif allowed and rule.after in (After.FILTER_MODELS, After.FILTER_VERSIONS):
            gate.levels(REGISTERED_MODEL)
        return gate, allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = find_rule(scope["method"], scope["path"])
        rule, path_params = found if found is not None else (None, {})
        if rule is not None and rule.public:
            await self.app(scope, receive, send)
            return
        credentials = basic_credentials(scope)
        if credentials is None:
            await self._unauthenticated(send)
            return
        reads_body = rule is not None and rule.reads_body
        try:
            body = await _read_body(receive) if reads_body and scope["method"] != "GET" else b""
            params = _params(scope, body) if rule is not None else {}
            headers = Headers(scope=scope)
            gate, allowed = await run_in_threadpool(
                self._decide, credentials, rule, params, path_params, headers
            )
        except TrackyardError as exc:
            await _send_error(send, exc)
            return
        if gate is None:
            await self._unauthenticated(send)
            return
        scope.setdefault("state", {})["auth_user"] = gate.user
        if not allowed:
            await _send_json(
                send, 403, {"error_code": ErrorCode.PERMISSION_DENIED, "message": _DENIED}
            )
            return
        after = rule.after if rule is not None else After.NONE
        if not reads_body:
            await self.app(scope, receive, send)
        elif after is After.NONE:
            await self.app(scope, _replay(body), send)
        else:
            await self._around(after, gate, scope, body, send)

    async def _around(
        self, after: After, gate: Gate, scope: Scope, body: bytes, send: Send
    ) -> None:
        admin = gate.user.is_admin
        if after is After.FILTER_RUN_SEARCH:
            if not admin:
                ids = gate.params.get("experiment_ids") or []
                ids = ids if isinstance(ids, list) else [ids]
                readable = gate.readable_experiments([str(i) for i in ids])
                if not readable:
                    await _send_json(send, 200, {})
                    return
                scope, body = _with_params(scope, {**gate.params, "experiment_ids": readable})
            await self.app(scope, _replay(body), send)
            return
        if admin and after in (
            After.FILTER_EXPERIMENTS,
            After.FILTER_MODELS,
            After.FILTER_VERSIONS,
        ):
            await self.app(scope, _replay(body), send)
            return
        captured = await _capture(self.app, scope, body)
        if captured.status != 200:
            await _send_captured(send, captured)
            return
        try:
            if after in (After.FILTER_EXPERIMENTS, After.FILTER_MODELS, After.FILTER_VERSIONS):
                filtered = await self._filter(after, gate, scope, captured)
                await _send_captured(send, captured, filtered)
                return
            await run_in_threadpool(self._record, after, gate, captured.json())
        except TrackyardError as exc:
            await _send_error(send, exc)
            return
        await _send_captured(send, captured)

    def _record(self, after: After, gate: Gate, answer: dict[str, Any]) -> None:
        """Keep the grants in step with a change the route made."""
        username = gate.user.username
        if after is After.GRANT_EXPERIMENT:
            experiment_id = str(answer.get("experiment_id", ""))
            # a retried keyed create answers an existing experiment: its grants stay as they are
            if experiment_id and not self.store.has_grants(EXPERIMENT, experiment_id):
                self.store.set_grant(username, EXPERIMENT, experiment_id, Permission.MANAGE)
        elif after is After.GRANT_MODEL:
            name = str((answer.get("registered_model") or {}).get("name", ""))
            if name and not self.store.has_grants(REGISTERED_MODEL, name):
                self.store.set_grant(username, REGISTERED_MODEL, name, Permission.MANAGE)
        elif after is After.RENAME_MODEL:
            self.store.rename_resource(REGISTERED_MODEL, gate.text("name"), gate.text("new_name"))
        elif after is After.FORGET_MODEL:
            self.store.forget_resource(REGISTERED_MODEL, gate.text("name"))

    async def _filter(self, after: After, gate: Gate, scope: Scope, first: _Captured) -> bytes:
        """A search answer with only readable items; pages refilled up to ``max_results``."""
        if after is After.FILTER_EXPERIMENTS:
            key = "experiments"

            def keep(item: dict[str, Any]) -> bool:
                return gate.can(EXPERIMENT, str(item.get("experiment_id")), Action.READ)

        else:
            key = "registered_models" if after is After.FILTER_MODELS else "model_versions"

            def keep(item: dict[str, Any]) -> bool:
                return gate.can_read_model(str(item.get("name")))

        answer = first.json()
        kept = [i for i in answer.get(key, ()) if keep(i)]
        token = answer.get("next_page_token")
        if after is not After.FILTER_VERSIONS:  # MLflow refills experiment and model pages
            wanted = int(gate.params.get("max_results") or _DEFAULT_PAGE[after])
            while token and len(kept) < wanted:
                params = {**gate.params, "page_token": token, "max_results": wanted - len(kept)}
                sub_scope, sub_body = _with_params(scope, params)
                page = await _capture(self.app, sub_scope, sub_body)
                if page.status != 200:
                    break
                more = page.json()
                kept.extend(i for i in more.get(key, ()) if keep(i))
                token = more.get("next_page_token")
        out: dict[str, Any] = {}
        if kept:
            out[key] = kept
        if token:
            out["next_page_token"] = token
        return json.dumps(out, separators=(",", ":")).encode()
