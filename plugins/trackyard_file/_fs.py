"""Filesystem helpers of the file store: locks, atomic writes, safe paths, ``meta.yaml``.

- :class:`FileLock` is an advisory lock on a lock file (``fcntl.flock``; ``msvcrt.locking`` on
  Windows). flock locks belong to an open file description, so they also serialize threads of
  one process; a thread that already holds a lock gets it again without blocking.
- :func:`write_atomic` writes a temporary file next to the target and renames it over the
  target, so readers see the old or the new content, never a mix.
- :func:`key_parts` and :func:`check_contained` keep every file a key names inside the store
  root (defence in depth: the client has validated keys already).
- :func:`load_meta` reads the flat ``meta.yaml`` files MLflow and trackyard write without a
  YAML parser when it can (ten times faster), and with PyYAML's safe loader otherwise;
  :func:`dump_meta` writes them as MLflow does (``yaml.safe_dump``, sorted keys, block style).
- :func:`check_root` checks the root folder of a store being opened; in a read-only open
  (:func:`trackyard.stores.read_only_opens`) the stores create nothing, and every method
  marked :func:`writes` raises before it starts.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import stat
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import yaml

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.stores import read_only_open

if TYPE_CHECKING:
    from trackyard.stores import ReadOnlyOpen

__all__ = [
    "RACY_NS",
    "CachedReader",
    "FileLock",
    "Sig",
    "check_contained",
    "check_root",
    "dump_meta",
    "fsync_dir",
    "fsync_policy",
    "key_parts",
    "load_meta",
    "path_to_file_uri",
    "pread",
    "pwrite",
    "read_bytes",
    "read_fd",
    "read_text",
    "remove_empty_parents",
    "root_from_uri",
    "sig",
    "temp_path",
    "walk_files",
    "write_all",
    "write_atomic",
    "write_in_place",
    "writes",
]

P = ParamSpec("P")
R = TypeVar("R")

O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
O_BINARY = getattr(os, "O_BINARY", 0)

#: Environment variable choosing when the store calls fsync: ``meta`` (default: meta.yaml
#: files, which define experiments and runs), ``all`` (also metric appends, params, tags and the
#: journal), or ``none``.
FSYNC_ENV = "TRACKYARD_FILE_FSYNC"


def fsync_policy() -> str:
    """Return the fsync policy from ``TRACKYARD_FILE_FSYNC``: ``meta``, ``all`` or ``none``."""
    value = os.environ.get(FSYNC_ENV, "meta").strip().lower()
    return value if value in ("meta", "all", "none") else "meta"


# ---------------------------------------------------------------------------------------------
# URIs and paths


def root_from_uri(uri: str) -> str:
    """Return the absolute local directory that a ``file:`` URI or bare path names.

    Accepts ``/abs/path``, ``relative/path``, ``file:///abs/path``, ``file:/abs/path``,
    ``file://localhost/abs/path`` and ``file:relative/path``; percent-escapes are decoded.

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE for another scheme or a remote host.
    """
    if not isinstance(uri, str) or not uri.strip():
        raise TrackyardError(f"Invalid file store URI: {uri!r}", ErrorCode.INVALID_PARAMETER_VALUE)
    uri = uri.strip()
    if uri[:5].lower() == "file:":
        parts = urllib.parse.urlsplit(uri)
        if parts.netloc not in ("", "localhost"):
            raise TrackyardError(
                f"Invalid file store URI {uri!r}: remote hosts are not supported; "
                "mount the share and use a local path.",
                ErrorCode.INVALID_PARAMETER_VALUE,
            )
        path = urllib.request.url2pathname(parts.path)
    else:
        path = uri
    return os.path.abspath(os.path.expanduser(path))


def path_to_file_uri(path: str) -> str:
    """Return the ``file://`` URI of a local path, as MLflow writes it (``Path.as_uri``)."""
    return Path(os.path.abspath(path)).as_uri()


def check_root(root: str) -> ReadOnlyOpen | None:
    """Check the root folder of a store being opened; return the read-only request, if any.

    Returns:
        The request of the enclosing :func:`trackyard.stores.read_only_opens` block (the
        store then creates nothing and refuses writes), or None for a normal open.

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE when ``root`` exists and is not a folder;
            in a read-only open, the request's ``absent`` error when it does not exist.
    """
    if os.path.exists(root) and not os.path.isdir(root):
        raise TrackyardError(
            f"The file store root {root!r} exists and is not a folder.",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    request = read_only_open()
    if request is not None and not os.path.isdir(root):
        raise request.absent(
            f"the file store root {root!r} does not exist; a normal open creates it"
        )
    return request


def writes(method: Callable[Concatenate[Any, P], R]) -> Callable[Concatenate[Any, P], R]:
    """Mark a store method that writes: on a store opened read-only it raises at once.

    The store has ``root`` and ``_read_only`` (set from :func:`check_root`). The error is
    INVALID_STATE, as the SQL store's for a write in a read-only open.
    """

    @functools.wraps(method)
    def guarded(store: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if store._read_only:
            raise TrackyardError(
                f"The file store {store.root!r} was opened read-only; nothing is written.",
                ErrorCode.INVALID_STATE,
            )
        return method(store, *args, **kwargs)

    return guarded


_WINDOWS = os.name == "nt"
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
_checked_keys: dict[str, tuple[str, ...]] = {}


def key_parts(key: str, what: str = "key") -> tuple[str, ...]:
    """Split a metric, param or tag key into path segments, refusing any that could escape.

    Refused: empty keys, NUL bytes, backslashes, absolute paths, Windows drives (on Windows),
    and empty, ``.`` or ``..`` segments.

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE.
    """
    parts = _checked_keys.get(key)
    if parts is not None:
        return parts
    bad = (
        not isinstance(key, str)
        or not key
        or "\x00" in key
        or "\\" in key
        or key.startswith("/")
        or (_WINDOWS and (":" in key or _WINDOWS_DRIVE.match(key) is not None))
    )
    if not bad:
        parts = tuple(key.split("/"))
        bad = any(p in ("", ".", "..") for p in parts)
    if bad or parts is None:
        raise TrackyardError(
            f"Invalid {what} {key!r}: the file store keeps keys as relative paths inside the "
            "run folder and refuses anything that could name a file elsewhere.",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    if len(_checked_keys) > 65536:
        _checked_keys.clear()
    _checked_keys[key] = parts
    return parts


def check_contained(root_real: str, directory: str) -> None:
    """Refuse ``directory`` unless it resolves (symlinks followed) to ``root_real`` or below.

    Args:
        root_real: the store root, already passed through :func:`os.path.realpath`.
        directory: a directory about to receive or hold a file (it need not exist yet).

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE when it would lead outside the root.
    """
    real = os.path.realpath(directory)
    if real != root_real and not real.startswith(root_real + os.sep):
        raise TrackyardError(
            f"Refusing to use {directory!r}: it resolves to {real!r}, outside the store root "
            f"{root_real!r} (is a symbolic link inside the store pointing elsewhere?).",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )


def walk_files(base: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Yield ``(relative key, entry)`` for every regular file below ``base``.

    Keys use ``/`` whatever the OS; symbolic links (files or folders) are skipped, so nothing
    outside ``base`` is ever listed. A missing ``base`` yields nothing.
    """
    stack = [(base, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            it = os.scandir(directory)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, prefix + entry.name + "/"))
                elif entry.is_file(follow_symlinks=False):
                    yield prefix + entry.name, entry


def remove_empty_parents(path: str, stop: str) -> None:
    """Remove the now-empty folders between ``path``'s parent and ``stop`` (exclusive)."""
    parent = os.path.dirname(path)
    stop = os.path.normpath(stop)
    while os.path.normpath(parent) != stop and parent.startswith(stop + os.sep):
        try:
            os.rmdir(parent)
        except OSError:
            return
        parent = os.path.dirname(parent)


# ---------------------------------------------------------------------------------------------
# Reading and writing files

_counter = itertools.count()


def temp_path(directory: str) -> str:
    """A fresh temporary file name in ``directory`` (hidden, unique per process and call)."""
    return os.path.join(directory, f".trackyard-{os.getpid()}-{next(_counter)}.tmp")


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (one ``write()`` call unless the OS writes less)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_dir(directory: str) -> None:
    """fsync a directory so a rename or creation in it survives a power loss (POSIX only)."""
    if _WINDOWS:
        return
    try:
        fd = os.open(directory, os.O_RDONLY | O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes, *, tmp_dir: str | None = None, sync: bool = False) -> None:
    """Replace ``path`` with ``data`` atomically: temporary file, then rename over the target.

    Args:
        path: the file to write; a symbolic link there is replaced, never followed.
        data: the new content.
        tmp_dir: where the temporary file goes (same filesystem as ``path``); defaults to
            ``path``'s folder. Put it where a reader listing keys will not see it.
        sync: fsync the file before the rename and the folder after it.
    """
    directory = tmp_dir or os.path.dirname(path)
    while True:
        tmp = temp_path(directory)
        try:
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_BINARY, 0o666
            )
            break
        except FileExistsError:  # a leftover of a dead process with our pid: take another name
            continue
    try:
        try:
            write_all(fd, data)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync:
        fsync_dir(os.path.dirname(path))


if hasattr(os, "pread"):
    pread = os.pread

    def pwrite(fd: int, data: bytes, offset: int) -> None:
        """Write all of ``data`` at ``offset`` without moving the file position."""
        view = memoryview(data)
        while view:
            written = os.pwrite(fd, view, offset)
            view = view[written:]
            offset += written

else:  # pragma: no cover - Windows has no pread/pwrite

    def pread(fd: int, n: int, offset: int) -> bytes:
        """Read up to ``n`` bytes at ``offset``."""
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, n)

    def pwrite(fd: int, data: bytes, offset: int) -> None:
        """Write all of ``data`` at ``offset``."""
        os.lseek(fd, offset, os.SEEK_SET)
        write_all(fd, data)


def write_in_place(path: str, data: bytes) -> None:
    """Overwrite ``path`` with ``data`` in place (no new file once it exists).

    Readers may see a mix of old and new bytes: use it only for content that carries its
    own checksum, such as the metric summary.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_BINARY, 0o666)
    try:
        pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def read_fd(fd: int) -> bytes:
    """Read the whole content of an open file from its start."""
    chunks = []
    offset = 0
    while True:
        chunk = pread(fd, 1 << 20, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def read_bytes(path: str) -> bytes:
    """Read a whole file without following a symbolic link at ``path`` itself."""
    fd = os.open(path, os.O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_BINARY)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: str) -> str:
    """Read a whole UTF-8 file (see :func:`read_bytes`)."""
    return read_bytes(path).decode("utf-8")


# ---------------------------------------------------------------------------------------------
# Locks

_held = threading.local()


class FileLock:
    """An advisory lock on a lock file, exclusive or shared, reentrant within a thread.

    The lock file is created if missing (unless ``create`` is False) and never removed
    (removing it would let two processes lock two different files of the same name). A
    thread holding the lock may take it again (the inner use does nothing), except that a
    shared holder cannot ask for the exclusive lock.

    Args:
        path: the lock file.
        shared: take a shared lock (several holders) instead of an exclusive one. On Windows
            every lock is exclusive.
        create: create the lock file if missing; when False, a missing file raises
            FileNotFoundError and the file is opened read-only.
    """

    __slots__ = ("_create", "_fd", "_nested", "_path", "_shared", "fd")

    def __init__(self, path: str, *, shared: bool = False, create: bool = True) -> None:
        self._path = path
        self._shared = shared
        self._create = create
        self._fd = -1
        self._nested = False
        #: the lock file's descriptor while the lock is held (owners may keep data in it)
        self.fd = -1

    def __enter__(self) -> FileLock:
        held: dict[str, tuple[int, int, bool]] | None = getattr(_held, "locks", None)
        if held is None:
            held = _held.locks = {}
        if self._path in held:
            fd, count, shared = held[self._path]
            if shared and not self._shared:
                raise RuntimeError(f"cannot upgrade a shared lock on {self._path} to exclusive")
            held[self._path] = (fd, count + 1, shared)
            self._nested = True
            self.fd = fd
            return self
        flags = os.O_RDWR | os.O_CREAT if self._create else os.O_RDONLY
        try:
            fd = os.open(self._path, flags | O_NOFOLLOW | O_CLOEXEC, 0o666)
        except FileNotFoundError:
            raise
        except OSError as exc:
            if os.path.islink(self._path):
                raise TrackyardError(
                    f"Refusing to use the lock file {self._path!r}: it is a symbolic link.",
                    ErrorCode.INVALID_STATE,
                ) from exc
            raise
        try:
            _lock(fd, self._shared)
        except BaseException:
            os.close(fd)
            raise
        self._fd = self.fd = fd
        held[self._path] = (fd, 1, self._shared)
        return self

    @property
    def nested(self) -> bool:
        """Whether this use only re-entered a lock the thread already held."""
        return self._nested

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        held: dict[str, tuple[int, int, bool]] = _held.locks
        fd, count, shared = held[self._path]
        held[self._path] = (fd, count - 1, shared)
        if self._nested:
            self.fd = -1
            return
        del held[self._path]
        try:
            _unlock(self._fd)
        finally:
            os.close(self._fd)
            self._fd = self.fd = -1


try:
    import fcntl

    def _lock(fd: int, shared: bool) -> None:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # pragma: no cover - Windows
    import msvcrt

    def _lock(fd: int, shared: bool) -> None:
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
                return
            except OSError:
                time.sleep(0.005)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# meta.yaml

# libyaml's C classes when PyYAML was built with them (much faster), the pure-Python ones if not
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_FALLBACK = object()
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INT_RE = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
# Plain scalars YAML 1.1 resolves to something other than a string, in any case.
_SPECIAL_WORDS = frozenset(
    {"null", "~", "true", "false", "yes", "no", "on", "off", "y", "n", "nan", "inf"}
)
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`.+=<")
# Digits then letters (run ids, hashes): always a string for YAML 1.1, unless 0x.../0b...
_ALNUM_WITH_LETTER = re.compile(r"[0-9][0-9A-Za-z]*[A-Za-z][0-9A-Za-z]*\Z")


def _scalar(value: str) -> Any:
    if not value or value == "null" or value == "~":
        return None
    first = value[0]
    if first == "'":
        inner = value[1:-1]
        if len(value) < 2 or value[-1] != "'" or "'" in inner.replace("''", ""):
            return _FALLBACK
        return inner.replace("''", "'")
    if value == "[]":
        return []
    if value == "{}":
        return {}
    if _INT_RE.match(value):
        return int(value)
    if first.isdigit():
        if _ALNUM_WITH_LETTER.match(value) and value[:2].lower() not in ("0x", "0b"):
            return value
        return _FALLBACK
    if (
        first in _INDICATORS
        or first.isspace()
        or value[-1].isspace()
        or value.lower() in _SPECIAL_WORDS
        or ": " in value
        or " #" in value
        or value.endswith(":")
        or "\t" in value
    ):
        return _FALLBACK
    return value


def load_meta(data: bytes | str) -> dict[str, Any]:
    """Parse a ``meta.yaml`` file into a dict.

    The flat files MLflow and trackyard write (one ``key: scalar`` per line) are parsed
    directly; anything else (nested mappings, folded long strings, double quotes, floats,
    dates...) goes to PyYAML's safe loader, so the result is always what ``yaml.safe_load``
    returns.

    Raises:
        ValueError: the file is not a YAML mapping.
    """
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    out: dict[str, Any] = {}
    for line in text.split("\n"):
        if not line:
            continue
        key, sep, value = line.partition(": ")
        if not sep:
            if line.endswith(":") and _KEY_RE.match(line[:-1]):
                key, value = line[:-1], ""
            else:
                break
        if not _KEY_RE.match(key) or key in out:
            break
        parsed = _scalar(value)
        if parsed is _FALLBACK:
            break
        out[key] = parsed
    else:
        return out
    import yaml

    loaded = yaml.load(text, Loader=_Loader)  # a safe loader (CSafeLoader)
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ValueError(f"expected a YAML mapping, got {type(loaded).__name__}")
    return loaded


def dump_meta(data: dict[str, Any]) -> bytes:
    """Serialize a ``meta.yaml`` mapping as MLflow does (safe dumper, block style, sorted)."""
    import yaml

    text: str = yaml.dump(
        data, Dumper=_Dumper, default_flow_style=False, allow_unicode=True, sort_keys=True
    )
    return text.encode("utf-8")


# ---------------------------------------------------------------------------------------------
# Cached reads

Sig = tuple[int, int, int]

#: A file modified less than this before it was read may change again with the same mtime
#: (filesystem clocks are coarse), so what was read from it is not trusted from memory.
RACY_NS = 50_000_000


def sig(st: os.stat_result) -> Sig:
    """What identifies a version of a file: inode, mtime (ns) and size."""
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class CachedReader:
    """Reads of meta.yaml files and key files (params, tags) cached by :func:`sig`.

    Call :meth:`_init_caches` in ``__init__``. The caches are plain dicts of immutable
    values, safe to share between threads.
    """

    _meta_cache: dict[str, tuple[Sig, dict[str, Any]]]
    _text_cache: dict[str, tuple[Sig, str]]

    def _init_caches(self) -> None:
        self._meta_cache = {}
        self._text_cache = {}

    def _read_meta(self, path: str) -> dict[str, Any]:
        """Parse a meta.yaml (cached by inode, mtime and size); FileNotFoundError if absent.

        The returned dict is shared with the cache: copy it before changing it.
        """
        st = os.stat(path, follow_symlinks=False)
        cached = self._meta_cache.get(path)
        if cached is not None and cached[0] == sig(st):
            return cached[1]
        if not stat.S_ISREG(st.st_mode):
            raise FileNotFoundError(path)
        fd = os.open(path, os.O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_BINARY)
        try:
            st = os.fstat(fd)
            chunks = []
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(fd)
        try:
            meta = load_meta(b"".join(chunks))
        except ValueError as exc:
            raise TrackyardError(
                f"Malformed metadata file {path}: {exc}", ErrorCode.INVALID_STATE
            ) from exc
        if st.st_mtime_ns <= time.time_ns() - RACY_NS:
            self._meta_cache[path] = (sig(st), meta)
        return meta

    def _read_values(self, base: str, racy_after: int = 0) -> tuple[dict[str, str], bool]:
        """Read every key file below ``base`` (params, tags) into ``{key: value}``.

        Values are cached by inode, mtime and size; a file modified after ``racy_after``
        (epoch ns) is too recent for its signature to be trusted, so it is not cached and
        the second value returned is True.
        """
        out: dict[str, str] = {}
        racy = False
        cache = self._text_cache
        for key, entry in walk_files(base):
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            version = sig(st)
            path = entry.path
            cached = cache.get(path)
            if cached is not None and cached[0] == version:
                out[key] = cached[1]
                continue
            try:
                value = read_bytes(path).decode("utf-8")
            except FileNotFoundError:
                continue
            if st.st_mtime_ns > racy_after:
                racy = True
            else:
                cache[path] = (version, value)
            out[key] = value
        return out, racy
