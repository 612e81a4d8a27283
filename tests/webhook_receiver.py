"""A webhook receiver on loopback for tests: records what it gets, answers scripted statuses."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Receiver", "receiving"]


class Receiver(ThreadingHTTPServer):
    """Records requests and accepted connections; answers from a script of statuses."""

    daemon_threads = True

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.connections = 0
        self.statuses: list[int] = []  # consumed one per request; then 200
        self.delay = 0.0
        self.headers_out: dict[str, str] = {}
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> Any:
        conn = super().get_request()
        with self.lock:
            self.connections += 1
        return conn

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, _, body in self.requests]


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            self.server.requests.append((self.path, dict(self.headers), body))
            status = self.server.statuses.pop(0) if self.server.statuses else 200
        if self.server.delay:
            time.sleep(self.server.delay)
        self.send_response(status)
        for k, v in self.server.headers_out.items():
            self.send_header(k, v)
        self.send_header("Content-Length", "8")
        self.end_headers()
        self.wfile.write(b"received")

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A :class:`Receiver` serving on 127.0.0.1 in a thread, shut down on exit."""
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
