"""The events of registry changes made through the server, as the client fires them.

The server serves prompts through the registered-model endpoints (MLflow's client builds
its prompt API on them), so a change to a registered model tagged
``mlflow.prompt.is_prompt`` fires the prompt event the client's prompt methods fire
(``prompt.created``, ``prompt_version_tag.set``...) and any other the model event
(``registered_model.created``, ``model_version_tag.set``...), as MLflow's server picks its
webhook events. Whether a name is a prompt is read only when a plugin listens.
"""

from __future__ import annotations

from typing import Any

from trackyard.entities.model_registry import (
    IS_PROMPT_TAG_KEY,
    ModelVersion,
    Prompt,
    PromptVersion,
    RegisteredModel,
)
from trackyard.errors import TrackyardError
from trackyard.plugins.events import listening
from trackyard_rest.server.backend import Backend

__all__ = ["LOAD", "is_prompt", "model_event", "version_event"]


def is_prompt(b: Backend, name: str) -> bool:
    """Whether ``name`` is a prompt (False when no plugin listens, or it is gone)."""
    if not listening():
        return False
    try:
        return IS_PROMPT_TAG_KEY in b.registry.get_registered_model(name).tags
    except TrackyardError:
        return False


#: Stands for "load the entity when a listener wants it".
LOAD: Any = object()

_MODEL_KINDS = {
    "": "registered_model",
    "tag": "registered_model_tag",
    "alias": "model_version_alias",
}
_PROMPT_KINDS = {"": "prompt", "tag": "prompt_tag", "alias": "prompt_alias"}


def model_event(
    b: Backend,
    kind: str,
    action: str,
    name: str,
    prompt: bool,
    entity: Any = LOAD,
    /,
    **data: Any,
) -> None:
    """Fire a registered-model event: ``kind`` is ``""``, ``"tag"`` or ``"alias"``.

    ``registered_model_tag.set`` for a model becomes ``prompt_tag.set`` for a prompt, and so
    on; :data:`LOAD` makes the entity a loader of the model (a Prompt for prompts).
    """
    if entity is LOAD:

        def load() -> RegisteredModel | Prompt:
            model = b.registry.get_registered_model(name)
            return Prompt.from_registered_model(model) if prompt else model

        entity = load
    elif prompt and isinstance(entity, RegisteredModel):
        entity = Prompt.from_registered_model(entity)
    event = (_PROMPT_KINDS if prompt else _MODEL_KINDS)[kind]
    b.emit_registry(f"{event}.{action}", entity, **data)


def version_event(
    b: Backend,
    kind: str,
    action: str,
    name: str,
    number: str,
    prompt: bool,
    entity: Any = LOAD,
    /,
    **data: Any,
) -> None:
    """Fire a model-version event (``kind``: ``""`` or ``"tag"``) of version ``number``.

    ``model_version.created`` becomes ``prompt_version.created`` for a prompt, and so on;
    :data:`LOAD` makes the entity a loader of the version (a PromptVersion for prompts).
    """
    if entity is LOAD:

        def load() -> ModelVersion | PromptVersion:
            found = b.registry.get_model_version(name, number)
            return PromptVersion.from_model_version(found) if prompt else found

        entity = load
    elif prompt and isinstance(entity, ModelVersion):
        entity = PromptVersion.from_model_version(entity)
    event = ("prompt_version" if prompt else "model_version") + (f"_{kind}" if kind else "")
    b.emit_registry(f"{event}.{action}", entity, **data)
