"""The top-level fluent names agree with ``trackyard.fluent.__all__``."""

from __future__ import annotations

import trackyard
import trackyard.fluent as fluent

# fluent names deliberately not re-exported by ``import trackyard``: they are no MLflow API.
_FLUENT_ONLY = {"active_experiment_id"}


def test_top_level_fluent_names_match_the_fluent_module() -> None:
    exported = set(fluent.__all__) - _FLUENT_ONLY
    assert exported == trackyard._FLUENT, (
        f"missing at top level: {sorted(exported - trackyard._FLUENT)}; "
        f"not in fluent.__all__: {sorted(trackyard._FLUENT - exported)}"
    )


def test_each_top_level_fluent_name_is_the_fluent_object() -> None:
    for name in sorted(trackyard._FLUENT):
        assert getattr(trackyard, name) is getattr(fluent, name), name
        assert name in trackyard.__all__, name


def test_fluent_only_names_stay_off_the_top_level() -> None:
    for name in _FLUENT_ONLY:
        assert name not in trackyard.__all__
