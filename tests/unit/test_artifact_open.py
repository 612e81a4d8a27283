"""``ArtifactRepository.open_artifact``: the default (download to a temporary file) that
repositories without an in-place reader inherit. The in-place readers are held to the same
behaviour by the conformance kit (``ArtifactRepositorySuite``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.stores import ArtifactRepository
from trackyard_fsspec.repository import FsspecArtifactRepository


class DefaultOpen(FsspecArtifactRepository):
    """The fsspec repository with the base class's ``open_artifact``."""

    open_artifact = ArtifactRepository.open_artifact  # type: ignore[assignment]


def test_default_open_reads_a_downloaded_copy_and_removes_it(tmp_path: Path) -> None:
    repo = DefaultOpen(str(tmp_path / "root"))
    payload = os.urandom(300_000)
    repo.write_bytes(payload, "d/blob.bin")
    with repo.open_artifact("d//blob.bin") as fh:
        copy = fh.name
        assert os.path.dirname(copy).startswith(tempfile.gettempdir())
        assert fh.read(1000) + fh.read() == payload
    assert not os.path.exists(copy)
    assert not os.path.exists(os.path.dirname(copy))


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("d", ErrorCode.INVALID_PARAMETER_VALUE),
        ("", ErrorCode.INVALID_PARAMETER_VALUE),
        ("../d/f.txt", ErrorCode.INVALID_PARAMETER_VALUE),
        ("%2e%2e/f.txt", ErrorCode.INVALID_PARAMETER_VALUE),
        ("nope.txt", ErrorCode.RESOURCE_DOES_NOT_EXIST),
    ],
)
def test_default_open_refuses(tmp_path: Path, path: str, code: str) -> None:
    repo = DefaultOpen(str(tmp_path / "root"))
    repo.write_bytes(b"x", "d/f.txt")
    with pytest.raises(TrackyardError) as excinfo, repo.open_artifact(path):
        pass
    assert excinfo.value.error_code == code
