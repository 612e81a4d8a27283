"""What writers remember between transactions: recently written runs and experiments.

DuckDB lets one process open a database file, and in that process every write goes through
one :class:`~trackyard_duckdb._database.Database` under its write lock. So the committed state
of a run that this process just wrote (its key and stage, and, when this process has seen
all of them, its params and tags) can be remembered and trusted: ``log_batch`` on a run
created here needs no lookups at all. Every change goes in after its transaction commits
(:meth:`~trackyard_duckdb._database.Database.after_commit`), and anything that changes many
runs at once (deleting an experiment) forgets them all.

DuckDB statements cost a fraction of a millisecond each, far more than SQLite's, so the
lookups saved are most of the cost of a small write.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

__all__ = ["RunState", "RunStates", "run_states"]

_MAX_RUNS = 10_000


@dataclass
class RunState:
    """The committed state of one run, as far as this process knows it.

    Attributes:
        run_key: the run's integer key.
        stage: its lifecycle stage.
        params: every param of the run, or None when not known.
        tags: every tag of the run, or None when not known.
    """

    run_key: int
    stage: str
    params: dict[str, str] | None = None
    tags: dict[str, str] | None = None


class RunStates:
    """The states of recently written runs, by run id (least recently used dropped first)."""

    def __init__(self, max_runs: int = _MAX_RUNS) -> None:
        self._runs: OrderedDict[str, RunState] = OrderedDict()
        self._max = max_runs

    def get(self, run_id: str) -> RunState | None:
        state = self._runs.get(run_id)
        if state is not None:
            self._runs.move_to_end(run_id)
        return state

    def put(self, run_id: str, state: RunState) -> None:
        self._runs[run_id] = state
        self._runs.move_to_end(run_id)
        if len(self._runs) > self._max:
            self._runs.popitem(last=False)

    def forget(self, run_id: str | None = None) -> None:
        """Forget one run, or every run."""
        if run_id is None:
            self._runs.clear()
        else:
            self._runs.pop(run_id, None)


def run_states(db: Any) -> RunStates:
    """The run states of a database (kept in its ``memo``)."""
    states: RunStates = db.memo.setdefault("runs", RunStates())
    return states
