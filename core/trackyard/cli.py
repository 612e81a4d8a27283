"""The ``trackyard`` command line: quickstart, plugins, experiments and runs.

Plugins add commands through the ``trackyard_cli`` hook.
"""

from __future__ import annotations

import math
import os
import random
import sys
from collections.abc import Sequence
from typing import Any

import click

from trackyard import _cli_artifacts, _cli_models, _doctor, config
from trackyard.errors import TrackyardError

__all__ = ["cli", "main"]


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Format rows as a plain-text table with a header rule."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _client(tracking_uri: str | None) -> Any:
    from trackyard import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def _fmt_time(ms: int | None) -> str:
    if not ms:
        return ""
    import datetime

    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrackyardError as exc:
            raise click.ClickException(f"{exc.error_code}: {exc.message}") from exc


@click.group(cls=_Group)
@click.version_option(package_name="trackyard")
def cli() -> None:
    """trackyard: MLflow's client API over pluggable backends."""


_uri_option = click.option(
    "--tracking-uri",
    default=None,
    metavar="URI",
    help="Tracking store URI (default: $TRACKYARD_TRACKING_URI, $MLFLOW_TRACKING_URI, "
    f"or {config.DEFAULT_TRACKING_URI}).",
)


# -- quickstart ---------------------------------------------------------------------------------
def _train_logistic_regression(
    epochs: int, lr: float, seed: int
) -> tuple[list[tuple[float, float, float]], list[float]]:
    """Fit a tiny logistic regression on synthetic data; return per-epoch (loss, acc, val_acc)."""
    rng = random.Random(seed)

    def sample(n: int) -> list[tuple[list[float], int]]:
        data = []
        for _ in range(n):
            x = [rng.gauss(0, 1), rng.gauss(0, 1)]
            y = 1 if 1.5 * x[0] - 2.0 * x[1] + 0.3 + rng.gauss(0, 0.5) > 0 else 0
            data.append((x, y))
        return data

    train, valid = sample(400), sample(100)
    w = [0.0, 0.0, 0.0]

    def predict(x: list[float]) -> float:
        z = w[0] * x[0] + w[1] * x[1] + w[2]
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def accuracy(data: list[tuple[list[float], int]]) -> float:
        return sum((predict(x) > 0.5) == bool(y) for x, y in data) / len(data)

    history = []
    for _ in range(epochs):
        grad = [0.0, 0.0, 0.0]
        loss = 0.0
        for x, y in train:
            p = predict(x)
            loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
            err = p - y
            grad[0] += err * x[0]
            grad[1] += err * x[1]
            grad[2] += err
        w = [wi - lr * g / len(train) for wi, g in zip(w, grad, strict=True)]
        history.append((loss / len(train), accuracy(train), accuracy(valid)))
    return history, w


@cli.command()
@_uri_option
@click.option("--epochs", default=30, show_default=True, help="Training epochs to simulate.")
def quickstart(tracking_uri: str | None, epochs: int) -> None:
    """Log a small training run on the embedded default store and show it."""
    import tempfile

    from trackyard.entities import Metric, Param, RunTag

    client = _client(tracking_uri)
    name = "trackyard-quickstart"
    exp = client.get_experiment_by_name(name)
    if exp is None:
        exp_id = client.create_experiment(
            name, tags={"mlflow.note.content": "Created by `trackyard quickstart`."}
        )
    else:
        exp_id = exp.experiment_id
        if exp.lifecycle_stage != "active":
            client.restore_experiment(exp_id)
    params = {"model": "logistic-regression", "lr": 0.5, "epochs": epochs, "seed": 7}
    run = client.create_run(exp_id, tags={"task": "binary-classification", "data": "synthetic"})
    run_id = run.info.run_id
    history, weights = _train_logistic_regression(epochs, params["lr"], params["seed"])
    t0 = run.info.start_time
    metrics = []
    for step, (loss, acc, val_acc) in enumerate(history):
        ts = t0 + step * 10
        metrics += [
            Metric("loss", loss, ts, step),
            Metric("accuracy", acc, ts, step),
            Metric("val_accuracy", val_acc, ts, step),
        ]
    client.log_batch(
        run_id,
        metrics=metrics,
        params=[Param(k, str(v)) for k, v in params.items()],
        tags=[RunTag("stage", "demo")],
    )
    client.log_text(
        run_id,
        "# Quickstart model\n\nLogistic regression on 400 synthetic points, "
        f"{epochs} epochs of full-batch gradient descent.\n",
        "README.md",
    )
    client.log_dict(
        run_id,
        {
            "weights": {"w1": weights[0], "w2": weights[1], "bias": weights[2]},
            "final": {"loss": history[-1][0], "val_accuracy": history[-1][2]},
        },
        "model/weights.json",
    )
    with tempfile.TemporaryDirectory() as tmp:
        curve = os.path.join(tmp, "loss_curve.csv")
        with open(curve, "w") as fh:
            fh.write("step,loss,accuracy,val_accuracy\n")
            for step, (loss, acc, val_acc) in enumerate(history):
                fh.write(f"{step},{loss:.6f},{acc:.4f},{val_acc:.4f}\n")
        client.log_artifact(run_id, curve, "plots")
    client.set_terminated(run_id)

    done = client.get_run(run_id)
    click.echo(f"Logged run {done.info.run_name!r} ({run_id}) in experiment {name!r}.\n")
    rows = [("param", k, v) for k, v in sorted(done.data.params.items())]
    rows += [("metric", k, f"{v:.4f}") for k, v in sorted(done.data.metrics.items())]
    rows += [
        ("tag", k, v)
        for k, v in sorted(done.data.tags.items())
        if k in ("task", "data", "stage", "mlflow.user", "mlflow.source.git.commit")
    ]
    click.echo(_table(["kind", "key", "value"], rows))
    click.echo("\nArtifacts:")
    for info in client.list_artifacts(run_id):
        click.echo(f"  {info.path}{'/' if info.is_dir else ''}")
    n_runs = len(client.search_runs([exp_id], max_results=50000))
    click.echo(f"\nTracking store: {client.tracking_uri}  ({n_runs} run(s) in {name!r})")
    click.echo(f"Artifacts:      {done.info.artifact_uri}")
    click.echo(f"Try: trackyard runs list --experiment {name}")


# -- plugins ------------------------------------------------------------------------------------
@cli.command()
def plugins() -> None:
    """List plugins: versions, schemes, built-in or not, and problems.

    Problems (a plugin that failed to load or returned bad hook results, two plugins claiming
    one scheme, a backend class that does not exist) are listed under the table.
    """
    import textwrap

    from trackyard._doctor import plugin_problems
    from trackyard.plugins import get_plugin_manager

    manager = get_plugin_manager()
    problems = plugin_problems(manager)
    labels: dict[str, str] = {}
    for problem in problems:
        for name in problem.plugins:
            labels.setdefault(name, problem.kind.upper())
    rows = []
    for info in manager.plugins():
        schemes = "; ".join(f"{kind}: {', '.join(s)}" for kind, s in sorted(info.schemes.items()))
        status = labels.get(info.name, "ok")
        rows.append(
            (
                info.name,
                info.distribution or "-",
                info.version or "-",
                "yes" if info.builtin else "no",
                schemes or "-",
                status,
            )
        )
    click.echo(_table(["plugin", "distribution", "version", "built-in", "schemes", "status"], rows))
    if problems:
        click.echo(f"\n{len(problems)} problem(s):")
        for problem in problems:
            click.echo(
                textwrap.fill(problem.message, 100, initial_indent="- ", subsequent_indent="  ")
            )


# -- experiments ----------------------------------------------------------------------------------
@cli.group()
def experiments() -> None:
    """Experiments."""


_VIEWS = {"active": 1, "deleted": 2, "all": 3}


@experiments.command("list")
@_uri_option
@click.option("--view", type=click.Choice(sorted(_VIEWS)), default="active", show_default=True)
@click.option("--filter", "filter_string", default=None, help="Filter, e.g. \"name LIKE 'a%'\".")
def experiments_list(tracking_uri: str | None, view: str, filter_string: str | None) -> None:
    """List experiments."""
    client = _client(tracking_uri)
    rows, token = [], None
    while True:
        page = client.search_experiments(
            view_type=_VIEWS[view], filter_string=filter_string, page_token=token
        )
        rows += [
            (
                e.experiment_id,
                e.name,
                e.lifecycle_stage,
                _fmt_time(e.creation_time),
                e.artifact_location,
            )
            for e in page
        ]
        token = page.token
        if not token:
            break
    click.echo(_table(["id", "name", "stage", "created", "artifact location"], rows))


# -- runs ---------------------------------------------------------------------------------------
@cli.group()
def runs() -> None:
    """Runs."""


@runs.command("list")
@_uri_option
@click.option(
    "--experiment",
    "experiment",
    required=True,
    multiple=True,
    help="Experiment name or id (repeatable).",
)
@click.option("--filter", "filter_string", default="", help='e.g. "metrics.loss < 0.5".')
@click.option("--order-by", "order_by", multiple=True, help='e.g. "metrics.loss ASC".')
@click.option("--max-results", default=100, show_default=True)
@click.option("--view", type=click.Choice(sorted(_VIEWS)), default="active", show_default=True)
def runs_list(
    tracking_uri: str | None,
    experiment: Sequence[str],
    filter_string: str,
    order_by: Sequence[str],
    max_results: int,
    view: str,
) -> None:
    """List runs with their latest metrics."""
    client = _client(tracking_uri)
    ids = []
    for ref in experiment:
        exp = client.get_experiment_by_name(ref)
        if exp is None and ref.isdigit():
            exp = client.get_experiment(ref)
        if exp is None:
            raise click.ClickException(f"No experiment named or numbered {ref!r}.")
        ids.append(exp.experiment_id)
    found = client.search_runs(
        ids,
        filter_string,
        run_view_type=_VIEWS[view],
        max_results=max_results,
        order_by=list(order_by) or None,
    )
    keys = sorted({k for r in found for k in r.data.metrics})[:6]
    rows = []
    for r in found:
        rows.append(
            [r.info.run_id, r.info.run_name, r.info.status, _fmt_time(r.info.start_time)]
            + [("" if k not in r.data.metrics else f"{r.data.metrics[k]:.4g}") for k in keys]
        )
    click.echo(_table(["run id", "name", "status", "started", *keys], rows))
    if found.token:
        click.echo(f"(more runs: raise --max-results; next page token {found.token})")


cli.add_command(_doctor.doctor)
cli.add_command(_cli_models.models)
cli.add_command(_cli_artifacts.artifacts)

_extended = False


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``trackyard`` console script."""
    global _extended
    if not _extended:
        from trackyard.plugins import get_plugin_manager

        get_plugin_manager().extend_cli(cli)
        _extended = True
    cli.main(args=list(argv) if argv is not None else None, prog_name="trackyard")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
