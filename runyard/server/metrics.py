"""Prometheus metrics of the tracking server."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class ServerMetrics:
    """The server's metrics, in a registry of their own so several apps can live in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "runyard_http_request_duration_seconds",
            "HTTP request latency by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.history_lines = Counter(
            "runyard_history_lines_total",
            "History lines received through file_stream (retries included).",
            registry=self.registry,
        )
        self.file_stream_posts = Counter(
            "runyard_file_stream_posts_total", "file_stream posts handled.", registry=self.registry
        )
        self.runs_crashed = Counter(
            "runyard_runs_crashed_total",
            "Runs marked crashed after their client went silent.",
            registry=self.registry,
        )
        self.claims = Counter(
            "runyard_queue_claims_total", "Queue items handed to agents.", registry=self.registry
        )
        self.leases_expired = Counter(
            "runyard_queue_leases_expired_total",
            "Claimed items whose agent stopped heartbeating (requeued or failed).",
            registry=self.registry,
        )
