"""Compare a tee's secondaries with its primary: what a mirror should hold, and what differs.

:func:`differences` walks every experiment and run of the primary and looks up its mirror on
each secondary (through the tee's id map), comparing names, lifecycle stages, tags, params,
latest metrics and full metric histories; and, when the tee keeps traces, every trace of
each experiment (state, times, tags, span ids and assessments). It reads everything, so it
is an operator's tool (``trackyard tee verify``) and a test oracle, not something to run on
every write.

What is not compared, because it legitimately differs: ids (the map translates them), the
tee's own origin tags, creation and update times (each store's clock), and run artifact URIs
(they name the secondary's run id; artifacts themselves are written once, where the primary
points), and the artifact location of experiments the tee did not create (such as each store's
own Default experiment).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from trackyard.entities import Metric, ViewType
from trackyard.errors import TrackyardError
from trackyard.search import ExperimentSearch, RunSearch
from trackyard.search.request import TraceSearch

from trackyard_tee.store import ORIGIN_EXPERIMENT_TAG
from trackyard_tee.traces import STORE_OWN_TRACE_TAGS

if TYPE_CHECKING:
    from trackyard.entities import Experiment, Run
    from trackyard.stores import TrackingStore

    from trackyard_tee.store import TeeTrackingStore, _Secondary

__all__ = ["differences"]

_PAGE = 50000


def _all_experiments(store: TrackingStore) -> list[Experiment]:
    out: list[Experiment] = []
    request: ExperimentSearch | None = ExperimentSearch(view_type=ViewType.ALL, max_results=_PAGE)
    while request is not None:
        page = store.search_experiments(request)
        out.extend(page)
        request = request.next_page(page)
    return out


def _history(store: TrackingStore, run_id: str, key: str) -> list[tuple[bool, float, int, int]]:
    points: list[Metric] = []
    token = None
    while True:
        page = store.get_metric_history(run_id, key, max_results=_PAGE, page_token=token)
        points.extend(page)
        token = page.token
        if not token:
            break
    return sorted(
        (math.isnan(p.value), 0.0 if math.isnan(p.value) else p.value, p.timestamp, p.step)
        for p in points
    )


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _without_origin(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if not k.startswith("trackyard.tee.")}


def differences(tee: TeeTrackingStore, *, max_runs: int | None = None) -> list[str]:
    """Return how each reachable secondary differs from the primary (empty: identical).

    Args:
        tee: the tee store.
        max_runs: stop after comparing this many runs per secondary (None: all).

    Returns:
        One human-readable line per difference; an unreachable secondary gives one line.
    """
    out: list[str] = []
    for number, s in enumerate(tee._secondaries, start=1):
        label = f"secondary {number} ({s.masked})"
        try:
            store = s.ensure_store()
            store.get_experiment("0")
        except Exception as exc:
            out.append(f"{label}: unreachable: {exc}")
            continue
        out.extend(f"{label}: {d}" for d in _compare(tee, s, store, max_runs))
    return out


def _compare(
    tee: TeeTrackingStore, s: _Secondary, store: TrackingStore, max_runs: int | None
) -> list[str]:
    primary = tee.primary
    diffs: list[str] = []
    compared = 0
    for exp in _all_experiments(primary):
        pid = exp.experiment_id
        sid = tee._experiment_id(s, store, pid)
        try:
            mirror = store.get_experiment(sid)
        except TrackyardError:
            diffs.append(f"experiment {pid} ({exp.name!r}) is missing")
            continue
        attrs = ["name", "lifecycle_stage"]
        if ORIGIN_EXPERIMENT_TAG in mirror.tags:  # made by the tee, at the primary's location
            attrs.append("artifact_location")
        for attr in attrs:
            mine, theirs = getattr(exp, attr), getattr(mirror, attr)
            if mine != theirs:
                diffs.append(f"experiment {pid} {attr}: {mine!r} != {theirs!r}")
        if exp.tags != _without_origin(mirror.tags):
            diffs.append(f"experiment {pid} tags: {exp.tags!r} != {_without_origin(mirror.tags)!r}")
        request: RunSearch | None = RunSearch(
            experiment_ids=(pid,), view_type=ViewType.ALL, max_results=_PAGE
        )
        if tee.capabilities.traces:
            diffs.extend(_compare_traces(tee, s, store, pid, sid))
        while request is not None:
            page = primary.search_runs(request)
            for run in page:
                if max_runs is not None and compared >= max_runs:
                    return diffs
                compared += 1
                diffs.extend(_compare_run(tee, s, store, run))
            request = request.next_page(page)
    return diffs


def _trace_summaries(store: TrackingStore, experiment_id: str) -> dict[str, tuple[object, ...]]:
    """Per trace id: state, times, previews, tags, span ids and assessments (without ids)."""
    out: dict[str, tuple[object, ...]] = {}
    request: TraceSearch | None = TraceSearch(experiment_ids=(experiment_id,), max_results=_PAGE)
    while request is not None:
        page = store.search_traces(request)
        traces = store.batch_get_traces([i.trace_id for i in page])
        for t in traces:
            i = t.info
            tags = {k: v for k, v in i.tags.items() if k not in STORE_OWN_TRACE_TAGS}
            assessments = sorted(
                (a.name, a.kind, repr(a.value), a.valid, a.rationale) for a in i.assessments
            )
            spans = sorted(
                (sp.span_id, sp.name, sp.status.status_code.value) for sp in t.data.spans
            )
            out[i.trace_id] = (
                i.state,
                i.request_time,
                i.execution_duration,
                tags,
                spans,
                assessments,
            )
        request = request.next_page(page)
    return out


def _compare_traces(
    tee: TeeTrackingStore, s: _Secondary, store: TrackingStore, pid: str, sid: str
) -> list[str]:
    mine = _trace_summaries(tee.primary, pid)
    theirs = _trace_summaries(store, sid)
    diffs = [f"trace {t} is missing" for t in sorted(set(mine) - set(theirs))]
    diffs += [f"trace {t} is extra" for t in sorted(set(theirs) - set(mine))]
    for trace_id in sorted(set(mine) & set(theirs)):
        if mine[trace_id] != theirs[trace_id]:
            diffs.append(f"trace {trace_id}: {mine[trace_id]!r} != {theirs[trace_id]!r}")
    return diffs


def _compare_run(tee: TeeTrackingStore, s: _Secondary, store: TrackingStore, run: Run) -> list[str]:
    info, data = run.info, run.data
    rid = info.run_id
    try:
        mirror = store.get_run(tee._run_id(s, store, rid))
    except TrackyardError:
        return [f"run {rid} is missing"]
    diffs = []
    for attr in ("run_name", "user_id", "status", "start_time", "end_time", "lifecycle_stage"):
        mine, theirs = getattr(info, attr), getattr(mirror.info, attr)
        if mine != theirs:
            diffs.append(f"run {rid} {attr}: {mine!r} != {theirs!r}")
    if data.params != mirror.data.params:
        diffs.append(f"run {rid} params: {data.params!r} != {mirror.data.params!r}")
    if data.tags != _without_origin(mirror.data.tags):
        diffs.append(f"run {rid} tags: {data.tags!r} != {_without_origin(mirror.data.tags)!r}")
    if set(data.metrics) != set(mirror.data.metrics) or not all(
        _same(v, mirror.data.metrics[k]) for k, v in data.metrics.items()
    ):
        diffs.append(f"run {rid} latest metrics: {data.metrics!r} != {mirror.data.metrics!r}")
    for key in data.metrics:
        mine_h = _history(tee.primary, rid, key)
        theirs_h = _history(store, mirror.info.run_id, key)
        if mine_h != theirs_h:
            diffs.append(
                f"run {rid} metric {key!r} history: {len(mine_h)} points != {len(theirs_h)}"
            )
    return diffs
