"""One SQL database, shared by every store that uses it: engine, transactions, retries, errors.

- **One object per database and process.** :meth:`Database.open` returns the process-wide
  :class:`Database` of a URL (the tracking and registry stores of one database share its
  engine and connection pool) and counts its users; the last :meth:`Database.close` disposes
  of the pool. An in-memory SQLite database lives as long as a store using it is open.
- **SQLAlchemy supplies the engine** (URL parsing, driver loading, pool) and DDL; statements
  are hand-written SQL sent through the DB-API cursor (:mod:`trackyard_sql.dialect` has the
  per-dialect text), because that is where the time goes on hot paths.
- **Every operation is one transaction** (:meth:`Database.read`, :meth:`Database.write`).
  Writes and reads retry a few times on deadlocks, serialization failures and SQLite's
  "database is locked"; what still fails becomes a :class:`~trackyard.errors.TrackyardError`
  (:meth:`Database.translate`), in plain words for connection problems.
- **SQLite** runs in WAL mode with ``synchronous=NORMAL`` and a 30 s busy timeout, and write
  transactions start with ``BEGIN IMMEDIATE`` (the write lock is taken up front, so several
  processes can write to one file without failing on a lock upgrade). Inside one process,
  write transactions also queue on a lock of the :class:`Database` before asking SQLite:
  SQLite's busy handler polls with sleeps growing to 100 ms, so under many writer threads
  a newcomer keeps winning over a long waiter (a request of a loaded server waited 13 s at
  p95 for a p50 of 0.5 s); threads woken in turn by the lock see tail latencies close to
  the median. Between processes the busy timeout still applies. ``log_batch`` calls
  that queue together are written by :meth:`Database.write_grouped` in one transaction
  (group commit), each still all-or-nothing.
- **Fork safety:** the engine forgets its pooled connections when the process id changes, so
  a child process never uses its parent's connections.
- **Read-only opens** (inside :func:`trackyard.stores.read_only_opens`, as ``trackyard doctor
  --read-only`` opens stores): the database gets its own :class:`Database`, never shared with
  normal opens, on which bootstrap creates, migrates and indexes nothing (it notes what a
  normal open would do) and every write transaction is refused. The database refuses writes
  too, should one get past that check: a SQLite file is opened without being created
  (``mode=rw``) and with ``PRAGMA query_only``, its journal mode left as it is; every
  PostgreSQL and MySQL/MariaDB connection starts with its session made read-only
  (``SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY``, ``SET SESSION TRANSACTION READ
  ONLY``). A SQLite file that does not exist, or an in-memory database, is reported as
  absent.
- **Column widths** learnt at bootstrap (:attr:`Database.layout`) let stores refuse a value
  wider than its column with the same clear error on every database (SQLite would store it).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from trackyard.errors import ErrorCode, PluginLoadError, TrackyardError
from trackyard.errors import invalid_parameter as _invalid
from trackyard.stores import ReadOnlyOpen, read_only_open
from trackyard.uri import mask_credentials
from trackyard_sql import explain
from trackyard_sql.bootstrap import Layout, prepare
from trackyard_sql.dialect import Dialect, sqlite_lower, sqlite_regexp

__all__ = ["Database", "chunks", "fetch_scalar"]

_logger = logging.getLogger("trackyard.sql")

T = TypeVar("T")

_ATTEMPTS = 5
#: Connections a process keeps to a PostgreSQL/MySQL database (the most it opens).
_POOL_CONNECTIONS = 24
_INSTALL_HINTS = {
    "postgresql": 'pip install "trackyard[postgres]"',
    "mysql": 'pip install "trackyard[mysql]"',
    "mariadb": 'pip install "trackyard[mysql]"',
    "mssql": "pip install pyodbc",
}

#: What makes a server session read-only, by backend (MSSQL has no such statement).
_READ_ONLY_SESSIONS = {
    "postgresql": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    "mysql": "SET SESSION TRANSACTION READ ONLY",
    "mariadb": "SET SESSION TRANSACTION READ ONLY",
}

_shared: dict[str, Database] = {}
_shared_lock = threading.Lock()


class Database:
    """A SQL database: its engine, dialect, schema layout and transactions.

    Use :meth:`open` (shared per process) rather than the constructor; a directly
    constructed database has no :attr:`layout` until :func:`trackyard_sql.bootstrap.prepare`
    ran on it.

    Args:
        uri: a SQLAlchemy URL: ``sqlite:///path.db`` (relative paths are made absolute;
            ``sqlite://`` is in memory), ``postgresql[+driver]://...``,
            ``mysql[+driver]://...``, ``mssql+pyodbc://...`` (untested).
        read_only: refuse every write transaction, and have the database refuse them too
            where it can: a SQLite file is opened without being created and with ``PRAGMA
            query_only``, PostgreSQL and MySQL/MariaDB sessions are made read-only (see
            :meth:`open`).

    Raises:
        PluginLoadError: the database driver is not installed (the message says what to
            install).
        TrackyardError: the URI is not a database URL SQLAlchemy knows.
    """

    def __init__(self, uri: str, *, read_only: bool = False) -> None:
        self.uri = uri
        self.url = _normalize_url(uri)
        self.read_only = read_only
        self.engine = _create_engine(self.url, uri, read_only=read_only)
        dbapi: Any = self.engine.dialect.dbapi
        self.integrity_error: type[Exception] = dbapi.IntegrityError
        self._db_error: type[Exception] = dbapi.Error
        self._operational_error: type[Exception] = dbapi.OperationalError
        self.dialect = Dialect(self.engine.dialect.name, dbapi.paramstyle)
        self.memory = self.dialect.is_sqlite and self.url.database in (None, "", ":memory:")
        self.layout = Layout()
        #: Bumped by every write transaction (committed or not): caches of reads key on it.
        self.write_epoch = 0
        self._lock = threading.RLock()
        #: Serialises this process's SQLite write transactions (see :meth:`cursor`).
        self._write_lock = threading.RLock()
        #: Writes waiting for :meth:`write_grouped`'s next group commit (SQLite files).
        self._pending: list[_Pending] = []
        self._pending_guard = threading.Lock()
        self._pid = os.getpid()
        self._key = _shared_key(self.url, read_only)
        self._users = 0
        self.closed = False

    # -- sharing ---------------------------------------------------------------------------
    @classmethod
    def open(cls, uri: str) -> Database:
        """The process's shared database of ``uri``, bootstrapped; call :meth:`close` when done.

        The first open of a database creates MLflow's head schema on a fresh database (see
        :mod:`trackyard_sql.bootstrap`).

        Inside :func:`trackyard.stores.read_only_opens`, the database is opened read-only
        instead (shared only with other read-only opens): nothing is created, migrated or
        indexed, what a normal open would do is noted on the request, and a database that
        does not exist yet (a missing SQLite file, an in-memory database) raises the
        request's :meth:`~trackyard.stores.ReadOnlyOpen.absent` error.
        """
        explain.check_sqlite_file(uri)
        request = read_only_open()
        url = _normalize_url(uri)
        if request is not None:
            _check_present(url, uri, request)
        key = _shared_key(url, request is not None)
        with _shared_lock:
            db = _shared.get(key)
            if db is None or db.closed:
                db = cls(uri, read_only=request is not None)
                try:
                    db.layout = prepare(db, request)
                except BaseException:
                    db.engine.dispose()
                    raise
                _shared[key] = db
            db._users += 1
            return db

    def close(self) -> None:
        """Give up one use of the database; the last one disposes of the connection pool."""
        with _shared_lock:
            self._users -= 1
            if self._users > 0:
                return
            if _shared.get(self._key) is self:
                del _shared[self._key]
            self.closed = True
        self.engine.dispose()

    @property
    def masked_uri(self) -> str:
        """The store URI with its password masked."""
        return mask_credentials(self.uri)

    # -- transactions ----------------------------------------------------------------------
    def check_fork(self) -> None:
        """After ``fork``, forget the parent's pooled connections (never close them: theirs)."""
        pid = os.getpid()
        if pid != self._pid:
            with self._lock:
                if pid != self._pid:
                    self.engine.dispose(close=False)
                    self._pid = pid

    @contextlib.contextmanager
    def cursor(self, *, write: bool) -> Iterator[Any]:
        """A DB-API cursor inside one transaction; committed on success, rolled back otherwise."""
        self.check_fork()
        if write and self.read_only:
            raise TrackyardError(
                f"The database {self.masked_uri!r} was opened read-only; nothing is written.",
                ErrorCode.INVALID_STATE,
            )
        lock: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        if self.memory:
            lock = self._lock
        elif write and self.dialect.is_sqlite:
            lock = self._write_lock
        with lock:
            raw = self.engine.raw_connection()
            try:
                cur = raw.cursor()
                try:
                    if self.dialect.is_sqlite:
                        cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    yield cur
                    if write:
                        raw.commit()
                    else:
                        raw.rollback()
                except BaseException:
                    with contextlib.suppress(Exception):
                        raw.rollback()
                    raise
                finally:
                    with contextlib.suppress(Exception):
                        cur.close()
            finally:
                raw.close()

    def read(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(cursor)`` in a read transaction, retrying on transient conflicts.

        SQLite can refuse even a reader at once (``database is locked``, without waiting
        for the busy timeout) while another connection switches a new file to WAL mode.
        """
        return self.retrying(lambda: self._once(fn, write=False), reads=True)

    def write(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(cursor)`` in a write transaction, retrying on transient conflicts.

        ``fn`` must be safe to run again: it is called afresh for every attempt, and a failed
        attempt leaves nothing behind.
        """
        return self.retrying(lambda: self._once(fn, write=True))

    def write_grouped(self, fn: Callable[[Any], None]) -> None:
        """Like :meth:`write`, but on a SQLite file concurrent calls share one commit.

        Calls that arrive while another write holds this process's write lock wait for it;
        the first to get the lock then runs every waiting ``fn`` in one transaction, each
        inside its own savepoint, and commits once (a commit, not the statements, is what
        SQLite's single writer pays most for under load). Each call keeps its own
        all-or-nothing result: an ``fn`` that fails is rolled back to its savepoint and run
        again alone through :meth:`write` (so it raises its own error, retried and
        translated as usual); if the shared commit fails, every ``fn`` of the group is run
        alone through :meth:`write`. A call that nobody waited with is a plain :meth:`write`
        (so is every call elsewhere than a SQLite file); in a group, an ``fn`` that fails is
        called twice (``fn`` must be safe to run again, as for :meth:`write`).
        """
        if not self.dialect.is_sqlite or self.memory:
            self.write(fn)
            return
        mine = _Pending(fn)
        with self._pending_guard:
            self._pending.append(mine)
        with self._write_lock:
            if not mine.done:
                with self._pending_guard:
                    group, self._pending = self._pending, []
                if len(group) == 1:  # nobody waited: the plain transaction, no savepoint
                    mine.done, mine.alone = True, False
                    self.write(fn)
                    return
                self._commit_group(group)
        if mine.alone:
            self.write(fn)

    def _commit_group(self, group: list[_Pending]) -> None:
        def run_all(cur: Any) -> None:
            for n, item in enumerate(group):
                item.alone = False
                cur.execute(f"SAVEPOINT g{n}")
                try:
                    item.fn(cur)
                except Exception:
                    cur.execute(f"ROLLBACK TO g{n}")
                    item.alone = True
                cur.execute(f"RELEASE g{n}")

        try:
            self._once(run_all, write=True)
        except Exception:
            _logger.debug("group commit of %d writes failed; writing each alone", len(group))
            for item in group:
                item.alone = True
        for item in group:
            item.done = True

    def _once(self, fn: Callable[[Any], T], *, write: bool) -> T:
        if not write:
            with self.cursor(write=False) as cur:
                return fn(cur)
        try:
            with self.cursor(write=True) as cur:
                return fn(cur)
        finally:
            # Caches of this process must not outlive a write, committed or not (SQLite's
            # data_version misses writes made through the same connection).
            self.write_epoch += 1

    def retrying(self, attempt: Callable[[], T], *, reads: bool = False) -> T:
        """Call ``attempt`` until it does not fail transiently; translate the final error."""
        for n in range(_ATTEMPTS):
            try:
                return attempt()
            except (self._db_error, sa.exc.DBAPIError) as exc:
                # Readers never race on a duplicate key: their first attempt counts as a retry.
                if n + 1 < _ATTEMPTS and self.is_transient(exc, n + 1 if reads else n):
                    _logger.debug("retrying after %s (attempt %d)", exc, n + 1)
                    time.sleep(min(0.5, 0.01 * 2**n) * (0.5 + random.random()))
                    continue
                raise self.translate(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def is_transient(self, exc: Exception, attempt: int) -> bool:
        """Deadlocks, serialization failures, lock timeouts and (once) duplicate-key races."""
        if isinstance(exc, sa.exc.DBAPIError):  # raised by the pool, e.g. while connecting
            if exc.connection_invalidated:
                return True
            exc = exc.orig if isinstance(exc.orig, Exception) else exc
        if isinstance(exc, self.integrity_error):
            # Maybe a concurrent insert of the same key: one retry sees the row. A conflict
            # that is still there then is real (e.g. MLflow's case-insensitive MySQL keys).
            return attempt == 0
        sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
        if sqlstate in ("40P01", "40001", "55P03"):
            return True
        args = getattr(exc, "args", ())
        if self.dialect.is_mysql and args and args[0] in (1205, 1213):
            return True
        text = str(exc).lower()
        return "database is locked" in text or "deadlock" in text or "database is busy" in text

    def translate(self, exc: Exception) -> TrackyardError:
        """A TrackyardError for a database error, in plain words when the cause is known."""
        if isinstance(exc, TrackyardError):
            return exc
        if isinstance(exc, (sa.exc.OperationalError, self._operational_error)):
            known = explain.explain(exc, self.uri)  # unreachable server, bad password ...
            if known is not None:
                return TrackyardError(known[1], known[0])
        if isinstance(exc, sa.exc.DBAPIError):  # from the pool: only the driver's message
            exc = exc.orig if isinstance(exc.orig, Exception) else exc
        if isinstance(exc, self.integrity_error):
            return _invalid(f"The write conflicts with data already in the database: {exc}")
        return TrackyardError(
            f"Database error on {self.masked_uri!r}: {exc}", ErrorCode.INTERNAL_ERROR
        )

    # -- column widths ---------------------------------------------------------------------
    def check_width(self, table: str, column: str, value: str | None, label: str) -> None:
        """Refuse a value wider than its column (INVALID_PARAMETER_VALUE naming ``label``)."""
        if value is None:
            return
        limit = self.layout.chars.get((table, column))
        if limit is not None and len(value) > limit:
            raise _invalid(
                f"The {label} is {len(value)} characters long, but the database column "
                f"{table}.{column} holds at most {limit}: "
                f"{value[:60]!r}{'...' if len(value) > 60 else ''}"
            )
        octets = self.layout.octets.get((table, column))
        if octets is not None and len(value) * 4 > octets and len(value.encode()) > octets:
            raise _invalid(
                f"The {label} is {len(value.encode())} bytes long, but the database column "
                f"{table}.{column} holds at most {octets} bytes."
            )

    def __repr__(self) -> str:
        return f"Database({self.masked_uri!r})"


# -- engine ----------------------------------------------------------------------------------


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class _Pending:
    """One write waiting for a group commit (:meth:`Database.write_grouped`)."""

    __slots__ = ("alone", "done", "fn")

    def __init__(self, fn: Callable[[Any], None]) -> None:
        self.fn = fn
        self.done = False
        self.alone = True  # run it alone unless a group commit wrote it


def _shared_key(url: sa.engine.URL, read_only: bool) -> str:
    key = url.render_as_string(hide_password=False)
    return f"{key} (read-only)" if read_only else key


def _sqlite_path(url: sa.engine.URL) -> str | None:
    """The file of a SQLite URL (None: in memory, or a ``file:`` URI filename)."""
    db = url.database
    if url.get_backend_name() != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        return None
    return db


def _check_present(url: sa.engine.URL, store_uri: str, request: ReadOnlyOpen) -> None:
    """For a read-only open: raise the request's absent error for a database not there yet."""
    if url.get_backend_name() != "sqlite":
        return  # a server database: connecting tells
    path = _sqlite_path(url)
    if path is not None:
        if not os.path.exists(path):
            raise request.absent(
                f"the SQLite database file {path!r} does not exist; a normal open creates "
                "it, with MLflow's schema"
            )
    elif url.database in (None, "", ":memory:"):
        raise request.absent(
            f"{mask_credentials(store_uri)!r} is an in-memory SQLite database, empty in every "
            "new process; a normal open creates MLflow's schema in it"
        )


def _normalize_url(store_uri: str) -> sa.engine.URL:
    try:
        url = sa.engine.make_url(store_uri)
    except sa.exc.ArgumentError as exc:
        raise _invalid(f"Invalid SQL store URI {mask_credentials(store_uri)!r}: {exc}") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        db = url.database
        if db and db != ":memory:" and not db.startswith("file:") and not os.path.isabs(db):
            url = url.set(database=os.path.abspath(db))
    elif backend == "postgresql" and url.drivername == "postgresql":
        # Plain postgresql:// means psycopg2 on SQLAlchemy 2.0 and psycopg 3 on 2.1;
        # use whichever is installed.
        if _importable("psycopg"):
            url = url.set(drivername="postgresql+psycopg")
        elif _importable("psycopg2"):
            url = url.set(drivername="postgresql+psycopg2")
    elif (
        backend == "mysql"
        and url.drivername == "mysql"
        and not _importable("MySQLdb")
        and _importable("pymysql")
    ):
        url = url.set(drivername="mysql+pymysql")
    return url


def _create_engine(
    url: sa.engine.URL, store_uri: str, *, read_only: bool = False
) -> sa.engine.Engine:
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {"pool_reset_on_return": None}
    if backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            kwargs["poolclass"] = sa.pool.StaticPool
            kwargs["connect_args"] = {"check_same_thread": False}
        else:
            kwargs["pool_size"] = 8
            kwargs["max_overflow"] = 32
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            path = _sqlite_path(url)
            if read_only and path is not None:
                # mode=rw: fail rather than create a missing file. (mode=ro would leave
                # -wal and -shm files behind next to a WAL database, which it may not
                # delete; PRAGMA query_only refuses every change instead.)
                target = Path(path).as_uri() + "?mode=rw"
                kwargs["creator"] = lambda: sqlite3.connect(
                    target, uri=True, check_same_thread=False, timeout=30
                )
    else:
        kwargs["pool_pre_ping"] = True
        # Up to 24 connections, opened on demand and then kept: with a smaller pool and
        # overflow, a server's concurrent requests kept opening and closing connections (a
        # new PostgreSQL backend per ~3 log_batch calls at 20 clients), each new one paying
        # the backend start and cold catalog and plan caches.
        kwargs["pool_size"] = _POOL_CONNECTIONS
        kwargs["max_overflow"] = 0
        if backend in ("mysql", "mariadb"):
            kwargs["isolation_level"] = "READ COMMITTED"
            if "charset" not in url.query:
                url = url.update_query_dict({"charset": "utf8mb4"})
    try:
        engine = sa.create_engine(url, **kwargs)
    except ImportError as exc:
        hint = _INSTALL_HINTS.get(backend)
        raise PluginLoadError(
            f"The SQL store for {mask_credentials(store_uri)!r} needs a database driver that "
            f"is not installed ({exc})." + (f" Install it with: {hint}" if hint else ""),
            plugin="trackyard_sql",
        ) from exc
    except sa.exc.NoSuchModuleError as exc:
        raise _invalid(f"Unsupported SQL store URI {mask_credentials(store_uri)!r}: {exc}") from exc
    if backend == "sqlite":
        on_connect = _sqlite_on_connect_read_only if read_only else _sqlite_on_connect
        sa.event.listen(engine, "connect", on_connect)
    elif read_only and backend in _READ_ONLY_SESSIONS:
        sa.event.listen(engine, "connect", _read_only_session(_READ_ONLY_SESSIONS[backend]))
    return engine


def _read_only_session(statement: str) -> Callable[[Any, Any], None]:
    """A listener that makes each new server connection's session read-only with ``statement``.

    The server then refuses every write on it, even one that bypasses :meth:`Database.cursor`.
    """

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cur = dbapi_connection.cursor()
        try:
            cur.execute(statement)
        finally:
            cur.close()
        dbapi_connection.commit()  # PostgreSQL undoes a SET whose transaction is rolled back

    return on_connect


def _sqlite_on_connect_read_only(dbapi_connection: Any, _record: Any) -> None:
    """As :func:`_sqlite_on_connect`, but ``query_only`` and the journal mode left alone."""
    _sqlite_setup(dbapi_connection, read_only=True)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Per-connection SQLite setup: our own transactions, WAL, busy timeout, lower(), regexp()."""
    _sqlite_setup(dbapi_connection, read_only=False)


def _sqlite_setup(dbapi_connection: Any, *, read_only: bool) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN [IMMEDIATE] ourselves
    cur = dbapi_connection.cursor()
    try:
        cur.execute("PRAGMA busy_timeout = 30000")
        # A 32 MB page cache and checkpoints every ~40 MB of WAL (instead of 2 MB / 4 MB):
        # large log_batch streams rewrite the same index pages far less often.
        cur.execute("PRAGMA cache_size = -32768")
        if read_only:
            cur.execute("PRAGMA query_only = ON")
        else:
            cur.execute("PRAGMA journal_mode")
            mode = str(cur.fetchone()[0]).lower()
            if mode not in ("wal", "memory"):
                cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA wal_autocheckpoint = 10000")
    finally:
        cur.close()
    dbapi_connection.create_function("trackyard_lower", 1, sqlite_lower, deterministic=True)
    dbapi_connection.create_function("trackyard_regexp", 2, sqlite_regexp, deterministic=True)


# -- small helpers for stores -----------------------------------------------------------------


def fetch_scalar(cur: Any, sql: str, params: Sequence[Any]) -> Any:
    """The first column of the first row of ``sql`` (None when there is no row)."""
    cur.execute(sql, params)
    row = cur.fetchone()
    return None if row is None else row[0]


def chunks(items: Sequence[T], size: int) -> Iterable[list[T]]:
    """``items`` in lists of at most ``size`` (for ``IN (...)`` lists)."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
