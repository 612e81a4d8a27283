"""What the benchmark scripts share: timing, worker subprocesses, finding MLflow, formatting.

Each script runs the same scenario code once per library, in that library's own interpreter,
as a worker subprocess that prints one ``RESULT <json>`` line.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "emit",
    "fmt_seconds",
    "import_time",
    "mlflow_interpreter",
    "parse_result",
    "run_worker",
    "timed",
    "worker_env",
]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """``(seconds, result)`` of one call of ``fn``."""
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def emit(result: dict[str, Any]) -> None:
    """Print a worker's result as the line :func:`run_worker` reads."""
    print("RESULT " + json.dumps(result))


def worker_env(**extra: str) -> dict[str, str]:
    """The environment of a worker: no inherited MLFLOW_*/TRACKYARD_* settings or PYTHONPATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "TRACKYARD_")) and k != "PYTHONPATH"
    }
    env.update(extra)
    return env


def run_worker(
    command: Sequence[str], what: str, *, cwd: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run a worker command and return the result it emitted (exit on failure)."""
    proc = subprocess.run(
        list(command), capture_output=True, text=True, env=env or worker_env(), cwd=cwd
    )
    return parse_result(proc.returncode, proc.stdout, proc.stderr, what)


def parse_result(returncode: int, stdout: str, stderr: str, what: str) -> dict[str, Any]:
    """The result a finished worker emitted (exit with its stderr if it failed)."""
    if returncode != 0:
        raise SystemExit(f"{what} failed:\n{stderr[-4000:]}")
    line = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT ") :])  # type: ignore[no-any-return]


def mlflow_interpreter(given: str | None) -> str | None:
    """The interpreter to run MLflow with: ``given`` (made absolute), else this one if it
    can import mlflow, else None."""
    if given:
        return os.path.abspath(given) if os.sep in given else given
    probe = subprocess.run([sys.executable, "-c", "import mlflow"], capture_output=True)
    return sys.executable if probe.returncode == 0 else None


def import_time(python: str, module: str, repeat: int = 5) -> float:
    """Median wall time of ``python -c 'import module'`` in fresh processes."""
    env = worker_env()
    subprocess.run([python, "-c", f"import {module}"], check=True, env=env)  # warm the disk
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([python, "-c", f"import {module}"], check=True, env=env)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def fmt_seconds(value: float | None, ms_digits: int = 1) -> str:
    """``12.3 ms`` below a second, ``4.56 s`` above; ``-`` for None."""
    if value is None:
        return "-"
    return f"{value * 1000:.{ms_digits}f} ms" if value < 1 else f"{value:.2f} s"
