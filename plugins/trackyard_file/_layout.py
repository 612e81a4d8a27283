"""The on-disk layout of the file tracking store: names, id rules and path helpers.

Shared by the store's parts (:mod:`trackyard_file.experiments`, :mod:`trackyard_file.runs`,
:mod:`trackyard_file.traces`); see :mod:`trackyard_file.tracking` for the layout itself.
"""

from __future__ import annotations

import os
import re
import stat
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from trackyard.errors import TrackyardError
from trackyard.errors import invalid_parameter as _invalid
from trackyard_file._fs import FileLock, check_contained, key_parts

__all__ = [
    "ARTIFACTS",
    "DATASETS",
    "DEFAULT_EXPERIMENT_ID",
    "DEFAULT_EXPERIMENT_NAME",
    "INPUTS",
    "LOCK_FILE",
    "META",
    "METRICS",
    "PARAMS",
    "RESERVED_EXPERIMENT_FOLDERS",
    "RESERVED_ROOT_FOLDERS",
    "SUMMARY_FILE",
    "TAGS",
    "TRASH",
    "FileLayout",
    "append_uri_path",
    "key_clash",
    "opt_int",
    "resolve_location",
]

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
TRASH = ".trash"
META = "meta.yaml"
METRICS, PARAMS, TAGS, ARTIFACTS, INPUTS, DATASETS = (
    "metrics",
    "params",
    "tags",
    "artifacts",
    "inputs",
    "datasets",
)
LOCK_FILE = ".trackyard.lock"
SUMMARY_FILE = ".trackyard-metrics.json"
#: Folders inside an experiment that are not runs (MLflow's reserved names).
RESERVED_EXPERIMENT_FOLDERS = frozenset({"tags", "datasets", "traces", "models"})
#: Folders at the root that are not experiments.
RESERVED_ROOT_FOLDERS = frozenset({TRASH, "models"})

RUN_NAME_TAG = "mlflow.runName"
ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}\Z")
EXPERIMENT_ID_RE = re.compile(r"^[a-zA-Z0-9][\w\-]{0,63}\Z")
SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+:")


def opt_int(value: Any) -> int | None:
    """``int(value)``, or None for None and ``""``."""
    if value is None or value == "":
        return None
    return int(value)


def append_uri_path(base: str, *parts: str) -> str:
    """Append path segments to a path or URI (keeping a URI's query string in place)."""
    if SCHEME_RE.match(base):
        split = urllib.parse.urlsplit(base)
        if split.query or split.fragment:
            path = "/".join([split.path.rstrip("/"), *parts])
            return urllib.parse.urlunsplit(split._replace(path=path))
    return "/".join([base.rstrip("/"), *parts])


def resolve_location(location: str) -> str:
    """Make a bare relative path absolute; leave URIs (``s3://``, ``file:``...) alone."""
    if SCHEME_RE.match(location):
        return location
    return os.path.abspath(location)


def key_clash(what: str, key: str, other: str) -> TrackyardError:
    """The error for a key that would need a file where a folder is, or the reverse."""
    return _invalid(
        f"Cannot log {what} {key!r}: the file store keeps keys as paths, and {what} {other!r} "
        "is in the way (a key cannot be both a value and a folder of other keys)."
    )


class FileLayout:
    """Finding experiment folders and turning keys into paths inside the store root."""

    if TYPE_CHECKING:
        root: str
        trash: str
        _root_real: str
        _root_lock_path: str

    def _root_lock(self, *, shared: bool = False) -> FileLock:
        return FileLock(self._root_lock_path, shared=shared)

    # -- paths -----------------------------------------------------------------------------
    def _experiment_dir(self, experiment_id: str) -> str | None:
        """The folder of an experiment (active first, then ``.trash``), or None."""
        if (
            not isinstance(experiment_id, str)
            or not EXPERIMENT_ID_RE.match(experiment_id)
            or experiment_id in RESERVED_ROOT_FOLDERS
        ):
            return None
        for parent in (self.root, self.trash):
            directory = os.path.join(parent, experiment_id)
            try:
                st = os.stat(os.path.join(directory, META), follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                continue
            if stat.S_ISREG(st.st_mode) and not os.path.islink(directory):
                return directory
        return None

    def _experiment_dirs(self) -> Iterator[tuple[str, str]]:
        """``(experiment_id, folder)`` of every experiment folder, active ones first."""
        seen: set[str] = set()
        for parent in (self.root, self.trash):
            try:
                it = os.scandir(parent)
            except FileNotFoundError:
                continue
            with it:
                for entry in it:
                    name = entry.name
                    if (
                        name in RESERVED_ROOT_FOLDERS
                        or name.startswith(".")
                        or name in seen
                        or not entry.is_dir(follow_symlinks=False)
                        or not EXPERIMENT_ID_RE.match(name)
                    ):
                        continue
                    seen.add(name)
                    yield name, entry.path

    def _key_path(self, base: str, key: str, what: str) -> str:
        """The file of ``key`` below ``base``, refusing paths that leave the store root."""
        parts = key_parts(key, what)
        path = os.path.join(base, *parts)
        check_contained(self._root_real, os.path.dirname(path))
        return path

    def _check_writable_key(
        self, base: str, key: str, what: str, planned: set[tuple[str, ...]]
    ) -> str:
        """Check that ``key`` can be written as a file below ``base``; return its path.

        Refuses symbolic links on the way, a folder where the file would go, a file where
        a folder would go (``m`` and ``m/sub`` cannot both exist), and such clashes within
        the keys of one write (``planned``).
        """
        parts = key_parts(key, what)
        for i in range(1, len(parts)):
            if parts[:i] in planned:
                raise key_clash(what, key, "/".join(parts[:i]))
        for other in planned:
            if len(other) > len(parts) and other[: len(parts)] == parts:
                raise key_clash(what, "/".join(other), key)
        planned.add(parts)
        directory = base
        for i, part in enumerate(parts):
            directory = os.path.join(directory, part)
            try:
                st = os.lstat(directory)
            except FileNotFoundError:
                break
            if stat.S_ISLNK(st.st_mode):
                raise _invalid(
                    f"Refusing to write {what} {key!r}: {directory!r} is a symbolic link."
                )
            last = i == len(parts) - 1
            if last and stat.S_ISDIR(st.st_mode):
                raise key_clash(what, f"{key}/...", key)
            if not last and not stat.S_ISDIR(st.st_mode):
                raise key_clash(what, key, "/".join(parts[: i + 1]))
        check_contained(self._root_real, os.path.dirname(os.path.join(base, *parts)))
        return os.path.join(base, *parts)
