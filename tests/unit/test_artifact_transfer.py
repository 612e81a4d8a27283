"""Storage options, transfer settings, retries and the progress bar of the fsspec plugin."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trackyard.errors import ErrorCode, TrackyardError
from trackyard_fsspec.options import (
    ENV_STORAGE_OPTIONS,
    masked_options,
    options_for_uri,
    storage_options_from_env,
)
from trackyard_fsspec.transfer import (
    Progress,
    TransferSettings,
    is_transient,
    parse_size,
    run_parallel,
    with_retries,
)

INVALID = ErrorCode.INVALID_PARAMETER_VALUE


# -- storage options --------------------------------------------------------------------------
def test_env_options_s3_extras() -> None:
    env = {
        "AWS_ENDPOINT_URL_S3": "http://s3only",
        "AWS_ENDPOINT_URL": "http://generic",
        "MLFLOW_S3_UPLOAD_EXTRA_ARGS": '{"ServerSideEncryption": "aws:kms"}',
        "AWS_PROFILE": "team",
    }
    assert storage_options_from_env("s3", env) == {
        "endpoint_url": "http://s3only",
        "s3_additional_kwargs": {"ServerSideEncryption": "aws:kms"},
        "profile": "team",
    }


def test_env_options_gcs_credentials_and_project() -> None:
    env = {"GOOGLE_APPLICATION_CREDENTIALS": "/keys/sa.json", "GOOGLE_CLOUD_PROJECT": "p1"}
    assert storage_options_from_env("gs", env) == {"token": "/keys/sa.json", "project": "p1"}
    env["STORAGE_EMULATOR_HOST"] = "127.0.0.1:1"  # the emulator wins over real credentials
    assert storage_options_from_env("gs", env)["token"] == "anon"


def test_json_options_by_scheme_and_prefix() -> None:
    table = {
        "s3": {"endpoint_url": "http://a", "client_kwargs": {"region_name": "eu-west-1"}},
        "s3://team-bucket": {"endpoint_url": "http://b", "key": "K"},
        "s3://team-bucket/deep": {"client_kwargs": {"verify": False}},
        "s3://team-bucket-other": {"endpoint_url": "http://wrong"},
        "gs": {"project": "never-for-s3"},
    }
    env = {ENV_STORAGE_OPTIONS: json.dumps(table), "MLFLOW_S3_ENDPOINT_URL": "http://env"}
    assert options_for_uri("s3://other/x", "s3", environ=env) == {
        "endpoint_url": "http://a",
        "client_kwargs": {"region_name": "eu-west-1"},
    }
    assert options_for_uri("s3://team-bucket/deep/run/artifacts", "s3", environ=env) == {
        "endpoint_url": "http://b",
        "key": "K",
        "client_kwargs": {"region_name": "eu-west-1", "verify": False},
    }
    explicit = {"endpoint_url": "http://explicit"}
    got = options_for_uri("s3://team-bucket/x", "s3", explicit, environ=env)
    assert got["endpoint_url"] == "http://explicit" and got["key"] == "K"
    assert options_for_uri("s3://x/y", "s3", environ={"MLFLOW_S3_ENDPOINT_URL": "http://e"}) == {
        "endpoint_url": "http://e"
    }


@pytest.mark.parametrize(
    "text",
    ['{"s3": {"secret": "hunter2"', '["hunter2"]', '{"s3": "hunter2"}'],
)
def test_bad_json_options_are_refused_without_echoing_them(text: str) -> None:
    with pytest.raises(TrackyardError) as excinfo:
        options_for_uri("s3://b/x", "s3", environ={ENV_STORAGE_OPTIONS: text})
    assert excinfo.value.error_code == INVALID
    assert ENV_STORAGE_OPTIONS in str(excinfo.value)
    assert "hunter2" not in str(excinfo.value)


def test_masked_options_hide_credentials() -> None:
    options = {
        "key": "AKIA123",
        "secret": "s3cr3t",
        "token": "/keys/sa.json",
        "endpoint_url": "http://host:1",
        "client_kwargs": {"aws_session_token": "tok", "region_name": "r"},
        "account_key": "ak",
        "anon": False,
    }
    masked = masked_options(options)
    assert masked == {
        "key": "***",
        "secret": "***",
        "token": "***",
        "endpoint_url": "http://host:1",
        "client_kwargs": {"aws_session_token": "***", "region_name": "r"},
        "account_key": "***",
        "anon": False,
    }
    assert "s3cr3t" not in repr(masked)


# -- settings ---------------------------------------------------------------------------------
def test_settings_defaults_and_env() -> None:
    assert TransferSettings.from_env({}) == TransferSettings()
    got = TransferSettings.from_env(
        {
            "TRACKYARD_ARTIFACT_MAX_WORKERS": "3",
            "TRACKYARD_ARTIFACT_CHUNK_SIZE": "16MiB",
            "TRACKYARD_ARTIFACT_RETRIES": "0",
            "TRACKYARD_ARTIFACT_PROGRESS": "0",
        }
    )
    assert (got.max_workers, got.chunk_size, got.retries, got.progress) == (
        3,
        16 * 1024 * 1024,
        0,
        "never",
    )
    assert TransferSettings.from_env({"TRACKYARD_ARTIFACT_PROGRESS": "1"}).progress == "always"
    assert got.workers_for("sftp") == 1 and got.workers_for("s3") == 3
    assert got.put_kwargs("s3") == {"chunksize": 16 * 1024 * 1024, "max_concurrency": 4}
    assert got.put_kwargs("memory") == {}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TRACKYARD_ARTIFACT_MAX_WORKERS", "0"),
        ("TRACKYARD_ARTIFACT_MAX_WORKERS", "many"),
        ("TRACKYARD_ARTIFACT_CHUNK_SIZE", "1MiB"),
        ("TRACKYARD_ARTIFACT_CHUNK_SIZE", "big"),
        ("TRACKYARD_ARTIFACT_RETRIES", "-1"),
        ("TRACKYARD_ARTIFACT_PROGRESS", "sometimes"),
    ],
)
def test_bad_settings_are_refused(name: str, value: str) -> None:
    with pytest.raises(TrackyardError) as excinfo:
        TransferSettings.from_env({name: value})
    assert excinfo.value.error_code == INVALID
    assert name in str(excinfo.value)


def test_parse_size() -> None:
    assert parse_size("65536", "X") == 65536
    assert parse_size("8 MiB", "X") == 8 * 1024**2
    assert parse_size("2g", "X") == 2 * 1024**3


# -- retries ----------------------------------------------------------------------------------
def test_transient_errors_are_recognised() -> None:
    assert is_transient(ConnectionResetError())
    assert is_transient(TimeoutError())
    assert is_transient(OSError(None, "SlowDown: please reduce your request rate"))
    wrapped = OSError("upload failed")
    wrapped.__cause__ = ConnectionRefusedError()
    assert is_transient(wrapped)
    assert not is_transient(FileNotFoundError())
    assert not is_transient(PermissionError())
    assert not is_transient(ValueError("bad"))
    assert not is_transient(TrackyardError("no", INVALID))


def test_retries_back_off_then_succeed() -> None:
    calls: list[int] = []
    waits: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionResetError("reset by peer")
        return "done"

    settings = TransferSettings(retries=3, backoff=0.5)
    assert with_retries(flaky, settings, sleep=waits.append) == "done"
    assert len(calls) == 3
    assert len(waits) == 2
    assert 0.5 <= waits[0] <= 0.625 and 1.0 <= waits[1] <= 1.25


def test_retries_give_up_and_skip_permanent_errors() -> None:
    waits: list[float] = []

    def always_down() -> None:
        raise ConnectionRefusedError("refused")

    with pytest.raises(ConnectionRefusedError):
        with_retries(always_down, TransferSettings(retries=2), sleep=waits.append)
    assert len(waits) == 2

    def missing() -> None:
        raise FileNotFoundError("gone")

    waits.clear()
    with pytest.raises(FileNotFoundError):
        with_retries(missing, TransferSettings(retries=5), sleep=waits.append)
    assert waits == []


def test_run_parallel_runs_everything_and_reports_the_first_failure() -> None:
    done: list[int] = []
    run_parallel([lambda i=i: done.append(i) for i in range(20)], 4, sequential=[])
    assert sorted(done) == list(range(20))

    def boom() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_parallel([boom, lambda: None], 2, sequential=[lambda: done.append(99)])


@pytest.mark.parametrize("workers", [1, 4])
def test_run_parallel_returns_the_results_in_order(workers: int) -> None:
    tasks = [lambda i=i: (time.sleep(0.001 * (9 - i)), i * i)[1] for i in range(10)]
    assert run_parallel(tasks, workers) == [i * i for i in range(10)]


# -- progress ---------------------------------------------------------------------------------
def test_progress_always_draws_and_auto_is_silent_off_terminal() -> None:
    out = io.StringIO()
    with Progress(1000, "Uploading", TransferSettings(progress="always"), stream=out) as p:
        for _ in range(10):
            p.update(100)
    assert "Uploading" in out.getvalue() and "100%" in out.getvalue()
    quiet = io.StringIO()
    with Progress(1000, "Uploading", TransferSettings(progress="auto"), stream=quiet) as p:
        p.update(1000)
    assert quiet.getvalue() == ""
    never = io.StringIO()
    with Progress(1000, "x", TransferSettings(progress="never"), stream=never) as p:
        p.update(1000)
    assert never.getvalue() == ""


def test_progress_auto_is_on_for_a_terminal_after_its_delay() -> None:
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as tty:
            progress = Progress(100, "Downloading", TransferSettings(progress="auto"), stream=tty)
            assert progress.enabled
            progress.update(10)  # within the delay: nothing drawn yet
            progress.close()
        os.set_blocking(leader, False)
        try:
            shown = os.read(leader, 4096)
        except BlockingIOError:
            shown = b""
        assert shown == b""
    finally:
        os.close(leader)
        os.close(follower)


def test_local_artifacts_import_no_optional_libraries(tmp_path: Path) -> None:
    script = f"""
import json, sys
from trackyard import MlflowClient
client = MlflowClient("sqlite:///{tmp_path / "db.sqlite"}")
run_id = client.create_run("0").info.run_id
client.log_text(run_id, "x" * 100, "d/a.txt")
client.log_artifacts(run_id, {str(tmp_path)!r}, "copy")
client.download_artifacts(run_id, "d", {str(tmp_path)!r})
print(json.dumps(sorted(sys.modules)))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout
    loaded = {m.split(".")[0] for m in json.loads(out.strip().splitlines()[-1])}
    optional = {"s3fs", "gcsfs", "tqdm", "PIL", "pandas", "numpy", "matplotlib", "pyarrow"}
    assert loaded & optional == set()
