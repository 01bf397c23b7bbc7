"""The latest GPU samples of each running job, as its agent's heartbeat brought them.

Kept in memory, in every server process alike: the heartbeat's samples (and each drop) go
over the cluster bus (PostgreSQL LISTEN/NOTIFY or Redis pub/sub; in-process alone with
SQLite), so item pages and /metrics read the same figures whichever replica or worker
answers. Telemetry is a live view, not a record: a process that starts, or misses a
message, has the figures again at the agent's next heartbeat.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from runyard.launch.idle import GpuSample

MAX_ITEMS = 100_000  # a bound on memory: the oldest entries go first


class TelemetryBoard(Collector):
    """Item id -> its job's latest samples (one per GPU); exported to Prometheus too."""

    def __init__(self) -> None:
        self._latest: dict[str, list[GpuSample]] = {}

    def update(self, held: Iterable[str], telemetry: Mapping[str, Sequence[GpuSample]]) -> None:
        """Keep the samples of items the agent holds (others' are not its to report)."""
        for item_id in held:
            samples = telemetry.get(item_id)
            if samples:
                self._latest.pop(item_id, None)
                self._latest[item_id] = list(samples)
        while len(self._latest) > MAX_ITEMS:
            self._latest.pop(next(iter(self._latest)))

    def get(self, item_id: str) -> list[GpuSample]:
        """The item's latest samples ([] if none came)."""
        return list(self._latest.get(item_id, ()))

    def drop(self, item_id: str) -> None:
        """The item's job ended: its figures are history."""
        self._latest.pop(item_id, None)

    def collect(self) -> Iterator[Metric]:
        """Per-job GPU gauges at scrape time."""
        names = {
            "utilization_percent": "Latest utilisation of each GPU a job holds.",
            "memory_used_mib": "Latest memory used on each GPU a job holds.",
            "power_w": "Latest power draw (watts) of each GPU a job holds.",
        }
        for field, help_text in names.items():
            family = GaugeMetricFamily(
                f"runyard_item_gpu_{field}", help_text, labels=["item", "gpu"]
            )
            for item_id, samples in self._latest.items():
                for sample in samples:
                    family.add_metric([item_id, str(sample.gpu)], float(getattr(sample, field)))
            yield family
