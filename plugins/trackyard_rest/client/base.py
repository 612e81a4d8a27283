"""What the REST tracking and registry stores share: the session, errors, search fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search.printer import format_filter, format_order_by
from trackyard.uri import mask_credentials
from trackyard_rest.client.http import RestSession

if TYPE_CHECKING:
    from trackyard.search.request import SearchRequest

__all__ = ["API", "RestStoreMixin", "explain_rest_error", "search_fields"]

#: Path prefix of MLflow's classic tracking and registry endpoints.
API = "/api/2.0/mlflow/"


def explain_rest_error(exc: BaseException, uri: str) -> str | None:
    """Plain words for the usual failures of a REST store (for ``trackyard doctor``)."""
    if not isinstance(exc, TrackyardError):
        return None
    where = mask_credentials(uri)
    if exc.error_code == ErrorCode.TEMPORARILY_UNAVAILABLE:
        return f"The tracking server at {where} cannot be reached: is it running? ({exc.message})"
    if exc.error_code in (ErrorCode.UNAUTHENTICATED, ErrorCode.CUSTOMER_UNAUTHORIZED):
        return (
            f"The tracking server at {where} refused the credentials: set "
            "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN "
            "(or their TRACKYARD_ twins)."
        )
    if exc.error_code == ErrorCode.PERMISSION_DENIED:
        return f"The tracking server at {where} denied the request for this user."
    return None


def search_fields(request: SearchRequest) -> dict[str, Any]:
    """``max_results``, ``order_by``, ``filter`` and ``page_token`` as MLflow reads them.

    The filter and the complete order are printed from the parsed request with
    ``for_mlflow=True`` (what MLflow would read differently is refused); page tokens are
    MLflow's and pass through.
    """
    fields: dict[str, Any] = {
        "max_results": request.max_results,
        "order_by": format_order_by(request.order_by, for_mlflow=True),
    }
    if request.filter is not None:
        fields["filter"] = format_filter(request.filter, for_mlflow=True)
    if request.page_token:
        fields["page_token"] = request.page_token
    return fields


class RestStoreMixin:
    """The session of a REST store (one pooled session per store), its repr and errors."""

    store_uri: str | None
    session: RestSession

    def _open_session(self, store_uri: str | None) -> None:
        if not store_uri:
            raise TrackyardError(
                f"{type(self).__name__} needs the server's http(s) URI",
                ErrorCode.INVALID_PARAMETER_VALUE,
            )
        self.session = RestSession(store_uri)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({mask_credentials(self.store_uri or '')!r})"

    @classmethod
    def explain_error(cls, exc: BaseException, uri: str) -> str | None:
        """Explain unreachable servers and refused credentials."""
        return explain_rest_error(exc, uri)

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()

    def _call(
        self,
        method: str,
        endpoint: str,
        payload: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return self.session.call(method, API + endpoint, payload, headers=headers)
