"""Named in-process spaces: where memory stores keep their data.

A *space* holds everything one ``memory://<name>`` URI stores: tracking data and registry
data, each created on first use, guarded by one re-entrant lock. Named spaces live in a
process-wide table until :func:`reset`; ``memory://`` without a name gives an anonymous space
that belongs to the store instance that asked for it.
"""

from __future__ import annotations

import contextlib
import re
import threading
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from trackyard.errors import ErrorCode, TrackyardError

__all__ = [
    "ARTIFACT_BUCKET",
    "Space",
    "get_space",
    "parse_memory_uri",
    "reset",
    "space_names",
]

T = TypeVar("T")

#: The top folder of fsspec's memory filesystem under which memory stores keep artifacts.
ARTIFACT_BUCKET = "trackyard-memory"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")


class Space:
    """The data of one memory store name, shared by its tracking and registry stores.

    Args:
        name: the name from ``memory://<name>``, or None for an anonymous space.
    """

    def __init__(self, name: str | None) -> None:
        self.name = name
        self.key = name if name is not None else f"anonymous-{uuid.uuid4().hex}"
        self.lock = threading.RLock()
        self._parts: dict[str, Any] = {}

    def part(self, kind: str, factory: Callable[[], T]) -> T:
        """Return the ``kind`` data of this space, made by ``factory`` on first use."""
        part = self._parts.get(kind)
        if part is None:
            with self.lock:
                part = self._parts.get(kind)
                if part is None:
                    part = self._parts[kind] = factory()
        return part

    def clear(self) -> None:
        """Forget every part; the next use starts from an empty store."""
        with self.lock:
            self._parts.clear()

    @property
    def artifact_root(self) -> str:
        """The default artifact root of this space on fsspec's memory filesystem."""
        return f"memory://{ARTIFACT_BUCKET}/{self.key}"

    def __repr__(self) -> str:
        return f"Space({self.name!r})" if self.name is not None else "Space(<anonymous>)"


_spaces: dict[str, Space] = {}
_spaces_lock = threading.Lock()


def parse_memory_uri(uri: str | None) -> str | None:
    """Return the space name of ``memory://<name>``, or None for ``memory://`` (anonymous).

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE when the URI is not a ``memory:`` URI or the
            name is not 1-128 characters of letters, digits, ``.``, ``_`` and ``-`` starting
            with a letter or digit.
    """
    if uri is None:
        return None
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme.lower() != "memory":
        raise TrackyardError(
            f"Not a memory store URI: {uri!r} (expected memory://<name>)",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    if parts.query or parts.fragment:
        raise TrackyardError(
            f"Invalid memory store URI {uri!r}: it takes no query or fragment",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    name = (parts.netloc + parts.path).strip("/")
    if not name:
        return None
    if not _NAME_RE.match(name):
        raise TrackyardError(
            f"Invalid memory store name {name!r} in {uri!r}: use 1-128 letters, digits, '.', "
            "'_' and '-', starting with a letter or digit",
            ErrorCode.INVALID_PARAMETER_VALUE,
        )
    return name


def get_space(name: str | None) -> Space:
    """Return the process-wide space called ``name``, or a new anonymous one for None."""
    if name is None:
        return Space(None)
    with _spaces_lock:
        space = _spaces.get(name)
        if space is None:
            space = _spaces[name] = Space(name)
        return space


def space_names() -> list[str]:
    """The names of the named spaces in this process, sorted."""
    with _spaces_lock:
        return sorted(_spaces)


def reset(name: str) -> bool:
    """Forget everything stored under ``memory://<name>`` in this process.

    Tracking and registry data are cleared in place (store instances that already use the
    name see an empty store, with a fresh Default experiment), and the artifacts under the
    space's default artifact root on fsspec's memory filesystem are deleted.

    Args:
        name: the space name (``"team"`` for ``memory://team``), or a full ``memory://`` URI.

    Returns:
        True when the space existed.
    """
    if "://" in name or name.startswith("memory:"):
        parsed = parse_memory_uri(name)
        if parsed is None:
            return False
        name = parsed
    with _spaces_lock:
        # The space object stays in the table: store instances that hold it and stores made
        # later must keep sharing one object.
        space = _spaces.get(name)
    if space is None:
        return False
    space.clear()
    delete_artifacts(space)
    return True


def delete_artifacts(space: Space) -> None:
    """Delete the space's default artifact root from fsspec's memory filesystem, if present."""
    import fsspec  # type: ignore[import-untyped]

    fs = fsspec.filesystem("memory")
    root = f"/{ARTIFACT_BUCKET}/{space.key}"
    with contextlib.suppress(FileNotFoundError):
        if fs.exists(root):
            fs.rm(root, recursive=True)
