"""The artifact conformance suite against local directories (bare paths and file: URIs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from trackyard.testing import ArtifactRepositorySuite
from trackyard_fsspec.repository import FsspecArtifactRepository


class TestFsspecLocalPath(ArtifactRepositorySuite):
    covers = "trackyard_fsspec.repository:FsspecArtifactRepository"

    @pytest.fixture
    def artifact_repo_factory(self, tmp_path: Path) -> Callable[..., FsspecArtifactRepository]:
        def make(subpath: str = "") -> FsspecArtifactRepository:
            return FsspecArtifactRepository(str(tmp_path / "artifacts root" / subpath))

        return make


class TestFsspecFileURI(ArtifactRepositorySuite):
    covers = "trackyard_fsspec.repository:FsspecArtifactRepository"

    @pytest.fixture
    def artifact_repo_factory(self, tmp_path: Path) -> Callable[..., FsspecArtifactRepository]:
        def make(subpath: str = "") -> FsspecArtifactRepository:
            return FsspecArtifactRepository((tmp_path / "artifacts root" / subpath).as_uri())

        return make
