"""Request guards, as plain ASGI middleware (cheap: no per-request objects).

- :class:`HostCheck`: refuse a ``Host`` header naming a host the server does not answer
  for, so a web page on a hostile domain that resolves to 127.0.0.1 (DNS rebinding) cannot
  drive a server on the user's machine. Local names and the bound host pass; more through
  ``--allowed-hosts`` (``*`` turns the check off).
- :class:`BodyLimit`: refuse request bodies over a size (413, by ``Content-Length`` or while
  streaming), except uploads to the artifact proxy, which stream to storage.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from trackyard.errors import ErrorCode, TrackyardError

__all__ = ["BodyLimit", "BodyTooLarge", "HostCheck", "host_name"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_ARTIFACTS_PREFIXES = ("/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow-artifacts/")


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error_code": code, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def host_name(header: str) -> str:
    """The host part of a ``Host`` header, lower case, brackets kept for IPv6."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        return header[: end + 1] if end >= 0 else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class HostCheck:
    """Answer 403 PERMISSION_DENIED when the ``Host`` header is not an allowed name."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]):
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = _header(scope, b"host")
            name = host_name(raw.decode("latin-1")) if raw else ""
            if name not in self.allowed:
                await _send_error(
                    send,
                    403,
                    ErrorCode.PERMISSION_DENIED,
                    f"Host {name!r} is not allowed (possible DNS rebinding); start the server "
                    "with --allowed-hosts to accept it.",
                )
                return
        await self.app(scope, receive, send)


class BodyTooLarge(TrackyardError):
    """A request body over the limit: INVALID_PARAMETER_VALUE, answered with HTTP 413."""

    def get_http_status_code(self) -> int:
        """413 Content Too Large."""
        return 413


class BodyLimit:
    """Answer 413 when a request body exceeds ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    def _message(self) -> str:
        return (
            f"Request body is larger than this server accepts ({self.limit} bytes; "
            "see --max-body-size)."
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_ARTIFACTS_PREFIXES):
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await _send_error(send, 413, ErrorCode.INVALID_PARAMETER_VALUE, self._message())
            return
        seen = 0
        exceeded = False
        replaced = False
        limit = self.limit
        message_text = self._message()

        async def counted() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise BodyTooLarge(message_text, ErrorCode.INVALID_PARAMETER_VALUE)
            return message

        async def guarded(message: Message) -> None:
            # Whatever the app makes of the interrupted body, the client learns it was too big.
            nonlocal replaced
            if exceeded:
                if not replaced and message["type"] == "http.response.start":
                    replaced = True
                    await _send_error(send, 413, ErrorCode.INVALID_PARAMETER_VALUE, message_text)
                return
            await send(message)

        await self.app(scope, counted, guarded)
