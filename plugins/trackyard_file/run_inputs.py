"""Run inputs and outputs in the file store, in MLflow 3's layout (mixed into the store).

Layout (MLflow's)::

    <experiment>/datasets/<md5(name + digest)>/meta.yaml     name, digest, source_type, source,
                                                             schema, profile
    <run>/inputs/<md5(dataset id + run id)>/meta.yaml        source_type: DATASET, source_id,
                                                             destination_type: RUN, tags
    <run>/inputs/<md5(model id + run id)>/meta.yaml          source_type: MODEL, source_id
    <run>/outputs/<model id>/meta.yaml                       source_type: RUN_OUTPUT,
                                                             destination_type: MODEL_OUTPUT, step

(``destination_id`` repeats ``source_id``, as MLflow writes it.) A run's input and output
files are written under the run's lock inside one undo journal; a dataset's meta.yaml, shared
by the experiment's runs, is written first and only if missing, so the first dataset logged
under a name and digest keeps its fields, as in MLflow.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trackyard.entities import DatasetInput, LoggedModelInput, LoggedModelOutput
from trackyard_file._fs import dump_meta, write_atomic, writes
from trackyard_file._txn import Txn

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

__all__ = ["FileRunInputs", "read_model_links"]

_META = "meta.yaml"


def _md5(*parts: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for part in parts:
        digest.update(part.encode("utf-8"))
    return digest.hexdigest()


def read_model_links(
    read_meta: Any, run_dir: str
) -> tuple[tuple[LoggedModelInput, ...], tuple[LoggedModelOutput, ...]]:
    """A run folder's model inputs and outputs, as MLflow writes them."""
    inputs: list[LoggedModelInput] = []
    outputs: list[LoggedModelOutput] = []
    for folder, kind in (("inputs", "MODEL"), ("outputs", "RUN_OUTPUT")):
        base = os.path.join(run_dir, folder)
        try:
            names = sorted(os.listdir(base))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            try:
                meta = read_meta(os.path.join(base, name, _META))
            except (FileNotFoundError, NotADirectoryError, ValueError):
                continue
            if meta.get("source_type") != kind:
                continue
            if kind == "MODEL":
                inputs.append(LoggedModelInput(str(meta.get("source_id"))))
            else:
                step = meta.get("step")
                outputs.append(LoggedModelOutput(str(meta.get("destination_id")), int(step or 0)))
    return tuple(inputs), tuple(outputs)


class FileRunInputs:
    """``log_inputs`` and ``log_outputs`` of the file tracking store."""

    if TYPE_CHECKING:
        _sync_data: bool
        _sync_meta: bool

        def _write_run(self, run_id: str) -> AbstractContextManager[Any]: ...
        def _model_dir(self, model_id: str) -> str: ...
        def _model_meta(
            self, model_dir: str, model_id: str, allow_deleted: bool
        ) -> dict[str, Any]: ...

    def _require_models(self, model_ids: Sequence[str]) -> None:
        for model_id in sorted(set(model_ids)):
            self._model_meta(self._model_dir(model_id), model_id, False)

    @writes
    def log_inputs(
        self,
        run_id: str,
        datasets: Sequence[DatasetInput] | None = None,
        models: Sequence[LoggedModelInput] | None = None,
    ) -> None:
        """Record dataset and model inputs of an active run (see the module docstring)."""
        first: dict[tuple[str, str], DatasetInput] = {}
        for item in datasets or ():
            first.setdefault((item.dataset.name, item.dataset.digest), item)
        with self._write_run(run_id) as w:
            w.require_active()
            self._require_models([m.model_id for m in models or ()])
            run_dir = w.run_dir
            datasets_dir = os.path.join(os.path.dirname(run_dir), "datasets")
            txn = Txn(run_dir, sync=self._sync_data, sync_meta=self._sync_meta)
            for (name, digest), item in first.items():
                dataset_id = _md5(name, digest)
                input_path = os.path.join(run_dir, "inputs", _md5(dataset_id, run_id), _META)
                if os.path.exists(input_path):
                    continue
                dataset_meta = os.path.join(datasets_dir, dataset_id, _META)
                if not os.path.exists(dataset_meta):
                    ds = item.dataset
                    os.makedirs(os.path.dirname(dataset_meta), exist_ok=True)
                    write_atomic(
                        dataset_meta,
                        dump_meta(
                            {
                                "digest": ds.digest,
                                "name": ds.name,
                                "profile": ds.profile,
                                "schema": ds.schema,
                                "source": ds.source,
                                "source_type": ds.source_type,
                            }
                        ),
                    )
                tags = {t.key: t.value for t in item.tags}
                txn.create(input_path, _link(dataset_id, "DATASET", "RUN", tags))
            for m in models or ():
                input_path = os.path.join(run_dir, "inputs", _md5(m.model_id, run_id), _META)
                if not os.path.exists(input_path) and not txn_has(txn, input_path):
                    txn.create(input_path, _link(m.model_id, "MODEL", "RUN", {}))
            if txn:
                w.changed = True
                txn.apply(w.lock_fd)

    @writes
    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record models an active run produced (a model logged again gets the new step)."""
        steps = {m.model_id: m.step for m in models}
        with self._write_run(run_id) as w:
            w.require_active()
            self._require_models(list(steps))
            txn = Txn(w.run_dir, sync=self._sync_data, sync_meta=self._sync_meta)
            for model_id, step in steps.items():
                path = os.path.join(w.run_dir, "outputs", model_id, _META)
                data = {
                    "source_type": "RUN_OUTPUT",
                    "source_id": model_id,
                    "destination_type": "MODEL_OUTPUT",
                    "destination_id": model_id,
                    "tags": {},
                    "step": step,
                }
                txn.replace(path, dump_meta(data))
            if txn:
                w.changed = True
                txn.apply(w.lock_fd)


def txn_has(txn: Txn, path: str) -> bool:
    """Whether ``txn`` already writes ``path``."""
    return any(p == path for _, p, _ in txn.ops)


def _link(source_id: str, source_type: str, destination_type: str, tags: dict[str, str]) -> bytes:
    return dump_meta(
        {
            "source_type": source_type,
            "source_id": source_id,
            "destination_type": destination_type,
            "destination_id": source_id,  # as MLflow writes it
            "tags": tags,
        }
    )
