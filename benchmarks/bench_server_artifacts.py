"""Artifact proxy benchmark: trackyard's server routes against ``mlflow server``'s, in one run.

    python benchmarks/bench_server_artifacts.py --mlflow-python .venv-mlflow/bin/python

Both servers run on uvicorn with one worker on loopback, each over its own local
``--artifacts-destination``; one neutral client (``http.client`` in this process, 1 MiB
blocks) drives both, taking turns within each round so a busy machine slows them alike:

- one 256 MiB file up (``PUT``) and down (``GET``), median of 3;
- 200 files x 64 KiB up, then down, one request each over a kept-alive connection, median
  of 3; plus listing their directory (median of 20);
- each server's peak RSS (``VmHWM``, the largest of its processes) after all transfers.

The figures are printed, never asserted. ``--big-mib`` and ``--files`` shrink the run.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import fmt_seconds, mlflow_interpreter, worker_env

ART = "/api/2.0/mlflow-artifacts/artifacts"
BLOCK = 1024 * 1024

_TRACKYARD_SERVER = """\
import sys

import uvicorn
from fastapi import FastAPI

from trackyard_rest.server.artifacts import make_artifact_router

app = FastAPI()
app.include_router(make_artifact_router(sys.argv[1]))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", workers=1)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server process on loopback, stopped by its PID (and its process group)."""

    def __init__(self, name: str, command: list[str], port: int, env: dict[str, str], log: str):
        self.name = name
        self.port = port
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"{name} exited: {self._tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{ART}?path=", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit(f"{name} did not start: {self._tail()}") from None
                time.sleep(0.2)

    def _tail(self) -> str:
        with open(self.log, encoding="utf-8", errors="replace") as fh:
            return fh.read()[-3000:]

    def peak_rss(self) -> int:
        """The largest ``VmHWM`` among the server's processes (uvicorn may be a child)."""
        pids = {self.proc.pid}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as fh:
                        if int(fh.read().rsplit(")", 1)[1].split()[1]) in pids:
                            pids.add(int(entry))
                except OSError:
                    continue
        peak = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/status") as fh:
                    for line in fh:
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]) * 1024)
            except OSError:
                continue
        return peak

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(15)


# -- the client ------------------------------------------------------------------------------------
def _connection(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=300, blocksize=BLOCK)


def _check(response: http.client.HTTPResponse, what: str) -> None:
    if response.status != 200:
        raise SystemExit(f"{what}: HTTP {response.status}: {response.read()[:500]!r}")


def put_file(conn: http.client.HTTPConnection, path: str, local: str) -> None:
    size = os.path.getsize(local)
    with open(local, "rb") as fh:
        conn.request("PUT", f"{ART}/{path}", body=fh, headers={"Content-Length": str(size)})
        response = conn.getresponse()
        _check(response, f"PUT {path}")
        response.read()


def get_file(conn: http.client.HTTPConnection, path: str) -> str:
    conn.request("GET", f"{ART}/{path}")
    response = conn.getresponse()
    _check(response, f"GET {path}")
    digest = hashlib.blake2b(digest_size=16)
    while block := response.read(BLOCK):
        digest.update(block)
    return digest.hexdigest()


def list_dir(conn: http.client.HTTPConnection, path: str) -> bytes:
    conn.request("GET", f"{ART}?path={path}")
    response = conn.getresponse()
    _check(response, f"list {path}")
    return response.read()


def _digest(local: str) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(local, "rb") as fh:
        while block := fh.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _time(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mlflow-python", help="interpreter with mlflow installed")
    parser.add_argument("--big-mib", type=int, default=256)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    mlflow_python = mlflow_interpreter(args.mlflow_python)
    if mlflow_python is None:
        raise SystemExit("needs --mlflow-python (an interpreter with mlflow installed)")
    mlflow_cli = os.path.join(os.path.dirname(mlflow_python), "mlflow")

    scratch = tempfile.mkdtemp(prefix="bench-server-artifacts-")
    servers: list[Server] = []
    try:
        big = os.path.join(scratch, "big.bin")
        with open(big, "wb") as fh:
            for _ in range(args.big_mib):
                fh.write(os.urandom(BLOCK))
        big_digest = _digest(big)
        small_dir = os.path.join(scratch, "small")
        os.makedirs(small_dir)
        for i in range(args.files):
            with open(os.path.join(small_dir, f"f{i:04d}.bin"), "wb") as fh:
                fh.write(os.urandom(64 * 1024))

        for name in ("trackyard", "mlflow"):
            os.makedirs(os.path.join(scratch, name, "dest"))
        port = _free_port()
        servers.append(
            Server(
                "trackyard",
                [sys.executable, "-c", _TRACKYARD_SERVER, f"{scratch}/trackyard/dest", str(port)],
                port,
                worker_env(),
                f"{scratch}/trackyard.log",
            )
        )
        port = _free_port()
        servers.append(
            Server(
                "mlflow",
                [
                    mlflow_cli,
                    "server",
                    "--backend-store-uri",
                    f"sqlite:///{scratch}/mlflow/mlflow.db",
                    "--artifacts-destination",
                    f"{scratch}/mlflow/dest",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    "1",
                ],
                port,
                worker_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"),
                f"{scratch}/mlflow.log",
            )
        )

        figures: dict[str, dict[str, list[float]]] = {s.name: {} for s in servers}
        names = sorted(os.listdir(small_dir))
        for round_no in range(args.rounds):
            for server in servers:
                fig = figures[server.name]
                conn = _connection(server.port)
                prefix = f"r{round_no}"
                fig.setdefault("big_up", []).append(
                    _time(lambda c=conn, p=prefix: put_file(c, f"{p}/big.bin", big))
                )
                got: list[str] = []
                fig.setdefault("big_down", []).append(
                    _time(lambda c=conn, p=prefix, g=got: g.append(get_file(c, f"{p}/big.bin")))
                )
                if got != [big_digest]:
                    raise SystemExit(f"{server.name}: the 256 MiB file came back different")

                def up_all(c: http.client.HTTPConnection = conn, p: str = prefix) -> None:
                    for n in names:
                        put_file(c, f"{p}/small/{n}", os.path.join(small_dir, n))

                def down_all(c: http.client.HTTPConnection = conn, p: str = prefix) -> None:
                    for n in names:
                        get_file(c, f"{p}/small/{n}")

                fig.setdefault("small_up", []).append(_time(up_all))
                fig.setdefault("small_down", []).append(_time(down_all))
                fig.setdefault("list", []).extend(
                    _time(lambda c=conn, p=prefix: list_dir(c, f"{p}/small")) for _ in range(20)
                )
                conn.close()
        rss = {s.name: s.peak_rss() for s in servers}
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    mib = args.big_mib
    small_mib = args.files * 64 / 1024
    print(f"\nArtifact proxy, loopback, uvicorn 1 worker, local destination, {args.rounds} rounds")
    print(f"{'scenario':<34}{'trackyard':>22}{'mlflow server':>22}{'ratio':>8}")
    rows = [
        ("big_up", f"{mib} MiB upload (PUT)", mib),
        ("big_down", f"{mib} MiB download (GET)", mib),
        ("small_up", f"{args.files} x 64 KiB upload", small_mib),
        ("small_down", f"{args.files} x 64 KiB download", small_mib),
        ("list", f"list {args.files} files", None),
    ]
    for key, label, size in rows:
        ours = statistics.median(figures["trackyard"][key])
        theirs = statistics.median(figures["mlflow"][key])

        def cell(seconds: float, size: float | None = size) -> str:
            rate = f" {size / seconds:6.0f} MiB/s" if size else ""
            return f"{fmt_seconds(seconds)}{rate}"

        print(f"{label:<34}{cell(ours):>22}{cell(theirs):>22}{theirs / ours:>7.1f}x")
    print(
        f"{'server peak RSS':<34}{rss['trackyard'] / 2**20:>18.0f} MiB"
        f"{rss['mlflow'] / 2**20:>18.0f} MiB"
    )


if __name__ == "__main__":
    main()
