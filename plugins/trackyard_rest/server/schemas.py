"""Request pieces shared by the routers, and MLflow's request conventions.

Request bodies are pydantic v2 models (they also make the OpenAPI document). As MLflow's
proto parsing does, unknown fields are ignored and numbers may arrive as strings
(``"timestamp": "5"``, ``"value": "NaN"``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from trackyard.entities import ViewType
from trackyard.errors import TrackyardError

__all__ = [
    "KeyValue",
    "Request",
    "ViewTypeField",
    "key_values",
    "request_body_schema",
    "view_type",
]


class Request(BaseModel):
    """Base of every request body: unknown fields are ignored, as MLflow does."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class KeyValue(Request):
    """A ``{key, value}`` tag or param."""

    key: str
    value: str | None = None


def key_values(items: list[KeyValue] | None) -> dict[str, Any]:
    """Tags as a dict (a missing value is an empty string, as proto2 defaults it)."""
    return {t.key: "" if t.value is None else t.value for t in items or ()}


def request_body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model`` as the JSON body of a route that reads it itself.

    The model's JSON schema is inlined (no ``$defs``), so the OpenAPI document needs no
    component for it.
    """
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.rsplit("/", 1)[1]])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    content = {"application/json": {"schema": inline(schema)}}
    return {"requestBody": {"required": True, "content": content}}


def view_type(value: object) -> int:
    """A view type given as a name (``ACTIVE_ONLY``) or its number."""
    if value is None or value == "":
        return ViewType.ACTIVE_ONLY
    if isinstance(value, int) and not isinstance(value, bool):
        if value in (1, 2, 3):
            return value
    elif isinstance(value, str):
        if value.strip().isdigit():
            return view_type(int(value))
        return ViewType.from_string(value)
    raise TrackyardError.invalid_parameter_value(f"Invalid view type {value!r}")


def _view_type_or_error(value: object) -> int:
    try:
        return view_type(value)
    except TrackyardError as exc:
        raise ValueError(exc.message) from None


#: A view type field: a name or number, ACTIVE_ONLY when absent.
ViewTypeField = Annotated[int, BeforeValidator(_view_type_or_error)]
