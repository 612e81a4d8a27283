"""The fsspec plugin against real S3 and GCS servers: configuration from the environment,
large files in parts, parallel transfers, hostile listings, credentials kept out of messages.

Servers: ``tests/_object_stores.py`` (rclone serve s3, moto, fake-gcs-server on loopback).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from tests._object_stores import ObjectStore
from trackyard.backends import get_artifact_repository
from trackyard.entities import FileInfo
from trackyard.errors import ErrorCode, TrackyardError
from trackyard_fsspec.options import ENV_STORAGE_OPTIONS
from trackyard_fsspec.repository import FsspecArtifactRepository

_CLEARED = (
    "MLFLOW_S3_ENDPOINT_URL",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "STORAGE_EMULATOR_HOST",
    ENV_STORAGE_OPTIONS,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _tree(root: Path, count: int) -> dict[str, bytes]:
    files = {f"d{i % 4}/f{i:03d}.bin": os.urandom(100 + i) for i in range(count)}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


# -- configuration as users already have it -----------------------------------------------------
@pytest.mark.parametrize("server", ["s3_rclone", "s3_moto", "gcs_fake"])
def test_configured_from_the_environment_alone(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    server: str,
) -> None:
    store: ObjectStore = request.getfixturevalue(server)
    for name, value in store.env.items():
        monkeypatch.setenv(name, value)
    repo = get_artifact_repository(store.uri())  # through the plugin system, no options
    repo.write_bytes(b"from env", "a/b.txt")
    assert repo.list_artifacts("a") == [FileInfo("a/b.txt", False, 8)]
    assert Path(repo.download_artifacts("a/b.txt", str(tmp_path))).read_bytes() == b"from env"


def test_json_storage_options_per_bucket(
    s3_rclone: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = {
        "s3": {"endpoint_url": "http://127.0.0.1:9", "key": "wrong", "secret": "wrong"},
        f"s3://{s3_rclone.bucket}": s3_rclone.storage_options,
    }
    monkeypatch.setenv(ENV_STORAGE_OPTIONS, json.dumps(table))
    repo = get_artifact_repository(s3_rclone.uri())
    repo.write_bytes(b"json", "f.txt")
    assert repo.list_artifacts() == [FileInfo("f.txt", False, 4)]


def test_wrong_credentials_fail_without_leaking_them(s3_rclone: ObjectStore) -> None:
    secret = f"not-the-secret-{uuid.uuid4().hex}"
    options = {**s3_rclone.storage_options, "secret": secret}
    repo = FsspecArtifactRepository(s3_rclone.uri(), storage_options=options)
    assert secret not in repr(repo)
    with pytest.raises(TrackyardError) as excinfo:
        repo.write_bytes(b"x", "f.txt")
    assert excinfo.value.error_code == ErrorCode.PERMISSION_DENIED
    assert secret not in str(excinfo.value)


# -- large files and many files -----------------------------------------------------------------
def test_large_file_goes_up_in_parts(
    s3_moto: ObjectStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRACKYARD_ARTIFACT_CHUNK_SIZE", "5MiB")
    data = os.urandom(13 * 1024 * 1024)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    uri = s3_moto.uri()
    repo = FsspecArtifactRepository(uri, storage_options=s3_moto.storage_options)
    repo.log_artifact(str(src), "model")
    info = s3_moto.filesystem().info(f"{uri[len('s3://') :]}/model/big.bin")
    assert info["size"] == len(data)
    assert str(info["ETag"]).strip('"').endswith("-3")  # a multipart upload of 3 parts
    dst = tmp_path / "dst"
    dst.mkdir()
    assert Path(repo.download_artifacts("model/big.bin", str(dst))).read_bytes() == data


def test_large_file_goes_up_resumable_to_gcs(
    gcs_fake: ObjectStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRACKYARD_ARTIFACT_CHUNK_SIZE", "5MiB")
    data = os.urandom(11 * 1024 * 1024 + 5)
    (tmp_path / "big.bin").write_bytes(data)
    repo = FsspecArtifactRepository(gcs_fake.uri(), storage_options=gcs_fake.storage_options)
    repo.log_artifact(str(tmp_path / "big.bin"))
    assert repo.list_artifacts() == [FileInfo("big.bin", False, len(data))]
    dst = tmp_path / "dst"
    dst.mkdir()
    assert Path(repo.download_artifacts("big.bin", str(dst))).read_bytes() == data


@pytest.mark.parametrize("workers", ["1", "8"])
def test_many_files_round_trip(
    s3_rclone: ObjectStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, workers: str
) -> None:
    monkeypatch.setenv("TRACKYARD_ARTIFACT_MAX_WORKERS", workers)
    files = _tree(tmp_path / "src", 60)
    repo = FsspecArtifactRepository(s3_rclone.uri(), storage_options=s3_rclone.storage_options)
    repo.log_artifacts(str(tmp_path / "src"), "batch")
    dst = tmp_path / "dst"
    dst.mkdir()
    local = repo.download_artifacts("batch", str(dst))
    assert _files(Path(local)) == files
    assert not any(p.name.startswith(".trackyard-") for p in dst.rglob("*"))


# -- hostile listings from a real server --------------------------------------------------------
@pytest.mark.parametrize("key", ["../evil.txt", "a/../../evil.txt", "a//evil.txt"])
def test_hostile_object_names_are_refused(s3_moto: ObjectStore, tmp_path: Path, key: str) -> None:
    uri = s3_moto.uri()
    prefix = uri[len("s3://") :]
    raw = s3_moto.filesystem()
    raw.pipe(f"{prefix}/ok.txt", b"ok")
    # Write the hostile key through boto directly, so no client-side normalisation applies.
    raw.call_s3(
        "put_object", Bucket=s3_moto.bucket, Key=f"{prefix.split('/', 1)[1]}/{key}", Body=b"evil"
    )
    repo = FsspecArtifactRepository(uri, storage_options=s3_moto.storage_options)
    box = tmp_path / "box"
    dst = box / "dst"
    dst.mkdir(parents=True)
    with pytest.raises(TrackyardError) as excinfo:
        repo.download_artifacts("", str(dst))
    assert excinfo.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert _files(box) == {}
