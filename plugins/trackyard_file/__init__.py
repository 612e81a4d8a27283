"""The file store plugin: tracking and model registry on plain files, in MLflow's mlruns layout.

A folder written by MLflow 3.x's file store is read as it is, and what this plugin writes MLflow
reads back. Writes are crash- and concurrency-safe (locks, atomic renames, a roll-back journal
for multi-file writes); searches use a per-run latest-metrics summary. See ``docs/file-store.md``.

Modules: :mod:`trackyard_file.hooks` (light: declares the ``file`` scheme),
:mod:`trackyard_file.tracking` (:class:`~trackyard_file.tracking.FileTrackingStore`),
:mod:`trackyard_file.registry` (:class:`~trackyard_file.registry.FileRegistryStore`), and the
private helpers ``_fs`` (locks, atomic writes, safe paths, meta.yaml) and ``_metrics`` (metric
lines and the latest-metrics summary).
"""

from __future__ import annotations
