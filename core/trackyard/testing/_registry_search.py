"""The search checks of ``RegistryStoreSuite``: filters, orders and pages of
``search_registered_models`` and ``search_model_versions``, compared with the pure-Python
reference in :mod:`trackyard.search.registry_evaluator`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from trackyard import search
from trackyard.errors import ErrorCode
from trackyard.testing._client import require_capability
from trackyard.testing._registry_helpers import IS_PROMPT, _all_pages, _expect, _version_key

__all__ = ["MODEL_SEARCH_CASES", "VERSION_SEARCH_CASES", "RegistrySearchCheck"]

# (filter_string, order_by, needs) checked against the evaluator on the search fixture.
# ``needs`` names a capability the case requires ("" for none).
MODEL_SEARCH_CASES: list[tuple[str, list[str] | None, str]] = [
    ("", None, ""),
    ("name = 'alpha'", None, ""),
    ("name != 'alpha'", None, ""),
    ("attributes.name = 'gamma'", None, ""),
    ("name LIKE 'a%'", None, ""),
    ("name LIKE 'A%'", None, ""),
    ("name ILIKE 'a%'", ["name DESC"], ""),
    ("name LIKE '%a'", None, ""),
    ("name LIKE 'beta_test'", None, ""),
    ("name LIKE 'delta.%'", None, ""),
    ("name IN ('alpha', 'gamma', 'nope')", None, ""),
    ("name NOT IN ('alpha', 'Alpha-2')", None, ""),
    ("tags.team = 'vision'", None, ""),
    ("tags.team != 'vision'", None, ""),
    ("tags.team LIKE 'v%'", None, ""),
    ("tags.team ILIKE 'NLP'", None, ""),
    ("tags.`owner.name` = 'kim'", None, ""),
    ("tags.\"owner.name\" LIKE '%i%'", None, ""),
    ("tags.team = 'vision' AND name LIKE '%a%'", None, ""),
    ("name = 'alpha' OR tags.team = 'nlp'", None, "search_or"),
    ("(name LIKE 'b%' OR name LIKE 'g%') AND tags.team = 'nlp'", ["name DESC"], "search_or"),
    ("", ["name DESC"], ""),
    ("", ["name ASC"], ""),
    ("", ["timestamp DESC"], ""),
    ("", ["timestamp"], ""),
    ("", ["last_updated_timestamp ASC"], ""),
    ("", ["last_updated_timestamp DESC", "name DESC"], ""),
    ("", ["attributes.name DESC"], ""),
    (f"{IS_PROMPT} = 'true'", None, "prompts"),
    (f"{IS_PROMPT} = 'TRUE'", ["name DESC"], "prompts"),
    (f"{IS_PROMPT} != 'false'", None, "prompts"),
    (f"{IS_PROMPT} = 'false'", None, "prompts"),
    (f"{IS_PROMPT} = 'true' AND name LIKE 'prompt-a%'", None, "prompts"),
    (f"name LIKE 'p%' AND {IS_PROMPT} != 'true'", None, "prompts"),
]

VERSION_SEARCH_CASES: list[tuple[str, list[str] | None, str]] = [
    ("", None, ""),
    ("name = 'alpha'", None, ""),
    ("name != 'alpha'", ["version_number ASC"], ""),
    ("name IN ('alpha', 'beta')", None, ""),
    ("name NOT IN ('alpha', 'beta')", ["version_number ASC"], ""),
    ("name LIKE 'beta%'", None, ""),
    ("name ILIKE 'ALPHA%'", None, ""),
    ("attributes.name = 'gamma'", None, ""),
    ("run_id = 'run1'", None, ""),
    ("run_id != 'run1'", None, ""),
    ("run_id IN ('run1', 'run2')", None, ""),
    ("run_id NOT IN ('run1')", None, ""),
    ("run_id LIKE 'run%'", None, ""),
    ("source_path = 's3://bucket/alpha/1'", None, ""),
    ("source_path LIKE 's3://%'", None, ""),
    ("source_path ILIKE 'RUNS:/%'", None, ""),
    ("source_path != 's3://bucket/alpha/1'", None, ""),
    ("version_number = 2", None, ""),
    ("version_number != 2", None, ""),
    ("version_number > 1", ["version_number ASC"], ""),
    ("version_number >= 3", None, ""),
    ("version_number < 2", None, ""),
    ("version_number <= 2 AND name = 'beta'", None, ""),
    ("tags.framework = 'torch'", None, ""),
    ("tags.framework != 'torch'", None, ""),
    ("tags.framework LIKE 'sk%'", None, ""),
    ("tags.framework ILIKE 'TORCH'", None, ""),
    ("tags.quality = 'high' AND tags.framework = 'torch'", None, ""),
    ("tags.`stage.note` = 'x y'", None, ""),
    ("name = 'alpha' OR tags.framework = 'sklearn'", None, "search_or"),
    ("(run_id = 'run1' OR run_id = 'run2') AND version_number > 1", None, "search_or"),
    ("", ["creation_timestamp DESC"], ""),
    ("", ["creation_timestamp ASC"], ""),
    ("", ["last_updated_timestamp ASC"], ""),
    ("", ["last_updated_timestamp DESC", "name ASC"], ""),
    ("", ["name DESC", "version_number ASC"], ""),
    ("", ["version_number"], ""),
    ("", ["version_number DESC", "name DESC"], ""),
    ("name LIKE '%a%'", ["name ASC", "version_number ASC"], ""),
    (f"{IS_PROMPT} = 'true'", None, "prompts"),
    (f"{IS_PROMPT} = 'false'", None, "prompts"),
    (f"{IS_PROMPT} = 'true' AND version_number = 1", ["name DESC"], "prompts"),
]


class RegistrySearchCheck:
    """Search tests, mixed into ``RegistryStoreSuite`` (which provides ``registry_client``)."""

    if TYPE_CHECKING:

        def _prompts(self, client: Any) -> None: ...

    @pytest.fixture
    def search_fixture(self, registry_client: Any) -> tuple[Any, list[str], list[tuple[str, str]]]:
        """Models, versions and (when supported) prompts with varied names, tags and runs."""
        client = registry_client
        models = {
            "alpha": {"team": "vision", "owner.name": "kim"},
            "Alpha-2": {"team": "nlp"},
            "beta": {"team": "nlp", "owner.name": "li"},
            "beta_test": {},
            "betaXtest": {"team": "Vision"},
            "gamma": {"team": "nlp"},
            "delta.v1": {"team": "vision"},
            "zeta": {"owner.name": "kim"},
        }
        for name, tags in models.items():
            client.create_registered_model(name, tags=tags, description=f"about {name}")
        plan: dict[str, list[tuple[str, str | None, dict[str, str]]]] = {
            "alpha": [
                ("s3://bucket/alpha/1", "run1", {"framework": "torch", "quality": "high"}),
                ("s3://bucket/alpha/2", "run2", {"framework": "sklearn"}),
                ("runs:/run1/model", "run1", {"framework": "torch", "quality": "low"}),
            ],
            "beta": [
                ("runs:/run2/model", "run2", {"framework": "TORCH"}),
                ("s3://bucket/beta/2", None, {"quality": "high", "framework": "torch"}),
            ],
            "gamma": [
                ("gs://models/gamma", "run3", {"stage.note": "x y"}),
                ("s3://bucket/gamma/2", "run1", {}),
                ("s3://bucket/gamma/3", "run2", {"framework": "sklearn"}),
                ("s3://bucket/gamma/4", "run3", {"framework": "torch"}),
            ],
            "delta.v1": [("s3://bucket/delta/1", "run1", {"framework": "sklearn"})],
            "Alpha-2": [("S3://Bucket/Upper", "RUN1", {"framework": "torch"})],
        }
        keys: list[tuple[str, str]] = []
        for name, versions in plan.items():
            for source, run_id, tags in versions:
                mv = client.create_model_version(name, source, run_id=run_id, tags=tags)
                keys.append((name, mv.version))
        client.delete_model_version("gamma", "2")
        keys.remove(("gamma", "2"))
        client.update_model_version("alpha", "1", "touched later")
        client.set_registered_model_tag("beta", "touched", "yes")
        names = list(models)
        if client._registry_store.capabilities.prompts:
            client.register_prompt("prompt-a", "Hello {{ name }}", tags={"team": "vision"})
            client.register_prompt("prompt-a", "Hi {{ name }}")
            client.register_prompt("prompt-b", [{"role": "user", "content": "{{q}}"}])
            client.create_prompt("prompt-empty", tags={"team": "nlp"})
            names += ["prompt-a", "prompt-b", "prompt-empty"]
            keys += [("prompt-a", "1"), ("prompt-a", "2"), ("prompt-b", "1")]
        return client, names, keys

    def _skip_unless(self, client: Any, needs: str) -> None:
        if needs:
            require_capability(client._registry_store, needs)

    @pytest.mark.parametrize("filter_string, order_by, needs", MODEL_SEARCH_CASES)
    def test_search_registered_models_matches_evaluator(
        self, search_fixture: Any, filter_string: str, order_by: list[str] | None, needs: str
    ) -> None:
        client, names, _ = search_fixture
        self._skip_unless(client, needs)
        store = client._registry_store  # the store: prompts are hidden from the client's getters
        pool = [store.get_registered_model(n) for n in names]
        expected = [
            m.name
            for m in search.search_registered_models_in_memory(
                pool, search.RegisteredModelSearch.parse(filter_string, 1000, order_by)
            )
        ]
        got = client.search_registered_models(filter_string, 1000, order_by)
        assert [m.name for m in got] == expected
        assert got.token is None
        paged = _all_pages(
            client.search_registered_models,
            filter_string=filter_string,
            order_by=order_by,
            max_results=3,
        )
        assert [m.name for m in paged] == expected

    @pytest.mark.parametrize("filter_string, order_by, needs", VERSION_SEARCH_CASES)
    def test_search_model_versions_matches_evaluator(
        self, search_fixture: Any, filter_string: str, order_by: list[str] | None, needs: str
    ) -> None:
        client, _, keys = search_fixture
        self._skip_unless(client, needs)
        store = client._registry_store
        pool = [store.get_model_version(n, v) for n, v in keys]
        expected = [
            _version_key(v)
            for v in search.search_model_versions_in_memory(
                pool, search.ModelVersionSearch.parse(filter_string, 200000, order_by)
            )
        ]
        got = client.search_model_versions(filter_string, 200000, order_by)
        assert [_version_key(v) for v in got] == expected
        assert got.token is None
        paged = _all_pages(
            client.search_model_versions,
            filter_string=filter_string,
            order_by=order_by,
            max_results=4,
        )
        assert [_version_key(v) for v in paged] == expected

    def test_search_results_are_complete_entities(self, search_fixture: Any) -> None:
        client, _, _ = search_fixture
        client.set_registered_model_alias("alpha", "champ", "3")
        for v in _all_pages(client.search_model_versions, max_results=2):
            assert v.to_dictionary() == client.get_model_version(v.name, v.version).to_dictionary()
        for m in _all_pages(client.search_registered_models, max_results=2):
            want = client.get_registered_model(m.name)
            assert (m.name, m.description, m.tags, m.aliases) == (
                want.name,
                want.description,
                want.tags,
                want.aliases,
            )
            assert (m.creation_timestamp, m.last_updated_timestamp) == (
                want.creation_timestamp,
                want.last_updated_timestamp,
            )
            assert sorted(v.version for v in m.latest_versions) == sorted(
                v.version for v in want.latest_versions
            )

    def test_search_default_orders(self, search_fixture: Any) -> None:
        client, _, _ = search_fixture
        names = [m.name for m in client.search_registered_models()]
        assert names == sorted(names)
        # MLflow 3.17.2: without order_by, the most recently changed versions come first
        versions = [_version_key(v) for v in client.search_model_versions()]
        explicit = client.search_model_versions(
            order_by=["last_updated_timestamp DESC", "name ASC", "version_number DESC"]
        )
        assert versions == [_version_key(v) for v in explicit]
        by_name = [_version_key(v) for v in client.search_model_versions(order_by=["name"])]
        assert by_name == sorted(by_name, key=lambda k: (k[0], -k[1]))

    def test_prompts_hidden_from_model_search(self, search_fixture: Any) -> None:
        client, _, _ = search_fixture
        self._prompts(client)
        assert not {m.name for m in client.search_registered_models()} & {
            "prompt-a",
            "prompt-b",
            "prompt-empty",
        }
        assert not {v.name for v in client.search_model_versions()} & {"prompt-a", "prompt-b"}
        asked = client.search_registered_models(f"{IS_PROMPT} = 'true'")
        assert [m.name for m in asked] == ["prompt-a", "prompt-b", "prompt-empty"]
        teams = client.search_registered_models(f"{IS_PROMPT} = 'true' AND tags.team = 'nlp'")
        assert [m.name for m in teams] == ["prompt-empty"]
        assert "prompt-a" not in {
            m.name for m in client.search_registered_models("tags.team = 'vision'")
        }

    def test_search_registered_models_max_results(self, registry_client: Any) -> None:
        client = registry_client
        for i in range(105):
            client.create_registered_model(f"m{i:03d}")
        first = client.search_registered_models()
        assert len(first) == 100 and first.token
        assert [m.name for m in first] == [f"m{i:03d}" for i in range(100)]
        rest = client.search_registered_models(page_token=first.token)
        assert [m.name for m in rest] == [f"m{i:03d}" for i in range(100, 105)]
        assert rest.token is None
        assert len(client.search_registered_models(max_results=1000)) == 105
        for bad in (0, -1, 1001, True, "10", 2.5):
            _expect(
                ErrorCode.INVALID_PARAMETER_VALUE, client.search_registered_models, max_results=bad
            )

    def test_search_model_versions_max_results(self, search_fixture: Any) -> None:
        client, _, keys = search_fixture
        visible = [k for k in keys if not k[0].startswith("prompt-")]
        assert len(client.search_model_versions(max_results=200000)) == len(visible)
        page = client.search_model_versions(max_results=1)
        assert len(page) == 1 and page.token
        for bad in (0, -5, 200001, False, "1"):
            _expect(
                ErrorCode.INVALID_PARAMETER_VALUE, client.search_model_versions, max_results=bad
            )

    @pytest.mark.parametrize(
        "order_by",
        [
            ["creation_timestamp"],
            ["run_id"],
            ["tags.team"],
            ["name SIDEWAYS"],
            ["timestamp", "last_updated_timestamp"],
            ["name", "name DESC"],
            ["name, timestamp"],
            ["version_number"],
        ],
    )
    def test_search_registered_models_bad_order_by(
        self, search_fixture: Any, order_by: list[str]
    ) -> None:
        client, _, _ = search_fixture
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE,
            client.search_registered_models,
            order_by=order_by,
        )

    @pytest.mark.parametrize(
        "order_by",
        [
            ["run_id"],
            ["timestamp"],
            ["source_path"],
            ["current_stage"],
            ["tags.framework"],
            ["version_number UP"],
            ["name", "name"],
        ],
    )
    def test_search_model_versions_bad_order_by(
        self, search_fixture: Any, order_by: list[str]
    ) -> None:
        client, _, _ = search_fixture
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.search_model_versions, order_by=order_by)

    @pytest.mark.parametrize(
        "bad_filter",
        [
            "name == 'alpha'",
            "name = alpha",
            "name = 'alpha",
            "run_id = 'x'",
            "source_path = 'x'",
            "tags.team IS NULL",
            "tags.team IN ('a')",
            "name > 'a'",
            "metrics.x > 1",
            "name = 'a' AND",
            "name = 'a'; DROP TABLE registered_models",
        ],
    )
    def test_search_registered_models_bad_filters(
        self, search_fixture: Any, bad_filter: str
    ) -> None:
        client, _, _ = search_fixture
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.search_registered_models, bad_filter)
        assert len(client.search_registered_models(max_results=1000)) >= 8

    @pytest.mark.parametrize(
        "bad_filter",
        [
            "current_stage = 'None'",
            "version_number = 'abc'",
            "version_number LIKE '1%'",
            "tags.framework IS NOT NULL",
            "run_id > 'a'",
            "source_path IN ('a')",
            "status = 'READY'",
            "params.x = '1'",
            "name IN ()",
        ],
    )
    def test_search_model_versions_bad_filters(self, search_fixture: Any, bad_filter: str) -> None:
        client, _, _ = search_fixture
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.search_model_versions, bad_filter)

    @pytest.mark.parametrize("token", ["not-a-token", "eyJvZmZzZXQiOiAtMX0=", "e30=", "%%%"])
    def test_search_bad_page_tokens(self, search_fixture: Any, token: str) -> None:
        client, _, _ = search_fixture
        _expect(
            ErrorCode.INVALID_PARAMETER_VALUE, client.search_registered_models, page_token=token
        )
        _expect(ErrorCode.INVALID_PARAMETER_VALUE, client.search_model_versions, page_token=token)

    def test_search_values_are_literal(self, search_fixture: Any) -> None:
        client, _, _ = search_fixture
        for value in ["x' OR '1'='1", "alpha'; DELETE FROM model_versions; --", "%' OR 1=1 --"]:
            quoted = value.replace("'", "''")
            assert list(client.search_registered_models(f"name = '{quoted}'")) == []
            assert list(client.search_model_versions(f"tags.framework LIKE '{quoted}'")) == []
        assert len(client.search_registered_models(max_results=1000)) >= 8
