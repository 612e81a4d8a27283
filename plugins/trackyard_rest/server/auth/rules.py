"""Which permission each route needs: one explicit rule per (method, route), none implied.

The table is the whole access policy. A request whose route has no rule here is refused to
everyone but admins (fail closed), so a router added later stays closed until its routes get
rules; :func:`unmapped_routes` lists those (the server logs them at start and a test fails on
them).

Resource rules follow MLflow's basic-auth app: reading needs READ, changing needs EDIT,
deleting (and restoring) and managing permissions need MANAGE, on the experiment (found from
the experiment id, the run or the experiment name) or the registered model (by name).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

from starlette.routing import compile_path

from trackyard_rest.server.auth.gate import Gate
from trackyard_rest.server.auth.permissions import EXPERIMENT, REGISTERED_MODEL, Action
from trackyard_rest.server.errors import missing
from trackyard_rest.server.imports import IMPORT_ROUTES
from trackyard_rest.server.imports import PREFIXES as _TRACKYARD_PREFIXES

__all__ = ["RULES", "After", "Rule", "app_routes", "find_rule", "unmapped_routes"]


class After(Enum):
    """Work the middleware does around a route besides the check."""

    NONE = "none"
    GRANT_EXPERIMENT = "grant experiment"  # the creator gets MANAGE
    GRANT_MODEL = "grant model"
    RENAME_MODEL = "rename model"  # grants follow the new name
    FORGET_MODEL = "forget model"  # grants of a deleted model go
    FILTER_EXPERIMENTS = "filter experiments"  # only readable ones, pages refilled
    FILTER_MODELS = "filter models"
    FILTER_VERSIONS = "filter versions"
    FILTER_RUN_SEARCH = "filter run search"  # experiment_ids narrowed to readable ones


Check = Callable[[Gate], bool]


@dataclass(frozen=True)
class Rule:
    """How one route is authorized.

    Attributes:
        check: decides for a non-admin user (admins always pass).
        public: served without credentials (``/health`` only).
        after: extra work around the route.
        reads_body: the check needs the JSON body (False for streamed artifact uploads).
    """

    check: Check
    public: bool = False
    after: After = After.NONE
    reads_body: bool = True


def _anyone(g: Gate) -> bool:
    return True


def _admin_only(g: Gate) -> bool:
    return False  # admins pass before checks run


def _self(g: Gate) -> bool:
    return g.text("username") == g.user.username


def _experiment_id(g: Gate) -> str:
    return g.text("experiment_id")


def _run_experiment(g: Gate) -> str:
    return g.experiment_of_run(g.text("run_id", "run_uuid"))


def _named_experiment(g: Gate) -> str:
    return g.experiment_named(g.text("experiment_name"))


def _new_run_experiment(g: Gate) -> str:
    return g.text("experiment_id", default="0")  # runs/create defaults to experiment 0


def _logged_model_experiment(g: Gate) -> str:
    return g.experiment_of_logged_model(str(g.path_params.get("model_id", "")))


def _every_experiment(action: Action) -> Check:
    """Logged-model search: the user may ``action`` every experiment it names."""

    def check(g: Gate) -> bool:
        ids = g.texts("experiment_ids")
        return bool(ids) and all(g.can(EXPERIMENT, i, action) for i in ids)

    return check


def _every_run(action: Action) -> Check:
    """Bulk metric history: the user may ``action`` the experiment of every run it names."""

    def check(g: Gate) -> bool:
        runs = g.texts("run_ids")
        return bool(runs) and all(g.can(EXPERIMENT, g.experiment_of_run(r), action) for r in runs)

    return check


def _experiment(action: Action, where: Callable[[Gate], str] = _experiment_id) -> Check:
    def check(g: Gate) -> bool:
        return g.can(EXPERIMENT, where(g), action)

    return check


def _model(action: Action) -> Check:
    def check(g: Gate) -> bool:
        return g.can(REGISTERED_MODEL, g.text("name"), action)

    return check


def _resource(action: Action) -> Check:
    """``users/permissions/*``: the resource named by ``resource_type`` and ``resource_id``."""

    def check(g: Gate) -> bool:
        kind = g.text("resource_type")
        return kind in (EXPERIMENT, REGISTERED_MODEL) and g.can(kind, g.text("resource_id"), action)

    return check


def _self_or_manager(g: Gate) -> bool:
    return _self(g) or _resource(Action.MANAGE)(g)


def _artifact(action: Action) -> Check:
    """Proxied artifacts live under ``<experiment_id>/...``: that experiment decides."""

    def check(g: Gate) -> bool:
        path = g.path_params.get("artifact_path")
        if not path:
            raw = g.params.get("path") or ""
            path = raw[-1] if isinstance(raw, list) and raw else raw
        first = str(path or "").strip("/").split("/", 1)[0]
        if not first or not g.experiment_exists(first):
            return False  # the root, or not an experiment's directory: admins only
        return g.can(EXPERIMENT, first, action)

    return check


def _trace_experiment(g: Gate) -> str:
    """The experiment of the trace in the path, or in ``trace_id``/``request_id``."""
    trace_id = g.path_params.get("trace_id") or g.text("trace_id", "request_id")
    return g.experiment_of_trace(str(trace_id))


def _every_trace(action: Action) -> Check:
    """Batch trace reads: the user may ``action`` the experiment of every trace named."""

    def check(g: Gate) -> bool:
        ids = g.texts("trace_ids")
        return all(g.can(EXPERIMENT, g.experiment_of_trace(t), action) for t in ids)

    return check


def _new_trace_experiment(g: Gate) -> str:
    """StartTraceV3: ``trace.trace_info.trace_location.mlflow_experiment.experiment_id``."""
    found: Any = g.params
    for key in ("trace", "trace_info", "trace_location", "mlflow_experiment", "experiment_id"):
        found = found.get(key) if isinstance(found, dict) else None
    if found is None or isinstance(found, dict | list):
        raise missing("trace.trace_info.trace_location")
    return str(found)


def _searched_experiments(g: Gate) -> bool:
    """Trace search: the user may read every experiment of ``locations``."""
    ids = [
        str((loc.get("mlflow_experiment") or {}).get("experiment_id", ""))
        for loc in g.params.get("locations") or ()
        if isinstance(loc, dict)
    ]
    ids += g.texts("experiment_ids")
    return bool(ids) and all(g.can(EXPERIMENT, i, Action.READ) for i in ids)


def _otlp_experiment(g: Gate) -> str:
    """OTLP span export: the experiment named by the ``x-mlflow-experiment-id`` header."""
    found = g.headers.get("x-mlflow-experiment-id")
    if not found:
        raise missing("x-mlflow-experiment-id")
    return found


def _traces() -> list[tuple[str, str, Rule]]:
    """Traces and assessments follow their experiment, as logged models do."""
    t_read, t_update = (Rule(_experiment(a, _trace_experiment)) for a in (Action.READ, UPDATE))
    t_delete = Rule(_experiment(Action.DELETE))
    entries = [
        ("GET", f"{_API3}/server-info", Rule(_anyone)),  # MLflow: public; here: any user
        ("POST", f"{_API3}/traces", Rule(_experiment(UPDATE, _new_trace_experiment))),
        ("GET", f"{_API3}/traces/get", t_read),
        ("GET", f"{_API3}/traces/batchGet", Rule(_every_trace(Action.READ))),
        ("POST", f"{_API3}/traces/batchGetInfos", Rule(_every_trace(Action.READ))),
        ("POST", f"{_API3}/traces/search", Rule(_searched_experiments)),
        ("GET", f"{_API3}/traces/{{trace_id}}", t_read),
        ("POST", f"{_API3}/traces/{{trace_id}}/assessments", t_update),
        ("GET", f"{_API3}/traces/{{trace_id}}/assessments/{{assessment_id}}", t_read),
        ("PATCH", f"{_API3}/traces/{{trace_id}}/assessments/{{assessment_id}}", t_update),
        ("DELETE", f"{_API3}/traces/{{trace_id}}/assessments/{{assessment_id}}", t_update),
        ("POST", "/v1/traces", Rule(_experiment(UPDATE, _otlp_experiment), reads_body=False)),
    ]
    for api in (_API, _API3):
        entries.append(("PATCH", f"{api}/traces/{{trace_id}}/tags", t_update))
        entries.append(("DELETE", f"{api}/traces/{{trace_id}}/tags", t_update))
        entries.append(("POST", f"{api}/traces/delete-traces", t_delete))
    return entries


READ, UPDATE, DELETE, MANAGE = Action.READ, Action.UPDATE, Action.DELETE, Action.MANAGE
_API = "/api/2.0/mlflow"
_API3 = "/api/3.0/mlflow"
_ART = "/api/2.0/mlflow-artifacts"
_PATH = "{artifact_path:path}"


def _table() -> dict[tuple[str, str], Rule]:
    exp_read, exp_update = Rule(_experiment(READ)), Rule(_experiment(UPDATE))
    exp_delete = Rule(_experiment(DELETE))
    run_read, run_update = (
        Rule(_experiment(READ, _run_experiment)),
        Rule(_experiment(UPDATE, _run_experiment)),
    )
    run_delete = Rule(_experiment(DELETE, _run_experiment))
    model_read, model_update = Rule(_model(READ)), Rule(_model(UPDATE))
    model_delete, model_manage = Rule(_model(DELETE)), Rule(_model(MANAGE))
    exp_manage = Rule(_experiment(MANAGE))
    anyone, admin, self_ = Rule(_anyone), Rule(_admin_only), Rule(_self)
    lm_read, lm_update, lm_delete = (
        Rule(_experiment(action, _logged_model_experiment)) for action in (READ, UPDATE, DELETE)
    )
    entries: list[tuple[str, str, Rule]] = [
        ("GET", "/health", Rule(_anyone, public=True)),
        ("GET", "/version", anyone),
        ("GET", "/openapi.json", anyone),
        ("GET", "/docs", anyone),
        ("GET", "/docs/oauth2-redirect", anyone),
        # experiments
        ("POST", f"{_API}/experiments/create", Rule(_anyone, after=After.GRANT_EXPERIMENT)),
        ("GET", f"{_API}/experiments/get", exp_read),
        ("GET", f"{_API}/experiments/get-by-name", Rule(_experiment(READ, _named_experiment))),
        ("POST", f"{_API}/experiments/search", Rule(_anyone, after=After.FILTER_EXPERIMENTS)),
        ("GET", f"{_API}/experiments/search", Rule(_anyone, after=After.FILTER_EXPERIMENTS)),
        ("POST", f"{_API}/experiments/delete", exp_delete),
        ("POST", f"{_API}/experiments/restore", exp_delete),
        ("POST", f"{_API}/experiments/update", exp_update),
        ("POST", f"{_API}/experiments/set-experiment-tag", exp_update),
        ("POST", f"{_API}/experiments/delete-experiment-tag", exp_update),
        # runs
        ("POST", f"{_API}/runs/create", Rule(_experiment(UPDATE, _new_run_experiment))),
        ("POST", f"{_API}/runs/update", run_update),
        ("POST", f"{_API}/runs/delete", run_delete),
        ("POST", f"{_API}/runs/restore", run_delete),
        ("GET", f"{_API}/runs/get", run_read),
        ("POST", f"{_API}/runs/search", Rule(_anyone, after=After.FILTER_RUN_SEARCH)),
        ("POST", f"{_API}/runs/log-metric", run_update),
        ("POST", f"{_API}/runs/log-parameter", run_update),
        ("POST", f"{_API}/runs/set-tag", run_update),
        ("POST", f"{_API}/runs/delete-tag", run_update),
        ("POST", f"{_API}/runs/log-batch", run_update),
        ("POST", f"{_API}/runs/log-inputs", run_update),
        ("POST", f"{_API}/runs/outputs", run_update),
        ("GET", f"{_API}/metrics/get-history", run_read),
        ("GET", f"{_API}/metrics/get-history-bulk-interval", Rule(_every_run(READ))),
        # logged models: their experiment decides
        ("POST", f"{_API}/logged-models", exp_update),
        ("POST", f"{_API}/logged-models/search", Rule(_every_experiment(READ))),
        ("GET", f"{_API}/logged-models/{{model_id}}", lm_read),
        ("PATCH", f"{_API}/logged-models/{{model_id}}", lm_update),
        ("DELETE", f"{_API}/logged-models/{{model_id}}", lm_delete),
        ("PATCH", f"{_API}/logged-models/{{model_id}}/tags", lm_update),
        ("DELETE", f"{_API}/logged-models/{{model_id}}/tags/{{tag_key:path}}", lm_update),
        ("POST", f"{_API}/logged-models/{{model_id}}/params", lm_update),
        ("GET", f"{_API}/logged-models/{{model_id}}/artifacts/directories", lm_read),
        ("GET", f"{_API}/logged-models/{{model_id}}/artifacts/files", lm_read),
        # webhooks see every registry event and call out: admins only
        ("POST", f"{_API}/webhooks", admin),
        ("GET", f"{_API}/webhooks", admin),
        ("GET", f"{_API}/webhooks/{{webhook_id}}", admin),
        ("PATCH", f"{_API}/webhooks/{{webhook_id}}", admin),
        ("DELETE", f"{_API}/webhooks/{{webhook_id}}", admin),
        ("POST", f"{_API}/webhooks/{{webhook_id}}/test", admin),
        # registered models
        ("POST", f"{_API}/registered-models/create", Rule(_anyone, after=After.GRANT_MODEL)),
        ("GET", f"{_API}/registered-models/get", model_read),
        ("PATCH", f"{_API}/registered-models/update", model_update),
        (
            "POST",
            f"{_API}/registered-models/rename",
            Rule(_model(UPDATE), after=After.RENAME_MODEL),
        ),
        (
            "DELETE",
            f"{_API}/registered-models/delete",
            Rule(_model(DELETE), after=After.FORGET_MODEL),
        ),
        ("GET", f"{_API}/registered-models/search", Rule(_anyone, after=After.FILTER_MODELS)),
        ("POST", f"{_API}/registered-models/get-latest-versions", model_read),
        ("GET", f"{_API}/registered-models/get-latest-versions", model_read),
        ("POST", f"{_API}/registered-models/set-tag", model_update),
        ("DELETE", f"{_API}/registered-models/delete-tag", model_update),
        ("POST", f"{_API}/registered-models/alias", model_update),
        ("DELETE", f"{_API}/registered-models/alias", model_update),
        ("GET", f"{_API}/registered-models/alias", model_read),
        # model versions
        ("POST", f"{_API}/model-versions/create", model_update),
        ("GET", f"{_API}/model-versions/get", model_read),
        ("PATCH", f"{_API}/model-versions/update", model_update),
        ("DELETE", f"{_API}/model-versions/delete", model_delete),
        ("GET", f"{_API}/model-versions/search", Rule(_anyone, after=After.FILTER_VERSIONS)),
        ("GET", f"{_API}/model-versions/get-download-uri", model_read),
        ("POST", f"{_API}/model-versions/transition-stage", model_update),
        ("POST", f"{_API}/model-versions/set-tag", model_update),
        ("DELETE", f"{_API}/model-versions/delete-tag", model_update),
        # artifact proxy (paths start with the experiment id under mlflow-artifacts:/)
        ("GET", f"{_ART}/artifacts", Rule(_artifact(READ))),
        ("GET", f"{_ART}/artifacts/{_PATH}", Rule(_artifact(READ), reads_body=False)),
        ("PUT", f"{_ART}/artifacts/{_PATH}", Rule(_artifact(UPDATE), reads_body=False)),
        ("DELETE", f"{_ART}/artifacts/{_PATH}", Rule(_artifact(DELETE), reads_body=False)),
        ("GET", f"{_ART}/presigned/{_PATH}", Rule(_artifact(READ), reads_body=False)),
        # users (MLflow's basic-auth API)
        ("POST", f"{_API}/users/create", admin),
        ("GET", f"{_API}/users/get", self_),
        ("GET", f"{_API}/users/current", anyone),
        ("GET", f"{_API}/users/list", admin),
        ("PATCH", f"{_API}/users/update-password", self_),
        ("PATCH", f"{_API}/users/update-admin", admin),
        ("DELETE", f"{_API}/users/delete", admin),
        # per-resource permissions: the classic endpoints ...
        ("POST", f"{_API}/experiments/permissions/create", exp_manage),
        ("GET", f"{_API}/experiments/permissions/get", exp_manage),
        ("PATCH", f"{_API}/experiments/permissions/update", exp_manage),
        ("DELETE", f"{_API}/experiments/permissions/delete", exp_manage),
        ("POST", f"{_API}/registered-models/permissions/create", model_manage),
        ("GET", f"{_API}/registered-models/permissions/get", model_manage),
        ("PATCH", f"{_API}/registered-models/permissions/update", model_manage),
        ("DELETE", f"{_API}/registered-models/permissions/delete", model_manage),
        # ... and MLflow 3's per-user ones
        ("POST", f"{_API3}/users/permissions/grant", Rule(_resource(MANAGE))),
        ("POST", f"{_API3}/users/permissions/revoke", Rule(_resource(MANAGE))),
        ("GET", f"{_API3}/users/permissions/get", Rule(_self_or_manager)),
        ("GET", f"{_API3}/users/permissions/list", self_),
        ("GET", f"{_API3}/users/current/permissions", anyone),
    ]
    entries += _traces()
    # trackyard's import API writes as any user at any time: admins only
    entries.append(("GET", f"{_TRACKYARD_PREFIXES[0]}/capabilities", anyone))
    entries += [(m, f"{_TRACKYARD_PREFIXES[0]}{path}", admin) for m, path in IMPORT_ROUTES]
    for action in ("create", "complete", "abort"):
        mpu = Rule(_artifact(UPDATE), reads_body=False)
        entries.append(("POST", f"{_ART}/mpu/{action}", Rule(_admin_only, reads_body=False)))
        entries.append(("POST", f"{_ART}/mpu/{action}/{_PATH}", mpu))
    return {(method, path): rule for method, path, rule in entries}


#: The policy: (method, route path) → rule; ``/ajax-api/`` routes share ``/api/`` rules.
RULES: dict[tuple[str, str], Rule] = _table()

_AJAX = re.compile(r"^/ajax-api/")
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


def _canonical(path: str) -> str:
    return _CONVERTOR.sub(r"{\1}", _AJAX.sub("/api/", path))


_PLAIN: dict[tuple[str, str], Rule] = {}
_PATTERNS: list[tuple[str, re.Pattern[str], Rule]] = []
for (_method, _path), _rule in RULES.items():
    if "{" in _path:
        _PATTERNS.append((_method, compile_path(_path)[0], _rule))
    else:
        _PLAIN[(_method, _path)] = _rule


def find_rule(method: str, path: str) -> tuple[Rule, dict[str, Any]] | None:
    """The rule of a request and the path parameters it binds, or None when unmapped."""
    if method == "HEAD":
        method = "GET"
    path = _AJAX.sub("/api/", path)
    rule = _PLAIN.get((method, path))
    if rule is not None:
        return rule, {}
    for m, pattern, rule in _PATTERNS:
        if m == method:
            match = pattern.match(path)
            if match:
                return rule, match.groupdict()
    return None


def app_routes(app: Any) -> Iterator[tuple[str, frozenset[str]]]:
    """Every (path, methods) an app serves, through included routers of any FastAPI version."""
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        items = list(contexts()) if callable(contexts) else [route]
        for item in items:
            path = getattr(item, "path", None)
            if path is not None:
                yield path, frozenset(getattr(item, "methods", None) or ())


def unmapped_routes(app: Any) -> list[str]:
    """``"METHOD path"`` of every route of ``app`` without a rule."""
    mapped = {(method, _canonical(path)) for method, path in RULES}
    missing = []
    for path, methods in app_routes(app):
        for method in sorted(methods - {"HEAD"}) or ["*"]:
            if (method, _canonical(path)) not in mapped:
                missing.append(f"{method} {path}")
    return missing
