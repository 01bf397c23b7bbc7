"""The Runyard Kubernetes operator: CRD models, pure reconcilers and kopf handlers.

Lives in `operator/runyard_operator/` and installs as `runyard.operator` (setuptools
`package-dir`): a real package folder so editable installs import it, one level below
`operator/` so running Python from the repository root never shadows the stdlib `operator`.
Heavy imports (kopf, kubernetes) stay in `handlers`; the models and reconcilers are pure.
"""
