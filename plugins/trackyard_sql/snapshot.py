"""Search snapshots (SQLite): paging re-sorts nothing and re-reads no run while nothing changed.

Each SQLite connection remembers, per query (experiments, stages, filter, order), the ordered
run ids from the top of the result and a window ahead, and the parts of runs it loaded; other
searches (logged models) file the rows of the pages they read (:meth:`SearchSnapshots.results`).
The memory is dropped as soon as anything writes to the database: SQLite's ``PRAGMA
data_version`` changes when another connection (of any process) commits, and
:attr:`Database.write_epoch <trackyard_sql.database.Database.write_epoch>` counts this
process's own write transactions (``data_version`` misses writes through the same
connection). Both are read first in the read transaction, so cached data is never older than
the version it is filed under. A child process after ``fork`` starts with no snapshots.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import PagedList, Run
from trackyard.search import encode_page_token
from trackyard_sql.runs import RunParts, build_run, fetch_run_parts, run_rows

if TYPE_CHECKING:
    from trackyard_sql.database import Database

__all__ = ["SearchSnapshots", "remember"]

_IDS_AHEAD = 5000  # how far ahead of a page the ordering query reads
_RUNS_AHEAD = 2000  # how many runs after a page are loaded once someone pages
_MAX_RUNS = 50_000
_MAX_QUERIES = 32
_MAX_MEMO_ROWS = 2000  # larger pages of other searches are not remembered
_MAX_CONNECTIONS = 64


class _Snapshot:
    """What one connection learnt from searches since the database last changed."""

    __slots__ = ("orders", "results", "runs", "version")

    def __init__(self, version: tuple[int, int]) -> None:
        self.version = version
        self.orders: dict[Hashable, tuple[list[str], bool]] = {}
        self.runs: dict[str, RunParts] = {}
        self.results: dict[Hashable, Any] = {}

    def reset(self, version: tuple[int, int]) -> None:
        self.version = version
        self.orders.clear()
        self.runs.clear()
        self.results.clear()


class SearchSnapshots:
    """The snapshots of one SQLite database's connections.

    Args:
        db: the database (its :attr:`~trackyard_sql.database.Database.write_epoch` counts
            this process's writes).
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._by_connection: dict[int, tuple[Any, _Snapshot]] = {}

    def clear(self) -> None:
        """Forget every snapshot."""
        with self._lock:
            self._by_connection.clear()

    def _current(self, cur: Any) -> _Snapshot:
        cur.execute("PRAGMA data_version")
        version = (cur.fetchone()[0], self._db.write_epoch)
        conn = cur.connection
        with self._lock:
            if self._pid != os.getpid():  # a forked child: nothing of the parent's is valid
                self._by_connection.clear()
                self._pid = os.getpid()
            entry = self._by_connection.get(id(conn))
            if entry is None or entry[0] is not conn:
                if len(self._by_connection) > _MAX_CONNECTIONS:
                    self._by_connection.clear()
                entry = (conn, _Snapshot(version))
                self._by_connection[id(conn)] = entry
            snapshot = entry[1]
            if snapshot.version != version:
                snapshot.reset(version)
            return snapshot

    def results(self, cur: Any) -> dict[Hashable, Any]:
        """The connection's memo of other searches' pages, emptied by any write.

        Callers file what a query read (never objects handed out: those may be changed) under
        the query and its parameters, and keep it small: see :func:`remember`.
        """
        return self._current(cur).results

    def page(
        self,
        cur: Any,
        query: Hashable,
        sql: str,
        params: Sequence[Any],
        limit: int,
        offset: int,
        *,
        datasets: bool,
    ) -> PagedList[Run]:
        """One page of a run search, served from the connection's snapshot (filled as needed).

        Args:
            cur: a cursor in a read transaction.
            query: what identifies the search apart from its paging.
            sql: the compiled search (its last two parameters are LIMIT and OFFSET).
            params: its parameters.
            limit: the page size.
            offset: the page's first row.
            datasets: whether the dataset tables exist.
        """
        snapshot = self._current(cur)
        d = self._db.dialect
        need = offset + limit + 1
        found = snapshot.orders.get(query)
        if found is None or (found[1] and len(found[0]) < need):
            # The full order from the top, plus a window ahead for the following pages.
            window = need + _IDS_AHEAD
            cur.execute(sql, [*params[:-2], window, 0])
            ordered = [row[0] for row in cur.fetchall()]
            found = (ordered, len(ordered) == window)
            if len(snapshot.orders) >= _MAX_QUERIES:
                snapshot.orders.clear()
            snapshot.orders[query] = found
        ordered = found[0]
        page_ids = ordered[offset : offset + limit]
        runs = snapshot.runs
        missing = [i for i in page_ids if i not in runs]
        if missing:
            if offset:  # someone is paging: read ahead in bulk rather than page by page
                ahead = ordered[offset + limit : offset + limit + _RUNS_AHEAD]
                missing += [i for i in ahead if i not in runs]
            if len(runs) + len(missing) > _MAX_RUNS:
                runs.clear()
                missing = page_ids
            runs.update(fetch_run_parts(d, cur, run_rows(d, cur, missing), datasets=datasets))
        token = encode_page_token(offset + limit) if len(ordered) > offset + limit else None
        return PagedList([build_run(runs[i]) for i in page_ids], token)


def remember(memo: dict[Hashable, Any], key: Hashable, value: Any, size: int) -> None:
    """File ``value`` (about ``size`` rows) in a memo of :meth:`SearchSnapshots.results`."""
    if size > _MAX_MEMO_ROWS:
        return
    if len(memo) >= _MAX_QUERIES:
        memo.clear()
    memo[key] = value
