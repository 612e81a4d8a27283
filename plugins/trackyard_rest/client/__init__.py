"""http(s) client stores speaking MLflow's REST API, and the ``mlflow-artifacts:`` repository.

One subject per module: :mod:`.http` (the pooled session: settings, auth, retries, errors),
:mod:`.base` (what the stores share), :mod:`.convert` (JSON <-> entities), :mod:`.batching`
(``log_batch`` split to MLflow's limits), :mod:`.tracking`, :mod:`.registry` and
:mod:`.artifacts` (the backends).
"""

from __future__ import annotations
