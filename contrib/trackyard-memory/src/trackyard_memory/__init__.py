"""trackyard-memory: in-process tracking and model registry stores for trackyard.

``memory://<name>`` selects a store that keeps everything in this process's memory: fast,
isolated and gone when the process exits. It suits unit tests of training code, notebooks and
examples::

    from trackyard import MlflowClient

    client = MlflowClient("memory://my-test")
    exp_id = client.create_experiment("demo")

Every ``memory://<name>`` store of one name in a process shares its data; :func:`reset`
forgets it. ``memory://`` alone is anonymous (see the README for the exact rules).

The stores live in :mod:`trackyard_memory.tracking` and :mod:`trackyard_memory.registry`
and are found by trackyard through the ``trackyard`` entry point
(:mod:`trackyard_memory.hooks`); this module stays cheap to import.
"""

from __future__ import annotations

import uuid

from trackyard_memory._spaces import reset, space_names

__all__ = ["fresh_uri", "reset", "space_names"]


def fresh_uri(prefix: str = "test") -> str:
    """Return a ``memory://`` URI no store in this process has used yet.

    Args:
        prefix: the start of the generated name (letters, digits, ``.``, ``_``, ``-``).

    Returns:
        ``memory://<prefix>-<32 hex digits>``.
    """
    return f"memory://{prefix}-{uuid.uuid4().hex}"
