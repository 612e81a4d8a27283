"""Built-in run-context plugin: MLflow's system tags (user, source, git commit) on new runs."""
