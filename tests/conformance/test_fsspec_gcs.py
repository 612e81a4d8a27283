"""The artifact conformance suite against a real GCS API server (fake-gcs-server).

The server runs on a loopback port, one per pytest process (``tests/_object_stores.py``);
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


class TestFsspecGcs(ArtifactRepositorySuite):
    @pytest.fixture
    def artifact_repo_factory(
        self, gcs_fake: ObjectStore
    ) -> Callable[..., FsspecArtifactRepository]:
        base = f"t-{uuid.uuid4().hex}"

        def make(subpath: str = "") -> FsspecArtifactRepository:
            return FsspecArtifactRepository(
                gcs_fake.uri(f"{base}/{subpath}".rstrip("/")),
                storage_options=gcs_fake.storage_options,
            )

        return make
