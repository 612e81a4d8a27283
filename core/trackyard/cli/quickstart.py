"""``trackyard quickstart``: log a small, real training run and show where it went."""

from __future__ import annotations

import math
import os
import random
import shlex

import click

from trackyard.cli._common import client as make_client
from trackyard.cli._common import table, tracking_uri_option
from trackyard.uri import mask_credentials

__all__ = ["quickstart", "try_next"]

EXPERIMENT = "trackyard-quickstart"


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


@click.command()
@tracking_uri_option
@click.option("--epochs", default=30, show_default=True, help="Training epochs to simulate.")
def quickstart(tracking_uri: str | None, epochs: int) -> None:
    """Log a small training run on the embedded default store and show it."""
    import tempfile

    from trackyard.entities import Metric, Param, RunTag

    client = make_client(tracking_uri)
    name = EXPERIMENT
    exp = client.get_experiment_by_name(name)
    if exp is None:
        exp_id = client.create_experiment(
            name, tags={"mlflow.note.content": "Created by `trackyard quickstart`."}
        )
    else:
        exp_id = exp.experiment_id
        if exp.lifecycle_stage != "active":
            client.restore_experiment(exp_id)
    lr, seed = 0.5, 7
    params = {"model": "logistic-regression", "lr": lr, "epochs": epochs, "seed": seed}
    run = client.create_run(exp_id, tags={"task": "binary-classification", "data": "synthetic"})
    run_id = run.info.run_id
    history, weights = _train_logistic_regression(epochs, lr, seed)
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
    click.echo(table(["kind", "key", "value"], rows))
    click.echo("\nArtifacts:")
    for info in client.list_artifacts(run_id):
        click.echo(f"  {info.path}{'/' if info.is_dir else ''}")
    n_runs = len(client.search_runs([exp_id], max_results=50000))
    click.echo(
        f"\nTracking store: {mask_credentials(client.tracking_uri)}  ({n_runs} run(s) in {name!r})"
    )
    click.echo(f"Artifacts:      {mask_credentials(done.info.artifact_uri)}")
    click.echo(try_next(client.tracking_uri, name))


def try_next(tracking_uri: str, experiment: str) -> str:
    """The "Try:" line: a ``runs list`` command on the store the quickstart used.

    The URI is spelled out, so the command works without the environment the quickstart ran
    in; a password in it is masked (and the line says so).
    """
    shown = mask_credentials(tracking_uri)
    command = shlex.join(
        ["trackyard", "runs", "list", "--tracking-uri", shown, "--experiment", experiment]
    )
    if shown != tracking_uri:
        return f"Try: {command}\n     (put the password back where the URI shows ***)"
    return f"Try: {command}"
