"""The undo journal: writes to several files of one folder that succeed or fail together.

A :class:`Txn` collects operations on files below a folder (append to a metric file, create,
replace or remove a file). :meth:`Txn.apply`, called with the folder's lock held, records how
to undo each operation; when there is more than one, it saves that record (the journal) in the
folder's lock file before changing anything, applies the operations, and empties the lock file
again. If the process dies half-way, the next process that takes the lock finds a non-empty
lock file and :func:`recover` undoes what was done, so the write is all-or-nothing. If the
process dies while saving the journal, nothing was changed yet and the incomplete journal is
discarded.

Undo records: ``truncate`` a metric file back to its size before the append (a partial last
line that an earlier crash left is cut off first), ``unlink`` a file the write created,
``restore`` a file's previous bytes, ``rmdir`` a folder the write created. Paths are relative
to the folder, so a journal stays valid when the folder moves (a run whose experiment is
deleted moves into ``.trash``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from trackyard_file._fs import (
    O_BINARY,
    O_CLOEXEC,
    O_NOFOLLOW,
    pread,
    pwrite,
    read_bytes,
    read_fd,
    remove_empty_parents,
    write_all,
    write_atomic,
)

__all__ = ["META", "Txn", "missing_dirs", "recover"]

_logger = logging.getLogger("trackyard.file")

META = "meta.yaml"


class Txn:
    """Writes to one folder (a run) that are undone together if any of them fails.

    Operations are collected, then :meth:`apply` records how to undo each of them, saves
    that as a journal in the folder's lock file when there is more than one (so a process
    killed half-way can be rolled back by :func:`recover`), applies them, and empties the
    lock file again. Call it with the folder's lock held.

    Paths in the journal are relative to the folder, so it stays valid if the folder moves.

    Args:
        base: the folder.
        sync: fsync data files and the journal (``meta.yaml`` replacements follow
            ``sync_meta``).
        sync_meta: fsync ``meta.yaml`` replacements.
    """

    def __init__(self, base: str, *, sync: bool, sync_meta: bool = True) -> None:
        self.base = base
        self.sync = sync
        self.sync_meta = sync_meta
        self.ops: list[tuple[str, str, bytes]] = []
        #: for appends: path -> (size before the append, stat after it, bytes appended)
        self.appended: dict[str, tuple[int, os.stat_result, int]] = {}

    def append(self, path: str, data: bytes) -> None:
        """Append ``data`` (complete lines) to a metric file, creating it if needed."""
        self.ops.append(("append", path, data))

    def create(self, path: str, data: bytes) -> None:
        """Create a file that does not exist yet."""
        self.ops.append(("create", path, data))

    def replace(self, path: str, data: bytes) -> None:
        """Create or overwrite a file atomically."""
        self.ops.append(("replace", path, data))

    def remove(self, path: str) -> None:
        """Delete a file."""
        self.ops.append(("remove", path, b""))

    def __len__(self) -> int:
        return len(self.ops)

    def _rel(self, path: str) -> str:
        return os.path.relpath(path, self.base)

    def apply(self, lock_fd: int) -> None:
        """Apply the operations; on failure undo what was done and re-raise.

        Args:
            lock_fd: the descriptor of the folder's lock file (held), which keeps the journal.
        """
        undo: list[list[Any]] = []
        fds: dict[str, int] = {}
        made: set[str] = set()
        try:
            for kind, path, _ in self.ops:
                for directory in missing_dirs(os.path.dirname(path), self.base):
                    if directory not in made:
                        made.add(directory)
                        undo.append(["rmdir", self._rel(directory)])
                if kind == "append":
                    fd = _open_for_append(path)
                    if fd is None:
                        undo.append(["unlink", self._rel(path)])
                    else:
                        fds[path] = fd
                        undo.append(["truncate", self._rel(path), os.fstat(fd).st_size])
                elif kind == "create":
                    undo.append(["unlink", self._rel(path)])
                else:
                    try:
                        old = read_bytes(path)
                    except FileNotFoundError:
                        undo.append(["unlink", self._rel(path)])
                    else:
                        undo.append(["restore", self._rel(path), old.decode("latin-1")])
            journaled = len(self.ops) > 1
            if journaled:
                payload = json.dumps({"format": 1, "undo": undo}).encode("utf-8") + b"\n"
                pwrite(lock_fd, payload, 0)
                os.ftruncate(lock_fd, len(payload))
                if self.sync:
                    os.fsync(lock_fd)
            try:
                self._apply(fds)
            except BaseException:
                _undo(self.base, undo)
                if journaled:
                    with suppress(OSError):
                        os.ftruncate(lock_fd, 0)
                raise
            if journaled:
                os.ftruncate(lock_fd, 0)
        finally:
            for fd in fds.values():
                os.close(fd)

    def _apply(self, fds: dict[str, int]) -> None:
        for kind, path, data in self.ops:
            directory = os.path.dirname(path)
            if not os.path.isdir(directory):
                os.makedirs(directory, exist_ok=True)
            if kind == "append":
                fd = fds.get(path)
                if fd is None:
                    write_atomic(path, data, tmp_dir=self.base, sync=self.sync)
                    self.appended[path] = (0, os.stat(path, follow_symlinks=False), len(data))
                else:
                    before = os.fstat(fd).st_size
                    write_all(fd, data)
                    if self.sync:
                        os.fsync(fd)
                    self.appended[path] = (before, os.fstat(fd), len(data))
            elif kind == "remove":
                os.unlink(path)
                remove_empty_parents(path, self.base)
            else:
                sync = self.sync_meta if os.path.basename(path) == META else self.sync
                write_atomic(path, data, tmp_dir=self.base, sync=sync)


def missing_dirs(directory: str, base: str) -> list[str]:
    """The folders between ``base`` and ``directory`` that do not exist, outermost first."""
    missing = []
    while directory != base and not os.path.isdir(directory):
        missing.append(directory)
        directory = os.path.dirname(directory)
    return missing[::-1]


def _open_for_append(path: str) -> int | None:
    """Open an existing metric file for appending, cutting off a partial last line.

    Returns:
        The descriptor, or None if the file does not exist.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_BINARY)
    except FileNotFoundError:
        return None
    try:
        size = os.fstat(fd).st_size
        if size and pread(fd, 1, size - 1) != b"\n":
            keep = _last_line_end(fd, size)
            _logger.warning(
                "Cutting off a partial line at the end of %s (%d bytes, left by an interrupted "
                "write)",
                path,
                size - keep,
            )
            os.ftruncate(fd, keep)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _last_line_end(fd: int, size: int) -> int:
    """Offset just after the last newline of the file (0 if it has none)."""
    end = size
    while end > 0:
        start = max(0, end - 65536)
        chunk = pread(fd, end - start, start)
        pos = chunk.rfind(b"\n")
        if pos >= 0:
            return start + pos + 1
        end = start
    return 0


def _undo(base: str, undo: Sequence[Sequence[Any]]) -> None:
    """Apply undo records in reverse order (best effort: every record is attempted)."""
    for record in reversed(undo):
        kind, rel = record[0], record[1]
        path = os.path.join(base, rel)
        try:
            if kind == "truncate":
                fd = os.open(path, os.O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
                try:
                    if os.fstat(fd).st_size > record[2]:
                        os.ftruncate(fd, record[2])
                finally:
                    os.close(fd)
            elif kind == "unlink":
                os.unlink(path)
            elif kind == "restore":
                write_atomic(path, record[2].encode("latin-1"), tmp_dir=base)
            elif kind == "rmdir":
                os.rmdir(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            _logger.warning("Could not undo %s of %s: %s", kind, path, exc)


def recover(base: str, lock_fd: int) -> bool:
    """Roll back the write a dead process left half-done in ``base``.

    Args:
        base: the folder.
        lock_fd: its lock file's descriptor, with the lock held; a non-empty lock file is the
            journal of an interrupted write.

    Returns:
        True when a journal was found and rolled back.
    """
    if os.fstat(lock_fd).st_size == 0:
        return False
    data = read_fd(lock_fd)
    try:
        undo = json.loads(data)["undo"]
    except (ValueError, KeyError, TypeError):
        # The writer died while saving the journal, before it changed anything else.
        _logger.warning("Discarding an incomplete journal in %s", base)
        os.ftruncate(lock_fd, 0)
        return False
    _logger.warning("Rolling back an interrupted write in %s", base)
    _undo(base, undo)
    os.ftruncate(lock_fd, 0)
    # Temporary files the dead writer left (never visible as keys, but clutter).
    with suppress(OSError), os.scandir(base) as it:
        for entry in it:
            if entry.name.startswith(".trackyard-") and entry.name.endswith(".tmp"):
                with suppress(OSError):
                    os.unlink(entry.path)
    return True
