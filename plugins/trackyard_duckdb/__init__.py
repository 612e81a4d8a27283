"""Built-in DuckDB plugin: tracking and model registry stores for analytics-scale experiments.

``duckdb:///path.duckdb`` and ``duckdb:///:memory:``. The data is kept in trackyard's own
columnar schema (:mod:`trackyard_duckdb.schema`), not MLflow's: one narrow row per latest
metric, param and tag for search, and every metric point keyed by its series for history.

The hook module (:mod:`trackyard_duckdb.hooks`) imports only trackyard core; the stores in
:mod:`trackyard_duckdb.tracking` and :mod:`trackyard_duckdb.registry` import DuckDB and are
loaded the first time the ``duckdb`` scheme is used (``pip install "trackyard[duckdb]"``).
"""

from __future__ import annotations

__all__: list[str] = []
