"""The durable, per-secondary write queue: journal, high-water mark, id map, rejects.

One directory per secondary target (``<queue>/<key>/``, the key derived from the primary's and
the secondary's URIs) holds:

``journal.log``
    Append-only. One line per queued write: 8 hex digits of the CRC-32 of the JSON text, a
    space, then ``{"seq": N, "op": "...", "args": {...}}``. Sequence numbers increase by one.
    Every append is flushed and ``fsync``-ed before the write call returns. A last line
    without its newline is a torn append (the process died mid-write) and is cut off by the
    next append; a bad line anywhere else stops replay with ``DATA_LOSS``.
``state.json``
    ``{"hwm": N}``: every record with ``seq <= N`` has been applied to the secondary. Replaced
    atomically (write to a temporary file, ``fsync``, rename, ``fsync`` the directory).
``ids.log``
    Append-only, same line format: ``{"k": "e"|"r", "p": primary id, "s": secondary id}``,
    which experiment / run of the secondary stands for which of the primary.
``rejected.log``
    Records the secondary refused while it was reachable (a logical error, e.g. a name that
    is taken there), with the error: kept for an operator, never replayed.
``lock``
    Taken with ``flock`` around every operation, so several processes may share a queue
    directory (POSIX only; elsewhere only threads of one process are excluded).

When every journaled record is applied, the journal is deleted: an absent journal means "no
backlog", which is what the fast path of every write checks.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.stores import now_ms

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["HAS_PROCESS_LOCKS", "IdMap", "Record", "SecondaryQueue", "TornRecordError"]

HAS_PROCESS_LOCKS = fcntl is not None

JOURNAL = "journal.log"
STATE = "state.json"
IDS = "ids.log"
REJECTED = "rejected.log"
LOCK = "lock"
TARGET = "target.json"


class TornRecordError(TrackyardError):
    """A journal line other than the last one is damaged."""

    def __init__(self, path: str, offset: int, detail: str) -> None:
        super().__init__(
            f"The tee journal {path!r} is damaged at byte {offset}: {detail}. Replay stops "
            "here; move the file aside and inspect it.",
            ErrorCode.DATA_LOSS,
        )


@dataclass(frozen=True)
class Record:
    """One queued write: its sequence number, operation name and JSON arguments."""

    seq: int
    op: str
    args: dict[str, Any]


def _encode_line(payload: dict[str, Any]) -> bytes:
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=True)
    data = text.encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(data), data)


def _decode_line(line: bytes) -> dict[str, Any] | None:
    """Parse one complete line (with its newline); None if it is damaged."""
    if len(line) < 10 or line[8:9] != b" " or not line.endswith(b"\n"):
        return None
    data = line[9:-1]
    try:
        if int(line[:8], 16) != zlib.crc32(data):
            return None
        payload = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def _fsync_dir(path: str) -> None:
    if os.name != "posix":  # pragma: no cover - directories cannot be opened elsewhere
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _append(path: str, line: bytes, good_end: int | None) -> int:
    """Append ``line`` durably; cut a torn tail at ``good_end`` first. Return the new end."""
    created = not os.path.exists(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        end = os.lseek(fd, 0, os.SEEK_END)
        if good_end is not None and end > good_end:
            os.ftruncate(fd, good_end)
            end = good_end
        os.lseek(fd, end, os.SEEK_SET)
        view = memoryview(line)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_dir(os.path.dirname(path))
    return end + len(line)


class _LogFile:
    """Incremental reader of an append-only line file (follows appends by other processes)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.inode: int | None = None
        self.good_end = 0  # end of the last complete, valid line read

    def new_payloads(self) -> Iterator[dict[str, Any]]:
        """Yield the payloads appended since the last call (all of them after a rewrite)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.inode, self.good_end = None, 0
            return
        if st.st_ino != self.inode or st.st_size < self.good_end:
            self.inode, self.good_end = st.st_ino, 0
            yield {"__reset__": True}
        if st.st_size == self.good_end:
            return
        with open(self.path, "rb") as fh:
            fh.seek(self.good_end)
            while True:
                line = fh.readline()
                if not line:
                    return
                payload = _decode_line(line)
                if payload is None:
                    if not line.endswith(b"\n") or not fh.read(1):
                        return  # a torn last line: ignored, cut off by the next append
                    raise TornRecordError(self.path, self.good_end, "bad checksum or JSON")
                self.good_end += len(line)
                yield payload

    def append(self, payload: dict[str, Any]) -> None:
        """Append one payload durably (cutting a torn tail first)."""
        list(self.new_payloads())  # bring good_end up to date
        self.good_end = _append(self.path, _encode_line(payload), self.good_end)
        self.inode = os.stat(self.path).st_ino


class IdMap:
    """Which secondary experiment / run stands for which primary one, persisted in ``ids.log``."""

    def __init__(self, path: str) -> None:
        self._file = _LogFile(path)
        self._ids: dict[tuple[str, str], str] = {}

    def refresh(self) -> None:
        """Read entries other processes appended."""
        for payload in self._file.new_payloads():
            if payload.get("__reset__"):
                self._ids.clear()
                continue
            kind, primary, secondary = payload.get("k"), payload.get("p"), payload.get("s")
            if isinstance(kind, str) and isinstance(primary, str) and isinstance(secondary, str):
                self._ids[(kind, primary)] = secondary

    def get(self, kind: str, primary_id: str) -> str | None:
        """The secondary id of ``primary_id`` (``kind`` ``"e"`` or ``"r"``), or None."""
        found = self._ids.get((kind, primary_id))
        if found is None:
            self.refresh()
            found = self._ids.get((kind, primary_id))
        return found

    def add(self, kind: str, primary_id: str, secondary_id: str) -> None:
        """Record a pair durably."""
        if self._ids.get((kind, primary_id)) == secondary_id:
            return
        self._file.append({"k": kind, "p": primary_id, "s": secondary_id})
        self._ids[(kind, primary_id)] = secondary_id

    def __len__(self) -> int:
        return len(self._ids)


class SecondaryQueue:
    """The queue directory of one secondary target.

    Every public method except :meth:`locked` must be called while holding :meth:`locked`.

    Args:
        directory: the directory (created if missing).
        description: what to write into ``target.json`` (the masked URIs), for humans.
    """

    def __init__(self, directory: str, description: dict[str, Any]) -> None:
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        target = os.path.join(directory, TARGET)
        if not os.path.exists(target):
            self._write_atomic(target, description)
        self._thread_lock = threading.RLock()
        self._journal = _LogFile(os.path.join(directory, JOURNAL))
        self._last_seq = 0
        self.hwm = 0
        self.ids = IdMap(os.path.join(directory, IDS))

    # -- locking ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold this queue against other threads and (on POSIX) other processes."""
        with self._thread_lock:
            if fcntl is None:  # pragma: no cover - Windows
                yield
                return
            fd = os.open(os.path.join(self.directory, LOCK), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing releases the lock

    # -- state -----------------------------------------------------------------------------
    def has_backlog(self) -> bool:
        """Whether a journal exists (the fast check: a drained journal is deleted)."""
        return os.path.exists(self._journal.path)

    def refresh(self) -> None:
        """Re-read the high-water mark and any records appended since the last look."""
        self.hwm = self._read_state().get("hwm", 0)
        for payload in self._journal.new_payloads():
            if payload.get("__reset__"):
                self._last_seq = 0
                continue
            seq = payload.get("seq")
            if isinstance(seq, int):
                self._last_seq = max(self._last_seq, seq)
        self._last_seq = max(self._last_seq, self.hwm)

    @property
    def last_seq(self) -> int:
        """The highest sequence number queued so far (after :meth:`refresh`)."""
        return self._last_seq

    def pending_count(self) -> int:
        """How many journaled records are not applied yet (damaged ones included)."""
        self.hwm = self._read_state().get("hwm", 0)
        count = 0
        try:
            with open(self._journal.path, "rb") as fh:
                for line in fh:
                    if not line.endswith(b"\n"):
                        break  # a torn last line: that write never completed
                    payload = _decode_line(line)
                    seq = payload.get("seq") if payload is not None else None
                    if not isinstance(seq, int) or seq > self.hwm:
                        count += 1
        except FileNotFoundError:
            return 0
        return count

    def _read_state(self) -> dict[str, Any]:
        path = os.path.join(self.directory, STATE)
        try:
            with open(path, encoding="utf-8") as fh:
                state = json.load(fh)
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise TrackyardError(
                f"The tee queue state {path!r} is unreadable: {exc}", ErrorCode.DATA_LOSS
            ) from exc
        return state if isinstance(state, dict) else {}

    def _write_atomic(self, path: str, payload: dict[str, Any]) -> None:
        tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.directory)

    # -- journal ---------------------------------------------------------------------------
    def append(self, op: str, args: dict[str, Any]) -> Record:
        """Queue one write durably and return its record."""
        self.refresh()
        record = Record(self._last_seq + 1, op, args)
        self._journal.append({"seq": record.seq, "op": record.op, "args": record.args})
        self._last_seq = record.seq
        return record

    def pending(self) -> Iterator[Record]:
        """Yield the records after the high-water mark, in order (reads the file as it goes)."""
        path = self._journal.path
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed below; the generator may stop early
        except FileNotFoundError:
            return
        with fh:
            offset = 0
            while True:
                line = fh.readline()
                if not line:
                    return
                payload = _decode_line(line)
                if payload is None:
                    if not line.endswith(b"\n") or not fh.read(1):
                        return  # torn last line: that write never completed
                    raise TornRecordError(path, offset, "bad checksum or JSON")
                offset += len(line)
                seq, op, args = payload.get("seq"), payload.get("op"), payload.get("args")
                if (
                    not isinstance(seq, int)
                    or not isinstance(op, str)
                    or not isinstance(args, dict)
                ):
                    raise TornRecordError(path, offset, "not a journal record")
                if seq > self.hwm:
                    yield Record(seq, op, args)

    def commit(self, seq: int) -> None:
        """Persist the high-water mark: every record up to ``seq`` is applied."""
        if seq <= self.hwm:
            return
        self._write_atomic(os.path.join(self.directory, STATE), {"hwm": seq})
        self.hwm = seq

    def compact(self) -> bool:
        """Delete the journal when every record in it is applied; return whether it did."""
        self.refresh()
        if self._last_seq > self.hwm or not self.has_backlog():
            return False
        os.unlink(self._journal.path)
        _fsync_dir(self.directory)
        self._journal.inode, self._journal.good_end = None, 0
        return True

    # -- rejects ---------------------------------------------------------------------------
    def reject(
        self, record: Record | None, op: str, args: dict[str, Any], error: BaseException
    ) -> None:
        """Keep a write the secondary refused, with why, in ``rejected.log``."""
        code = getattr(error, "error_code", type(error).__name__)
        payload = {
            "seq": record.seq if record is not None else None,
            "op": op,
            "args": args,
            "error_code": code,
            "error": str(error),
            "time": now_ms(),
        }
        _append(os.path.join(self.directory, REJECTED), _encode_line(payload), None)

    def rejected_count(self) -> int:
        """How many writes this secondary refused so far."""
        try:
            with open(os.path.join(self.directory, REJECTED), "rb") as fh:
                return sum(1 for line in fh if line.endswith(b"\n"))
        except FileNotFoundError:
            return 0
