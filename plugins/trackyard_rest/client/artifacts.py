"""The ``mlflow-artifacts:`` artifact repository: files through a tracking server's proxy.

``mlflow-artifacts:/<path>`` is resolved against the tracking URI's server
(``<tracking URL>/api/2.0/mlflow-artifacts/artifacts/<path>``); ``mlflow-artifacts://host:port/<path>``
names its server itself (same scheme as the tracking URI, else ``http``). Endpoints (reference
section 7.5): ``GET artifacts?path=<dir>`` lists, ``PUT artifacts/<path>`` uploads a raw body,
``GET artifacts/<path>`` downloads, ``DELETE artifacts/<path>`` deletes.

Uploads stream from the local file and downloads stream to disk in chunks (never a whole file
in memory). A listing is trusted for nothing: a name that is not a plain child name (``..``,
a slash, a backslash, a NUL byte, empty) is refused before anything is written, and the base
class checks every download target lies inside the destination.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
import urllib.parse
from typing import ClassVar

from trackyard.config import get_tracking_uri
from trackyard.entities import FileInfo
from trackyard.errors import ErrorCode, TrackyardError
from trackyard.stores import ArtifactRepository, Capabilities
from trackyard.uri import mask_credentials, split_uri
from trackyard.validation import validate_artifact_path
from trackyard_rest.client.http import RestSession

__all__ = ["ARTIFACTS_API", "MlflowArtifactsRepository", "resolve_artifacts_uri"]

#: Path of the artifact proxy under a server's base URL.
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"

_CHUNK = 1 << 20


def resolve_artifacts_uri(artifact_uri: str, tracking_uri: str | None) -> tuple[str, str]:
    """Split an ``mlflow-artifacts:`` URI into ``(server base URL, root path)``.

    The base URL keeps the tracking URI's user info only when it is the same server.

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE when the URI names no server and the tracking
            URI is not http(s), or when its path tries to leave the proxy's root.
    """
    parts = split_uri(artifact_uri)
    if parts.scheme != "mlflow-artifacts":
        raise TrackyardError(
            f"Not an mlflow-artifacts URI: {mask_credentials(artifact_uri)!r}",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    track = split_uri(tracking_uri) if tracking_uri else None
    track_is_http = track is not None and track.scheme in ("http", "https")
    if parts.netloc:
        if parts.hostname is None or (_numeric(parts.hostname) and parts.port is None):
            raise TrackyardError(
                f"The mlflow-artifacts URI {mask_credentials(artifact_uri)!r} names no host",
                ErrorCode.INVALID_PARAMETER_VALUE,
            )
        scheme = track.scheme if track is not None and track_is_http else "http"
        same = track is not None and track_is_http and track.hostname == parts.hostname
        same = same and track is not None and track.port == parts.port
        if same and track is not None:
            base = urllib.parse.urlunsplit((scheme, track.netloc, track.path, "", ""))
        else:
            base = urllib.parse.urlunsplit((scheme, parts.netloc, "", "", ""))
    else:
        if track is None or not track_is_http:
            shown = mask_credentials(tracking_uri or "")
            raise TrackyardError(
                f"The artifact URI {artifact_uri!r} is served by the tracking server, but the "
                f"tracking URI {shown!r} is not an http(s) URI: set it to the server "
                "(MLFLOW_TRACKING_URI=http://host:port).",
                ErrorCode.INVALID_PARAMETER_VALUE,
            )
        base = urllib.parse.urlunsplit((track.scheme, track.netloc, track.path, "", ""))
    return base.rstrip("/"), _root_path(urllib.parse.unquote(parts.path))


def _root_path(path: str) -> str:
    """The root path of the URI, folded; a ``..`` segment, a backslash or NUL is refused.

    Not held to the length limits of user paths: a run's root already takes three segments.
    """
    forms = [path]
    for _ in range(3):  # servers may decode again: refuse what any decoding would make
        forms.append(urllib.parse.unquote(forms[-1]))
    segments = [s for s in path.split("/") if s not in ("", ".")]
    if any(".." in f.split("/") or "\\" in f or "\x00" in f for f in forms):
        raise TrackyardError(
            f"Invalid mlflow-artifacts path {path!r}: '..', backslashes and NUL bytes are refused",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    return "/".join(segments)


def _numeric(host: str) -> bool:
    try:
        float(host)
    except ValueError:
        return False
    return True


def _safe_child(name: object, listed: str) -> str:
    """A listed name checked to be one plain path segment."""
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or any(c in name for c in "/\\\x00")
        or (len(name) >= 2 and name[1] == ":")
    ):
        raise TrackyardError(
            f"The artifact server listed an unsafe name {name!r} under {listed!r}; refusing it.",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    return name


class MlflowArtifactsRepository(ArtifactRepository):
    """Artifacts under one root of a tracking server's artifact proxy."""

    capabilities: ClassVar[Capabilities] = Capabilities(delete_artifacts=True)

    def __init__(
        self,
        artifact_uri: str,
        tracking_uri: str | None = None,
        registry_uri: str | None = None,
    ) -> None:
        tracking_uri = tracking_uri or get_tracking_uri()
        super().__init__(artifact_uri, tracking_uri, registry_uri)
        base, self.root = resolve_artifacts_uri(artifact_uri, tracking_uri)
        self.session = RestSession(base)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({mask_credentials(self.artifact_uri)!r})"

    # -- paths -------------------------------------------------------------------------------
    def _full(self, rel: str) -> str:
        return posixpath.join(self.root, rel) if rel else self.root

    def _endpoint(self, rel: str) -> str:
        full = self._full(rel)
        return ARTIFACTS_API + "/" + urllib.parse.quote(full, safe="/")

    # -- writes ------------------------------------------------------------------------------
    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        """PUT one file, streamed from disk, to ``artifact_path/<file name>``."""
        directory = validate_artifact_path(artifact_path)
        name = os.path.basename(local_file)
        rel = validate_artifact_path(posixpath.join(directory, name), allow_empty=False)
        self._upload(local_file, rel)

    def _upload(self, local_file: str, rel: str) -> None:
        with open(local_file, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
            response = self.session.request("PUT", self._endpoint(rel), body=fh, headers=headers)
            response.release_conn()

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        """PUT every file under ``local_dir`` (its contents, not the directory itself)."""
        directory = validate_artifact_path(artifact_path)
        for dirpath, dirnames, filenames in os.walk(local_dir):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, local_dir)
            parts = [] if rel_dir == "." else rel_dir.split(os.sep)
            for filename in sorted(filenames):
                rel = validate_artifact_path(
                    posixpath.join(directory, *parts, filename), allow_empty=False
                )
                self._upload(os.path.join(dirpath, filename), rel)

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """DELETE ``artifact_path`` (everything under the root when None)."""
        rel = validate_artifact_path(artifact_path)
        self.session.request("DELETE", self._endpoint(rel)).release_conn()

    # -- reads -------------------------------------------------------------------------------
    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """GET the listing of ``path``; every listed name is checked to be a plain child."""
        rel = validate_artifact_path(path)
        out = self.session.call("GET", ARTIFACTS_API, {"path": self._full(rel)})
        infos = []
        for item in out.get("files", ()):
            name = _safe_child(item.get("path"), rel)
            child = posixpath.join(rel, name) if rel else name
            is_dir = bool(item.get("is_dir", False))
            size = None if is_dir else int(item.get("file_size", 0))
            infos.append(FileInfo(child, is_dir, size))
        return sorted(infos, key=lambda f: f.path)

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        """GET one file, streamed to ``local_path`` through a temporary sibling file."""
        rel = validate_artifact_path(remote_file_path, allow_empty=False)
        response = self.session.request("GET", self._endpoint(rel), stream=True)
        # a short sibling name: ``local_path`` itself may be at the file system's name limit
        fd, partial = tempfile.mkstemp(prefix=".part-", dir=os.path.dirname(local_path))
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in response.stream(_CHUNK):
                    out.write(chunk)
            os.replace(partial, local_path)
        finally:
            response.release_conn()
            if os.path.exists(partial):
                os.remove(partial)
