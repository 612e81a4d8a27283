"""Webhook delivery benchmark: a slow endpoint must not slow the registry loop.

    python benchmarks/bench_webhooks.py [--events 1000] [--sleep 2] [--repeat 3]

Scenario (the issue's target): a loop makes ``--events`` registry changes through
``MlflowClient`` on a fresh SQLite file (a quarter each: ``create_registered_model``,
``create_model_version``, ``set_model_version_tag``, ``set_registered_model_alias``), timed
in three set-ups:

- ``no plugin``: delivery disabled (``TRACKYARD_DISABLE_PLUGINS=trackyard_webhooks``);
- ``no webhooks``: the delivery plugin loaded, no webhook registered;
- ``slow endpoint``: one ACTIVE webhook with a secret, subscribed to the four events, whose
  endpoint (a loopback HTTP server) sleeps ``--sleep`` seconds per request while the loop
  runs, then recovers (answers at once).

It prints the loop's wall time and the CPU time of the looping thread (which other work on
the machine does not inflate): the best of ``--repeat`` runs (the least disturbed; the
median too) and the slowdown against ``no plugin`` and ``no webhooks``,
then waits for the queue to drain after recovery and checks that every event was received
exactly once (distinct payloads and delivery ids, signatures verified). Target:
slowdown at most 5%, every event delivered exactly once. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET = "bench-secret"
EVENTS = [
    "registered_model.created",
    "model_version.created",
    "model_version_tag.set",
    "model_version_alias.created",
]


class Endpoint(ThreadingHTTPServer):
    """A webhook receiver that sleeps per request until ``recovered`` is set."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, sleep_s: float) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.sleep_s = sleep_s
        self.recovered = threading.Event()
        self.lock = threading.Lock()
        self.received: list[tuple[dict[str, str], bytes]] = []


class Handler(BaseHTTPRequestHandler):
    server: Endpoint

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not self.server.recovered.is_set():
            self.server.recovered.wait(self.server.sleep_s)
        with self.server.lock:
            self.server.received.append((dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _loop(client: Any, n_events: int, tag: str) -> tuple[float, float]:
    """Run the loop; return its wall time and the CPU time of the calling thread."""
    per_kind = n_events // 4
    started, cpu = time.perf_counter(), time.thread_time()
    for i in range(per_kind):
        name = f"{tag}-m{i}"
        client.create_registered_model(name)
        client.create_model_version(name, f"/tmp/{name}")
        client.set_model_version_tag(name, "1", "k", str(i))
        client.set_registered_model_alias(name, "champion", "1")
    return time.perf_counter() - started, time.thread_time() - cpu


def _setup(mode: str, tmp: str, run: int) -> Any:
    from trackyard import MlflowClient
    from trackyard.testing.fixtures import reset_state

    if mode == "no plugin":
        os.environ["TRACKYARD_DISABLE_PLUGINS"] = "trackyard_webhooks"
    else:
        os.environ.pop("TRACKYARD_DISABLE_PLUGINS", None)
    reset_state()
    slug = mode.replace(" ", "-")
    return MlflowClient(f"sqlite:///{os.path.join(tmp, f'{slug}-{run}.db')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--sleep", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from cryptography.fernet import Fernet

    os.environ["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    os.environ["TRACKYARD_WEBHOOK_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)

    from trackyard.webhooks import flush
    from trackyard.webhooks.delivery import get_dispatcher
    from trackyard.webhooks.payloads import DELIVERY_ID_HEADER, verify_signature

    n = args.events - args.events % 4
    times: dict[str, list[float]] = {"no plugin": [], "no webhooks": [], "slow endpoint": []}
    cpu: dict[str, list[float]] = {mode: [] for mode in times}
    endpoints: list[Endpoint] = []
    drained: list[tuple[bool, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.repeat):
            for mode in times:
                client = _setup(mode, tmp, run)
                if mode == "slow endpoint":
                    endpoint = Endpoint(args.sleep)
                    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
                    endpoints.append(endpoint)
                    url = f"http://127.0.0.1:{endpoint.server_address[1]}/hook"
                    client.create_webhook("bench", url, EVENTS, secret=SECRET)
                wall, thread_cpu = _loop(client, n, f"r{run}")
                times[mode].append(wall)
                cpu[mode].append(thread_cpu)
                if mode == "slow endpoint":
                    endpoints[-1].recovered.set()
                    started = time.perf_counter()
                    drained.append((flush(600), time.perf_counter() - started))
        print(f"{n} registry events per loop, endpoint sleeping {args.sleep:g} s until recovery")
        print(
            f"{'set-up':<16}{'best loop':>10}{'per event':>11}{'vs no plugin':>14}"
            f"{'vs no webhooks':>16}{'median':>9}"
        )
        base = min(times["no plugin"])
        quiet = min(times["no webhooks"])
        for mode, values in times.items():
            best = min(values)
            print(
                f"{mode:<16}{best:>9.3f}s{best / n * 1e6:>9.0f}µs"
                f"{(best / base - 1) * 100:>13.1f}%{(best / quiet - 1) * 100:>15.1f}%"
                f"{statistics.median(values):>8.3f}s"
            )
            print(f"{'':<16}runs: {', '.join(f'{v:.3f}s' for v in values)}")
        print("\nCPU time of the looping thread (insensitive to other load on the machine):")
        cpu_base, cpu_quiet = min(cpu["no plugin"]), min(cpu["no webhooks"])
        for mode, values in cpu.items():
            best = min(values)
            print(
                f"{mode:<16}{best:>9.3f}s{best / n * 1e6:>9.0f}µs"
                f"{(best / cpu_base - 1) * 100:>13.1f}%{(best / cpu_quiet - 1) * 100:>15.1f}%"
                f"{statistics.median(values):>8.3f}s"
            )

        print()
        for i, (done, waited) in enumerate(drained):
            print(f"run {i}: queue drained after recovery: {done} (waited {waited:.2f} s)")
        stats = get_dispatcher().stats
        print(f"dispatcher counters: {stats}")
        for i, endpoint in enumerate(endpoints):
            payloads = Counter()
            ids = Counter()
            bad_signatures = 0
            for headers, body in endpoint.received:
                data = json.loads(body)
                payloads[json.dumps([data["entity"], data["action"], data["data"]])] += 1
                ids[headers[DELIVERY_ID_HEADER]] += 1
                bad_signatures += not verify_signature(SECRET, headers, body)
            duplicates = sum(c - 1 for c in payloads.values())
            exact = len(payloads) == n and duplicates == 0 and len(ids) == len(endpoint.received)
            print(
                f"run {i}: received {len(endpoint.received)}/{n}, distinct events "
                f"{len(payloads)}, duplicates {duplicates}, bad signatures {bad_signatures}, "
                f"exactly once: {exact}"
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
