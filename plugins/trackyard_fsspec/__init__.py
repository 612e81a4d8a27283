"""Built-in artifact plugin: local paths and every fsspec protocol (s3, gs, memory, az, ...).

The hook module (:mod:`trackyard_fsspec.hooks`) imports only trackyard core; the repository
class in :mod:`trackyard_fsspec.repository` imports fsspec and is loaded the first time one of
its schemes is used.
"""

from __future__ import annotations

__all__: list[str] = []
