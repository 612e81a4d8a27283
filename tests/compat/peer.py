"""Run snippets of Python in a real MLflow interpreter (the "peer") for compatibility tests.

The peer is a separate virtualenv with MLflow installed (``.ci/run`` and
``scripts/services.sh mlflow-peer`` create ``.venv-mlflow`` with mlflow 3.17.2); its
interpreter is named by ``TRACKYARD_TEST_MLFLOW_PYTHON``. trackyard itself is never
importable there.

A snippet sees two names besides the builtins: ``ARGS``, the keyword arguments given to
:func:`run_mlflow` (decoded from JSON), and ``emit(obj)``, which sends a JSON-serialisable
result back; the last value emitted is what :func:`run_mlflow` returns (``None`` if nothing
was emitted). The snippet runs as ``__main__`` from its own file, so tracebacks in a
:class:`PeerError` point at the snippet's own line numbers::

    result = run_mlflow(
        '''
        from mlflow import MlflowClient
        client = MlflowClient(tracking_uri=ARGS["uri"])
        emit(client.create_experiment("e"))
        ''',
        uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
    )
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "MLFLOW_PYTHON_ENV",
    "PeerError",
    "mlflow_peer",
    "mlflow_python",
    "mlflow_skip_reason",
    "requires_mlflow",
    "run_mlflow",
]

MLFLOW_PYTHON_ENV = "TRACKYARD_TEST_MLFLOW_PYTHON"

# Marks the line that carries the result, so that anything else the snippet or MLflow
# prints on stdout cannot be mistaken for it.
_RESULT_MARK = "@@trackyard-peer-result@@ "

# Runs in the peer: reads ARGS from stdin, then executes the snippet file (argv[1]) as
# __main__ with ARGS and emit() in its globals, so tracebacks show the snippet's own lines.
_RUNNER = f"""\
import json
import sys

_ARGS = json.loads(sys.stdin.read() or "{{}}")


def emit(obj):
    sys.stdout.write("\\n{_RESULT_MARK}" + json.dumps(obj) + "\\n")
    sys.stdout.flush()


_path = sys.argv[1]
with open(_path, encoding="utf-8") as _f:
    _code = compile(_f.read(), _path, "exec")
sys.argv = [_path]
exec(_code, {{"__name__": "__main__", "__file__": _path, "ARGS": _ARGS, "emit": emit}})
"""

# Variables that would leak the caller's setup into the peer.
_DROP_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")


class PeerError(RuntimeError):
    """A snippet failed in the MLflow interpreter (its stderr is in the message)."""

    def __init__(self, message: str, returncode: int | None, stdout: str, stderr: str) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def mlflow_python() -> str | None:
    """The MLflow interpreter named by ``TRACKYARD_TEST_MLFLOW_PYTHON``, or None if unusable."""
    path = os.environ.get(MLFLOW_PYTHON_ENV)
    if not path or not os.access(path, os.X_OK):
        return None
    return path


def mlflow_skip_reason() -> str:
    """Why compat tests skip (meaningful only when :func:`mlflow_python` is None)."""
    path = os.environ.get(MLFLOW_PYTHON_ENV)
    if path:
        return f"{MLFLOW_PYTHON_ENV}={path} is not an executable interpreter"
    return (
        f"needs {MLFLOW_PYTHON_ENV}, an interpreter with mlflow installed "
        "(set by .ci/run; or: export "
        f'{MLFLOW_PYTHON_ENV}="$(scripts/services.sh mlflow-peer)")'
    )


#: Module-level mark, e.g. ``pytestmark = [pytest.mark.compat, requires_mlflow]``.
requires_mlflow = pytest.mark.skipif(mlflow_python() is None, reason=mlflow_skip_reason())


def run_mlflow(
    script: str,
    /,
    *,
    tracking_uri: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 300,
    **kwargs: Any,
) -> Any:
    """Run ``script`` in the MLflow interpreter; return the last value it ``emit``-ted.

    Args:
        script: Python source (dedented first); sees ``ARGS`` and ``emit``.
        tracking_uri: sets ``MLFLOW_TRACKING_URI`` in the peer; otherwise it is unset.
        env: extra environment variables for the peer.
        cwd: working directory; by default a fresh temporary directory, removed afterwards.
        timeout: seconds before the peer is killed.
        **kwargs: JSON-serialisable values, available to the snippet as ``ARGS``.
            (``tracking_uri``, ``env``, ``cwd`` and ``timeout`` are this function's own.)

    Raises:
        PeerError: the interpreter is not configured, the snippet failed or timed out, or its
            result was not JSON.
    """
    python = mlflow_python()
    if python is None:
        raise PeerError(mlflow_skip_reason(), None, "", "")
    payload = json.dumps(kwargs)
    source = textwrap.dedent(script).strip("\n") + "\n"

    child_env = {
        k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_") and k not in _DROP_ENV
    }
    child_env["MLFLOW_ALLOW_FILE_STORE"] = "true"
    child_env["PYTHONUNBUFFERED"] = "1"
    child_env["PYTHONDONTWRITEBYTECODE"] = "1"
    if tracking_uri is not None:
        child_env["MLFLOW_TRACKING_URI"] = tracking_uri
    if env:
        child_env.update(env)

    with tempfile.TemporaryDirectory(prefix="trackyard-peer-") as scratch:
        script_path = Path(scratch) / "snippet.py"
        script_path.write_text(source, encoding="utf-8")
        runner_path = Path(scratch) / "_runner.py"
        runner_path.write_text(_RUNNER, encoding="utf-8")
        workdir = os.fspath(cwd) if cwd is not None else scratch
        try:
            proc = subprocess.run(
                [python, os.fspath(runner_path), os.fspath(script_path)],
                input=payload,
                capture_output=True,
                text=True,
                cwd=workdir,
                env=child_env,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise PeerError(
                f"MLflow snippet timed out after {timeout}s\n--- stderr ---\n"
                f"{_text(exc.stderr)[-8000:]}",
                None,
                _text(exc.stdout),
                _text(exc.stderr),
            ) from None

    if proc.returncode != 0:
        raise PeerError(
            f"MLflow snippet failed with exit code {proc.returncode}\n--- stderr ---\n"
            f"{proc.stderr[-8000:]}",
            proc.returncode,
            proc.stdout,
            proc.stderr,
        )
    result_line = None
    for line in proc.stdout.splitlines():
        if line.startswith(_RESULT_MARK):
            result_line = line[len(_RESULT_MARK) :]
    if result_line is None:
        return None
    try:
        return json.loads(result_line)
    except json.JSONDecodeError as exc:  # pragma: no cover - emit() always writes JSON
        raise PeerError(
            f"MLflow snippet result is not JSON: {exc}", proc.returncode, proc.stdout, proc.stderr
        ) from None


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data


@pytest.fixture
def mlflow_peer(tmp_path: Path):
    """A fixture form of :func:`run_mlflow` running in ``tmp_path``; skips when unconfigured.

    Use it from a conftest or test module with ``from tests.compat.peer import mlflow_peer``
    and call ``mlflow_peer(script, **kwargs)``.
    """
    if mlflow_python() is None:
        pytest.skip(mlflow_skip_reason())

    def run(script: str, /, **kwargs: Any) -> Any:
        kwargs.setdefault("cwd", tmp_path)
        return run_mlflow(script, **kwargs)

    return run
