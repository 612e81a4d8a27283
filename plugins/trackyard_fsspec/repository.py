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
import functools
import logging
import os
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, TypeGuard

import fsspec
from fsspec.implementations.local import LocalFileSystem
from fsspec.registry import known_implementations
from fsspec.registry import registry as _fsspec_registry

from trackyard.entities import FileInfo
from trackyard.errors import ErrorCode, PluginLoadError, TrackyardError, local_path_error
from trackyard.errors import invalid_parameter as _invalid
from trackyard.stores import ArtifactRepository, Capabilities, not_a_file
from trackyard.uri import StoreURI, mask_credentials
from trackyard.validation import validate_artifact_path
from trackyard_fsspec.hooks import install_hint
from trackyard_fsspec.local import (
    TMP_RE,
    copy_file,
    destination,
    download_targets,
    inside,
    is_hostile,
    replace_with,
    subdir,
    tmp_namer,
)
from trackyard_fsspec.options import merge_options, options_for_uri, storage_options_from_env
from trackyard_fsspec.transfer import (
    ByteCounter,
    Progress,
    TransferSettings,
    run_parallel,
    storage_errors,
    with_retries,
)

if TYPE_CHECKING:
    from trackyard_fsspec.s3_direct import DirectS3

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

# Defaults for remote filesystems (storage options override them key by key): no listing
# cache, since other processes write too. S3 request bodies are not hashed into the
# signature: their CRC32 checksum header, which is signed, already covers their integrity
# (botocore makes the same choice over https); hashing every byte twice halves throughput.
_S3_DEFAULTS = {
    "use_listings_cache": False,
    "config_kwargs": {"s3": {"payload_signing_enabled": False}},
}
_FS_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "s3": _S3_DEFAULTS,
    "s3a": _S3_DEFAULTS,
    "gs": {"use_listings_cache": False},
    "gcs": {"use_listings_cache": False},
}


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


class FsspecArtifactRepository(ArtifactRepository):
    """Artifacts stored through fsspec: a local directory, memory, or any fsspec protocol.

    Args:
        artifact_uri: the root: a path, ``file:`` URI or ``<protocol>://`` URI.
        tracking_uri: the tracking URI this repository serves (unused; kept for the contract).
        registry_uri: the registry URI (unused; kept for the contract).
        storage_options: keyword arguments for the fsspec filesystem; they override the options
            from the environment and ``TRACKYARD_ARTIFACT_STORAGE_OPTIONS`` (see
            :mod:`trackyard_fsspec.options`).

    Attributes:
        protocol: the fsspec protocol, ``"file"`` for local roots.
        root: the root as fsspec sees it: an absolute local path, or the URI without protocol.
        storage_options: the options the filesystem is built with (may hold credentials:
            show them through :func:`trackyard_fsspec.options.masked_options`).
        transfer: worker pool, chunk size, retries and progress settings, read from the
            environment when the repository is built.
    """

    #: Deletes artifacts (``delete_artifacts``) on every protocol.
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
        self._where = mask_credentials(uri)
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
        self.transfer = TransferSettings.from_env()
        self._lock = threading.Lock()
        self._fs: fsspec.AbstractFileSystem | None = None
        self._fs_pid: int | None = None
        self._direct: DirectS3 | None = None
        self._direct_pid: int | None = None
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
        self.storage_options = options_for_uri(uri, protocol, storage_options)
        # The scheme as typed may differ in case from what the implementation strips.
        normalized = protocol + uri[len(protocol) :]
        root = self._fs_class._strip_protocol(normalized)
        if isinstance(root, str) and "://" in root:  # the class did not know this alias
            root = root.split("://", 1)[1]
        self.root = str(root).rstrip("/")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._where!r})"

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
                options = merge_options(
                    _FS_DEFAULTS.get(self._fs_protocol, {}), self.storage_options
                )
                self._fs = self._filesystem_class_for(options)(**options)
                self._fs_pid = pid
            return self._fs

    def _direct_s3(self) -> DirectS3 | None:
        """The single-request S3 fast path (:mod:`trackyard_fsspec.s3_direct`), or None."""
        if self._fs_protocol not in ("s3", "s3a"):
            return None
        pid = os.getpid()
        if self._direct_pid != pid:
            with self._lock:
                if self._direct_pid != pid:
                    from trackyard_fsspec.s3_direct import DirectS3

                    options = merge_options(
                        _FS_DEFAULTS.get(self._fs_protocol, {}), self.storage_options
                    )
                    try:
                        self._direct = DirectS3.from_options(options)
                    except Exception as exc:  # s3fs meets (and reports) the same problem
                        _logger.debug("S3 fast path off: %s", type(exc).__name__)
                        self._direct = None
                    self._direct_pid = pid
        direct = self._direct
        return direct if direct is not None and direct.enabled else None

    def _through_direct(self, direct: DirectS3, transfer: Callable[[], None]) -> bool:
        """Run one fast-path ``transfer``; False when s3fs must do it instead.

        A server error or a dropped connection is tried once more on the fast path; a
        lasting failure (a refusal, a redirect) switches the fast path off. A missing object
        (a 404 to a ``GET``) goes to s3fs at once, which reports it; the fast path stays on.
        """
        from trackyard_fsspec.s3_direct import DirectTransferFailed

        for attempt in (1, 2):
            try:
                transfer()
                return True
            except DirectTransferFailed as exc:
                if exc.missing:
                    _logger.debug("S3 fast path: %s; left to s3fs", exc)
                    return False
                if exc.lasting:
                    if direct.enabled:
                        direct.enabled = False
                        _logger.debug("S3 fast path off for %s after: %s", self._where, exc)
                    return False
                _logger.debug("S3 fast path, attempt %d: %s", attempt, exc)
        return False

    def _filesystem_class_for(self, options: Mapping[str, Any]) -> type[fsspec.AbstractFileSystem]:
        cls = self._fs_class
        if self._fs_protocol in ("gs", "gcs") and options.get("endpoint_url"):
            # gcsfs's default class first probes the bucket type over gRPC, which an emulator
            # or a GCS-compatible server does not answer (a 60 s stall per bucket).
            with contextlib.suppress(ImportError):
                from gcsfs.core import GCSFileSystem

                cls = GCSFileSystem
        return cls

    # -- paths ---------------------------------------------------------------------------------
    def _remote_path(self, rel: str) -> str:
        if not rel:
            return self.root
        return f"{self.root}/{rel}" if self.root else rel

    def _inside_root(self, real: str, real_root: str) -> bool:
        return inside(real, real_root)

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
            ok = inside(target, real_root)
        else:
            parent = os.path.realpath(os.path.join(real_root, *parts[:-1]))
            target = os.path.join(parent, parts[-1])
            ok = inside(parent, real_root)
        if not ok:
            raise self._escape(rel)
        return target

    def _escape(self, rel: str) -> TrackyardError:
        return _invalid(
            f"Invalid artifact path {rel!r}: it resolves outside the artifact root "
            f"{self.root!r} (through a symbolic link)."
        )

    def _validated(self, path: str | None, *, allow_empty: bool = True) -> str:
        return validate_artifact_path(path, allow_empty=allow_empty)

    # -- writing -------------------------------------------------------------------------------
    @staticmethod
    def _require_file(local_file: str) -> str:
        local_file = os.fspath(local_file)
        if not os.path.isfile(local_file):
            code = errno.EISDIR if os.path.isdir(local_file) else errno.ENOENT
            raise local_path_error(code, local_file, "log_artifact() uploads one file")
        return local_file

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        """Copy one local file into ``artifact_path`` (a directory under the root).

        Large files go in parts (S3 multipart, GCS resumable) with bounded memory; transient
        errors are retried.

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
        self._upload([(local_file, rel)])

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        """Copy the contents of ``local_dir`` (recursively) into ``artifact_path``.

        Every target path is checked before the first file is written. Empty directories
        and entries that are not regular files (sockets, broken links) are skipped. Files
        are sent by a bounded pool of workers (``TRACKYARD_ARTIFACT_MAX_WORKERS``).

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
        sizes: list[int] = []
        pending = [(local_dir, base)]
        while pending:
            directory, prefix = pending.pop()
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda e: e.name)
            subdirs = []
            for entry in entries:
                rel = f"{prefix}/{entry.name}" if prefix else entry.name
                if entry.is_dir():
                    subdirs.append((entry.path, rel))
                elif entry.is_file():
                    plan.append((entry.path, self._validated(rel, allow_empty=False)))
                    sizes.append(entry.stat().st_size)
                else:
                    _logger.debug("log_artifacts: skipping %r (not a regular file)", entry.path)
            pending.extend(reversed(subdirs))
        self._upload(plan, sizes)

    def write_bytes(self, data: bytes, artifact_file: str) -> None:
        """Write ``data`` as the file ``artifact_file`` (relative to the root), replacing it."""
        rel = self._validated(artifact_file, allow_empty=False)
        payload = data if isinstance(data, bytes) else bytes(data)
        if self.is_local:
            target_dir, name = self._local_targets([rel])[rel]

            def fill(path: str) -> None:
                with open(path, "wb") as fh:
                    fh.write(payload)

            with storage_errors(rel, self._where):
                replace_with(target_dir, name, fill, tmp_namer()())
            return
        fs = self.fs
        target = self._remote_path(rel)
        direct = self._direct_s3()

        def once() -> None:
            with storage_errors(rel, self._where):
                if self._small_direct(direct, len(payload)) and self._through_direct(
                    direct, lambda: direct.put(target, payload, rel)
                ):
                    return
                try:
                    fs.pipe_file(target, payload)
                except FileNotFoundError:
                    # Hierarchical filesystems (sftp, ftp, hdfs) need the parent to exist.
                    fs.makedirs(fs._parent(target), exist_ok=True)
                    fs.pipe_file(target, payload)

        with_retries(once, self.transfer, describe=f"write of {rel!r}")

    def _local_targets(self, rels: Sequence[str]) -> dict[str, tuple[str, str]]:
        """Check and create the local directories of ``rels``; map each to (directory, name).

        The root is resolved once and each distinct directory once, before anything is
        created: a directory that resolves outside the root (through a symbolic link) is
        refused. An existing target that is a symbolic link must point inside the root too.
        """
        real_root = os.path.realpath(self.root)
        real_dirs: dict[str, str] = {}
        existed: set[str] = set()
        for rel in rels:
            parent = rel.rpartition("/")[0]
            if parent in real_dirs:
                continue
            real = os.path.realpath(os.path.join(real_root, *parent.split("/")))
            if not inside(real, real_root):
                raise self._escape(rel)
            real_dirs[parent] = real
            if os.path.isdir(real):
                existed.add(parent)
        targets: dict[str, tuple[str, str]] = {}
        for rel in rels:
            parent, _, name = rel.rpartition("/")
            directory = real_dirs[parent]
            if parent in existed:  # only a directory that existed can hold a link already
                link = os.path.join(directory, name)
                if os.path.islink(link):
                    real = os.path.realpath(link)
                    if not inside(real, real_root):
                        raise self._escape(rel)
                    directory, name = os.path.split(real)
            targets[rel] = (directory, name)
        with storage_errors(rels[0] if rels else "", self._where):
            for parent, directory in real_dirs.items():
                if parent in existed:
                    continue
                os.makedirs(directory, exist_ok=True)
                if not inside(os.path.realpath(directory), real_root):  # raced with a link
                    raise self._escape(parent)
        return targets

    def _upload(self, plan: Sequence[tuple[str, str]], sizes: Sequence[int] | None = None) -> None:
        """Send ``(local file, relative path)`` pairs; every path was validated already."""
        if not plan:
            return
        if sizes is None:
            sizes = [os.path.getsize(source) for source, _ in plan]
        settings = self.transfer
        where = self._where
        if self.is_local:
            targets = self._local_targets([rel for _, rel in plan])
            namer = tmp_namer()
            with Progress(sum(sizes), f"Copying to {where}", settings) as progress:
                for (source, rel), size in zip(plan, sizes, strict=True):
                    directory, name = targets[rel]
                    with storage_errors(rel, self._where):
                        replace_with(
                            directory,
                            name,
                            functools.partial(copy_file, source),
                            namer(),
                        )
                    progress.update(size)
            return
        fs = self.fs
        kwargs = settings.put_kwargs(self._fs_protocol)
        direct = self._direct_s3()

        def send(source: str, rel: str, size: int, progress: Progress) -> None:
            target = self._remote_path(rel)
            counter = ByteCounter(progress)

            def once() -> None:
                with storage_errors(rel, self._where):
                    if self._put_direct(direct, source, target, size, counter):
                        return
                    try:
                        fs.put_file(source, target, callback=counter, **kwargs)
                    except FileNotFoundError:
                        if not os.path.isfile(source):
                            raise _invalid(f"Cannot log {source!r}: it vanished.") from None
                        fs.makedirs(fs._parent(target), exist_ok=True)
                        fs.put_file(source, target, callback=counter, **kwargs)

            with_retries(once, settings, describe=f"upload of {rel!r}")
            counter.finish(size)

        with Progress(sum(sizes), f"Uploading to {where}", settings) as progress:
            small: list[Callable[[], None]] = []
            large: list[Callable[[], None]] = []
            for (source, rel), size in zip(plan, sizes, strict=True):
                task = functools.partial(send, source, rel, size, progress)
                (large if size > settings.chunk_size else small).append(task)
            try:
                run_parallel(small, settings.workers_for(self._fs_protocol), sequential=large)
            finally:
                if direct is not None:
                    direct.close_idle()  # the pool's threads have ended

    def _small_direct(self, direct: DirectS3 | None, size: int) -> TypeGuard[DirectS3]:
        """Whether a file of ``size`` bytes goes through the (enabled) fast path ``direct``."""
        return direct is not None and direct.enabled and size <= self.transfer.chunk_size

    def _file_through_direct(
        self,
        direct: DirectS3 | None,
        size: int,
        counter: ByteCounter,
        whole: Callable[[], None],
        parts: Callable[[int, int, Callable[[int], object]], None],
    ) -> bool:
        """Move one file of ``size`` bytes through the fast path: ``whole`` in one request,
        or ``parts(part size, workers, progress)`` above the chunk size. False when s3fs
        must move it instead."""
        if direct is None or not direct.enabled:
            return False
        settings = self.transfer

        def once() -> None:
            counter.value = 0  # a new attempt counts the file from its start
            if size > settings.chunk_size:
                parts(settings.chunk_size, settings.part_concurrency, counter.relative_update)
            else:
                whole()

        if self._through_direct(direct, once):
            return True
        counter.value = 0
        return False

    def _put_direct(
        self, direct: DirectS3 | None, source: str, target: str, size: int, counter: ByteCounter
    ) -> bool:
        """Upload ``source`` through the fast path; False when s3fs must do it instead."""
        from trackyard_fsspec.s3_direct import DirectTransferFailed

        def whole() -> None:
            assert direct is not None
            try:
                with open(source, "rb") as fh:
                    data = fh.read()
            except OSError:  # s3fs's path reports a vanished or unreadable file
                raise DirectTransferFailed(f"cannot read {source!r}", lasting=False) from None
            direct.put(target, data, source)
            counter.relative_update(len(data))

        def parts(part_size: int, workers: int, progress: Callable[[int], object]) -> None:
            assert direct is not None
            direct.put_parts(target, source, size, part_size, workers, progress)

        return self._file_through_direct(direct, size, counter, whole, parts)

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
            self._where,
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
                if TMP_RE.match(entry.name):
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
            f"Artifact {rel!r} does not exist under {self._where!r}.",
            ErrorCode.RESOURCE_DOES_NOT_EXIST,
        )

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        """Copy the file ``remote_file_path`` (relative to the root) to ``local_path``."""
        rel = self._validated(remote_file_path, allow_empty=False)
        with storage_errors(rel, self._where):
            if self.is_local:
                source = self._local_path(rel)
                if not os.path.isfile(source):
                    raise FileNotFoundError(source)
                self.fs.get_file(source, local_path)
            else:
                self.fs.get_file(self._remote_path(rel), local_path)

    @contextlib.contextmanager
    def open_artifact(self, artifact_file: str) -> Iterator[BinaryIO]:
        """Open the file ``artifact_file`` for reading, in place (nothing is copied).

        A local file is opened at its resolved path, which must lie inside the resolved
        root (a symbolic link leaving the root is refused); other protocols open fsspec's
        buffered remote file, which fetches blocks as they are read.

        Raises:
            TrackyardError: INVALID_PARAMETER_VALUE for an unsafe path, a link leaving the
                root or a directory; RESOURCE_DOES_NOT_EXIST when there is no such file.
        """
        rel = self._validated(artifact_file, allow_empty=False)
        with storage_errors(rel, self._where):
            if self.is_local:
                source = self._local_path(rel)
                if os.path.isdir(source):
                    raise not_a_file(rel, self._where)
                fh: BinaryIO = open(source, "rb")  # noqa: SIM115 - closed below
            else:
                fs = self.fs
                full = self._remote_path(rel)
                if fs.info(full).get("type") == "directory":
                    raise not_a_file(rel, self._where)
                fh = fs.open(full, "rb")
        with fh:
            yield fh

    # -- downloading -----------------------------------------------------------------------------
    def download_artifacts(self, artifact_path: str, dst_path: str | None = None) -> str:
        """Download a file or directory and return the local path of what was downloaded.

        ``dst_path`` must be an existing directory (a temporary one is made if None). The
        whole tree is listed first; a listing entry that tries to leave its directory
        (``..``, an absolute name) is refused before anything is written, and every local
        directory is resolved (symbolic links included) and must lie inside ``dst_path``.
        Files arrive under a temporary name and are renamed into place, several at once.
        """
        rel = self._validated(artifact_path)
        dst_root = destination(dst_path)
        files, dirs, is_dir = self._download_plan(rel)
        targets = download_targets(dst_root, dst_path, [f for f, _ in files], dirs)
        settings = self.transfer
        namer = tmp_namer()
        where = self._where
        with Progress(sum(s for _, s in files), f"Downloading from {where}", settings) as progress:
            if self.is_local:
                real_root = os.path.realpath(self.root)
                for remote, size in files:
                    source = os.path.realpath(os.path.join(real_root, *remote.split("/")))
                    if not inside(source, real_root):
                        raise self._escape(remote)
                    directory, name = targets[remote]
                    with storage_errors(remote, self._where):
                        replace_with(directory, name, functools.partial(copy_file, source), namer())
                    progress.update(size)
            else:
                fs = self.fs
                kwargs = settings.get_kwargs(self._fs_protocol)
                direct = self._direct_s3()

                def fetch(remote: str, size: int) -> None:
                    directory, name = targets[remote]
                    counter = ByteCounter(progress)
                    source = self._remote_path(remote)

                    def fill(path: str) -> None:
                        with storage_errors(remote, self._where):
                            if self._get_direct(direct, source, path, size, counter):
                                return
                            fs.get_file(source, path, callback=counter, **kwargs)

                    with_retries(
                        lambda: replace_with(directory, name, fill, namer()),
                        settings,
                        describe=f"download of {remote!r}",
                    )
                    counter.finish(size)

                small: list[Callable[[], None]] = []
                large: list[Callable[[], None]] = []
                for remote, size in files:
                    task = functools.partial(fetch, remote, size)
                    (large if size > settings.chunk_size else small).append(task)
                try:
                    run_parallel(small, settings.workers_for(self._fs_protocol), sequential=large)
                finally:
                    if direct is not None:
                        direct.close_idle()  # the pool's threads have ended
        if not rel:
            return dst_root
        if is_dir:
            return subdir(dst_root, rel)
        directory, name = targets[rel]
        return os.path.join(directory, name)

    def _get_direct(
        self, direct: DirectS3 | None, source: str, path: str, size: int, counter: ByteCounter
    ) -> bool:
        """Download ``source`` through the fast path; False when s3fs must do it instead."""

        def whole() -> None:
            assert direct is not None
            direct.get(source, path, size, counter.relative_update)

        def parts(part_size: int, workers: int, progress: Callable[[int], object]) -> None:
            assert direct is not None
            direct.get_parts(source, path, size, part_size, workers, progress)

        return self._file_through_direct(direct, size, counter, whole, parts)

    def _download_plan(self, rel: str) -> tuple[list[tuple[str, int]], list[str], bool]:
        """List what downloading ``rel`` fetches: ``(files with sizes, directories, is_dir)``.

        Raises:
            TrackyardError: RESOURCE_DOES_NOT_EXIST when ``rel`` is absent (the root may be
                empty); INVALID_PARAMETER_VALUE for a hostile listing entry.
        """
        if self.is_local:
            source = self._local_path(rel)
            if os.path.isfile(source) and rel:
                return [(rel, os.path.getsize(source))], [], False
            if not os.path.isdir(source):
                if not rel:
                    return [], [], True
                raise self._absent(rel)
            files: list[tuple[str, int]] = []
            dirs: list[str] = [rel] if rel else []
            pending = [rel]
            while pending:
                current = pending.pop()
                for info in self._list_local(current):
                    if info.is_dir:
                        dirs.append(info.path)
                        pending.append(info.path)
                    else:
                        files.append((info.path, int(info.file_size or 0)))
            return files, dirs, True
        fs = self.fs
        full = self._remote_path(rel)
        try:
            info = fs.info(full)
        except FileNotFoundError:
            if not rel:
                return [], [], True
            raise self._absent(rel) from None
        if info.get("type") != "directory" and rel:
            return [(rel, int(info.get("size") or 0))], [], False
        norm = str(fs._strip_protocol(full)).rstrip("/") if full else ""
        prefix = f"{norm}/" if norm else ""
        files = []
        dirs = [rel] if rel else []
        found = fs.find(full, withdirs=True, detail=True)
        for name, entry in sorted(found.items()):
            name = str(name)
            if name.rstrip("/") == norm:
                continue
            if not name.startswith(prefix) or is_hostile(name[len(prefix) :].rstrip("/")):
                raise _invalid(
                    f"Refusing to download from {self._where!r}: its "
                    f"listing has an entry that would leave the download directory: {name!r}."
                )
            sub = name[len(prefix) :].rstrip("/")
            child = f"{rel}/{sub}" if rel else sub
            try:
                addressable = validate_artifact_path(child) == child
            except TrackyardError:
                addressable = False
            if not addressable:
                _logger.warning(
                    "Skipping artifact %r under %r: its name cannot be addressed safely.",
                    child,
                    self._where,
                )
                continue
            if entry.get("type") == "directory":
                dirs.append(child)
            else:
                files.append((child, int(entry.get("size") or 0)))
        return files, dirs, True

    def _absent(self, rel: str) -> TrackyardError:
        return TrackyardError(
            f"Artifact {rel!r} does not exist under {self._where!r}.",
            ErrorCode.RESOURCE_DOES_NOT_EXIST,
        )

    # -- deleting ------------------------------------------------------------------------------
    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        """Delete the file or directory ``artifact_path`` (everything when None).

        Deleting something that does not exist does nothing. A symbolic link inside a local
        root is removed itself; what it points to is left alone.
        """
        rel = self._validated(artifact_path)
        fs = self.fs
        with storage_errors(rel, self._where):
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
