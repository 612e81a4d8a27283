"""Copying artifact files between two artifact roots, through the artifact repositories."""

from __future__ import annotations

import os
import posixpath
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

from trackyard.errors import ErrorCode, TrackyardError

if TYPE_CHECKING:
    from trackyard.stores import ArtifactRepository

__all__ = ["copy_artifacts", "list_files"]


def _repo(uri: str, tracking_uri: str | None) -> ArtifactRepository:
    from trackyard.backends import get_artifact_repository

    return get_artifact_repository(uri, tracking_uri)


def list_files(uri: str | None, tracking_uri: str | None = None) -> dict[str, int | None]:
    """Every file under the artifact root ``uri``: relative path -> size (empty if absent).

    ``tracking_uri`` is the store the root belongs to: an ``mlflow-artifacts:`` root is
    served by that store's server.
    """
    if not uri:
        return {}
    try:
        repo = _repo(uri, tracking_uri)
        return dict(_walk(repo, None))
    except TrackyardError as exc:
        if exc.error_code == ErrorCode.RESOURCE_DOES_NOT_EXIST:
            return {}
        raise
    except FileNotFoundError:
        return {}


def _walk(repo: ArtifactRepository, path: str | None) -> Iterator[tuple[str, int | None]]:
    for info in repo.list_artifacts(path):
        if info.is_dir:
            yield from _walk(repo, info.path)
        else:
            yield info.path, info.file_size


def copy_artifacts(
    src_uri: str | None,
    dst_uri: str | None,
    src_tracking: str | None = None,
    dst_tracking: str | None = None,
) -> tuple[int, int]:
    """Copy the files under ``src_uri`` that ``dst_uri`` lacks (or holds with another size).

    ``src_tracking`` and ``dst_tracking`` are the stores the roots belong to (they resolve
    ``mlflow-artifacts:`` roots to their servers' artifact proxies).

    Returns:
        (files written, bytes written).
    """
    if not src_uri or not dst_uri:
        return 0, 0
    src_files = list_files(src_uri, src_tracking)
    if not src_files:
        return 0, 0
    dst_files = list_files(dst_uri, dst_tracking)
    todo = [p for p, size in sorted(src_files.items()) if dst_files.get(p, -1) != size]
    if not todo:
        return 0, 0
    src, dst = _repo(src_uri, src_tracking), _repo(dst_uri, dst_tracking)
    written = 0
    with tempfile.TemporaryDirectory(prefix="trackyard-copy-") as tmp:
        for path in todo:
            local = src.download_artifacts(path, tmp)
            directory = posixpath.dirname(path)
            dst.log_artifact(local, directory or None)
            written += os.path.getsize(local)
            os.remove(local)
    return len(todo), written
