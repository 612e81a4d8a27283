"""One search grammar for every backend.

- :func:`parse_filter` and :func:`parse_order_by` turn MLflow filter strings and order_by
  clauses into the typed AST of :mod:`trackyard.search.ast` (every error is a
  ``TrackyardError`` with ``INVALID_PARAMETER_VALUE``); :func:`format_filter` and
  :func:`format_order_by` print an AST back as MLflow filter text.
- :mod:`trackyard.search.request` holds the typed requests a store's ``search_*`` methods
  receive (:class:`RunSearch`, :class:`ExperimentSearch`, :class:`RegisteredModelSearch`,
  :class:`ModelVersionSearch`): the client parses once, stores compile or evaluate the AST
  and never parse.
- :func:`encode_page_token`, :func:`decode_page_token` and :func:`validate_max_results`
  carry MLflow's paging rules.
- :mod:`trackyard.search.evaluator` defines the reference semantics in pure Python
  (:func:`search_runs_in_memory`, :func:`run_matches`, :func:`sort_runs`...), and
  :mod:`trackyard.search.registry_evaluator` does the same for registered models and model
  versions (prompt exclusion included). Stores that hold Python objects reuse them; SQL-like
  backends compile the AST and must return the same results.
"""

from __future__ import annotations

from trackyard.search.ast import And, Comparison, Entity, Expr, Op, Or, OrderKey, SearchKind
from trackyard.search.evaluator import (
    DATASET_CONTEXT_TAG,
    experiment_matches,
    like_matches,
    paginate,
    run_matches,
    search_experiments_in_memory,
    search_runs_in_memory,
    sort_experiments,
    sort_runs,
)
from trackyard.search.paging import (
    DEFAULT_MAX_RESULTS,
    MAX_RESULTS_CAP,
    decode_page_token,
    encode_page_token,
    validate_max_results,
)
from trackyard.search.parser import complete_order, parse_filter, parse_order_by
from trackyard.search.printer import format_filter, format_order_by
from trackyard.search.registry_evaluator import (
    effective_filter,
    filter_asks_for_prompts,
    model_version_matches,
    registered_model_matches,
    search_model_versions_in_memory,
    search_registered_models_in_memory,
    sort_model_versions,
    sort_registered_models,
    without_prompt_terms,
)
from trackyard.search.request import (
    ExperimentSearch,
    ModelVersionSearch,
    RegisteredModelSearch,
    RunSearch,
    SearchRequest,
)

__all__ = [
    "DATASET_CONTEXT_TAG",
    "DEFAULT_MAX_RESULTS",
    "MAX_RESULTS_CAP",
    "And",
    "Comparison",
    "Entity",
    "ExperimentSearch",
    "Expr",
    "ModelVersionSearch",
    "Op",
    "Or",
    "OrderKey",
    "RegisteredModelSearch",
    "RunSearch",
    "SearchKind",
    "SearchRequest",
    "complete_order",
    "decode_page_token",
    "effective_filter",
    "encode_page_token",
    "experiment_matches",
    "filter_asks_for_prompts",
    "format_filter",
    "format_order_by",
    "like_matches",
    "model_version_matches",
    "paginate",
    "parse_filter",
    "parse_order_by",
    "registered_model_matches",
    "run_matches",
    "search_experiments_in_memory",
    "search_model_versions_in_memory",
    "search_registered_models_in_memory",
    "search_runs_in_memory",
    "sort_experiments",
    "sort_model_versions",
    "sort_registered_models",
    "sort_runs",
    "validate_max_results",
    "without_prompt_terms",
]
