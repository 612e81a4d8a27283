"""The artifact conformance suite against fsspec's in-memory filesystem (``memory://``)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator

import fsspec
import pytest

from trackyard.testing import ArtifactRepositorySuite
from trackyard_fsspec.repository import FsspecArtifactRepository


class TestFsspecMemory(ArtifactRepositorySuite):
    covers = "trackyard_fsspec.repository:FsspecArtifactRepository"

    @pytest.fixture
    def artifact_repo_factory(self) -> Iterator[Callable[..., FsspecArtifactRepository]]:
        bucket = f"trackyard-test-{uuid.uuid4().hex}"

        def make(subpath: str = "") -> FsspecArtifactRepository:
            return FsspecArtifactRepository(f"memory://{bucket}/artifacts/{subpath}".rstrip("/"))

        yield make
        with contextlib.suppress(FileNotFoundError):
            fsspec.filesystem("memory").rm(f"/{bucket}", recursive=True)
