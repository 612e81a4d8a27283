"""Traces through a server: trackyard server vs ``mlflow server`` on SQLite, side by side.

For each server (fresh SQLite database, one worker):

1. MLflow 3.17.2's own client (the peer interpreter, synchronous trace logging) writes
   ``--traces`` traces of one root and ``--spans`` child spans each: spans go to
   ``/v1/traces`` (OTLP), infos to ``/api/3.0/mlflow/traces``;
2. trackyard's http client reads them: ``search_traces`` pages of 100 infos, then every
   trace with its spans (``get_trace``), and ``search_traces`` with spans (``batchGet``).

Prints the wall time of each step and the per-trace cost.

    .venv/bin/python benchmarks/bench_server_traces.py --traces 200 --spans 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from bench_server import _port, start_server, stop_server

PEER = os.environ.get("BENCH_MLFLOW_PYTHON", "/work/main/.venv-mlflow/bin/python")

WRITER = """
import json, sys, time
import mlflow
uri, n, spans = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
mlflow.set_tracking_uri(uri)
exp = mlflow.set_experiment("bench-traces").experiment_id
start = time.perf_counter()
for i in range(n):
    with mlflow.start_span("root", span_type="CHAIN") as root:
        root.set_inputs({"i": i})
        for j in range(spans):
            with mlflow.start_span(f"child-{j}", span_type="LLM") as child:
                child.set_inputs([i, j])
                child.set_outputs({"j": j})
        root.set_outputs("done")
print(json.dumps({"exp": exp, "seconds": time.perf_counter() - start}))
"""


def write_with_mlflow(url: str, traces: int, spans: int) -> tuple[str, float]:
    """Run MLflow's client in the peer interpreter; return (experiment id, seconds)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRACKYARD_"))}
    env["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
    done = subprocess.run(
        [PEER, "-c", WRITER, url, str(traces), str(spans)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=1800,
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return str(out["exp"]), float(out["seconds"])


def read_with_trackyard(url: str, exp: str) -> dict[str, float]:
    """trackyard's http client: paged info search, every trace, search with spans."""
    from trackyard.testing import make_client
    from trackyard_rest.client.tracking import RestTrackingStore

    store = RestTrackingStore(url)
    client = make_client(store)
    times: dict[str, float] = {}
    start = time.perf_counter()
    ids: list[str] = []
    token = None
    while True:
        page = client.search_traces([exp], max_results=100, page_token=token, include_spans=False)
        ids += [t.info.trace_id for t in page]
        token = page.token
        if not token:
            break
    times["search infos"] = time.perf_counter() - start
    start = time.perf_counter()
    spans = sum(len(client.get_trace(i).data.spans) for i in ids)
    times["get_trace each"] = time.perf_counter() - start
    start = time.perf_counter()
    with_spans = client.search_traces([exp], max_results=100)
    times["search 100 with spans"] = time.perf_counter() - start
    assert len(with_spans) == min(100, len(ids))
    times["traces"], times["spans"] = len(ids), spans
    store.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--traces", type=int, default=200)
    parser.add_argument("--spans", type=int, default=3)
    parser.add_argument("--servers", default="trackyard,mlflow")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.servers.split(","):
            port = _port()
            proc = start_server(kind, f"sqlite:///{tmp}/{kind}.db", port, Path(tmp) / kind)
            try:
                url = f"http://127.0.0.1:{port}"
                exp, wrote = write_with_mlflow(url, args.traces, args.spans)
                rows.append((kind, wrote, read_with_trackyard(url, exp)))
            finally:
                stop_server(proc)
    print(
        f"traces={args.traces} spans/trace={args.spans + 1} cpus={os.cpu_count()} "
        f"load={os.getloadavg()[0]:.1f}"
    )
    for kind, wrote, read in rows:
        per = 1000 * wrote / args.traces
        print(
            f"{kind:>9}: MLflow client writes {wrote:6.2f} s ({per:5.1f} ms/trace); "
            f"trackyard reads: {read['traces']:.0f} traces, {read['spans']:.0f} spans; "
            f"search infos {read['search infos']:.2f} s, get_trace each "
            f"{read['get_trace each']:.2f} s, search 100 with spans "
            f"{read['search 100 with spans']:.2f} s"
        )


if __name__ == "__main__":
    main()
