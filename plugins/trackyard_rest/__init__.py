"""MLflow's REST API: the tracking server (trackyard_rest.server) and http(s) client stores."""

from __future__ import annotations
