"""The artifact conformance suite against real S3 servers: ``rclone serve s3`` and moto.

The servers run on loopback ports, one of each per pytest process (``tests/_object_stores.py``);
each test gets a fresh prefix in this process's bucket.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from tests._object_stores import ObjectStore
from trackyard.testing import ArtifactRepositorySuite
from trackyard_fsspec.repository import FsspecArtifactRepository

COVERS = ("trackyard_fsspec.repository:FsspecArtifactRepository",)


def _factory(store: ObjectStore) -> Callable[..., FsspecArtifactRepository]:
    base = f"t-{uuid.uuid4().hex}"

    def make(subpath: str = "") -> FsspecArtifactRepository:
        return FsspecArtifactRepository(
            store.uri(f"{base}/{subpath}".rstrip("/")), storage_options=store.storage_options
        )

    return make


class TestFsspecS3Rclone(ArtifactRepositorySuite):
    @pytest.fixture
    def artifact_repo_factory(
        self, s3_rclone: ObjectStore
    ) -> Callable[..., FsspecArtifactRepository]:
        return _factory(s3_rclone)


class TestFsspecS3Moto(ArtifactRepositorySuite):
    @pytest.fixture
    def artifact_repo_factory(
        self, s3_moto: ObjectStore
    ) -> Callable[..., FsspecArtifactRepository]:
        return _factory(s3_moto)
