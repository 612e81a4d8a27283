"""One pooled HTTP session per store: settings, auth, headers, retries and error mapping.

Settings are read from the environment when a session is made; every ``MLFLOW_*`` variable
has a ``TRACKYARD_*`` twin that takes precedence (``TRACKYARD_TRACKING_TOKEN`` over
``MLFLOW_TRACKING_TOKEN``, and so on):

- ``*_TRACKING_USERNAME`` / ``*_TRACKING_PASSWORD``: HTTP basic auth;
- ``*_TRACKING_TOKEN``: a bearer token (wins over basic auth, as in MLflow);
- ``*_TRACKING_INSECURE_TLS``: ``true`` skips TLS verification;
- ``*_TRACKING_SERVER_CERT_PATH``: a CA bundle to verify the server with;
- ``*_TRACKING_CLIENT_CERT_PATH``: a client certificate (PEM, key included) for mutual TLS;
- ``*_HTTP_REQUEST_MAX_RETRIES`` (7), ``*_HTTP_REQUEST_BACKOFF_FACTOR`` (2),
  ``*_HTTP_REQUEST_BACKOFF_JITTER`` (1.0) and ``*_HTTP_REQUEST_TIMEOUT`` (120 s): MLflow's
  defaults.

A call is retried with exponential backoff (``factor * 2 ** (attempt - 1)`` seconds plus up to
``jitter`` seconds, or the server's ``Retry-After`` when it is shorter than a minute) after a
connection error or an HTTP status of 408, 429, 500, 502, 503 or 504 (MLflow's list), and
never after any other status. Credentials never appear in reprs, logs or error messages: the
session keeps the base URL without its user info and builds the auth header per request.

urllib3 is imported when the first session is made, never by ``import trackyard``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from trackyard.errors import ERROR_CODE_TO_HTTP_STATUS, ErrorCode, TrackyardError
from trackyard.uri import mask_credentials

if TYPE_CHECKING:
    import urllib3

__all__ = [
    "RETRY_STATUSES",
    "HttpSettings",
    "RestSession",
    "env_setting",
    "error_from_response",
]

_logger = logging.getLogger("trackyard.rest")

#: HTTP statuses after which a call is retried (MLflow's transient failures).
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

_USER_AGENT = "trackyard-rest-client/0.1"
_STATUS_TO_CODE = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.PERMISSION_DENIED,
    404: ErrorCode.ENDPOINT_NOT_FOUND,
    409: ErrorCode.RESOURCE_CONFLICT,
    429: ErrorCode.REQUEST_LIMIT_EXCEEDED,
    501: ErrorCode.NOT_IMPLEMENTED,
    503: ErrorCode.TEMPORARILY_UNAVAILABLE,
    504: ErrorCode.DEADLINE_EXCEEDED,
}
_KNOWN_CODES = frozenset(ERROR_CODE_TO_HTTP_STATUS)
_MAX_RETRY_AFTER = 60.0


def env_setting(name: str) -> str | None:
    """``TRACKYARD_<name>`` if set and non-empty, else ``MLFLOW_<name>``, else None."""
    for prefix in ("TRACKYARD_", "MLFLOW_"):
        value = os.environ.get(prefix + name)
        if value:
            return value
    return None


def _env_number(name: str, default: float, kind: Callable[[str], float]) -> float:
    raw = env_setting(name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise TrackyardError(
            f"Environment variable {name} (TRACKYARD_/MLFLOW_) must be a number, got {raw!r}",
            ErrorCode.INVALID_PARAMETER_VALUE,
        ) from None
    if value < 0:
        raise TrackyardError(
            f"Environment variable {name} (TRACKYARD_/MLFLOW_) must be >= 0, got {raw!r}",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    return value


def _env_flag(name: str) -> bool:
    return (env_setting(name) or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class HttpSettings:
    """How a session connects, authenticates and retries (see the module docstring).

    The repr never shows the password or the token.
    """

    max_retries: int = 7
    backoff_factor: float = 2.0
    backoff_jitter: float = 1.0
    timeout: float = 120.0
    username: str | None = None
    password: str | None = None
    token: str | None = None
    insecure_tls: bool = False
    server_cert_path: str | None = None
    client_cert_path: str | None = None

    @classmethod
    def from_env(cls) -> HttpSettings:
        """Read the settings from ``TRACKYARD_*`` / ``MLFLOW_*`` environment variables."""
        return cls(
            max_retries=int(_env_number("HTTP_REQUEST_MAX_RETRIES", 7, int)),
            backoff_factor=_env_number("HTTP_REQUEST_BACKOFF_FACTOR", 2.0, float),
            backoff_jitter=_env_number("HTTP_REQUEST_BACKOFF_JITTER", 1.0, float),
            timeout=_env_number("HTTP_REQUEST_TIMEOUT", 120.0, float),
            username=env_setting("TRACKING_USERNAME"),
            password=env_setting("TRACKING_PASSWORD"),
            token=env_setting("TRACKING_TOKEN"),
            insecure_tls=_env_flag("TRACKING_INSECURE_TLS"),
            server_cert_path=env_setting("TRACKING_SERVER_CERT_PATH"),
            client_cert_path=env_setting("TRACKING_CLIENT_CERT_PATH"),
        )

    def __repr__(self) -> str:
        auth = "token" if self.token else "basic" if self.username is not None else "none"
        return (
            f"HttpSettings(max_retries={self.max_retries}, backoff_factor={self.backoff_factor}, "
            f"timeout={self.timeout}, auth={auth}, insecure_tls={self.insecure_tls})"
        )

    def auth_header(self) -> str | None:
        """The ``Authorization`` value these settings give, or None."""
        if self.token:
            return f"Bearer {self.token}"
        if self.username is not None:
            raw = f"{self.username}:{self.password or ''}".encode()
            return "Basic " + base64.b64encode(raw).decode("ascii")
        return None


def _split_base_url(url: str) -> tuple[str, str | None, str | None]:
    """``(url without user info or trailing slash, user, password)``."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TrackyardError(
            f"Not an http(s) URL: {mask_credentials(url)!r}", ErrorCode.INVALID_PARAMETER_VALUE
        )
    host = parts.hostname
    if ":" in host:  # IPv6
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    user = urllib.parse.unquote(parts.username) if parts.username is not None else None
    password = urllib.parse.unquote(parts.password) if parts.password is not None else None
    base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return base, user, password


def error_from_response(status: int, body: bytes, what: str) -> TrackyardError:
    """Map an HTTP error response to a :class:`TrackyardError` with the server's code.

    Args:
        status: the HTTP status.
        body: the response body (MLflow's ``{"error_code", "message"}`` JSON, or anything).
        what: ``"<METHOD> <url without credentials>"`` for messages without a JSON body.
    """
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        code = payload.get("error_code")
        if not isinstance(code, str) or code not in _KNOWN_CODES:
            code = _STATUS_TO_CODE.get(status, ErrorCode.INTERNAL_ERROR)
        return TrackyardError(payload["message"], code)
    text = body[:500].decode("utf-8", "replace").strip()
    code = _STATUS_TO_CODE.get(status, ErrorCode.INTERNAL_ERROR)
    detail = f": {text}" if text else ""
    return TrackyardError(f"{what} failed with HTTP {status}{detail}", code)


class RestSession:
    """A pooled, thread-safe HTTP session bound to one server (a base URL).

    Args:
        url: the server's base URL (``http(s)://host[:port][/prefix]``); user info in it is
            used for basic auth when the environment gives no credentials.
        settings: connection settings (default: read from the environment now).
        headers_for: extra headers per request URL (default: the ``trackyard_request_headers``
            hook); merged over the session's own headers.
    """

    def __init__(
        self,
        url: str,
        settings: HttpSettings | None = None,
        headers_for: Callable[[str], Mapping[str, str]] | None = None,
    ) -> None:
        self.base_url, user, password = _split_base_url(url)
        settings = settings or HttpSettings.from_env()
        if user is not None and settings.username is None and not settings.token:
            from dataclasses import replace

            settings = replace(settings, username=user, password=password)
        self.settings = settings
        self._auth = settings.auth_header()
        self._headers_for = headers_for if headers_for is not None else _hook_headers
        self._lock = threading.Lock()
        self._pool: urllib3.PoolManager | None = None
        self._pid = 0

    def __repr__(self) -> str:
        return f"RestSession({self.base_url!r}, {self.settings!r})"

    # -- the pool ----------------------------------------------------------------------------
    def _manager(self) -> urllib3.PoolManager:
        pool, pid = self._pool, os.getpid()
        if pool is not None and self._pid == pid:
            return pool
        with self._lock:
            if self._pool is None or self._pid != pid:  # new, or inherited across fork
                self._pool = self._new_pool()
                self._pid = pid
            return self._pool

    def _new_pool(self) -> urllib3.PoolManager:
        import urllib3

        kwargs: dict[str, Any] = {"num_pools": 4, "maxsize": 16, "block": False, "retries": False}
        if self.base_url.startswith("https:"):
            if self.settings.insecure_tls:
                kwargs["cert_reqs"] = "CERT_NONE"
                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            else:
                kwargs["cert_reqs"] = "CERT_REQUIRED"
                if self.settings.server_cert_path:  # else the system's trust store
                    kwargs["ca_certs"] = self.settings.server_cert_path
            if self.settings.client_cert_path:
                kwargs["cert_file"] = self.settings.client_cert_path
        return urllib3.PoolManager(**kwargs)

    def close(self) -> None:
        """Close pooled connections (a later call opens new ones)."""
        with self._lock:
            if self._pool is not None:
                self._pool.clear()
            self._pool = None

    # -- requests ----------------------------------------------------------------------------
    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (which starts with ``/``) on this server."""
        return self.base_url + path

    def headers(self, url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Headers for one request: defaults, auth, ``extra``, then the hook's headers."""
        headers = {"User-Agent": _USER_AGENT}
        if self._auth:
            headers["Authorization"] = self._auth
        if extra:
            headers.update(extra)
        headers.update(self._headers_for(url))
        return headers

    def request(
        self,
        method: str,
        path: str,
        *,
        fields: Mapping[str, Any] | None = None,
        body: bytes | IO[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        ok_statuses: tuple[int, ...] = (),
    ) -> urllib3.BaseHTTPResponse:
        """Send one request with retries and return a successful (2xx) response.

        Args:
            method: the HTTP method.
            path: the path under the base URL, starting with ``/``.
            fields: query parameters (lists repeat the key).
            body: the body, as bytes or a seekable binary file (rewound for each retry).
            headers: extra headers for this call (e.g. ``Content-Type``).
            stream: leave the body unread (the caller reads it, then releases the
                connection with ``release_conn()``).
            ok_statuses: non-2xx statuses returned instead of raised (e.g. 404).

        Raises:
            TrackyardError: the server's ``error_code`` and message for an error response,
                TEMPORARILY_UNAVAILABLE when the server cannot be reached after the retries.
        """
        import urllib3

        url = self.url(path)
        if fields:
            url += "?" + urllib.parse.urlencode(list(_query_items(fields)), doseq=True)
        shown = f"{method} {mask_credentials(self.url(path))}"
        all_headers = self.headers(url, headers)
        start = body.tell() if body is not None and not isinstance(body, bytes) else 0
        pool = self._manager()
        timeout = urllib3.Timeout(total=self.settings.timeout or None)
        attempt = 0
        while True:
            if attempt and body is not None and not isinstance(body, bytes):
                body.seek(start)
            try:
                response = pool.request(
                    method,
                    url,
                    body=body,
                    headers=all_headers,
                    timeout=timeout,
                    retries=False,
                    redirect=False,
                    preload_content=not stream,
                )
            except urllib3.exceptions.HTTPError as exc:
                if attempt >= self.settings.max_retries:
                    raise TrackyardError(
                        f"{shown} failed after {attempt + 1} attempt(s): {_describe(exc)}",
                        ErrorCode.TEMPORARILY_UNAVAILABLE,
                    ) from None
                attempt += 1
                delay = self._delay(attempt, None)
                _logger.info("%s: %s; retry %d in %.2fs", shown, _describe(exc), attempt, delay)
                time.sleep(delay)
                continue
            status = response.status
            if 200 <= status < 300 or status in ok_statuses:
                return response
            data = response.data  # read it all, so the connection can be reused
            response.release_conn()
            if status in RETRY_STATUSES and attempt < self.settings.max_retries:
                attempt += 1
                delay = self._delay(attempt, response.headers.get("Retry-After"))
                _logger.info("%s: HTTP %d; retry %d in %.2fs", shown, status, attempt, delay)
                time.sleep(delay)
                continue
            raise error_from_response(status, data, shown)

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        delay: float = self.settings.backoff_factor * 2.0 ** (attempt - 1)
        delay += random.uniform(0, self.settings.backoff_jitter)
        if retry_after:
            try:
                asked = float(retry_after)
            except ValueError:
                asked = -1.0
            if 0 <= asked <= _MAX_RETRY_AFTER:  # the server knows best, within reason
                delay = asked
        return delay

    def call(
        self,
        method: str,
        path: str,
        payload: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Call a JSON endpoint: GET sends ``payload`` as the query string, other methods as
        a JSON body. Returns the decoded response (``{}`` for an empty body)."""
        if method == "GET":
            response = self.request("GET", path, fields=payload, headers=headers)
        else:
            body = json.dumps(payload or {}, allow_nan=False).encode("utf-8")
            extra = {"Content-Type": "application/json", **(headers or {})}
            response = self.request(method, path, body=body, headers=extra)
        data = response.data
        if not data:
            return {}
        try:
            decoded = json.loads(data)
        except ValueError:
            raise TrackyardError(
                f"{method} {mask_credentials(self.url(path))} returned a body that is not JSON: "
                f"{data[:200]!r}",
                ErrorCode.INTERNAL_ERROR,
            ) from None
        if not isinstance(decoded, dict):
            raise TrackyardError(
                f"{method} {mask_credentials(self.url(path))} returned JSON that is not an object",
                ErrorCode.INTERNAL_ERROR,
            )
        return decoded


def _query_items(fields: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, bool):
            yield key, "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            yield key, [str(v) for v in value]
        else:
            yield key, str(value)


def _describe(exc: BaseException) -> str:
    """A short description of a connection error (urllib3's reason, without its pool repr)."""
    reason = getattr(exc, "reason", None)
    return f"{type(exc).__name__}({reason or exc})"


def _hook_headers(url: str) -> Mapping[str, str]:
    from trackyard.plugins import get_plugin_manager

    return get_plugin_manager().request_headers(url)
