"""``python -m trackyard.cli``: the ``trackyard`` command."""

from __future__ import annotations

import sys

from trackyard.cli import main

if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
