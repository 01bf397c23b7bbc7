"""Prometheus metrics of the operator (served by `prometheus_client` on its own port)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

RECONCILES = Counter(
    "runyard_operator_reconciles_total",
    "Reconciles by custom-resource kind and result (ok, degraded, error).",
    ["kind", "result"],
)
AGENTS = Gauge(
    "runyard_operator_pool_agents",
    "Agents per pool: desired (scaling function) and actual (ready replicas).",
    ["namespace", "pool", "which"],
)
QUEUE_DEPTH = Gauge(
    "runyard_operator_queue_depth",
    "Items seen per queue by state (pending, running).",
    ["namespace", "queue", "state"],
)
