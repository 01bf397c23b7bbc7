"""Prometheus metrics of one agent process, served on `/metrics` when a port is set."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class AgentMetrics:
    """The agent's counters and gauges, in their own registry (several agents per test)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.claims = Counter(
            "runyard_agent_claims", "Items claimed, by queue.", ["queue"], registry=self.registry
        )
        self.launch_latency = Histogram(
            "runyard_agent_launch_seconds",
            "From claim to workload created (process started, Job accepted).",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.running = Gauge(
            "runyard_agent_running_jobs", "Items this agent holds now.", registry=self.registry
        )
        self.finished = Counter(
            "runyard_agent_items_done",
            "Items this agent saw end, by final state.",
            ["state"],
            registry=self.registry,
        )
        self.failures = Counter(
            "runyard_agent_failures",
            "Failed items by stage (launch, schedule, image, run, ...).",
            ["stage"],
            registry=self.registry,
        )
        self.pending_reasons = Counter(
            "runyard_agent_pending_reasons",
            "Times a workload was seen stuck, by kind (unschedulable, image_pull, ...).",
            ["kind"],
            registry=self.registry,
        )
        self.gpus_free = Gauge(
            "runyard_agent_gpus_free",
            "Free GPUs the agent last offered in a claim.",
            registry=self.registry,
        )

        self.idle_jobs = Counter(
            "runyard_agent_idle_jobs",
            "Jobs flagged for holding GPUs under the queue's idle threshold, by queue.",
            ["queue"],
            registry=self.registry,
        )
        self.gpu_utilization = Gauge(
            "runyard_agent_job_gpu_utilization_percent",
            "Latest utilisation of each GPU a job holds.",
            ["item", "gpu"],
            registry=self.registry,
        )
        self.gpu_memory = Gauge(
            "runyard_agent_job_gpu_memory_used_mib",
            "Latest memory used on each GPU a job holds.",
            ["item", "gpu"],
            registry=self.registry,
        )
        self.gpu_power = Gauge(
            "runyard_agent_job_gpu_power_watts",
            "Latest power draw of each GPU a job holds.",
            ["item", "gpu"],
            registry=self.registry,
        )

    def serve(self, port: int, host: str = "0.0.0.0") -> int:
        """Serve /metrics in a thread; returns the port (useful when 0 was asked)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return int(server.server_port)
