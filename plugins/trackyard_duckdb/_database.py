"""One open DuckDB database per process, shared by every store on it.

DuckDB's rules, and what this module makes of them:

- **One process per file.** A process that opens a database file holds an OS lock on it;
  another process cannot open it at all (not even to read). A store that meets such a lock
  raises :class:`~trackyard.TrackyardError` (``RESOURCE_CONFLICT``) naming the process that
  holds the file and what to do instead; nothing is written and no DuckDB exception escapes.
- **Threads share one database.** The tracking and registry stores of one URI, and every
  client in the process, share one :class:`Database`: one DuckDB connection, with a cursor
  (DuckDB's per-thread connection) for each thread. Reads run in parallel, each in its own
  snapshot transaction; writes are serialized by a per-database lock and are one
  transaction each.
- **Forks.** A child process must not use a database its parent opened (the parent's file
  lock and buffers are not the child's). A store used after ``fork`` raises the same
  "held by another process" error, naming the parent.
- **Long-running processes.** DuckDB keeps some state per statement it plans (joins above
  all) and per chunk it writes, for as long as the database instance lives: a process that
  logs for hours grows by a kilobyte or two per write. After
  ``TRACKYARD_DUCKDB_RECYCLE_WRITES`` write transactions (default 2,000; ``0`` turns it off)
  a file database is closed and opened again at the next moment no thread is using it,
  which gives that memory back (see :func:`recycle_interval`). In-memory databases are
  never recycled: closing one would drop its data.
- **Read-only opens** (inside :func:`trackyard.stores.read_only_opens`, as ``trackyard doctor
  --read-only`` opens stores): a file is opened with DuckDB's ``read_only=True`` (which other
  read-only processes may share), its schema is checked and never created or migrated (see
  :func:`trackyard_duckdb.schema.check_schema`), and writes raise INVALID_STATE. A file that
  does not exist, or an in-memory database this process has not opened, is reported absent.
  DuckDB opens a file once per process with one configuration, so when this process already
  has the database open, a read-only open shares that (opening it again writes nothing).
- **In-memory databases.** ``duckdb:///:memory:`` is one database per process, shared by every
  store and client that uses that URI (``duckdb:///:memory:<name>`` gives separate named
  ones); it lives while a store on it is open.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.stores import read_only_open

__all__ = [
    "FSYNC_ENV",
    "RECYCLE_ENV",
    "Database",
    "fsync_policy",
    "open_database",
    "parse_location",
    "recycle_interval",
]

T = TypeVar("T")

MEMORY = ":memory:"

# A DuckDB lock conflict: 'Conflicting lock is held in /usr/bin/python3 (PID 20524)'.
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.*?) \(PID (?P<pid>\d+)\)")

#: Environment variable choosing when DuckDB calls fsync: ``commit`` (default: every commit's
#: write-ahead log entry, and checkpoints) or ``none`` (never; see :func:`fsync_policy`).
FSYNC_ENV = "TRACKYARD_DUCKDB_FSYNC"

#: Environment variable: write transactions after which an idle file database is reopened.
RECYCLE_ENV = "TRACKYARD_DUCKDB_RECYCLE_WRITES"
_RECYCLE_DEFAULT = 2_000
# How long a reopen keeps trying when another process takes the file in between.
_REOPEN_PATIENCE = 2.0

_log = logging.getLogger(__name__)

_databases: dict[str, Database] = {}
_registry_lock = threading.Lock()

_MULTI_PROCESS_HINT = (
    "DuckDB lets one process open a database file at a time. To log from several "
    "processes, use the SQL store (sqlite:///... on one machine, postgresql://... across "
    "machines), which serves several writers, or serve this database from one process "
    "through a trackyard tracking server (``trackyard server``, then http:// URIs)."
)


def parse_location(store_uri: str) -> str:
    """The database a ``duckdb://`` URI names: an absolute file path or ``:memory:[name]``.

    ``duckdb:///relative.duckdb`` is relative to the working directory,
    ``duckdb:////abs/path.duckdb`` is absolute, ``duckdb:///:memory:`` (or ``duckdb://``) is
    the process's in-memory database.

    Raises:
        TrackyardError: INVALID_PARAMETER_VALUE for another scheme, a host or a query.
    """
    parts = urllib.parse.urlsplit(store_uri)
    if parts.scheme.lower() != "duckdb":
        raise TrackyardError.invalid_parameter_value(
            f"Not a DuckDB store URI: {store_uri!r} (expected duckdb:///path.duckdb or "
            "duckdb:///:memory:)."
        )
    if parts.netloc or parts.query or parts.fragment:
        raise TrackyardError.invalid_parameter_value(
            f"Invalid DuckDB store URI {store_uri!r}: use duckdb:///relative/path.duckdb, "
            "duckdb:////absolute/path.duckdb or duckdb:///:memory: (no host, no query)."
        )
    path = urllib.parse.unquote(parts.path)
    if path.startswith("/"):
        path = path[1:]
    if path in ("", MEMORY):
        return MEMORY
    if path.startswith(MEMORY):
        return path
    return os.path.abspath(path)


def fsync_policy() -> str:
    """The fsync policy from ``TRACKYARD_DUCKDB_FSYNC``: ``commit`` (default) or ``none``.

    ``commit`` keeps DuckDB's own behaviour: each commit is on disk when the call returns.
    ``none`` sets DuckDB's ``fsync_mode`` to ``NONE``: a commit costs no disk flush (on a busy
    disk a flush takes milliseconds, more than the rest of a small write), nothing is lost
    when the *process* dies, but a power cut or operating-system crash can lose recent
    commits or corrupt the file. Any other value means ``commit``.
    """
    value = os.environ.get(FSYNC_ENV, "commit").strip().lower()
    return "none" if value == "none" else "commit"


def recycle_interval() -> int:
    """Write transactions between reopens of a file database (``TRACKYARD_DUCKDB_RECYCLE_WRITES``).

    A long-lived DuckDB instance holds on to memory for the joins it has planned and the
    chunks it has written (measured in ``docs/reliability.md``), so a process that logs for
    hours grows slowly. Closing the instance and opening the file again gives it back; the
    store does so after this many write transactions, at the first moment no thread is
    inside a read or a write (a reopen takes a few milliseconds and checkpoints the
    write-ahead log). ``0`` or a negative number turns it off; a value that is not an
    integer means the default (2,000).
    """
    text = os.environ.get(RECYCLE_ENV, "").strip()
    if not text:
        return _RECYCLE_DEFAULT
    try:
        value = int(text)
    except ValueError:
        return _RECYCLE_DEFAULT
    return max(value, 0)


def open_database(location: str) -> Database:
    """The process's :class:`Database` for ``location``, opened if needed (reference-counted).

    Inside :func:`trackyard.stores.read_only_opens`, a database this process has open already
    is shared as it is; otherwise it is opened read-only (see the module docstring).
    """
    read_only = read_only_open() is not None
    with _registry_lock:
        for key in (location, f"{location} (read-only)") if read_only else (location,):
            db = _databases.get(key)
            if db is not None and db.pid == os.getpid() and not db.closed:
                db.refs += 1
                return db
        db = Database(location, read_only=read_only)
        _databases[db.key] = db
        return db


def _holder_description(pid: int, program: str) -> str:
    """``PID 123, python train.py``: the command line when the OS tells it."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
        if argv:
            program = " ".join(argv)
    except OSError:
        pass
    if len(program) > 200:
        program = program[:197] + "..."
    return f"PID {pid}, {program}" if program else f"PID {pid}"


def held_by_other_process(where: str, pid: int, program: str = "") -> TrackyardError:
    """The error for a database file that another process holds."""
    return TrackyardError(
        f"The DuckDB database {where} is in use by another process "
        f"({_holder_description(pid, program)}); nothing was read or written. "
        + _MULTI_PROCESS_HINT,
        ErrorCode.RESOURCE_CONFLICT,
    )


def translate(exc: BaseException, where: str) -> TrackyardError:
    """A :class:`TrackyardError` for a DuckDB exception, never the raw exception."""
    text = str(exc)
    holder = _LOCK_HOLDER.search(text)
    if holder is not None:
        return held_by_other_process(where, int(holder.group("pid")), holder.group("program"))
    if "not a valid DuckDB database file" in text:
        return TrackyardError.invalid_parameter_value(
            f"{where} is not a DuckDB database file; point the duckdb:// URI at a DuckDB "
            "database that trackyard created, or at a path where it may create one."
        )
    if "database file with version number" in text or "newer version of DuckDB" in text:
        return TrackyardError(
            f"The DuckDB database {where} was written by another version of DuckDB than the "
            f"one installed: {text}",
            ErrorCode.INVALID_STATE,
        )
    return TrackyardError(f"DuckDB error on {where}: {text}", ErrorCode.INTERNAL_ERROR)


class Database:
    """One DuckDB database opened by this process.

    Use :func:`open_database`, not the constructor, so stores on one URI share it.

    Attributes:
        location: the absolute file path, or ``:memory:[name]``.
        where: how errors name the database.
        pid: the process that opened it.
        read_only: opened read-only (see the module docstring): writes raise INVALID_STATE.
        key: its key among the process's open databases.
    """

    def __init__(self, location: str, *, read_only: bool = False) -> None:
        import duckdb

        from trackyard_duckdb.schema import check_schema, ensure_schema

        self.location = location
        self.where = "(in memory)" if location.startswith(MEMORY) else repr(location)
        self.read_only = read_only
        self.key = f"{location} (read-only)" if read_only else location
        self.pid = os.getpid()
        self.refs = 1
        self.closed = False
        self.write_lock = threading.RLock()
        self._duckdb_error: type[Exception] = duckdb.Error
        self._cursors: dict[int, Any] = {}
        self._cursor_lock = threading.Lock()
        self._counters: dict[str, int] = {}
        self._pending: list[Callable[[], object]] | None = None
        #: What writers remember between transactions (see :meth:`after_commit`). It stays
        #: true because this process is the only one that can write the database.
        self.memo: dict[str, Any] = {}
        # Recycling (see recycle_interval): threads inside read()/write(), writes since
        # the last open, and whether a reopen is under way (newcomers wait for it).
        self._gate = threading.Condition(threading.Lock())
        self._active = 0
        self._writes = 0
        self._recycling = False
        self._recycle_after = 0 if location.startswith(MEMORY) else recycle_interval()
        #: How many times this database was closed and opened again.
        self.reopens = 0
        self._lost: TrackyardError | None = None
        if not location.startswith(MEMORY):
            if os.path.isdir(location):
                raise TrackyardError.invalid_parameter_value(
                    f"{self.where} is a directory; a duckdb:// URI names a database file."
                )
            parent = os.path.dirname(location)
            if parent and not os.path.isdir(parent):
                raise TrackyardError.invalid_parameter_value(
                    f"Cannot create the DuckDB database {self.where}: the directory "
                    f"{parent!r} does not exist."
                )
        request = read_only_open() if read_only else None
        if request is not None and (location.startswith(MEMORY) or not os.path.exists(location)):
            raise request.absent(
                f"the DuckDB database {self.where} does not exist; a normal open creates it"
                if not location.startswith(MEMORY)
                else f"the in-memory DuckDB database {location!r} is not open in this process "
                "(it is empty in every new process); a normal open creates it"
            )
        self._con = self._connect()
        try:
            if request is not None:
                check_schema(self._con, self.where, request)
            else:
                ensure_schema(self._con, self.where)
        except duckdb.Error as exc:
            self._con.close()
            raise translate(exc, self.where) from None
        except BaseException:
            self._con.close()
            raise

    def _connect(self) -> Any:
        """A new DuckDB connection (and instance) on :attr:`location`, with our settings."""
        import duckdb

        try:
            con = duckdb.connect(self.location, read_only=self.read_only)
        except duckdb.Error as exc:
            raise translate(exc, self.where) from None
        try:
            # Read one series' history through the index however long it is, instead of
            # scanning every series once a history passes DuckDB's default of 2,048 rows.
            con.execute("SET GLOBAL index_scan_max_count = 1000000000000")
            writable = not self.read_only and not self.location.startswith(MEMORY)
            if fsync_policy() == "none" and writable:
                con.execute("SET GLOBAL fsync_mode = 'none'")
        except duckdb.Error as exc:
            con.close()
            raise translate(exc, self.where) from None
        return con

    # -- connections ----------------------------------------------------------------------
    def _check_process(self) -> None:
        if self._lost is not None:
            raise self._lost
        if self.closed:
            raise TrackyardError(
                f"The DuckDB store on {self.where} is closed.", ErrorCode.INVALID_STATE
            )
        if os.getpid() != self.pid:
            raise TrackyardError(
                f"This process (PID {os.getpid()}) was forked from PID {self.pid}, which has "
                f"the DuckDB database {self.where} open; a forked child cannot use it. Open "
                "the store in one process only. " + _MULTI_PROCESS_HINT,
                ErrorCode.RESOURCE_CONFLICT,
            )

    def cursor(self) -> Any:
        """This thread's DuckDB cursor (created on first use)."""
        self._check_process()
        ident = threading.get_ident()
        cur = self._cursors.get(ident)
        if cur is not None:
            return cur
        with self._cursor_lock:
            alive = {t.ident for t in threading.enumerate()}
            for gone in [i for i in self._cursors if i not in alive]:
                self._cursors.pop(gone).close()
            cur = self._con.cursor()
            self._cursors[ident] = cur
            return cur

    # -- transactions ---------------------------------------------------------------------
    def read(self, fn: Callable[[Any], T], *, snapshot: bool = True) -> T:
        """Run ``fn(cursor)`` in one read transaction (a consistent snapshot).

        ``snapshot=False`` is for ``fn`` that run a single statement (a statement is its
        own snapshot): it saves the BEGIN and ROLLBACK round trips.
        """
        self._enter()
        try:
            cur = self.cursor()
            if not snapshot:
                return fn(cur)
            cur.execute("BEGIN TRANSACTION")
            try:
                result = fn(cur)
            finally:
                cur.execute("ROLLBACK")
        except self._duckdb_error as exc:
            raise translate(exc, self.where) from None
        finally:
            self._leave(wrote=False)
        return result

    def write(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(cursor)`` in one write transaction: all of it is written, or nothing.

        Callbacks that ``fn`` registers with :meth:`after_commit` run once the transaction
        has committed (and never if it did not).
        """
        if self.read_only:
            raise TrackyardError(
                f"The DuckDB database {self.where} was opened read-only; nothing is written.",
                ErrorCode.INVALID_STATE,
            )
        self._enter()
        try:
            cur = self.cursor()
            with self.write_lock:
                self._pending = []
                try:
                    cur.execute("BEGIN TRANSACTION")
                    try:
                        result = fn(cur)
                    except BaseException:
                        cur.execute("ROLLBACK")
                        raise
                    cur.execute("COMMIT")
                except self._duckdb_error as exc:
                    raise translate(exc, self.where) from None
                finally:
                    pending, self._pending = self._pending, None
                for callback in pending:
                    callback()
        finally:
            self._leave(wrote=True)
        return result

    # -- recycling ------------------------------------------------------------------------
    def _enter(self) -> None:
        with self._gate:
            while self._recycling:
                self._gate.wait()
            self._active += 1

    def _leave(self, *, wrote: bool) -> None:
        with self._gate:
            self._active -= 1
            if wrote:
                self._writes += 1
            due = (
                self._recycle_after > 0
                and self._writes >= self._recycle_after
                and self._active == 0  # also false while this thread is inside an outer call
                and not self._recycling
                and not self.closed
                and os.getpid() == self.pid
            )
            if not due:
                return
            self._recycling = True
        try:
            self._reopen()
        finally:
            with self._gate:
                self._recycling = False
                self._gate.notify_all()

    def _reopen(self) -> None:
        """Close the DuckDB instance and open the file again (see :func:`recycle_interval`).

        Run by the last thread to leave a read or write once the write count is due, while
        newcomers wait, so no cursor is in use: every thread's cursor is closed and threads
        get new ones on their next call. The write that triggered it has committed already,
        so this never raises: if the file cannot be opened again (another process took it
        in the moment it was free, after two seconds of retries), the error is logged and
        every later call on this database raises it.
        """
        import time

        import duckdb

        with self._cursor_lock:
            cursors = list(self._cursors.values())
            self._cursors.clear()
        try:
            for cur in cursors:
                cur.close()
            self._con.close()
        except duckdb.Error as exc:
            self._lose(translate(exc, self.where))
            return
        deadline = time.monotonic() + _REOPEN_PATIENCE
        while True:
            try:
                self._con = self._connect()
                break
            except TrackyardError as exc:
                if time.monotonic() >= deadline:
                    self._lose(exc)
                    return
                time.sleep(0.05)
        self._writes = 0
        self.reopens += 1

    def _lose(self, error: TrackyardError) -> None:
        _log.error("DuckDB database %s could not be reopened: %s", self.where, error.message)
        self._lost = error
        with _registry_lock:
            self.closed = True
            if _databases.get(self.key) is self:
                del _databases[self.key]

    def after_commit(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` when the current write transaction commits (e.g. to update
        :attr:`memo`; its result is ignored); it is dropped if the transaction fails."""
        if self._pending is None:
            raise RuntimeError("after_commit() outside a write transaction")
        self._pending.append(callback)

    def next_key(self, cur: Any, table: str, column: str) -> int:
        """The next value of an integer key column (the caller holds :attr:`write_lock`).

        Keys come from a counter read from the table once; a rolled-back transaction
        leaves a gap, never a duplicate.
        """
        name = f"{table}.{column}"
        value = self._counters.get(name)
        if value is None:
            cur.execute(f"SELECT coalesce(max({column}), 0) FROM {table}")
            value = int(cur.fetchone()[0])
        value += 1
        self._counters[name] = value
        return value

    def reserve_keys(self, cur: Any, table: str, column: str, count: int) -> int:
        """Reserve ``count`` consecutive keys and return the first (caller holds the lock)."""
        first = self.next_key(cur, table, column)
        self._counters[f"{table}.{column}"] = first + count - 1
        return first

    # -- lifetime -------------------------------------------------------------------------
    def release(self) -> None:
        """Drop one reference; the last one closes the database."""
        with self._gate:  # not while a reopen is under way; none starts once closed is set
            while self._recycling:
                self._gate.wait()
            with _registry_lock:
                self.refs -= 1
                if self.refs > 0 or self.closed:
                    return
                self.closed = True
                if _databases.get(self.key) is self:
                    del _databases[self.key]
        if os.getpid() != self.pid:
            return  # a forked child never touches its parent's connection
        with self._cursor_lock:
            cursors = list(self._cursors.values())
            self._cursors.clear()
        for cur in cursors:
            cur.close()
        self._con.close()
