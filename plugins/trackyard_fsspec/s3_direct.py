"""S3 transfers without the async client stack: signed requests over kept-alive connections.

s3fs sends every request through aiobotocore: parameter validation, endpoint rules, event
hooks, an asyncio hop from the calling thread and response parsing cost about 1 ms of CPU per
request here, several times what the S3 server spends on a small object. :class:`DirectS3`
signs each request with botocore's own SigV4 signer and sends it over a keep-alive
``http.client`` connection per thread: a file that fits in one request is one ``PUT`` or
``GET``; a larger one is a multipart upload, or ranged ``GET`` requests written at their offsets,
several parts at a time.

It is a fast path, never the only path:

- It is used only for an S3-compatible server named by an endpoint URL (MinIO, Ceph, a local
  server...), path-style, with credentials botocore resolves, no proxy for that host and no
  option it does not understand (:meth:`DirectS3.from_options` returns None otherwise, and
  s3fs does everything as before). ``TRACKYARD_S3_DIRECT=0`` turns it off.
- Any answer but a plain success (an error status, a redirect, a dropped connection, a short
  body) raises :class:`DirectTransferFailed`; the repository tries a server error or a dropped
  connection once more, then does that transfer through s3fs, which retries and reports
  errors as usual. A refusal or a redirect (``lasting``) switches the fast path off for the
  repository. A ``GET`` answered 404 (``missing``: no such key) is about that one object: it
  is not tried again, s3fs reports the object as not found, and the fast path stays on.

Uploads send ``Content-MD5`` (signed, checked by the server) and, as s3fs is configured here,
an unsigned payload unless the options turn ``payload_signing_enabled`` on; the content type
is guessed from the file name, as s3fs and MLflow do.
Credentials are never logged.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import functools
import hashlib
import html
import http.client
import logging
import mimetypes
import os
import re
import ssl
import threading
import urllib.parse
import urllib.request
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from trackyard_fsspec.transfer import run_parallel

__all__ = ["DIRECT_ENV", "DirectS3", "DirectTransferFailed"]

#: Set to ``0`` (or ``false``, ``no``, ``off``) to send every S3 request through s3fs.
DIRECT_ENV = "TRACKYARD_S3_DIRECT"

_logger = logging.getLogger("trackyard.artifacts.fsspec")

# Storage options the fast path understands; any other option (anon, requester_pays,
# version_aware, s3_additional_kwargs, ...) leaves every request to s3fs.
_KNOWN_OPTIONS = frozenset(
    {
        "endpoint_url",
        "key",
        "secret",
        "token",
        "profile",
        "client_kwargs",
        "config_kwargs",
        "use_listings_cache",
        "skip_instance_cache",
        "default_block_size",
        "default_cache_type",
        "default_fill_cache",
    }
)
_KNOWN_CLIENT_KWARGS = frozenset(
    {
        "endpoint_url",
        "region_name",
        "verify",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
    }
)
_KNOWN_S3_CONFIG = frozenset({"payload_signing_enabled", "addressing_style"})
_TIMEOUT = 60.0  # seconds, botocore's default connect and read timeouts
_READ_SIZE = 1024 * 1024
# What a kept-alive connection the server has closed meanwhile raises: worth one new try.
_STALE = (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)
# Errors of writing a download locally: raised as they are (s3fs would meet them too).
_LOCAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EROFS})


class DirectTransferFailed(Exception):
    """The fast path could not do a transfer; the caller does it through s3fs instead.

    Attributes:
        lasting: True when the next request would fail the same way (a refusal, a redirect:
            the fast path should be switched off); False for a server error or a dropped
            connection, which s3fs retries.
        missing: True when a ``GET`` was answered 404: that object is not there (a fact about
            it, not about the server), so trying again is pointless and the fast path stays on.
    """

    def __init__(self, message: str, *, lasting: bool = False, missing: bool = False) -> None:
        super().__init__(message)
        self.lasting = lasting
        self.missing = missing


def _status_failure(method: str, remote: str, status: int) -> DirectTransferFailed:
    message = f"{method} {remote}: HTTP {status}"
    if method == "GET" and status == 404:
        return DirectTransferFailed(message, missing=True)
    return DirectTransferFailed(message, lasting=status < 500)


class _Config:
    """What :class:`botocore.auth.S3SigV4Auth` reads from a client's config: payload signing."""

    def __init__(self, sign_payload: bool) -> None:
        self.s3 = {"payload_signing_enabled": sign_payload}


class DirectS3:
    """Signed single-request ``PUT`` and ``GET`` of S3 objects over per-thread connections.

    Build it with :meth:`from_options`; it is safe to share between threads.
    """

    def __init__(
        self,
        endpoint: urllib.parse.SplitResult,
        region: str,
        credentials: Any,
        ssl_context: ssl.SSLContext | None,
        *,
        sign_payload: bool = False,
    ) -> None:
        self._scheme = endpoint.scheme
        self._hostname = endpoint.hostname or ""
        self._port = endpoint.port
        default_port = 443 if endpoint.scheme == "https" else 80
        host = self._hostname if ":" not in self._hostname else f"[{self._hostname}]"
        self._host_header = host if self._port in (None, default_port) else f"{host}:{self._port}"
        self._base = f"{endpoint.scheme}://{self._host_header}"
        self._region = region
        self._credentials = credentials
        self._ssl_context = ssl_context
        self._config = _Config(sign_payload)
        # Each thread's connection, by thread ident, with the thread and the process that
        # opened it: the one place a connection is found, so every connection is closed by
        # :meth:`close_idle` (threads that have ended), :meth:`close` or the finalizer, never
        # left to GC. An entry of another thread (an ended one whose ident was reused) or of
        # a parent process (after ``fork``) is replaced.
        self._open: dict[int, _Held] = {}
        self._open_lock = threading.Lock()
        weakref.finalize(self, _close_all, self._open)  # the rest, once this is dropped
        self._count_lock = threading.Lock()
        #: False once a lasting failure switched the fast path off.
        self.enabled = True
        #: Transfers the fast path completed (each PUT or GET that succeeded).
        self.transfers = 0

    def __repr__(self) -> str:
        return f"DirectS3({self._base!r}, region={self._region!r})"

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> DirectS3 | None:
        """The fast path for an s3fs filesystem built with ``options``, or None when it
        does not apply (see the module docstring)."""
        env = os.environ if environ is None else environ
        if env.get(DIRECT_ENV, "").strip().lower() in ("0", "false", "no", "off"):
            return None
        if set(options) - _KNOWN_OPTIONS:
            return None
        client_kwargs = dict(options.get("client_kwargs") or {})
        if set(client_kwargs) - _KNOWN_CLIENT_KWARGS:
            return None
        config = dict(options.get("config_kwargs") or {})
        s3_config = dict(config.pop("s3", None) or {})
        if config or set(s3_config) - _KNOWN_S3_CONFIG:
            return None
        if s3_config.get("addressing_style") == "virtual":
            return None
        endpoint_text = options.get("endpoint_url") or client_kwargs.get("endpoint_url")
        if not isinstance(endpoint_text, str) or not endpoint_text:
            return None  # AWS itself: regions, redirects and virtual hosts are s3fs's job
        endpoint = urllib.parse.urlsplit(endpoint_text)
        if endpoint.scheme not in ("http", "https") or not endpoint.hostname:
            return None
        if endpoint.path.strip("/") or endpoint.query or endpoint.username:
            return None
        if _proxied(endpoint):
            return None
        ssl_context = None
        if endpoint.scheme == "https":
            verify = client_kwargs.get("verify", True)
            if verify is False:
                ssl_context = ssl._create_unverified_context()
            elif isinstance(verify, str):
                ssl_context = ssl.create_default_context(cafile=verify)
            elif verify in (True, None) and not env.get("AWS_CA_BUNDLE"):
                ssl_context = ssl.create_default_context()
            else:
                return None
        credentials, region = _resolve(options, client_kwargs)
        if credentials is None:
            return None
        sign_payload = bool(s3_config.get("payload_signing_enabled", False))
        return cls(endpoint, region, credentials, ssl_context, sign_payload=sign_payload)

    # -- transfers --------------------------------------------------------------------------
    def put(self, remote: str, data: bytes, name: str) -> None:
        """Store ``data`` as the object ``remote`` (``bucket/key``) in one request.

        Raises:
            DirectTransferFailed: the server did not answer with a success.
        """
        headers = {"Content-MD5": _md5(data), **_content_type(name)}
        response, conn = self._send("PUT", remote, headers, data)
        self._body(response, conn, "PUT", remote)
        self._count()

    def get(
        self,
        remote: str,
        path: str,
        size: int,
        progress: Callable[[int], object] | None = None,
    ) -> None:
        """Write the object ``remote`` (``bucket/key``) of ``size`` bytes to the file ``path``.

        ``progress``, if given, is called with the number of bytes of each block written.

        Raises:
            DirectTransferFailed: the server did not answer with the whole object.
        """
        response, conn = self._send("GET", remote, {}, b"")
        if response.status != 200:
            self._body(response, conn, "GET", remote)  # raises, with the answer read
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            self._read_into(response, conn, remote, fd, 0, size, progress)
        finally:
            os.close(fd)
        self._count()

    def get_parts(
        self,
        remote: str,
        path: str,
        size: int,
        part_size: int,
        workers: int,
        progress: Callable[[int], object] | None = None,
    ) -> None:
        """Write the object ``remote`` of ``size`` bytes to ``path`` by ranged ``GET`` requests.

        Ranges of ``part_size`` bytes go ``workers`` at a time, each written at its offset
        as it arrives (memory stays at one read buffer per worker). One S3 connection
        streams at a fraction of what a server sends over several.

        Raises:
            DirectTransferFailed: a range did not come back whole.
        """
        ranges = [(start, min(size, start + part_size) - 1) for start in range(0, size, part_size)]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            os.ftruncate(fd, size)

            def fetch(first: int, last: int) -> None:
                response, conn = self._send("GET", remote, {"Range": f"bytes={first}-{last}"}, b"")
                # 206, or 200 with the range's Content-Range (rclone's gofakes3 answers so).
                if response.status not in (200, 206):
                    self._drop(conn)
                    raise _status_failure("GET", remote, response.status)
                if response.getheader("Content-Range", "") != f"bytes {first}-{last}/{size}":
                    self._drop(conn)  # the server ignored the range, or the object changed
                    raise DirectTransferFailed(f"GET {remote}: not the range asked for")
                self._read_into(response, conn, remote, fd, first, last - first + 1, progress)

            try:
                run_parallel([functools.partial(fetch, a, b) for a, b in ranges], workers)
            finally:
                self.close_idle()
        finally:
            os.close(fd)
        self._count()

    def put_parts(
        self,
        remote: str,
        source: str,
        size: int,
        part_size: int,
        workers: int,
        progress: Callable[[int], object] | None = None,
    ) -> None:
        """Upload the file ``source`` of ``size`` bytes as a multipart upload of ``remote``.

        Parts of ``part_size`` bytes go ``workers`` at a time (memory: one part per worker).
        A failed upload is aborted, so the server keeps no parts of it.

        Raises:
            DirectTransferFailed: the upload did not complete.
        """
        response, conn = self._send("POST", remote, _content_type(source), b"", query="uploads")
        body = self._body(response, conn, "POST", remote)
        found = re.search(rb"<UploadId>([^<]+)</UploadId>", body)
        if found is None:
            raise DirectTransferFailed(f"POST {remote}: no upload id", lasting=True)
        upload = urllib.parse.quote(html.unescape(found.group(1).decode()), safe="")
        fd = os.open(source, os.O_RDONLY)
        try:

            def send(number: int, offset: int) -> str:
                data = os.pread(fd, min(part_size, size - offset), offset)
                if len(data) != min(part_size, size - offset):
                    raise DirectTransferFailed(f"PUT {remote}: {source!r} changed size")
                query = f"partNumber={number}&uploadId={upload}"
                response, conn = self._send("PUT", remote, {"Content-MD5": _md5(data)}, data, query)
                self._body(response, conn, "PUT", remote)
                etag = response.getheader("ETag")
                if not etag:
                    raise DirectTransferFailed(f"PUT {remote}: part {number} has no ETag")
                if progress is not None:
                    progress(len(data))
                return etag

            tasks = [
                functools.partial(send, n, offset)
                for n, offset in enumerate(range(0, size, part_size), start=1)
            ]
            try:
                etags = run_parallel(tasks, workers)
            finally:
                self.close_idle()
            parts = "".join(
                f"<Part><PartNumber>{n}</PartNumber><ETag>{html.escape(etag)}</ETag></Part>"
                for n, etag in enumerate(etags, start=1)
            )
            done = f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()
            response, conn = self._send(
                "POST", remote, {"Content-Type": "application/xml"}, done, f"uploadId={upload}"
            )
            if b"<Error>" in self._body(response, conn, "POST", remote):
                raise DirectTransferFailed(f"POST {remote}: the upload did not complete")
        except BaseException:
            with contextlib.suppress(Exception):
                response, conn = self._send("DELETE", remote, {}, b"", f"uploadId={upload}")
                self._body(response, conn, "DELETE", remote, ok=(200, 204))
            raise
        finally:
            os.close(fd)
        self._count()

    # -- plumbing ---------------------------------------------------------------------------
    def _body(
        self,
        response: http.client.HTTPResponse,
        conn: http.client.HTTPConnection,
        method: str,
        remote: str,
        ok: tuple[int, ...] = (200,),
    ) -> bytes:
        """The whole body of an answer that must have one of the ``ok`` statuses."""
        try:
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._drop(conn)
            raise DirectTransferFailed(f"{method} {remote}: {type(exc).__name__}") from None
        if response.status not in ok:
            raise _status_failure(method, remote, response.status)
        return body

    def _read_into(
        self,
        response: http.client.HTTPResponse,
        conn: http.client.HTTPConnection,
        remote: str,
        fd: int,
        offset: int,
        length: int,
        progress: Callable[[int], object] | None,
    ) -> None:
        """Write ``length`` bytes of ``response`` to ``fd`` from ``offset``; all or fail.

        A network problem is a :class:`DirectTransferFailed`; a local one (a full disk) is
        raised as it is, as s3fs would meet it too.
        """
        buffer = bytearray(_READ_SIZE)
        view = memoryview(buffer)
        end = offset + length
        try:
            while offset < end:
                n = response.readinto(buffer)
                if not n:
                    break
                os.pwrite(fd, view[:n], offset)
                offset += n
                if progress is not None:
                    progress(n)
            extra = response.read(1)
        except http.client.HTTPException as exc:
            self._drop(conn)
            raise DirectTransferFailed(f"GET {remote}: {type(exc).__name__}") from None
        except OSError as exc:
            self._drop(conn)
            if exc.errno in _LOCAL_ERRNOS:
                raise
            raise DirectTransferFailed(f"GET {remote}: {type(exc).__name__}") from None
        if offset != end or extra:
            self._drop(conn)
            raise DirectTransferFailed(f"GET {remote}: {offset - end + length} of {length} bytes")

    def _count(self) -> None:
        with self._count_lock:
            self.transfers += 1

    def _send(
        self, method: str, remote: str, headers: dict[str, str], body: bytes, query: str = ""
    ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
        """Sign and send one request; a kept-alive connection the server closed is reopened.

        ``query`` is the query string, already percent-encoded.
        """
        from botocore.auth import S3SigV4Auth  # type: ignore[import-untyped]
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]

        path = "/" + urllib.parse.quote(remote, safe="/~") + (f"?{query}" if query else "")
        request = AWSRequest(method=method, url=self._base + path, data=body, headers=headers)
        request.headers["Host"] = self._host_header
        request.context["client_config"] = self._config
        frozen = self._credentials.get_frozen_credentials()
        S3SigV4Auth(frozen, "s3", self._region).add_auth(request)
        signed = dict(request.headers.items())
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, path, body=body or None, headers=signed)
                return conn.getresponse(), conn
            except (OSError, http.client.HTTPException) as exc:
                self._drop(conn)
                fresh = isinstance(exc, _STALE)
                if attempt or not fresh:
                    raise DirectTransferFailed(f"{method} {remote}: {type(exc).__name__}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection(self) -> http.client.HTTPConnection:
        me, pid = threading.current_thread(), os.getpid()
        key = threading.get_ident()
        with self._open_lock:
            held = self._open.get(key)
        if held is not None and held[0] is me and held[1] == pid:
            return held[2]
        conn: http.client.HTTPConnection
        if self._scheme == "https":
            conn = http.client.HTTPSConnection(
                self._hostname, self._port, timeout=_TIMEOUT, context=self._ssl_context
            )
        else:
            conn = http.client.HTTPConnection(self._hostname, self._port, timeout=_TIMEOUT)
        with self._open_lock:
            self._open[key] = (me, pid, conn)
        if held is not None:
            held[2].close()  # an ended thread's, or the parent process's copy of the socket
        return conn

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        key = threading.get_ident()
        with self._open_lock:
            held = self._open.get(key)
            if held is not None and held[2] is conn:
                del self._open[key]

    @property
    def connections(self) -> int:
        """Connections open now (one per thread that has used this object and lives on)."""
        with self._open_lock:
            return len(self._open)

    def close_idle(self) -> None:
        """Close the connections of threads that have ended (a finished worker pool's)."""
        with self._open_lock:
            ended = [key for key, (thread, _, _) in self._open.items() if not thread.is_alive()]
            conns = [self._open.pop(key)[2] for key in ended]
        for conn in conns:
            conn.close()

    def close(self) -> None:
        """Close every connection (threads that go on using this object open new ones)."""
        with self._open_lock:
            _close_all(self._open)


#: A thread's connection: the thread, the process that opened it, the connection.
_Held = tuple[threading.Thread, int, http.client.HTTPConnection]


def _close_all(conns: dict[int, _Held]) -> None:
    for _, _, conn in list(conns.values()):
        conn.close()
    conns.clear()


def _md5(data: bytes) -> str:
    """The ``Content-MD5`` header of ``data``."""
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _content_type(name: str) -> dict[str, str]:
    """A ``Content-Type`` header guessed from ``name``, as s3fs and MLflow send (or none)."""
    guessed, _ = mimetypes.guess_type(name)
    return {"Content-Type": guessed} if guessed else {}


def _proxied(endpoint: urllib.parse.SplitResult) -> bool:
    """Whether the environment sends requests for ``endpoint`` through a proxy."""
    proxies = urllib.request.getproxies()
    if not (proxies.get(endpoint.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(endpoint.hostname or "")


def _resolve(options: Mapping[str, Any], client_kwargs: Mapping[str, Any]) -> tuple[Any, str]:
    """(botocore credentials or None, region) as s3fs's client would find them."""
    import botocore.session  # type: ignore[import-untyped]
    from botocore.credentials import Credentials  # type: ignore[import-untyped]

    key = options.get("key") or client_kwargs.get("aws_access_key_id")
    secret = options.get("secret") or client_kwargs.get("aws_secret_access_key")
    token = options.get("token") or client_kwargs.get("aws_session_token")
    session = botocore.session.Session(profile=options.get("profile"))
    region = client_kwargs.get("region_name") or session.get_config_variable("region")
    credentials: Any
    if key and secret:
        credentials = Credentials(key, secret, token)
    else:
        try:
            # Only what is configured locally: no instance or container metadata lookups
            # (those are for AWS itself, which the fast path leaves to s3fs).
            resolver = session.get_component("credential_provider")
            for method in ("container-role", "iam-role"):
                with contextlib.suppress(Exception):
                    resolver.remove(method)
            credentials = session.get_credentials()
        except Exception as exc:  # a broken profile: s3fs reports it on first use
            _logger.debug("S3 fast path off: no credentials (%s)", type(exc).__name__)
            credentials = None
    return credentials, str(region or "us-east-1")
