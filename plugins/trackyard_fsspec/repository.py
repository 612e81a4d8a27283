"""An artifact repository over fsspec: local paths, ``memory://`` and any fsspec protocol.

Roots it understands:

* a bare path, absolute or relative (made absolute against the current directory);
* ``file:///abs/path``, ``file:/abs/path``, ``file://localhost/abs/path`` (percent-decoded);
* ``memory://bucket/prefix`` (fsspec's process-wide in-memory filesystem);
* ``<protocol>://...`` for any protocol fsspec knows, e.g. ``s3://bucket/prefix``,
  ``gs://bucket/prefix``, ``az://container/prefix``.

Every path a caller gives is checked with :func:`trackyard.validation.validate_artifact_path`.
For local roots the resolved target (symlinks followed) must also lie inside the resolved root,
so a symlink placed inside the root cannot be used to read or write elsewhere. Local writes go
to a temporary name in the target's directory and are renamed into place, so a reader never
sees a half-written file.

Building a repository is cheap: the fsspec implementation class is imported (to report a
missing dependency early), but the filesystem object, which may open sessions or look up
credentials, is made on first use and again after a ``fork``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import threading
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem
from fsspec.registry import known_implementations
from fsspec.registry import registry as _fsspec_registry

from trackyard.entities import FileInfo
from trackyard.errors import ErrorCode, PluginLoadError, TrackyardError, local_path_error
from trackyard.errors import invalid_parameter as _invalid
from trackyard.stores import ArtifactRepository, Capabilities
from trackyard.uri import StoreURI, mask_credentials
from trackyard.validation import validate_artifact_path
from trackyard_fsspec.hooks import install_hint

__all__ = ["FsspecArtifactRepository", "storage_options_from_env"]

_logger = logging.getLogger("trackyard.artifacts.fsspec")

_LOCAL_PROTOCOLS = frozenset({"file", "local"})

# Protocols fsspec only learns about once their implementation is installed (adlfs registers
# "abfss" through an entry point), mapped to a protocol fsspec always knows for the same class.
_PROTOCOL_ALIASES: Mapping[str, str] = {"abfss": "abfs"}

# fsspec protocols that cannot be an artifact root on their own: wrappers around another
# filesystem, archive readers, and http(s), which for MLflow means a tracking server.
_NOT_ROOTS = frozenset(
    {
        "async_wrapper",
        "asyncwrapper",
        "blockcache",
        "cached",
        "dir",
        "filecache",
        "generic",
        "http",
        "https",
        "libarchive",
        "reference",
        "simplecache",
        "tar",
        "zip",
    }
)

# Temporary names of local writes in progress; listings never show them.
_TMP_PREFIX = ".trackyard-"
_TMP_SUFFIX = ".part"
_TMP_RE = re.compile(r"^\.trackyard-[0-9a-f]{32}\.part$")

_TRUE = ("1", "true", "yes", "on")


def storage_options_from_env(
    protocol: str, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return the fsspec storage options MLflow's environment variables imply for ``protocol``.

    * ``s3``/``s3a``: ``MLFLOW_S3_ENDPOINT_URL``, else ``AWS_ENDPOINT_URL``, as the endpoint;
      ``MLFLOW_S3_IGNORE_TLS=true`` turns TLS verification off;
      ``MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE`` sets the S3 addressing style.
    * ``gs``/``gcs``: ``STORAGE_EMULATOR_HOST`` as the endpoint, with anonymous credentials
      (as Google's client library does for an emulator).

    Args:
        protocol: the fsspec protocol, lower case.
        environ: the environment to read (default: ``os.environ``).

    Returns:
        Keyword arguments for the fsspec filesystem; explicit ``storage_options`` override them.
    """
    env = os.environ if environ is None else environ
    options: dict[str, Any] = {}
    if protocol in ("s3", "s3a"):
        endpoint = env.get("MLFLOW_S3_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL")
        if endpoint:
            options["endpoint_url"] = endpoint
        if env.get("MLFLOW_S3_IGNORE_TLS", "").strip().lower() in _TRUE:
            options["client_kwargs"] = {"verify": False}
        style = env.get("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE")
        if style:
            options["config_kwargs"] = {"s3": {"addressing_style": style}}
    elif protocol in ("gs", "gcs"):
        host = env.get("STORAGE_EMULATOR_HOST")
        if host:
            if not host.startswith(("http://", "https://")):
                host = f"http://{host}"
            options["endpoint_url"] = host
            options["token"] = "anon"
    return options


def _file_uri_to_path(uri: str) -> str:
    """Turn a ``file:`` URI into an absolute local path."""
    parts = urllib.parse.urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise _invalid(
            f"Unsupported artifact URI {mask_credentials(uri)!r}: a file URI may not name a "
            "remote host."
        )
    if parts.query or parts.fragment:
        raise _invalid(
            f"Unsupported artifact URI {mask_credentials(uri)!r}: a file URI may not carry a "
            "query or fragment ('?' or '#'); percent-encode them as %3F and %23."
        )
    if not parts.path:
        raise _invalid(f"Invalid artifact URI {uri!r}: the path is empty.")
    return os.path.abspath(urllib.request.url2pathname(parts.path))


def _filesystem_class(protocol: str, uri: str) -> type[fsspec.AbstractFileSystem]:
    """Import the fsspec implementation for ``protocol`` (no instance, no network)."""
    try:
        return fsspec.get_filesystem_class(protocol)  # type: ignore[no-any-return]
    except ImportError as exc:
        hint = install_hint(protocol)
        advice = f"Install it with: {hint}" if hint else str(exc)
        raise PluginLoadError(
            f"The artifact URI {mask_credentials(uri)!r} needs the fsspec implementation of "
            f"{protocol!r}, which is not installed ({exc}). {advice}",
            plugin="trackyard_fsspec",
            distribution="trackyard",
        ) from exc
    except ValueError as exc:
        raise _invalid(
            f"Unsupported artifact URI {mask_credentials(uri)!r}: fsspec knows no protocol "
            f"{protocol!r}."
        ) from exc


@contextlib.contextmanager
def _storage_errors(artifact_path: str, artifact_uri: str) -> Iterator[None]:
    """Turn filesystem errors about the repository side into :class:`TrackyardError`."""
    try:
        yield
    except FileNotFoundError as exc:
        raise TrackyardError(
            f"Artifact {artifact_path!r} does not exist under {mask_credentials(artifact_uri)!r}.",
            ErrorCode.RESOURCE_DOES_NOT_EXIST,
        ) from exc
    except PermissionError as exc:
        raise TrackyardError(
            f"Permission denied for artifact {artifact_path!r} under "
            f"{mask_credentials(artifact_uri)!r}: {exc}",
            ErrorCode.PERMISSION_DENIED,
        ) from exc
    except (NotADirectoryError, IsADirectoryError, FileExistsError) as exc:
        raise _invalid(
            f"Cannot write artifact {artifact_path!r} under {mask_credentials(artifact_uri)!r}: "
            "a file and a directory would have the same path."
        ) from exc


class FsspecArtifactRepository(ArtifactRepository):
    """Artifacts stored through fsspec: a local directory, memory, or any fsspec protocol.

    Args:
        artifact_uri: the root: a path, ``file:`` URI or ``<protocol>://`` URI.
        tracking_uri: the tracking URI this repository serves (unused; kept for the contract).
        registry_uri: the registry URI (unused; kept for the contract).
        storage_options: keyword arguments for the fsspec filesystem; they override the options
            derived from the environment (see :func:`storage_options_from_env`).

    Attributes:
        protocol: the fsspec protocol, ``"file"`` for local roots.
        root: the root as fsspec sees it: an absolute local path, or the URI without protocol.
        storage_options: the options the filesystem is built with.
    """

    capabilities = Capabilities(delete_artifacts=True)

    def __init__(
        self,
        artifact_uri: str,
        tracking_uri: str | None = None,
        registry_uri: str | None = None,
        *,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(artifact_uri, tracking_uri=tracking_uri, registry_uri=registry_uri)
        parsed = StoreURI.parse(os.fspath(artifact_uri))
        uri = parsed.raw
        if not parsed.is_path and "::" in uri:
            raise _invalid(
                f"Unsupported artifact URI {mask_credentials(uri)!r}: chained fsspec URLs "
                "('a::b://...') are not supported."
            )
        if parsed.driver:
            raise _invalid(
                f"Unsupported artifact URI {mask_credentials(uri)!r}: an artifact URI scheme "
                "takes no '+driver'."
            )
        protocol = parsed.scheme
        self.protocol = protocol
        self._lock = threading.Lock()
        self._fs: fsspec.AbstractFileSystem | None = None
        self._fs_pid: int | None = None
        if parsed.is_path:
            self.root = os.path.abspath(uri)
        elif protocol in _LOCAL_PROTOCOLS:
            self.root = _file_uri_to_path(uri)
        else:
            self.root = ""
        self.is_local = parsed.is_path or protocol in _LOCAL_PROTOCOLS
        if self.is_local:
            self._fs_class: type[fsspec.AbstractFileSystem] = LocalFileSystem
            self._fs_protocol = "file"
            self.storage_options: dict[str, Any] = {"auto_mkdir": True, **(storage_options or {})}
            return
        fs_protocol = protocol
        if protocol not in known_implementations and protocol in _PROTOCOL_ALIASES:
            fs_protocol = _PROTOCOL_ALIASES[protocol]
        self._fs_protocol = fs_protocol
        self._fs_class = _filesystem_class(fs_protocol, uri)
        self.storage_options = {**storage_options_from_env(protocol), **(storage_options or {})}
        # The scheme as typed may differ in case from what the implementation strips.
        normalized = protocol + uri[len(protocol) :]
        root = self._fs_class._strip_protocol(normalized)
        if isinstance(root, str) and "://" in root:  # the class did not know this alias
            root = root.split("://", 1)[1]
        self.root = str(root).rstrip("/")

    # -- scheme negotiation ------------------------------------------------------------------
    @classmethod
    def accepts_scheme(cls, scheme: str) -> bool:
        """Whether fsspec knows ``scheme`` (checked without importing its implementation).

        Used for schemes no plugin claims by name. Wrapper protocols that need another
        filesystem (``simplecache``, ``zip``, ...) and ``http(s)`` are not accepted.
        """
        scheme = scheme.lower()
        if scheme in _NOT_ROOTS:
            return False
        return (
            scheme in _LOCAL_PROTOCOLS
            or scheme in known_implementations
            or scheme in _fsspec_registry  # registered at runtime
            or scheme in _PROTOCOL_ALIASES
        )

    # -- the filesystem ------------------------------------------------------------------------
    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The fsspec filesystem, made on first use (and again in a forked child)."""
        pid = os.getpid()
        fs = self._fs
        if fs is not None and self._fs_pid == pid:
            return fs
        with self._lock:
            if self._fs is None or self._fs_pid != pid:
                self._fs = fsspec.filesystem(self._fs_protocol, **self.storage_options)
                self._fs_pid = pid
            return self._fs

    # -- paths ---------------------------------------------------------------------------------
    def _remote_path(self, rel: str) -> str:
        if not rel:
            return self.root
        return f"{self.root}/{rel}" if self.root else rel

    def _inside_root(self, real: str, real_root: str) -> bool:
        real_c, root_c = os.path.normcase(real), os.path.normcase(real_root)
        prefix = root_c if root_c.endswith(os.sep) else root_c + os.sep
        return real_c == root_c or real_c.startswith(prefix)

    def _local_path(self, rel: str, *, resolve_last: bool = True) -> str:
        """Return the local path of ``rel``, refusing any that resolves outside the root.

        Args:
            rel: a validated relative path.
            resolve_last: resolve the final component too (False to address a symlink
                itself, e.g. to delete it); the returned path is then unresolved.
        """
        real_root = os.path.realpath(self.root)
        if not rel:
            return real_root
        parts = rel.split("/")
        if resolve_last:
            target = os.path.realpath(os.path.join(real_root, *parts))
            inside = self._inside_root(target, real_root)
        else:
            parent = os.path.realpath(os.path.join(real_root, *parts[:-1]))
            target = os.path.join(parent, parts[-1])
            inside = self._inside_root(parent, real_root)
        if not inside:
            raise _invalid(
                f"Invalid artifact path {rel!r}: it resolves outside the artifact root "
                f"{self.root!r} (through a symbolic link)."
            )
        return target

    def _validated(self, path: str | None, *, allow_empty: bool = True) -> str:
        return validate_artifact_path(path, allow_empty=allow_empty)

    # -- writing -------------------------------------------------------------------------------
    def _write(self, rel: str, write: Callable[[fsspec.AbstractFileSystem, str], None]) -> None:
        """Write the file ``rel`` (validated) with ``write(fs, path)``.

        Local files are written to a temporary name in the same directory and renamed into
        place; elsewhere the write goes straight to the target (object stores publish whole
        objects), creating missing parent directories where the filesystem needs them.
        """
        fs = self.fs
        with _storage_errors(rel, self.artifact_uri):
            if self.is_local:
                target = self._local_path(rel)
                parent = os.path.dirname(target)
                fs.makedirs(parent, exist_ok=True)
                if os.path.isdir(target):
                    raise IsADirectoryError(target)
                tmp = os.path.join(parent, f"{_TMP_PREFIX}{uuid.uuid4().hex}{_TMP_SUFFIX}")
                try:
                    write(fs, tmp)
                    os.replace(tmp, target)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                    raise
                return
            target = self._remote_path(rel)
            try:
                write(fs, target)
            except FileNotFoundError:
                # Hierarchical filesystems (sftp, ftp, hdfs) need the parent to exist.
                fs.makedirs(fs._parent(target), exist_ok=True)
                write(fs, target)

    def _put(self, local_file: str, rel: str) -> None:
        self._write(rel, lambda fs, path: fs.put_file(local_file, path))

    @staticmethod
    def _require_file(local_file: str) -> str:
        local_file = os.fspath(local_file)
        if not os.path.isfile(local_file):
            code = errno.EISDIR if os.path.isdir(local_file) else errno.ENOENT
            raise local_path_error(code, local_file, "log_artifact() uploads one file")
        return local_file

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        """Copy one local file into ``artifact_path`` (a directory under the root).

        Args:
            local_file: the file to copy; its base name is kept.
            artifact_path: the directory under the root (None for the root itself).

        Raises:
            TrackyardError: INVALID_PARAMETER_VALUE for a path that is unsafe or leaves the
                root; when ``local_file`` is missing or a directory, a ``LocalPathError``
                (also a ``FileNotFoundError`` / ``IsADirectoryError``).
        """
        base = self._validated(artifact_path)
        local_file = self._require_file(local_file)
        name = os.path.basename(local_file)
        rel = self._validated(f"{base}/{name}" if base else name, allow_empty=False)
        self._put(local_file, rel)

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        """Copy the contents of ``local_dir`` (recursively) into ``artifact_path``.

        Every target path is checked before the first file is written. Empty directories
        and entries that are not regular files (sockets, broken links) are skipped.

        Args:
            local_dir: the directory whose contents are copied.
            artifact_path: the directory under the root (None for the root itself).
        """
        base = self._validated(artifact_path)
        local_dir = os.fspath(local_dir)
        if not os.path.isdir(local_dir):
            code = errno.ENOTDIR if os.path.exists(local_dir) else errno.ENOENT
            raise local_path_error(code, local_dir, "log_artifacts() uploads a directory")
        plan: list[tuple[str, str]] = []
        for dirpath, dirnames, filenames in os.walk(local_dir):
            dirnames.sort()
            reldir = os.path.relpath(dirpath, local_dir)
            parts = [] if reldir == os.curdir else reldir.split(os.sep)
            for name in sorted(filenames):
                source = os.path.join(dirpath, name)
                if not os.path.isfile(source):
                    _logger.debug("log_artifacts: skipping %r (not a regular file)", source)
                    continue
                rel = "/".join(p for p in (base, *parts, name) if p)
                plan.append((source, self._validated(rel, allow_empty=False)))
        if self.is_local:  # refuse before writing anything
            for _, rel in plan:
                self._local_path(rel)
        for source, rel in plan:
            self._put(source, rel)

    def write_bytes(self, data: bytes, artifact_file: str) -> None:
        """Write ``data`` as the file ``artifact_file`` (relative to the root), replacing it."""
        rel = self._validated(artifact_file, allow_empty=False)
        payload = data if isinstance(data, bytes) else bytes(data)

        def write(fs: fsspec.AbstractFileSystem, path: str) -> None:
            if self.is_local:
                with fs.open(path, "wb") as fh:
                    fh.write(payload)
            else:
                fs.pipe_file(path, payload)

        self._write(rel, write)

    # -- reading -------------------------------------------------------------------------------
    def _child(self, rel: str, name: str) -> str | None:
        """The relative path of child ``name`` of ``rel``, or None if it is not addressable."""
        child = f"{rel}/{name}" if rel else name
        if name in ("", ".", ".."):
            return None
        try:
            if validate_artifact_path(child) == child:
                return child
        except TrackyardError:
            pass
        _logger.warning(
            "Skipping artifact %r under %r: its name cannot be addressed safely.",
            child,
            mask_credentials(self.artifact_uri),
        )
        return None

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """List the direct children of ``path``, sorted by path.

        Paths are relative to the root (``"dir/file.txt"``); ``file_size`` is None for
        directories. Returns [] when ``path`` is a file or does not exist. For local roots,
        symbolic links that resolve outside the root, and links to a folder on the way to
        ``path`` (which would make a walk go round forever), are left out.
        """
        rel = self._validated(path)
        infos = self._list_local(rel) if self.is_local else self._list_remote(rel)
        infos.sort(key=lambda info: info.path)
        return infos

    def _list_local(self, rel: str) -> list[FileInfo]:
        directory = self._local_path(rel)
        if not os.path.isdir(directory):
            return []
        real_root = os.path.realpath(self.root)
        infos: list[FileInfo] = []
        with os.scandir(directory) as entries:
            for entry in entries:
                if _TMP_RE.match(entry.name):
                    continue
                child = self._child(rel, entry.name)
                if child is None:
                    continue
                try:
                    if entry.is_symlink():
                        real = os.path.realpath(entry.path)
                        if not self._inside_root(real, real_root):
                            _logger.warning(
                                "Skipping artifact %r: it is a symbolic link that leaves the "
                                "artifact root %r.",
                                child,
                                self.root,
                            )
                            continue
                        if entry.is_dir() and real in self._ancestors(real_root, rel):
                            _logger.warning(
                                "Skipping artifact %r: it is a symbolic link to a folder "
                                "that contains it (a cycle).",
                                child,
                            )
                            continue
                    if entry.is_dir():
                        infos.append(FileInfo(child, True, None))
                    elif entry.is_file():
                        infos.append(FileInfo(child, False, entry.stat().st_size))
                except OSError:  # vanished while listing
                    continue
        return infos

    @staticmethod
    def _ancestors(real_root: str, rel: str) -> set[str]:
        """The resolved folders on the way from the root to ``rel``, both included."""
        found = {real_root}
        path = real_root
        for part in rel.split("/") if rel else ():
            path = os.path.realpath(os.path.join(path, part))
            found.add(path)
        return found

    def _list_remote(self, rel: str) -> list[FileInfo]:
        fs = self.fs
        full = self._remote_path(rel)
        norm = str(fs._strip_protocol(full)).rstrip("/") if full else full
        try:
            entries = fs.ls(full, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        infos: list[FileInfo] = []
        seen: set[str] = set()
        for entry in entries:
            name = str(entry["name"]).rstrip("/")
            is_dir = entry.get("type") == "directory"
            if name == norm:
                if not is_dir:
                    return []  # ``path`` is a file
                continue  # some stores list a directory marker as its own child
            prefix = f"{norm}/" if norm else ""
            if norm and not name.startswith(prefix):
                continue
            base = name[len(prefix) :]
            if "/" in base:
                continue
            child = self._child(rel, base)
            if child is None or child in seen:
                continue
            seen.add(child)
            size = entry.get("size")
            infos.append(FileInfo(child, is_dir, None if is_dir else int(size or 0)))
        return infos

    def _is_directory(self, artifact_path: str) -> bool:
        rel = self._validated(artifact_path)
        if self.is_local:
            target = self._local_path(rel)
            if os.path.isdir(target):
                return True
            if os.path.isfile(target):
                return False
        else:
            try:
                return bool(self.fs.info(self._remote_path(rel))["type"] == "directory")
            except FileNotFoundError:
                pass
        raise TrackyardError(
            f"Artifact {rel!r} does not exist under {mask_credentials(self.artifact_uri)!r}.",
            ErrorCode.RESOURCE_DOES_NOT_EXIST,
        )

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        """Copy the file ``remote_file_path`` (relative to the root) to ``local_path``."""
        rel = self._validated(remote_file_path, allow_empty=False)
        with _storage_errors(rel, self.artifact_uri):
            if self.is_local:
                source = self._local_path(rel)
                if not os.path.isfile(source):
                    raise FileNotFoundError(source)
                self.fs.get_file(source, local_path)
            else:
                self.fs.get_file(self._remote_path(rel), local_path)

    # -- deleting ------------------------------------------------------------------------------
    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete the file or directory ``artifact_path`` (everything when None).

        Deleting something that does not exist does nothing. A symbolic link inside a local
        root is removed itself; what it points to is left alone.
        """
        rel = self._validated(artifact_path)
        fs = self.fs
        with _storage_errors(rel, self.artifact_uri):
            if self.is_local:
                if rel:
                    target = self._local_path(rel, resolve_last=False)
                    if os.path.lexists(target):
                        fs.rm(target, recursive=True)
                    return
                real_root = self._local_path("")
                if os.path.isdir(real_root):
                    for entry in os.listdir(real_root):
                        fs.rm(os.path.join(real_root, entry), recursive=True)
                return
            if rel:
                with contextlib.suppress(FileNotFoundError):
                    fs.rm(self._remote_path(rel), recursive=True)
                return
            # Delete the root's children one by one: removing a bucket-level root itself
            # would delete the bucket on some stores.
            try:
                children = fs.ls(self.root, detail=False)
            except FileNotFoundError:
                return
            norm = str(fs._strip_protocol(self.root)).rstrip("/") if self.root else ""
            for child in children:
                name = str(child).rstrip("/")
                if name == norm:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    fs.rm(name, recursive=True)
