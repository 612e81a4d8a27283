"""The fuzz targets in CI: the corpus replayed, and a short atheris run of each target.

The corpus (``tests/fuzz/corpus/<target>/``) holds seeds and every input that once found a
bug; replaying it needs nothing but trackyard. The atheris run (a few seconds per target,
``TRACKYARD_FUZZ_SECONDS``) skips, saying why, where atheris is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

HERE = Path(__file__).resolve().parent
SECONDS = int(os.environ.get("TRACKYARD_FUZZ_SECONDS", "5"))


def corpus(name: str) -> list[Path]:
    return sorted((HERE / "corpus" / name).iterdir())


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_corpus_replays_cleanly(name: str) -> None:
    files = corpus(name)
    assert len(files) >= 5, f"the {name} corpus lost its seeds"
    for path in files:
        TARGETS[name](path.read_bytes().decode("utf-8", "replace"))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_short_fuzz_run(name: str, tmp_path: Path) -> None:
    if importlib.util.find_spec("atheris") is None:
        pytest.skip('atheris is not installed (pip install -e ".[fuzz]")')
    result = subprocess.run(
        [
            sys.executable,
            str(HERE / "run.py"),
            name,
            f"-max_total_time={SECONDS}",
            "-rss_limit_mb=2048",
        ],
        capture_output=True,
        text=True,
        timeout=SECONDS + 120,
        env={**os.environ, "TRACKYARD_FUZZ_WORKDIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-4000:]
