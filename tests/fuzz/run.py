"""Fuzz one target with atheris: ``python tests/fuzz/run.py TARGET [libFuzzer options]``.

TARGET is one of ``filter``, ``page_token``, ``uri``, ``artifact_path`` (see targets.py).
The corpus in ``tests/fuzz/corpus/<target>/`` seeds the run; pass ``-max_total_time=<s>``
to bound it (the tox env ``fuzz`` runs each target for 60 s). New inputs and crash reproducers
go to ``TRACKYARD_FUZZ_WORKDIR`` (default: a new temporary folder); copy an input worth keeping
into the corpus by hand. Needs ``pip install atheris``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository root, for ``tests.fuzz``


def main() -> None:
    import atheris

    with atheris.instrument_imports():
        import trackyard.search
        import trackyard.uri
        import trackyard.validation  # noqa: F401
        from tests.fuzz.targets import TARGETS

    name = sys.argv[1]
    target = TARGETS[name]

    def one_input(data: bytes) -> None:
        text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data))
        target(text)

    # new inputs go to a scratch folder; the corpus in the repository only seeds the run
    scratch = os.environ.get("TRACKYARD_FUZZ_WORKDIR") or tempfile.mkdtemp(prefix="fuzz-")
    corpus = HERE / "corpus" / name
    argv = [sys.argv[0], *sys.argv[2:], f"-artifact_prefix={scratch}/", scratch, str(corpus)]
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
