"""The server's artifact proxy (``trackyard_rest.server.artifacts``) on uvicorn over loopback:
MLflow's routes on a local and a ``memory://`` destination, streaming with bounded server
memory, and every hostile path class of MLflow's CVE history sent as raw request bytes."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import random
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the server extra (fastapi, uvicorn) is not installed")
pytest.importorskip("uvicorn", reason="the server extra (fastapi, uvicorn) is not installed")

from tests._artifact_proxy import PREFIX, Proxy, RawResponse, raw_request, start_proxy
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.validation import MAX_ARTIFACT_PATH_DEPTH
from trackyard_rest.server.artifacts import (
    MULTIPART_DOWNLOAD_UNSUPPORTED,
    MULTIPART_UPLOAD_UNSUPPORTED,
    checked_path,
)

ART = PREFIX + "/artifacts"
AJAX = "/ajax-api/2.0/mlflow-artifacts/artifacts"
SECRET = b"TOP-SECRET-OUTSIDE"
HOSTILE_BODY = b"PWNED-BY-A-HOSTILE-PATH"


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def area(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``dest/`` (the proxy's local destination) beside ``outside/secret.txt``."""
    base = tmp_path_factory.mktemp("proxy")
    (base / "dest").mkdir()
    (base / "outside").mkdir()
    (base / "outside" / "secret.txt").write_bytes(SECRET)
    return base


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("proxy-logs"))


@pytest.fixture(scope="module")
def local_proxy(area: Path, logs: str) -> Iterator[Proxy]:
    proxy = start_proxy(str(area / "dest"), logs)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def memory_proxy(logs: str) -> Iterator[Proxy]:
    proxy = start_proxy(f"memory://proxy-{os.getpid()}/artifacts", logs)
    yield proxy
    proxy.stop()


@pytest.fixture(params=["local", "memory"])
def proxy(request: pytest.FixtureRequest) -> Proxy:
    """Each destination, emptied first (through the proxy itself)."""
    proxy: Proxy = request.getfixturevalue(f"{request.param}_proxy")
    for entry in raw_request(proxy.port, "GET", ART).json().get("files", []):
        target = f"{ART}/{urllib.parse.quote(entry['path'])}"
        assert raw_request(proxy.port, "DELETE", target).status == 200
    assert raw_request(proxy.port, "GET", ART).json() == {}
    return proxy


def _tree(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = Path(dirpath, name)
            if not full.is_symlink():
                out[str(full.relative_to(root))] = full.read_bytes()
    return out


def _error(response: RawResponse, status: int, code: str) -> str:
    assert response.status == status, response
    body = response.json()
    assert body["error_code"] == code, body
    assert "Traceback" not in body["message"]
    return str(body["message"])


# -- round trips -------------------------------------------------------------------------------
def test_upload_list_download_delete_round_trip(proxy: Proxy) -> None:
    port = proxy.port
    blob = random.Random(3).randbytes(300_000)
    assert raw_request(port, "PUT", f"{ART}/run1/notes.txt", b"hello").json() == {}
    assert raw_request(port, "PUT", f"{ART}/run1/model/weights.bin", blob).status == 200
    assert raw_request(port, "PUT", f"{AJAX}/run1/empty.json", b"").status == 200
    assert raw_request(port, "PUT", f"{ART}/run1/notes.txt", b"hello again").status == 200

    assert raw_request(port, "GET", ART).json() == {"files": [{"path": "run1", "is_dir": True}]}
    assert raw_request(port, "GET", f"{ART}?path=run1").json() == {
        "files": [
            {"path": "empty.json", "is_dir": False, "file_size": 0},
            {"path": "model", "is_dir": True},
            {"path": "notes.txt", "is_dir": False, "file_size": 11},
        ]
    }
    assert raw_request(port, "GET", f"{AJAX}?path=run1/model/").json() == {
        "files": [{"path": "weights.bin", "is_dir": False, "file_size": len(blob)}]
    }
    assert raw_request(port, "GET", f"{ART}?path=run1/notes.txt").json() == {}
    assert raw_request(port, "GET", f"{ART}?path=absent").json() == {}

    text = raw_request(port, "GET", f"{ART}/run1/notes.txt")
    assert (text.status, text.body) == (200, b"hello again")
    assert text.headers["content-type"].startswith("text/plain")
    assert text.headers["content-disposition"].startswith('attachment; filename="notes.txt"')
    assert text.headers["x-content-type-options"] == "nosniff"
    binary = raw_request(port, "GET", f"{AJAX}/run1/model/weights.bin")
    assert binary.body == blob
    assert binary.headers["content-type"] == "application/octet-stream"
    assert raw_request(port, "GET", f"{ART}/run1/empty.json").body == b""

    _error(raw_request(port, "GET", f"{ART}/run1/absent.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    _error(raw_request(port, "GET", f"{ART}/run1/model"), 400, "INVALID_PARAMETER_VALUE")

    assert raw_request(port, "DELETE", f"{ART}/run1/model").json() == {}
    assert [f["path"] for f in raw_request(port, "GET", f"{ART}?path=run1").json()["files"]] == [
        "empty.json",
        "notes.txt",
    ]
    assert raw_request(port, "DELETE", f"{ART}/run1/never-there").status == 200
    assert raw_request(port, "DELETE", f"{AJAX}/run1").status == 200
    assert raw_request(port, "GET", ART).json() == {}


def test_odd_but_safe_names_round_trip(proxy: Proxy) -> None:
    port = proxy.port
    for quoted, name in (
        ("a%20b/%C3%BC%20n%C3%A4me.txt", "ü näme.txt"),
        ("pct/100%25.csv", "100%.csv"),
        ("pct/%2541.txt", "%41.txt"),
    ):
        assert raw_request(port, "PUT", f"{ART}/{quoted}", name.encode()).status == 200
        got = raw_request(port, "GET", f"{ART}/{quoted}")
        assert got.body == name.encode()
        assert got.headers["content-disposition"].isascii()
    listed = raw_request(port, "GET", f"{ART}?path=pct").json()["files"]
    assert sorted(f["path"] for f in listed) == ["%41.txt", "100%.csv"]


def test_local_destination_holds_the_files(local_proxy: Proxy, area: Path) -> None:
    raw_request(local_proxy.port, "DELETE", f"{ART}/here")
    assert raw_request(local_proxy.port, "PUT", f"{ART}/here/x/y.txt", b"y").status == 200
    assert (area / "dest" / "here" / "x" / "y.txt").read_bytes() == b"y"
    (area / "dest" / "here" / "made-on-disk.txt").write_bytes(b"disk")
    assert raw_request(local_proxy.port, "GET", f"{ART}/here/made-on-disk.txt").body == b"disk"
    assert raw_request(local_proxy.port, "DELETE", f"{ART}/here").status == 200
    assert not (area / "dest" / "here").exists()


def test_upload_needs_a_file_name(proxy: Proxy) -> None:
    for target in (f"{ART}/dir/", f"{ART}/", f"{ART}/./"):
        _error(raw_request(proxy.port, "PUT", target, b"x"), 400, "INVALID_PARAMETER_VALUE")
    assert raw_request(proxy.port, "GET", ART).json() == {}
    _error(raw_request(proxy.port, "DELETE", f"{ART}/"), 400, "INVALID_PARAMETER_VALUE")


def test_multipart_routes_answer_mlflows_unsupported_errors(proxy: Proxy) -> None:
    port = proxy.port
    body = json.dumps({"path": "/home/me/big.bin", "num_parts": 3}).encode()
    for action in ("create", "complete", "abort"):
        for target in (f"{PREFIX}/mpu/{action}/run/dir", f"{PREFIX}/mpu/{action}"):
            message = _error(raw_request(port, "POST", target, body), 501, "NOT_IMPLEMENTED")
            assert message.startswith(MULTIPART_UPLOAD_UNSUPPORTED)
        missing = raw_request(port, "POST", f"{PREFIX}/mpu/{action}/d", b'{"num_parts": 1}')
        assert "'path'" in _error(missing, 400, "INVALID_PARAMETER_VALUE")
        _error(
            raw_request(port, "POST", f"{PREFIX}/mpu/{action}/d", b"[]"),
            400,
            "INVALID_PARAMETER_VALUE",
        )
        hostile = raw_request(port, "POST", f"{PREFIX}/mpu/{action}/%2e%2e/x", body)
        _error(hostile, 400, "INVALID_PARAMETER_VALUE")
    presigned = raw_request(port, "GET", f"{PREFIX}/presigned/run/f.bin")
    assert _error(presigned, 501, "NOT_IMPLEMENTED") == MULTIPART_DOWNLOAD_UNSUPPORTED


# -- streaming ---------------------------------------------------------------------------------
def test_large_files_stream_with_bounded_server_memory(local_proxy: Proxy, area: Path) -> None:
    """64 MiB up and down; the server's peak RSS must not grow by the file's size."""
    port = local_proxy.port
    size = 64 * 1024 * 1024
    warm = random.Random(5).randbytes(4 * 1024 * 1024)
    assert raw_request(port, "PUT", f"{ART}/big/warm.bin", [warm]).status == 200
    assert raw_request(port, "GET", f"{ART}/big/warm.bin").body == warm
    before = local_proxy.peak_rss()

    block = random.Random(9).randbytes(1024 * 1024)
    sent = hashlib.sha256()

    def body() -> Iterator[bytes]:
        for i in range(size // len(block)):
            piece = block[i % 7 :] + block[: i % 7]  # every MiB differs
            sent.update(piece)
            yield piece

    assert raw_request(port, "PUT", f"{ART}/big/blob.bin", body(), timeout=120).status == 200
    assert (area / "dest" / "big" / "blob.bin").stat().st_size == size

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", f"{ART}/big/blob.bin")
    response = conn.getresponse()
    assert response.status == 200
    assert int(response.headers["Content-Length"]) == size
    got = hashlib.sha256()
    received = 0
    while chunk := response.read(1024 * 1024):
        got.update(chunk)
        received += len(chunk)
    conn.close()
    assert received == size
    assert got.hexdigest() == sent.hexdigest()

    growth = local_proxy.peak_rss() - before
    assert growth < 24 * 1024 * 1024, f"server peak RSS grew by {growth / 2**20:.1f} MiB"

    # a client that leaves mid-download does not leave the file open on the server
    blob = str((area / "dest" / "big" / "blob.bin").resolve())
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", f"{ART}/big/blob.bin")
    response = conn.getresponse()
    assert len(response.read(1024 * 1024)) == 1024 * 1024
    assert blob in _open_files(local_proxy.pid)
    conn.close()
    deadline = time.monotonic() + 10
    while blob in _open_files(local_proxy.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert blob not in _open_files(local_proxy.pid)
    assert raw_request(port, "DELETE", f"{ART}/big").status == 200


def _open_files(pid: int) -> set[str]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            found.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return found


# -- hostile paths -----------------------------------------------------------------------------
# Request targets under ``artifacts/`` (the proxy's destination is ``area/dest``, the secret is
# ``area/outside/secret.txt``), grouped by the class of attack they belong to.
HOSTILE_TARGETS = {
    "dot-dot": ["../outside/secret.txt", "x/../../outside/secret.txt", "..", "a/.."],
    "dot-dot-backslash": ["..\\outside\\secret.txt", "..%5Coutside%5Csecret.txt", "a\\b.txt"],
    "absolute": [
        "/etc/passwd",
        "%2Fetc%2Fpasswd",
        "C:%5CWindows%5Cwin.ini",
        "C:/Windows/win.ini",
        "~/.ssh/id_rsa",
    ],
    "encoded-dot-dot": ["%2e%2e%2foutside%2fsecret.txt", "%2e%2e/outside/secret.txt"],
    "mixed-case-encoding": ["%2E%2e%2Foutside%2Fsecret.txt", "%2e%2E/%2E%2E/x"],
    "double-encoding": ["%252e%252e%252foutside%252fsecret.txt", "%25252e%25252e%25252fx"],
    "path-parameters": ["..;/outside/secret.txt", "a;b.txt", "x/..%3B/y", "a%253Bb.txt"],
    "fragment": ["a.txt#/../../outside/secret.txt", "a%23b.txt", "a%2523b.txt"],
    "smuggled-query": ["a%3Fpath=..%2F..%2Foutside", "a%253Fb.txt"],
    "nul-byte": ["a%00.txt", "secret.txt%00.png", "a%2500.txt"],
    "control-characters": ["a%0d%0aSet-Cookie:%20x.txt", "a%09b.txt", "a%7f.txt"],
    "overlong-utf8": ["%c0%ae%c0%ae/outside/secret.txt", "%c0%afetc", "%e0%80%ae.txt"],
    "too-long": ["a" * 256 + ".txt", "/".join(["d"] * (MAX_ARTIFACT_PATH_DEPTH + 1)) + "/f"],
    "too-long-total": ["/".join(["x" * 200] * 6)],
}
# What an HTTP parser refuses before the app runs (raw NUL, CR/LF, spaces in the target).
REFUSED_BY_HTTP_PARSER = [b"a\x00.txt", b"a\r\nb.txt", b"a b.txt"]


def _hostile_cases() -> list[tuple[str, str]]:
    return [(kind, target) for kind, targets in HOSTILE_TARGETS.items() for target in targets]


@pytest.mark.parametrize(("kind", "target"), _hostile_cases())
def test_hostile_paths_are_refused_before_any_io(
    local_proxy: Proxy, area: Path, kind: str, target: str
) -> None:
    port = local_proxy.port
    raw_request(port, "PUT", f"{ART}/keep/me.txt", b"kept")
    before = _tree(area)
    responses = {
        "GET": raw_request(port, "GET", f"{ART}/{target}"),
        "PUT": raw_request(port, "PUT", f"{ART}/{target}", HOSTILE_BODY),
        "DELETE": raw_request(port, "DELETE", f"{ART}/{target}"),
        "LIST": raw_request(port, "GET", f"{ART}?path={target.replace('#', '%23')}"),
        "AJAX-GET": raw_request(port, "GET", f"{AJAX}/{target}"),
        "MPU": raw_request(port, "POST", f"{PREFIX}/mpu/create/{target}", b'{"path": "f"}'),
        "PRESIGNED": raw_request(port, "GET", f"{PREFIX}/presigned/{target}"),
    }
    for what, response in responses.items():
        assert SECRET not in response.body, (kind, what)
        _error(response, 400, ErrorCode.INVALID_PARAMETER_VALUE)
    assert _tree(area) == before, f"{kind}: the files changed"
    assert HOSTILE_BODY not in b"".join(_tree(area.parent).values())


@pytest.mark.parametrize("target", REFUSED_BY_HTTP_PARSER)
def test_raw_bytes_the_http_parser_refuses(local_proxy: Proxy, area: Path, target: bytes) -> None:
    before = _tree(area)
    for method in ("GET", "PUT", "DELETE"):
        # No body: the parser refuses at the request line and the server closes; a body it
        # never read would make its kernel answer with a reset, which can overtake the 400.
        response = raw_request(local_proxy.port, method, ART.encode() + b"/" + target, b"")
        assert response.status == 400
        assert SECRET not in response.body
    assert _tree(area) == before


def test_symlinks_leaving_the_destination_are_not_followed(local_proxy: Proxy, area: Path) -> None:
    port = local_proxy.port
    dest = area / "dest"
    raw_request(port, "DELETE", f"{ART}/links")
    assert raw_request(port, "PUT", f"{ART}/links/inside.txt", b"inside").status == 200
    os.symlink(area / "outside", dest / "links" / "escape")
    os.symlink(area / "outside" / "secret.txt", dest / "links" / "secret-link.txt")
    os.symlink(dest / "links" / "inside.txt", dest / "links" / "ok-link.txt")
    try:
        listed = raw_request(port, "GET", f"{ART}?path=links").json()["files"]
        assert [f["path"] for f in listed] == ["inside.txt", "ok-link.txt"]
        assert raw_request(port, "GET", f"{ART}/links/ok-link.txt").body == b"inside"
        for target in ("links/escape/secret.txt", "links/secret-link.txt"):
            response = raw_request(port, "GET", f"{ART}/{target}")
            assert SECRET not in response.body
            _error(response, 400, "INVALID_PARAMETER_VALUE")
        escape_list = raw_request(port, "GET", f"{ART}?path=links/escape")
        assert b"secret.txt" not in escape_list.body
        _error(escape_list, 400, "INVALID_PARAMETER_VALUE")
        put = raw_request(port, "PUT", f"{ART}/links/escape/planted.txt", HOSTILE_BODY)
        _error(put, 400, "INVALID_PARAMETER_VALUE")
        delete = raw_request(port, "DELETE", f"{ART}/links/escape/secret.txt")
        _error(delete, 400, "INVALID_PARAMETER_VALUE")
        assert sorted(os.listdir(area / "outside")) == ["secret.txt"]
        assert (area / "outside" / "secret.txt").read_bytes() == SECRET
        # deleting the link removes the link, not what it points to
        assert raw_request(port, "DELETE", f"{ART}/links/escape").status == 200
        assert (area / "outside" / "secret.txt").read_bytes() == SECRET
    finally:
        raw_request(port, "DELETE", f"{ART}/links")
    assert (area / "outside" / "secret.txt").read_bytes() == SECRET


# -- the path check itself -----------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "target"), _hostile_cases())
def test_checked_path_refuses_every_hostile_class(kind: str, target: str) -> None:
    as_routed = urllib.parse.unquote(target, errors="replace")  # what the server decodes once
    with pytest.raises(TrackyardError) as excinfo:
        checked_path(as_routed, allow_empty=False)
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE, kind


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("a/b.txt", "a/b.txt"),
        ("./a//b/", "a/b"),
        ("100%.csv", "100%.csv"),
        ("%41.txt", "%41.txt"),  # kept literally: a path is never decoded for use
        ("ü näme.txt", "ü näme.txt"),
        ("", ""),
        (None, ""),
    ],
)
def test_checked_path_keeps_safe_names(given: str | None, canonical: str) -> None:
    assert checked_path(given) == canonical


def test_checked_path_refuses_nesting_beyond_eight_rounds() -> None:
    deep = "x"
    for _ in range(9):
        deep = deep.replace("%", "%25") if "%" in deep else "%78"
    with pytest.raises(TrackyardError, match="too many times"):
        checked_path(deep)
    assert checked_path("%2578") == "%2578"
