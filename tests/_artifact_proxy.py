"""A trackyard artifact proxy on loopback for tests, and raw HTTP requests to it.

``start_proxy(destination, scratch)`` runs the routers of
:func:`trackyard_rest.server.artifacts.make_artifact_router` (under
``/api/2.0/mlflow-artifacts`` and the ``/ajax-api`` mirror) on uvicorn in a child
process: its memory can be measured apart from the test's, and it is stopped by PID.
``raw_request`` sends the exact request-target bytes it is given (no client-side quoting or
dot-segment folding), so a test sees what the server really receives.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tests._object_stores import _launch, _stop

__all__ = ["PREFIX", "Proxy", "RawResponse", "raw_request", "start_proxy"]

PREFIX = "/api/2.0/mlflow-artifacts"

_SERVER = """\
import sys

import uvicorn
from fastapi import FastAPI

from trackyard_rest.server.artifacts import make_artifact_router

app = FastAPI()
app.include_router(make_artifact_router(sys.argv[1]))
app.include_router(make_artifact_router(sys.argv[1], prefix="/ajax-api/2.0/mlflow-artifacts"))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", workers=1)
"""


@dataclass
class Proxy:
    """A running proxy: ``url`` is ``http://127.0.0.1:<port>``."""

    port: int
    pid: int
    _proc: Any = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peak_rss(self) -> int:
        """The server process's peak resident set size so far, in bytes (Linux)."""
        with open(f"/proc/{self.pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM in /proc status")

    def stop(self) -> None:
        _stop(self._proc)


def start_proxy(destination: str, scratch: str) -> Proxy:
    """Start a proxy over ``destination`` (its log goes to ``scratch``)."""
    command = [sys.executable, "-c", _SERVER, destination, "{port}"]
    proc, port = _launch(
        command, lambda port: f"http://127.0.0.1:{port}{PREFIX}/artifacts", scratch, "proxy"
    )
    return Proxy(port, proc.pid, proc)


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(
    port: int,
    method: str,
    target: bytes | str,
    body: bytes | Iterable[bytes] = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> RawResponse:
    """Send one request with ``target`` exactly as given; an iterable body goes chunked."""
    if isinstance(target, str):
        target = target.encode("latin-1")
    head = [method.encode("ascii") + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1"]
    head += [f"{k}: {v}".encode("latin-1") for k, v in (headers or {}).items()]
    head.append(b"Connection: close")
    chunked = not isinstance(body, bytes)
    head.append(b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % len(body))
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n")
        if isinstance(body, bytes):
            sock.sendall(body)
        else:
            for block in body:
                if block:
                    sock.sendall(b"%x\r\n" % len(block) + block + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        data = response.read()
        return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
