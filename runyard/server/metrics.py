"""Prometheus metrics of the tracking server.

With `--workers N` each worker process counts in files of its own under the directory the
parent names in PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode, see
`cluster/worker.py`), and a scrape, whichever worker takes it, sums every worker's files:
totals never depend on which process answered. Scrape-time collectors (queue backlogs, GPU
telemetry) read state every process shares and are added once, by the answering process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runyard.launch.models import QueueItem
from runyard.launch.queue.store import QueueStore
from runyard.server.usage.accounting import released_gpu_seconds

PRIORITY_LABELS = ("critical", "high", "medium", "low")

# prometheus_client reads it when first imported: set by the parent before workers start.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class ServerMetrics:
    """The server's metrics, in a registry of their own so several apps can live in one process."""

    def __init__(self) -> None:
        # The metric objects live here; `exposition` is what /metrics reads (the same registry
        # in one process; with worker processes, the sum of every worker's files instead).
        self.registry = CollectorRegistry()
        self.exposition = self.registry
        shared_dir = os.environ.get(MULTIPROC_ENV)
        if shared_dir:
            self.exposition = CollectorRegistry()
            MultiProcessCollector(self.exposition, shared_dir)
        self.requests = Histogram(
            "runyard_http_request_duration_seconds",
            "HTTP request latency by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_bytes = Counter(
            "runyard_http_request_body_bytes_total",
            "Request body bytes the server received (with a bucket store, file uploads go "
            "straight to the bucket and are not counted here).",
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
        self.artifacts_expired = Counter(
            "runyard_artifact_versions_expired_total",
            "Artifact versions the sweeper deleted because their TTL ran out.",
            registry=self.registry,
        )
        self.artifact_bytes_freed = Counter(
            "runyard_artifact_bytes_freed_total",
            "Stored artifact bytes removed once no version used them any more.",
            registry=self.registry,
        )
        self.deliveries = Counter(
            "runyard_event_deliveries_total",
            "Tries of automation deliveries (webhooks, Slack), by outcome.",
            ["result"],
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
        self.queue_wait = Histogram(
            "runyard_queue_wait_seconds",
            "Time items spent pending before an agent claimed them.",
            ["queue"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600),
            registry=self.registry,
        )
        self.items_done = Counter(
            "runyard_queue_items_done_total",
            "Items that reached a final state, by queue and state.",
            ["queue", "state"],
            registry=self.registry,
        )

        self.gpu_seconds = Counter(
            "runyard_gpu_seconds_total",
            "GPU-seconds items held from launch to end, counted when they end or requeue.",
            ["queue", "user"],
            registry=self.registry,
        )

    def count_gpu_seconds(self, item: QueueItem) -> None:
        """Add the GPU-seconds of an item that just released its GPUs (ended or requeued)."""
        seconds = released_gpu_seconds(item)
        if seconds > 0:
            queue = f"{item.entity}/{item.queue}"
            self.gpu_seconds.labels(queue, item.enqueued_by or "-").inc(seconds)

    def count_deliveries(self, verdicts: list[str]) -> None:
        """Count recorded delivery tries by outcome (the event dispatcher calls this)."""
        for verdict in verdicts:
            self.deliveries.labels(verdict).inc()

    def watch_queues(self, store: QueueStore) -> None:
        """Export pending counts and the oldest pending age of every queue at scrape time."""
        self.watch(QueueCollector(store))

    def watch(self, collector: Collector) -> None:
        """Add a scrape-time collector of shared state (exported once per scrape)."""
        self.exposition.register(collector)


class QueueCollector(Collector):
    """Reads queue backlogs from the store when Prometheus scrapes (no polling in between)."""

    def __init__(self, store: QueueStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        """Pending items by queue and priority, and the oldest pending item's age."""
        pending = GaugeMetricFamily(
            "runyard_queue_pending_items",
            "Pending items by queue and priority.",
            labels=["queue", "priority"],
        )
        oldest = GaugeMetricFamily(
            "runyard_queue_oldest_pending_seconds",
            "Age of the oldest pending item (0 when none is pending).",
            labels=["queue"],
        )
        now = datetime.now(UTC)
        for queue in self.store.list_queues():
            name = f"{queue.entity}/{queue.name}"
            summary = self.store.pending_summary(queue)
            for level, label in enumerate(PRIORITY_LABELS):
                pending.add_metric([name, label], summary.by_priority.get(level, 0))
            age = (
                (now - summary.oldest_created_at).total_seconds()
                if summary.oldest_created_at
                else 0
            )
            oldest.add_metric([name], age)
        yield pending
        yield oldest


class RequestBytes:
    """ASGI middleware adding request body sizes to `runyard_http_request_body_bytes_total`."""

    def __init__(self, app: ASGIApp, counter: Counter) -> None:
        """Wrap `app`; `counter` is ServerMetrics.request_bytes."""
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the body chunks as the app reads them."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.counter.inc(len(message.get("body", b"")))
            return message

        await self.app(scope, counted, send)


class RequestTimer:
    """ASGI middleware observing each request's duration in `runyard_http_request_duration_seconds`.

    Pure ASGI rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware hides the
    client's disconnect from the routes below it, so long polls would outlive their page.
    """

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        """Wrap `app`; `histogram` is ServerMetrics.requests."""
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request from its start to the app's return, labelled by route and status."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.histogram.labels(scope["method"], path, str(status)).observe(
                time.perf_counter() - started
            )
