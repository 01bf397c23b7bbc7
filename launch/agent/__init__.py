"""The runyard launch agent: claims queue items and runs them (local processes or k8s Jobs)."""
