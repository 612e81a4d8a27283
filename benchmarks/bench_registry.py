"""Model registry benchmark: trackyard against MLflow 3.x on SQLite, in one run, on one machine.

Both libraries run the *same* scenario code through their ``MlflowClient`` (the APIs match),
each in its own interpreter and on its own fresh SQLite file:

    python benchmarks/bench_registry.py --mlflow-python .venv-mlflow/bin/python

Scenarios: registering 100 models with 100 versions each (10,000 versions, two tags each,
one alias per model); ``search_model_versions`` with a name filter (``name = '<model>'``, 100
versions per call: the issue's target), with a ``LIKE`` name filter (1,000 versions), with a
tag filter; paging through all 10,000 versions; ``search_registered_models`` over the 100
models; ``get_model_version`` and ``get_model_version_by_alias`` latency. Reads report the
best of several repetitions (after a warm-up call), which is the figure least disturbed by
other load on the machine.

Run by hand; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Any

from _harness import emit, fmt_seconds, mlflow_interpreter, run_worker, timed


def _best(fn: Any, repeat: int) -> tuple[float, Any]:
    """Best-of-``repeat`` wall time (after one warm-up call, for both libraries).

    The best time is the least disturbed by whatever else the machine is doing; both
    libraries are measured the same way.
    """
    fn()
    times = []
    result = None
    for _ in range(repeat):
        t, result = timed(fn)
        times.append(t)
    return min(times), result


def run_scenarios(lib: str, db_path: str, n_models: int, n_versions: int) -> dict[str, Any]:
    """Run every scenario with ``lib``'s MlflowClient against a fresh SQLite file."""
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.INFO)
    if lib == "trackyard":
        from trackyard import MlflowClient
    else:
        from mlflow import MlflowClient

    os.environ["TRACKYARD_ARTIFACT_ROOT"] = os.path.join(os.path.dirname(db_path), "artifacts")
    uri = f"sqlite:///{db_path}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    out: dict[str, Any] = {}
    # Store initialisation (MLflow runs its migrations here) is not part of any figure.
    out["init_s"], _ = timed(lambda: client.create_registered_model("warm-up"))
    names = [f"model-{i:03d}" for i in range(n_models)]

    def populate() -> None:
        for m, name in enumerate(names):
            client.create_registered_model(name, tags={"team": f"t{m % 5}"})
            for v in range(n_versions):
                client.create_model_version(
                    name,
                    f"s3://bucket/{name}/{v}",
                    run_id=f"{m:08d}{v:024d}",
                    tags={"quality": "high" if v % 10 == 0 else "low", "v": str(v)},
                    description=f"version {v} of {name}",
                )
            client.set_registered_model_alias(name, "champion", str(n_versions // 2))

    out["populate_s"], _ = timed(populate)
    total = n_models * n_versions
    out["versions_per_s"] = total / out["populate_s"]

    picks = [names[(i * 37) % n_models] for i in range(20)]

    def by_name() -> int:
        hits = 0
        for name in picks:
            hits += len(client.search_model_versions(f"name = '{name}'"))
        return hits

    t, hits = _best(by_name, 5)
    out["search_name_s"] = t / len(picks)
    out["search_name_hits"] = hits // len(picks)

    def by_like() -> int:
        return len(client.search_model_versions("name LIKE 'model-04%'"))

    out["search_like_s"], out["search_like_hits"] = _best(by_like, 5)

    def by_tag() -> int:
        return len(
            client.search_model_versions(
                f"name = '{names[1]}' AND tags.quality = 'high'",
                order_by=["version_number ASC"],
            )
        )

    out["search_tag_s"], out["search_tag_hits"] = _best(by_tag, 5)

    def page_all() -> int:
        seen, token = 0, None
        while True:
            page = client.search_model_versions(max_results=1000, page_token=token)
            seen += len(page)
            token = page.token
            if not token:
                return seen

    out["page_all_s"], seen = _best(page_all, 3)
    assert seen == total, seen

    def models() -> int:
        return len(client.search_registered_models(max_results=1000))

    out["search_models_s"], out["search_models_hits"] = _best(models, 5)

    def gets() -> int:
        for name in picks:
            client.get_model_version(name, "7")
            client.get_model_version_by_alias(name, "champion")
        return len(picks)

    t, n = _best(gets, 5)
    out["get_pair_s"] = t / n
    return out


def _worker(args: argparse.Namespace) -> None:
    emit(run_scenarios(args.worker, args.db, args.models, args.versions))


def _in_subprocess(python: str, lib: str, args: argparse.Namespace, tmp: str) -> dict[str, Any]:
    db = os.path.join(tmp, lib, "bench.db")
    os.makedirs(os.path.dirname(db), exist_ok=True)
    cmd = [
        python,
        os.path.abspath(__file__),
        "--worker",
        lib,
        "--db",
        db,
        "--models",
        str(args.models),
        "--versions",
        str(args.versions),
    ]
    return run_worker(cmd, f"{lib} worker", cwd=os.path.dirname(db))


def _fmt(value: float | None, unit: str) -> str:
    if unit == "s" or value is None:
        return fmt_seconds(value, ms_digits=2)
    return f"{value:,.0f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--versions", type=int, default=100, help="versions per model")
    parser.add_argument(
        "--mlflow-python",
        default=None,
        help="interpreter with mlflow==3.17.2 (default: this one, if it has mlflow)",
    )
    parser.add_argument("--worker", choices=["trackyard", "mlflow"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return

    mlflow_python = mlflow_interpreter(args.mlflow_python)
    total = args.models * args.versions
    print(f"models={args.models} versions per model={args.versions} (total {total})")
    print(f"trackyard: {sys.executable}\nmlflow:    {mlflow_python or '(not available)'}\n")

    with tempfile.TemporaryDirectory(prefix="trackyard-bench-") as tmp:
        ty = _in_subprocess(sys.executable, "trackyard", args, tmp)
        ml = _in_subprocess(mlflow_python, "mlflow", args, tmp) if mlflow_python else {}

    rows = [
        (f"register {args.models} models x {args.versions} versions", "populate_s", ""),
        (
            f"search_model_versions name = (x{ty['search_name_hits']})",
            "search_name_s",
            ">= 5x",
        ),
        (f"search_model_versions LIKE (x{ty['search_like_hits']})", "search_like_s", ""),
        (f"search_model_versions name+tag (x{ty['search_tag_hits']})", "search_tag_s", ""),
        (f"page through {total} versions (1000/page)", "page_all_s", ""),
        (f"search_registered_models (x{ty['search_models_hits']})", "search_models_s", ""),
        ("get_model_version + get_model_version_by_alias", "get_pair_s", ""),
    ]
    header = f"{'scenario':50} {'trackyard':>12} {'mlflow':>12} {'speed-up':>9}  target"
    print(header)
    print("-" * len(header))
    for name, key, target in rows:
        t, m = ty[key], ml.get(key)
        ratio = f"{m / t:8.1f}x" if m else "        -"
        print(f"{name:50} {_fmt(t, 's'):>12} {_fmt(m, 's'):>12} {ratio}  {target}")
    print()
    print(
        f"registering versions: trackyard {_fmt(ty['versions_per_s'], 'versions/s')}, "
        f"mlflow {_fmt(ml.get('versions_per_s'), 'versions/s')}"
    )
    for key in ("search_name_hits", "search_like_hits", "search_tag_hits", "search_models_hits"):
        print(f"{key}: trackyard {ty[key]}, mlflow {ml.get(key, '-')}")


if __name__ == "__main__":
    main()
