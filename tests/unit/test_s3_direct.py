"""The single-request S3 fast path (``trackyard_fsspec.s3_direct``).

Against the real servers of ``tests/_object_stores.py`` (rclone serve s3, moto) for what it
moves, and against a few lines of loopback HTTP server for how it copes with connections that
close under it and answers that end early.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests._object_stores import ObjectStore
from trackyard.errors import ErrorCode, TrackyardError
from trackyard_fsspec.repository import FsspecArtifactRepository
from trackyard_fsspec.s3_direct import DIRECT_ENV, DirectS3, DirectTransferFailed
from trackyard_fsspec.transfer import ByteCounter, Progress

_KEYS = {"key": "k", "secret": "s"}


@pytest.fixture(autouse=True)
def _no_proxy_no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CA_BUNDLE",
        DIRECT_ENV,
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


def _tree(root: Path) -> dict[str, bytes]:
    files = {f"d{i % 3}/f{i:02d}.bin": os.urandom(1000 + i) for i in range(12)}
    files["meta/info.json"] = b'{"a": 1}'
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


# -- what it moves, on real servers -------------------------------------------------------------
@pytest.mark.parametrize("server", ["s3_rclone", "s3_moto"])
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned payload", "signed payload"])
def test_small_files_go_both_ways_through_the_fast_path(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    server: str,
    signed: bool,
) -> None:
    # One file at a time: rclone sometimes answers 500 to concurrent PUTs into a directory
    # it is creating (a fall back to s3fs, which the count below would see).
    monkeypatch.setenv("TRACKYARD_ARTIFACT_MAX_WORKERS", "1")
    store: ObjectStore = request.getfixturevalue(server)
    files = _tree(tmp_path / "src")
    uri = store.uri(f"direct-{uuid.uuid4().hex}")
    options = dict(store.storage_options)
    if signed:
        options["config_kwargs"] = {"s3": {"payload_signing_enabled": True}}
    repo = FsspecArtifactRepository(uri, storage_options=options)
    repo.log_artifacts(str(tmp_path / "src"), "run")
    repo.write_bytes(b"hello", "run/notes.txt")
    direct = repo._direct_s3()
    assert direct is not None
    assert direct.transfers == len(files) + 1  # nothing fell back to s3fs
    info = store.filesystem().info(f"{uri[len('s3://') :]}/run/meta/info.json")
    assert info["size"] == 8
    assert info["ContentType"] == "application/json"  # guessed from the name, as s3fs does
    dst = tmp_path / "dst"
    dst.mkdir()
    local = Path(repo.download_artifacts("run", str(dst)))
    got = {p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file()}
    assert got == {**files, "notes.txt": b"hello"}
    assert direct.transfers == 2 * (len(files) + 1)
    assert direct.enabled


@pytest.mark.parametrize("server", ["s3_rclone", "s3_moto"])
def test_large_files_go_in_parallel_parts_and_ranges(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    server: str,
) -> None:
    monkeypatch.setenv("TRACKYARD_ARTIFACT_CHUNK_SIZE", "5MiB")
    store: ObjectStore = request.getfixturevalue(server)
    data = os.urandom(13 * 1024 * 1024 + 7)
    (tmp_path / "big.bin").write_bytes(data)
    uri = store.uri(f"direct-{uuid.uuid4().hex}")
    repo = FsspecArtifactRepository(uri, storage_options=store.storage_options)
    repo.log_artifact(str(tmp_path / "big.bin"), "model")
    direct = repo._direct_s3()
    assert direct is not None and direct.transfers == 1
    info = store.filesystem().info(f"{uri[len('s3://') :]}/model/big.bin")
    assert info["size"] == len(data)
    if server == "s3_moto":  # rclone's ETag is the whole file's MD5, whatever the upload
        assert str(info["ETag"]).strip('"').endswith("-3")  # three parts
    dst = tmp_path / "dst"
    dst.mkdir()
    assert Path(repo.download_artifacts("model/big.bin", str(dst))).read_bytes() == data
    assert direct.transfers == 2


def test_worker_connections_are_closed_when_their_pool_ends(
    s3_moto: ObjectStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRACKYARD_ARTIFACT_MAX_WORKERS", "4")
    monkeypatch.setenv("TRACKYARD_ARTIFACT_CHUNK_SIZE", "5MiB")
    files = _tree(tmp_path / "src")
    (tmp_path / "src" / "big.bin").write_bytes(os.urandom(11 * 1024 * 1024))
    uri = s3_moto.uri(f"direct-{uuid.uuid4().hex}")
    repo = FsspecArtifactRepository(uri, storage_options=s3_moto.storage_options)
    repo.log_artifacts(str(tmp_path / "src"))
    direct = repo._direct_s3()
    assert direct is not None and direct.transfers == len(files) + 1
    assert direct.connections <= 1  # at most the calling thread's, kept for its next call
    dst = tmp_path / "dst"
    dst.mkdir()
    repo.download_artifacts("", str(dst))
    assert direct.transfers == 2 * (len(files) + 1)
    assert direct.connections <= 1
    direct.close()
    assert direct.connections == 0


def test_a_refusal_switches_it_off_and_s3fs_reports_the_error(s3_rclone: ObjectStore) -> None:
    secret = f"wrong-{uuid.uuid4().hex}"
    options = {**s3_rclone.storage_options, "secret": secret}
    repo = FsspecArtifactRepository(s3_rclone.uri(), storage_options=options)
    with pytest.raises(TrackyardError) as excinfo:
        repo.write_bytes(b"x", "f.txt")
    assert excinfo.value.error_code == ErrorCode.PERMISSION_DENIED
    assert secret not in str(excinfo.value)
    direct = repo._direct
    assert direct is not None and not direct.enabled and direct.transfers == 0
    assert repo._direct_s3() is None


def _deleted_after_listing(
    monkeypatch: pytest.MonkeyPatch, repo: FsspecArtifactRepository, store: ObjectStore, rel: str
) -> None:
    """Make ``repo`` delete ``rel`` from the server between listing and fetching it."""
    plan = repo._download_plan
    remote = f"{repo.root}/{rel}"

    def listed_then_deleted(path: str) -> tuple[list[tuple[str, int]], list[str], bool]:
        found = plan(path)
        if path == rel:
            store.filesystem().rm(remote)
        return found

    monkeypatch.setattr(repo, "_download_plan", listed_then_deleted)


@pytest.mark.parametrize("server", ["s3_rclone", "s3_moto"])
@pytest.mark.parametrize("large", [False, True], ids=["one GET", "ranged GETs"])
def test_a_missing_object_is_not_found_and_the_fast_path_stays_on(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    server: str,
    large: bool,
) -> None:
    # The object goes between listing and download: s3fs reports it as it always does, and
    # the fast path, which met a 404 for that one file, carries on with the next.
    monkeypatch.setenv("TRACKYARD_ARTIFACT_CHUNK_SIZE", "5MiB")
    store: ObjectStore = request.getfixturevalue(server)
    src = tmp_path / "src"
    src.mkdir()
    (src / "gone.bin").write_bytes(os.urandom(6 * 1024 * 1024 if large else 100))
    (src / "kept.txt").write_bytes(b"kept")
    uri = store.uri(f"direct-{uuid.uuid4().hex}")
    dst = tmp_path / "dst"
    dst.mkdir()
    errors: list[TrackyardError] = []
    for direct_env in ("0", None):  # s3fs alone, then with the fast path
        with monkeypatch.context() as patched:
            if direct_env is not None:
                patched.setenv(DIRECT_ENV, direct_env)
            repo = FsspecArtifactRepository(uri, storage_options=store.storage_options)
            repo.log_artifacts(str(src))
            _deleted_after_listing(patched, repo, store, "gone.bin")
            with pytest.raises(TrackyardError) as excinfo:
                repo.download_artifacts("gone.bin", str(dst))
            errors.append(excinfo.value)
    s3fs_error, error = errors
    assert error.error_code == s3fs_error.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST
    assert str(error) == str(s3fs_error)
    assert type(error) is type(s3fs_error)
    direct = repo._direct
    assert direct is not None and direct.enabled
    assert repo._direct_s3() is direct
    assert direct.transfers == 2  # the two uploads; the missing file was not fetched
    assert Path(repo.download_artifacts("kept.txt", str(dst))).read_bytes() == b"kept"
    assert direct.transfers == 3  # the next file came through the fast path
    assert not (dst / "gone.bin").exists()


def test_turned_off_by_the_environment(
    s3_moto: ObjectStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(DIRECT_ENV, "0")
    repo = FsspecArtifactRepository(s3_moto.uri(), storage_options=s3_moto.storage_options)
    assert repo._direct_s3() is None
    (tmp_path / "a.txt").write_bytes(b"a")
    repo.log_artifact(str(tmp_path / "a.txt"))  # s3fs alone
    assert [f.path for f in repo.list_artifacts()] == ["a.txt"]


# -- where it applies ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        pytest.param(_KEYS, id="no endpoint: AWS itself"),
        pytest.param({**_KEYS, "endpoint_url": "ftp://127.0.0.1:9"}, id="not http"),
        pytest.param({**_KEYS, "endpoint_url": "http://127.0.0.1:9/base"}, id="endpoint path"),
        pytest.param({**_KEYS, "endpoint_url": "http://127.0.0.1:9", "anon": True}, id="anon"),
        pytest.param(
            {**_KEYS, "endpoint_url": "http://127.0.0.1:9", "s3_additional_kwargs": {"A": 1}},
            id="upload extra args",
        ),
        pytest.param(
            {
                **_KEYS,
                "endpoint_url": "http://127.0.0.1:9",
                "config_kwargs": {"s3": {"addressing_style": "virtual"}},
            },
            id="virtual hosts",
        ),
        pytest.param(
            {
                **_KEYS,
                "endpoint_url": "http://127.0.0.1:9",
                "config_kwargs": {"proxies": {"http": "http://127.0.0.1:8"}},
            },
            id="proxies in the config",
        ),
        pytest.param(
            {**_KEYS, "client_kwargs": {"endpoint_url": "http://127.0.0.1:9", "use_ssl": False}},
            id="unknown client option",
        ),
        pytest.param({"endpoint_url": "http://127.0.0.1:9"}, id="no credentials"),
    ],
)
def test_left_to_s3fs_where_it_is_not_exact(options: dict[str, object]) -> None:
    assert DirectS3.from_options(options) is None


def test_applies_to_a_configured_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    direct = DirectS3.from_options({**_KEYS, "endpoint_url": "http://127.0.0.1:9"})
    assert repr(direct) == "DirectS3('http://127.0.0.1:9', region='us-east-1')"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    nested = {
        "client_kwargs": {
            "endpoint_url": "https://[::1]:8443",
            "region_name": "eu-west-3",
            "verify": False,
        }
    }
    assert repr(DirectS3.from_options(nested)) == (
        "DirectS3('https://[::1]:8443', region='eu-west-3')"
    )
    assert DirectS3.from_options({**_KEYS, "endpoint_url": "http://127.0.0.1:9"}, {}) is not None
    assert (
        DirectS3.from_options({**_KEYS, "endpoint_url": "http://h:9"}, {DIRECT_ENV: "no"}) is None
    )


def test_a_proxy_for_the_endpoint_leaves_it_to_s3fs(monkeypatch: pytest.MonkeyPatch) -> None:
    options = {**_KEYS, "endpoint_url": "http://s3.internal.example:9000"}
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("NO_PROXY", "")
    assert DirectS3.from_options(options) is None
    monkeypatch.setenv("NO_PROXY", "s3.internal.example")
    assert DirectS3.from_options(options) is not None


# -- connections and answers, on a loopback server that misbehaves on purpose -------------------
class _Server:
    """Answers each request with ``reply`` (bytes, or a function of the request line), then
    closes the connection if ``close``; ``lines`` keeps the request lines."""

    def __init__(self, reply: bytes | Callable[[str], bytes], *, close: bool) -> None:
        self.reply, self.close = reply, close
        self.connections = 0
        self.requests = 0
        self.lines: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as reader:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                reader.read(length)
                self.requests += 1
                line = head.split(b"\r\n", 1)[0].decode()
                self.lines.append(line)
                conn.sendall(self.reply if isinstance(self.reply, bytes) else self.reply(line))
                if self.close:
                    return

    def direct(self) -> DirectS3:
        found = DirectS3.from_options({**_KEYS, "endpoint_url": f"http://127.0.0.1:{self.port}"})
        assert found is not None
        return found


@pytest.fixture
def server_factory() -> Iterator[list[_Server]]:
    made: list[_Server] = []
    yield made
    for server in made:
        server.sock.close()


def test_a_connection_the_server_closed_is_opened_again(server_factory: list[_Server]) -> None:
    # A keep-alive answer, then the server hangs up: the next request finds the old
    # connection dead and is sent once more on a new one.
    server = _Server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", close=True)
    server_factory.append(server)
    direct = server.direct()
    direct.put("bucket/a.txt", b"one", "a.txt")
    direct.put("bucket/b.txt", b"two", "b.txt")
    direct.put("bucket/c.txt", b"three", "c.txt")
    assert server.requests == 3
    assert server.connections == 3
    assert direct.transfers == 3


def test_a_connection_opened_after_close_is_counted_and_closed(
    server_factory: list[_Server],
) -> None:
    # close() drops every connection; a thread that goes on using the object gets a new one,
    # which is counted and closed like the first (not left to the garbage collector).
    server = _Server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", close=False)
    server_factory.append(server)
    direct = server.direct()
    direct.put("bucket/a.txt", b"one", "a.txt")
    assert direct.connections == 1
    direct.close()
    assert direct.connections == 0
    direct.put("bucket/b.txt", b"two", "b.txt")
    assert server.connections == 2
    assert direct.connections == 1
    direct.close()
    assert direct.connections == 0
    direct.put("bucket/c.txt", b"three", "c.txt")  # the next one opens anew, once
    assert (server.connections, direct.connections, direct.transfers) == (3, 1, 3)


@pytest.mark.parametrize(
    ("reply", "lasting"),
    [
        (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.1 503 Slow Down\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 301 Moved Permanently\r\nContent-Length: 0\r\n\r\n", True),
    ],
)
def test_anything_but_success_is_a_failure(
    server_factory: list[_Server], reply: bytes, lasting: bool, tmp_path: Path
) -> None:
    server = _Server(reply, close=False)
    server_factory.append(server)
    direct = server.direct()
    with pytest.raises(DirectTransferFailed) as excinfo:
        direct.put("bucket/a.txt", b"x", "a.txt")
    assert excinfo.value.lasting is lasting
    with pytest.raises(DirectTransferFailed):
        direct.get("bucket/a.txt", str(tmp_path / "a.txt"), 0)
    assert direct.transfers == 0


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",  # the body ends early
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",  # not the size listed
    ],
)
def test_a_short_download_is_a_failure(
    server_factory: list[_Server], reply: bytes, tmp_path: Path
) -> None:
    server = _Server(reply, close=True)
    server_factory.append(server)
    direct = server.direct()
    with pytest.raises(DirectTransferFailed) as excinfo:
        direct.get("bucket/a.bin", str(tmp_path / "a.bin"), 10)
    assert not excinfo.value.lasting
    assert direct.transfers == 0


def test_a_failed_multipart_upload_is_aborted(
    server_factory: list[_Server], tmp_path: Path
) -> None:
    started = (
        b"<InitiateMultipartUploadResult><UploadId>u+1</UploadId></InitiateMultipartUploadResult>"
    )

    def reply(line: str) -> bytes:
        if line.startswith("POST") and "?uploads" in line:
            return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(started), started)
        if line.startswith("PUT") and "partNumber=2" in line:
            return b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
        return b'HTTP/1.1 200 OK\r\nETag: "e"\r\nContent-Length: 0\r\n\r\n'

    server = _Server(reply, close=False)
    server_factory.append(server)
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3000))
    direct = server.direct()
    with pytest.raises(DirectTransferFailed):
        direct.put_parts("bucket/big.bin", str(source), 3000, 1000, 1)
    assert server.lines[0].startswith("POST /bucket/big.bin?uploads ")
    assert server.lines[-1] == "DELETE /bucket/big.bin?uploadId=u%2B1 HTTP/1.1"  # aborted
    assert not any("uploadId=u%2B1 " in line and line.startswith("POST") for line in server.lines)
    assert direct.transfers == 0


@pytest.mark.parametrize("large", [False, True], ids=["one GET", "ranged GETs"])
def test_a_404_to_a_get_is_about_that_file_only(
    server_factory: list[_Server],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    large: bool,
) -> None:
    # Not tried again, not a reason to switch the fast path off: s3fs gets that one file
    # (and reports it missing), the next file comes through the fast path.
    monkeypatch.setenv("TRACKYARD_ARTIFACT_CHUNK_SIZE", "5MiB")
    missing = b"<Error><Code>NoSuchKey</Code></Error>"

    def reply(line: str) -> bytes:
        if " /bucket/run/gone.bin " in line:
            head = b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n" % len(missing)
            return head + missing
        return b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nkept"

    server = _Server(reply, close=False)
    server_factory.append(server)
    endpoint = f"http://127.0.0.1:{server.port}"
    repo = FsspecArtifactRepository(
        "s3://bucket/run", storage_options={**_KEYS, "endpoint_url": endpoint}
    )
    repo.transfer = dataclasses.replace(repo.transfer, part_concurrency=1)
    direct = repo._direct_s3()
    assert direct is not None
    size = 6 * 1024 * 1024 if large else 4
    counter = ByteCounter(Progress(size, "test", repo.transfer))
    assert not repo._get_direct(direct, "bucket/run/gone.bin", str(tmp_path / "c"), size, counter)
    assert len(server.lines) == 1  # one request (the first range), not tried again
    assert direct.enabled and repo._direct_s3() is direct
    counter = ByteCounter(Progress(4, "test", repo.transfer))
    assert repo._get_direct(direct, "bucket/run/kept.txt", str(tmp_path / "kept"), 4, counter)
    assert (tmp_path / "kept").read_bytes() == b"kept"
    assert direct.transfers == 1
    with pytest.raises(DirectTransferFailed) as excinfo:
        direct.get("bucket/run/gone.bin", str(tmp_path / "a"), 4)
    assert excinfo.value.missing and not excinfo.value.lasting
    with pytest.raises(DirectTransferFailed) as excinfo:
        direct.get_parts("bucket/run/gone.bin", str(tmp_path / "b"), 4, 2, 1)
    assert excinfo.value.missing and not excinfo.value.lasting
    # A 404 to anything but a GET (a bucket gone under a PUT) still switches it off.
    with pytest.raises(DirectTransferFailed) as excinfo:
        direct.put("bucket/run/gone.bin", b"x", "gone.bin")
    assert excinfo.value.lasting and not excinfo.value.missing
