"""GPU figures of Kubernetes jobs from dcgm-exporter, read through Prometheus: pure parts.

dcgm-exporter (NVIDIA's DCGM metrics exporter, run as a DaemonSet on GPU nodes) labels
each GPU's series with the pod and namespace that hold the GPU (`pod`, `namespace`,
`container`) and the device (`gpu` index, `UUID`, `Hostname`). A Prometheus scrape that
does not honour the exporter's labels renames them `exported_pod` / `exported_namespace`;
both spellings are asked for and read. Units: utilisation %, framebuffer used MiB, watts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ..idle import GpuSample

UTIL = "DCGM_FI_DEV_GPU_UTIL"
MEMORY = "DCGM_FI_DEV_FB_USED"
POWER = "DCGM_FI_DEV_POWER_USAGE"
METRICS = (UTIL, MEMORY, POWER)


class PromSeries(BaseModel):
    """One series of an instant vector: its labels and `[timestamp, "value"]`."""

    model_config = ConfigDict(extra="ignore")

    metric: dict[str, str]
    value: tuple[float, str]


class PromData(BaseModel):
    """The `data` of a Prometheus query answer."""

    model_config = ConfigDict(extra="ignore")

    result_type: str = Field(alias="resultType")
    result: list[PromSeries]


class PromAnswer(BaseModel):
    """The Prometheus HTTP API's answer to `/api/v1/query`."""

    model_config = ConfigDict(extra="ignore")

    status: str
    data: PromData | None = None
    error: str | None = None


def _quote(text: str) -> str:
    """A PromQL string literal (names are Kubernetes names, but never trust a name)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _regex_alternatives(names: Iterable[str]) -> str:
    """`a|b|c` with regex characters escaped (pod names may hold `.`)."""
    escaped = []
    for name in sorted(set(names)):
        escaped.append("".join("\\\\" + c if c in ".+*?()[]{}|^$\\" else c for c in name))
    return "|".join(escaped)


def dcgm_query(namespace: str, pods: Sequence[str]) -> str:
    """One PromQL query for the three DCGM gauges of these pods (both label spellings)."""
    names = "|".join(METRICS)
    alternatives = _regex_alternatives(pods)
    selectors = []
    for prefix in ("", "exported_"):
        selectors.append(
            f'{{__name__=~"{names}",{prefix}namespace={_quote(namespace)},'
            f'{prefix}pod=~"{alternatives}"}}'
        )
    return " or ".join(selectors)


def dcgm_samples(answer: PromAnswer, namespace: str, at: datetime) -> dict[str, list[GpuSample]]:
    """Each pod's GPUs as samples, by pod name; GPUs missing utilisation are left out.

    A pod's GPUs keep their device index on the node (`gpu` label); a GPU is one sample
    however many of its series (label spellings, exporter restarts) the answer holds.
    """
    if answer.data is None:
        return {}
    figures: dict[tuple[str, int], dict[str, float]] = {}
    for series in answer.data.result:
        labels = series.metric
        # Renamed labels are the job's; `pod`/`namespace` are then the exporter's own.
        pod = labels.get("exported_pod") or labels.get("pod")
        ns = labels.get("exported_namespace") or labels.get("namespace")
        name = labels.get("__name__")
        try:
            gpu = int(labels.get("gpu", ""))
            value = float(series.value[1])
        except ValueError:
            continue
        if not pod or ns != namespace or name not in METRICS or value != value or value < 0:
            continue
        figures.setdefault((pod, gpu), {})[name] = value
    samples: dict[str, list[GpuSample]] = {}
    for (pod, gpu), values in sorted(figures.items()):
        if UTIL not in values:
            continue
        samples.setdefault(pod, []).append(
            GpuSample(
                at=at,
                gpu=gpu,
                utilization_percent=min(100.0, values[UTIL]),
                memory_used_mib=int(values.get(MEMORY, 0)),
                power_w=values.get(POWER, 0.0),
            )
        )
    return samples
