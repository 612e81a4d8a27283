"""Where downloaded and locally written files land: checked targets, atomic replacement.

Every local directory a download or a local write touches is resolved once (symbolic links
followed) and must lie inside its root; files are written under a temporary name in their
directory and renamed into place, so nobody sees a half-written file.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import secrets
import sys
import tempfile
from collections.abc import Callable, Sequence

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.stores import download_destination

__all__ = [
    "TMP_PREFIX",
    "TMP_RE",
    "copy_file",
    "destination",
    "download_targets",
    "inside",
    "is_hostile",
    "replace_with",
    "subdir",
    "tmp_namer",
]

_SENDFILE = hasattr(os, "sendfile") and sys.platform.startswith("linux")
_SENDFILE_BLOCK = 8 * 1024 * 1024

# Temporary names of local writes in progress; listings never show them.
TMP_PREFIX = ".trackyard-"
TMP_SUFFIX = ".part"
TMP_RE = re.compile(r"^\.trackyard-[0-9a-f]{32}\.part$")


def tmp_namer() -> Callable[[], str]:
    """Return a function giving fresh temporary file names (cheaper than a uuid4 per file)."""
    prefix = secrets.token_hex(12)
    counter = itertools.count()
    return lambda: f"{TMP_PREFIX}{prefix}{next(counter) & 0xFFFFFFFF:08x}{TMP_SUFFIX}"


def copy_file(source: str, target: str) -> None:
    """Copy the file ``source`` to the new file ``target`` (which must not exist).

    Uses ``sendfile`` where the system has it (the data never enters Python) and a buffered
    copy elsewhere; no metadata is copied.
    """
    src = os.open(source, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        dst = os.open(
            target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666
        )
        try:
            if _SENDFILE:
                try:
                    offset = 0
                    while True:
                        sent = os.sendfile(dst, src, offset, _SENDFILE_BLOCK)
                        if not sent:
                            return
                        offset += sent
                except OSError as exc:
                    if offset or exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
                        raise
            while True:
                block = os.read(src, _SENDFILE_BLOCK)
                if not block:
                    return
                view = memoryview(block)
                while view:
                    view = view[os.write(dst, view) :]
        finally:
            os.close(dst)
    finally:
        os.close(src)


def replace_with(target_dir: str, name: str, fill: Callable[[str], None], tmp: str) -> str:
    """Write a file with ``fill(tmp_path)`` and rename it to ``target_dir/name``."""
    tmp_path = os.path.join(target_dir, tmp)
    target = os.path.join(target_dir, name)
    try:
        fill(tmp_path)
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_path)
        raise
    return target


def inside(real: str, real_root: str) -> bool:
    """Whether the resolved path ``real`` is ``real_root`` or lies below it."""
    real_c, root_c = os.path.normcase(real), os.path.normcase(real_root)
    prefix = root_c if root_c.endswith(os.sep) else root_c + os.sep
    return real_c == root_c or real_c.startswith(prefix)


def is_hostile(name: str) -> bool:
    """Whether a name from a listing tries to leave its directory (not merely an odd name)."""
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        return True
    if re.match(r"^[A-Za-z]:", name):
        return True
    return any(seg in ("", ".", "..") for seg in name.split("/"))


def destination(dst_path: str | None) -> str:
    """Resolve the download directory (a new temporary one when None); MLflow's error codes."""
    if dst_path is None:
        dst_path = tempfile.mkdtemp(prefix="trackyard-download-")
    return download_destination(dst_path)


def subdir(dst_root: str, rel: str) -> str:
    """The local directory of the relative path ``rel`` under ``dst_root``."""
    return os.path.join(dst_root, *rel.split("/"))


def download_targets(
    dst_root: str, dst_path: str | None, files: Sequence[str], dirs: Sequence[str]
) -> dict[str, tuple[str, str]]:
    """Check and create the local directories of a download; map each file to (dir, name).

    Each distinct directory is resolved once (symbolic links followed) and must lie inside
    ``dst_root``; so must an existing file target that is a symbolic link. All checks run
    before the first directory is created.
    """

    def refuse(rel: str) -> TrackyardError:
        return TrackyardError(
            f"Refusing to download {rel!r}: it would be written outside {dst_path!r}.",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )

    wanted = {f.rpartition("/")[0] for f in files} | set(dirs)
    real_dirs: dict[str, str] = {}
    for rel in sorted(wanted):
        real = os.path.realpath(subdir(dst_root, rel)) if rel else dst_root
        if not inside(real, dst_root):
            raise refuse(rel)
        real_dirs[rel] = real
    targets: dict[str, tuple[str, str]] = {}
    for rel in files:
        parent, _, name = rel.rpartition("/")
        link = os.path.join(real_dirs[parent], name)
        if os.path.islink(link) or os.path.isdir(link):
            real = os.path.realpath(link)
            if not inside(real, dst_root) or os.path.isdir(real):
                raise refuse(rel)
        targets[rel] = (real_dirs[parent], name)
    for rel, real in real_dirs.items():
        os.makedirs(real, exist_ok=True)
        if not inside(os.path.realpath(real), dst_root):  # raced with a link
            raise refuse(rel)
    return targets
