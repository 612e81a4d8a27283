"""The trackyard tracking server: MLflow's REST API over any trackyard store.

    trackyard server --backend-store-uri postgresql://... --workers 4

or, in code, an ASGI app for any ASGI server::

    from trackyard_rest.server import create_app

    app = create_app("sqlite:///trackyard.db")

This package's ``__init__`` stays light (the CLI hook imports it); FastAPI, pydantic and
uvicorn are imported by :mod:`trackyard_rest.server.app` and the router modules only.
"""

from __future__ import annotations

from typing import Any

from trackyard_rest.server.config import ServerConfig

__all__ = ["ServerConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from trackyard_rest.server.app import create_app

        return create_app
    raise AttributeError(name)
