"""One request's authorization: who is asking, what they ask about, and their level on it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from trackyard.errors import ErrorCode, TrackyardError
from trackyard_rest.server.auth.permissions import (
    EXPERIMENT,
    REGISTERED_MODEL,
    Action,
    Permission,
)
from trackyard_rest.server.errors import missing

if TYPE_CHECKING:
    from trackyard_rest.server.auth.store import AuthStore, User
    from trackyard_rest.server.backend import Backend

__all__ = ["Gate"]


class Gate:
    """What a rule needs to decide: the user, the request's parameters, the stores.

    Args:
        user: the authenticated user.
        params: the request's parameters (the query of a GET, else the JSON body).
        path_params: parameters taken from the route's path.
        store: the auth store.
        backend: the server's tracking and registry stores.
        default: the level of a user on a resource without a grant.
        headers: the request's headers (OTLP names its experiment in one).
    """

    def __init__(
        self,
        user: User,
        params: Mapping[str, Any],
        path_params: Mapping[str, Any],
        store: AuthStore,
        backend: Backend,
        default: Permission,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.user = user
        self.headers: Mapping[str, str] = headers or {}
        self.params = params
        self.path_params = path_params
        self.store = store
        self.backend = backend
        self.default = default
        self._levels: dict[str, dict[str, Permission]] = {}

    def text(self, name: str, *alternatives: str, default: str | None = None) -> str:
        """A parameter as text; MLflow's missing-parameter error when absent."""
        for key in (name, *alternatives):
            value = self.params.get(key)
            if isinstance(value, list):  # a repeated query parameter: the handler takes the last
                value = value[-1] if value else None
            if value is not None and value != "":
                if isinstance(value, dict | list):
                    raise TrackyardError.invalid_parameter_value(
                        f"Invalid value for parameter '{key}': expected a string."
                    )
                return str(value)
        if default is not None:
            return default
        raise missing(name)

    def levels(self, resource_type: str) -> dict[str, Permission]:
        """The user's grants on a resource type (loaded once per request)."""
        found = self._levels.get(resource_type)
        if found is None:
            found = self._levels[resource_type] = self.store.permissions_of(
                self.user.id, resource_type
            )
        return found

    def level(self, resource_type: str, resource_id: str) -> Permission:
        """The user's level on one resource: their grant, else the default."""
        return self.levels(resource_type).get(resource_id, self.default)

    def can(self, resource_type: str, resource_id: str, action: Action) -> bool:
        """Whether the user may do ``action`` on the resource."""
        return self.user.is_admin or self.level(resource_type, resource_id).allows(action)

    def experiment_of_run(self, run_id: str) -> str:
        """The experiment a run belongs to (RESOURCE_DOES_NOT_EXIST for an unknown run)."""
        return self.backend.tracking.get_run(run_id).info.experiment_id

    def texts(self, name: str) -> list[str]:
        """A repeated parameter (a list in a JSON body, repeated keys in a query) as texts."""
        value = self.params.get(name)
        if value is None or value == "":
            return []
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, dict | list) for v in values):
            raise TrackyardError.invalid_parameter_value(
                f"Invalid value for parameter '{name}': expected strings."
            )
        return [str(v) for v in values]

    def experiment_of_logged_model(self, model_id: str) -> str:
        """The experiment a logged model belongs to (RESOURCE_DOES_NOT_EXIST when unknown)."""
        return str(self.backend.tracking.get_logged_model(model_id).experiment_id)

    def experiment_of_trace(self, trace_id: str) -> str:
        """The experiment a trace belongs to (RESOURCE_DOES_NOT_EXIST when unknown)."""
        return str(self.backend.tracking.get_trace_info(trace_id).experiment_id)

    def experiment_named(self, name: str) -> str:
        """The id of the experiment called ``name``."""
        exp = self.backend.tracking.get_experiment_by_name(name)
        if exp is None:
            raise TrackyardError(
                f"Could not find experiment with name '{name}'", ErrorCode.RESOURCE_DOES_NOT_EXIST
            )
        return exp.experiment_id

    def experiment_exists(self, experiment_id: str) -> bool:
        """Whether an experiment with this id exists (deleted ones too)."""
        try:
            self.backend.tracking.get_experiment(experiment_id)
        except TrackyardError as exc:
            if exc.error_code in (
                ErrorCode.RESOURCE_DOES_NOT_EXIST,
                ErrorCode.INVALID_PARAMETER_VALUE,
            ):
                return False
            raise
        return True

    def readable_experiments(self, ids: list[str]) -> list[str]:
        """The ids among ``ids`` the user may read."""
        return [i for i in ids if self.can(EXPERIMENT, i, Action.READ)]

    def can_read_model(self, name: str) -> bool:
        """Whether the user may read the registered model ``name``."""
        return self.can(REGISTERED_MODEL, name, Action.READ)
