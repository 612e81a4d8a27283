"""A child process of the reliability tests: ``python tests/reliability/_worker.py '<json>'``.

It opens the store by its URI (as a user's process would), waits for the start signal (a
file appearing) and then does one job. Every acknowledged operation is printed as a JSON
line and flushed at once, so a parent that kills the process knows exactly which calls
returned. The last line of a job that ends by itself is ``{"done": ...}``; a store that
refuses to open (a DuckDB file that another process holds) gives one line
``{"open_error": <code>, "message": ...}`` and exit status 3.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from typing import Any

_print_lock = threading.Lock()


def say(**fields: Any) -> None:
    with _print_lock:
        sys.stdout.write(json.dumps(fields) + "\n")
        sys.stdout.flush()


def client_for(args: dict[str, Any]) -> Any:
    from trackyard.backends import get_registry_store, get_tracking_store
    from trackyard.testing import make_client

    uri = args["uri"]
    return make_client(get_tracking_store(uri, args["artifact_root"]), get_registry_store(uri))


def wait_for(path: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(path)
        time.sleep(0.002)


# -- concurrency jobs --------------------------------------------------------------------------
def job_log(client: Any, args: dict[str, Any]) -> None:
    """Threads log metrics, params and tags into the shared run and into runs of their own."""
    from trackyard.entities import Metric, Param, RunTag

    errors: list[str] = []

    def work(thread: int) -> None:
        me = f"p{args['worker']}t{thread}"
        try:
            own = client.create_run(args["experiment_id"], run_name=me).info.run_id
            say(own=own, writer=me)
            for b in range(args["batches"]):
                for run_id in (args["shared_run"], own):
                    client.log_batch(
                        run_id,
                        metrics=[Metric(me, float(b), 1_700_000_000_000 + b, b)],
                        params=[Param(f"{me}.{b}", str(b))],
                        tags=[RunTag(me, str(b))],
                    )
                client.log_metric(own, "single", float(b), 1_700_000_000_000 + b, b)
                say(batch=b, writer=me)
        except BaseException:
            errors.append(traceback.format_exc())

    threads = [threading.Thread(target=work, args=(t,)) for t in range(args["threads"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("\n".join(errors))


def job_same_experiment(client: Any, args: dict[str, Any]) -> None:
    """Every thread creates the experiment of one name; each reports what it got."""
    from trackyard.errors import TrackyardError

    def work() -> None:
        try:
            say(created=client.create_experiment(args["name"]))
        except TrackyardError as exc:
            say(error=exc.error_code)
        except BaseException as exc:
            say(raw=f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work) for _ in range(args["threads"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def job_versions(client: Any, args: dict[str, Any]) -> None:
    """Threads create versions of one model."""
    errors: list[str] = []

    def work(thread: int) -> None:
        try:
            for i in range(args["versions"]):
                source = f"s3://bucket/w{args['worker']}t{thread}/{i}"
                say(version=client.create_model_version(args["model"], source).version)
        except BaseException:
            errors.append(traceback.format_exc())

    threads = [threading.Thread(target=work, args=(t,)) for t in range(args["threads"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("\n".join(errors))


# -- crash jobs: loop until killed -------------------------------------------------------------
def job_crash(client: Any, args: dict[str, Any]) -> None:
    """Repeat one operation with numbered inputs until the parent kills the process.

    ``ready`` is reported after the first call returned, so that the kill window is spent
    on writes, not on one-time costs of a cold process (the first DuckDB ``log_batch`` of a
    process loads pandas through DuckDB's Arrow scan, about 2 s).
    """
    from trackyard.entities import Metric, Param, RunTag

    op, start = args["op"], args["start"]
    for i in range(start, start + 100_000):
        if op == "log_batch":
            client.log_batch(
                args["run_id"],
                metrics=[Metric(f"k{i}", float(j), 1_700_000_000_000 + j, j) for j in range(50)],
                params=[Param(f"p{i}.{j}", str(j)) for j in range(20)],
                tags=[RunTag(f"t{i}.{j}", str(j)) for j in range(20)],
            )
        elif op == "create_run":
            client.create_run(
                args["experiment_id"], run_name=f"r{i}", tags={f"n{j}": str(i) for j in range(10)}
            )
        elif op == "artifact":
            client.log_text(args["run_id"], f"{i}:" + "x" * 200_000 + f":{i}", f"f/{i}.txt")
        elif op == "version":
            client.create_model_version(
                args["model"], f"s3://bucket/{i}", tags={f"n{j}": str(i) for j in range(5)}
            )
        else:
            raise ValueError(op)
        say(acked=i)
        if i == start:
            say(ready=True)


JOBS = {
    "log": job_log,
    "same_experiment": job_same_experiment,
    "versions": job_versions,
    "crash": job_crash,
}


def main(raw: str) -> int:
    from trackyard.errors import TrackyardError

    args = json.loads(raw)
    try:
        client = client_for(args)
    except TrackyardError as exc:
        say(open_error=exc.error_code, message=str(exc), pid=os.getpid())
        return 3
    if args.get("go"):
        wait_for(args["go"])
    JOBS[args["job"]](client, args)
    say(done=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
