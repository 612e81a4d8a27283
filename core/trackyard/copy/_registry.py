"""Copying the model registry: registered models and prompts, versions, tags, aliases."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from trackyard.copy._plan import Checkpoint, CopyReport, digest, pages
from trackyard.entities.model_registry import IS_PROMPT_TAG_KEY, ModelVersionTag
from trackyard.errors import ErrorCode, TrackyardError

if TYPE_CHECKING:
    from trackyard.entities.model_registry import ModelVersion, RegisteredModel
    from trackyard.stores import RegistryStore

__all__ = ["RegistryCopier", "read_registry"]

_PROMPTS = f"tags.`{IS_PROMPT_TAG_KEY}` = 'true'"


def _quoted(name: str) -> str:
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def read_registry(store: RegistryStore) -> list[tuple[RegisteredModel, list[ModelVersion]]]:
    """Every registered model and prompt of a store with its versions (oldest first)."""
    from trackyard.search.request import ModelVersionSearch, RegisteredModelSearch

    found: dict[str, RegisteredModel] = {}
    for filter_string in (None, _PROMPTS):
        for model in pages(
            lambda token, f=filter_string: store.search_registered_models(  # type: ignore[misc]
                RegisteredModelSearch.parse(f, max_results=1000, page_token=token)
            )
        ):
            found[model.name] = model
    result = []
    for name in sorted(found):
        model = found[name]
        flt = f"name = {_quoted(name)}"
        if IS_PROMPT_TAG_KEY in model.tags:
            flt += f" AND {_PROMPTS}"
        versions = list(
            pages(
                lambda token, f=flt: store.search_model_versions(  # type: ignore[misc]
                    ModelVersionSearch.parse(f, max_results=10000, page_token=token)
                )
            )
        )
        versions.sort(key=lambda v: int(v.version))
        result.append((store.get_registered_model(name), versions))
    return result


class RegistryCopier:
    """Copies one registry into another; version sources are remapped with the runs."""

    def __init__(
        self,
        src: RegistryStore,
        dst: RegistryStore,
        checkpoint: Checkpoint,
        report: CopyReport,
        source_map: dict[str, str],
    ) -> None:
        self.src = src
        self.dst = dst
        self.checkpoint = checkpoint
        self.report = report
        self.source_map = source_map

    def remap(self, source: str | None) -> str | None:
        """A version source under a copied run's artifact root, moved to the copy's."""
        if not source:
            return source
        for old, new in self.source_map.items():
            if source == old or source.startswith(old.rstrip("/") + "/"):
                return new + source[len(old) :]
        return source

    def copy_all(self) -> None:
        """Copy every model, prompt and version the destination lacks."""
        for model, versions in read_registry(self.src):
            value = digest([dataclasses.asdict(model), [dataclasses.asdict(v) for v in versions]])
            if self.checkpoint.get("model", model.name) == value:
                continue
            self.copy_model(model, versions)
            self.checkpoint.record("model", model.name, value)

    def copy_model(self, model: RegisteredModel, versions: list[ModelVersion]) -> None:
        """Copy one model with its versions and aliases."""
        dst = self.dst
        try:
            current = dst.get_registered_model(model.name)
        except TrackyardError as exc:
            if exc.error_code != ErrorCode.RESOURCE_DOES_NOT_EXIST:
                raise
            current = None
        if current is None:
            dst.import_registered_model(dataclasses.replace(model, latest_versions=[]))
            self.report.registered_models += 1
            self.report.aliases += len(model.aliases)
            current_aliases = dict(model.aliases)
        else:
            current_aliases = dict(current.aliases)
        for version in versions:
            self.copy_version(version)
        for alias, number in sorted(model.aliases.items()):
            if current_aliases.get(alias) != number:
                dst.set_registered_model_alias(model.name, alias, number)
                self.report.aliases += 1

    def copy_version(self, version: ModelVersion) -> None:
        """Import a version, or add the tags an existing one lacks."""
        dst = self.dst
        try:
            current = dst.get_model_version(version.name, version.version)
        except TrackyardError as exc:
            if exc.error_code != ErrorCode.RESOURCE_DOES_NOT_EXIST:
                raise
            current = None
        mapped = dataclasses.replace(
            version,
            source=self.remap(version.source),
            storage_location=self.remap(version.storage_location),
            aliases=[],
        )
        if current is None:
            dst.import_model_version(mapped)
            self.report.model_versions += 1
            return
        if (current.run_id, current.creation_timestamp) != (
            version.run_id,
            version.creation_timestamp,
        ):
            raise TrackyardError(
                f"The destination's version {version.version} of {version.name!r} is a "
                "different version (another run or creation time); it was left as it is.",
                ErrorCode.RESOURCE_ALREADY_EXISTS,
            )
        for key, value in sorted(version.tags.items()):
            if current.tags.get(key) != value:
                dst.set_model_version_tag(
                    version.name, version.version, ModelVersionTag(key, value)
                )
