"""Missing local files: errors that MLflow code catches as OSErrors and trackyard as its own."""

from __future__ import annotations

import errno
import os
import pickle
from pathlib import Path

import pytest

from trackyard import MlflowClient
from trackyard.errors import (
    ErrorCode,
    LocalFileExistsError,
    LocalFileNotFoundError,
    LocalIsADirectoryError,
    LocalNotADirectoryError,
    LocalPathError,
    TrackyardError,
    local_path_error,
)


@pytest.fixture
def client(tmp_path: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{tmp_path / 'store.db'}")


@pytest.fixture
def run_id(client: MlflowClient, tmp_path: Path) -> str:
    exp = client.create_experiment("e", artifact_location=str(tmp_path / "art"))
    return client.create_run(exp).info.run_id


def test_log_artifact_missing_file(client: MlflowClient, run_id: str, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing" / "file.txt")
    try:
        client.log_artifact(run_id, missing)
    except FileNotFoundError as exc:  # what code written for MLflow catches
        assert exc.errno == errno.ENOENT and exc.filename == missing
        assert str(exc) == f"[Errno 2] No such file or directory: {missing!r}"
        assert isinstance(exc, TrackyardError)
        assert exc.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    else:
        pytest.fail("log_artifact accepted a missing file")
    assert client.list_artifacts(run_id) == []


def test_log_artifacts_missing_or_not_a_directory(
    client: MlflowClient, run_id: str, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError) as missing:
        client.log_artifacts(run_id, str(tmp_path / "nope"))
    assert isinstance(missing.value, LocalFileNotFoundError)
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    with pytest.raises(NotADirectoryError) as not_dir:
        client.log_artifacts(run_id, str(a_file))
    assert not_dir.value.errno == errno.ENOTDIR and not_dir.value.filename == str(a_file)
    assert "log_artifacts() uploads a directory" in str(not_dir.value)
    assert client.list_artifacts(run_id) == []


def test_repository_refuses_missing_and_wrong_kinds(
    client: MlflowClient, run_id: str, tmp_path: Path
) -> None:
    repo = client._artifact_repo(run_id)
    with pytest.raises(FileNotFoundError):
        repo.log_artifact(str(tmp_path / "nope.txt"))
    with pytest.raises(IsADirectoryError):
        repo.log_artifact(str(tmp_path))
    with pytest.raises(FileNotFoundError):
        repo.log_artifacts(str(tmp_path / "nope"))
    assert repo.list_artifacts() == []


@pytest.mark.parametrize(
    "code, cls, builtin",
    [
        (errno.ENOENT, LocalFileNotFoundError, FileNotFoundError),
        (errno.ENOTDIR, LocalNotADirectoryError, NotADirectoryError),
        (errno.EISDIR, LocalIsADirectoryError, IsADirectoryError),
        (errno.EEXIST, LocalFileExistsError, FileExistsError),
        (errno.EACCES, LocalPathError, OSError),
    ],
)
def test_error_classes(code: int, cls: type, builtin: type) -> None:
    error = local_path_error(code, Path("/some/where"), "why")
    assert type(error) is cls and isinstance(error, builtin) and isinstance(error, TrackyardError)
    assert (error.errno, error.strerror, error.filename) == (code, os.strerror(code), "/some/where")
    assert error.message == f"[Errno {code}] {os.strerror(code)}: '/some/where' (why)"
    assert error.get_http_status_code() == 400
    copy = pickle.loads(pickle.dumps(error))  # crosses process boundaries intact
    assert type(copy) is cls and (copy.errno, copy.filename, copy.message) == (
        code,
        "/some/where",
        error.message,
    )
