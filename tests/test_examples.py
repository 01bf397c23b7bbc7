"""The README's examples are real: `examples/queue.yaml` with `examples/spec.json` renders
into the Kubernetes Job an agent would create (the `runyard launch` side is in
tests/test_queue_cli.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import yaml

from runyard.launch.kubernetes.job import render_job
from runyard.launch.kubernetes.pool import PoolSettings
from runyard.launch.models import (
    ItemState,
    Priority,
    QueueItem,
    TemplateVariable,
)
from runyard.launch.templating import render_config, requirements_of, validate_values

EXAMPLES = Path(__file__).parents[1] / "examples"


def test_the_example_queue_and_spec_render_into_a_job() -> None:
    queue = yaml.safe_load((EXAMPLES / "queue.yaml").read_text())
    variables = [TemplateVariable(name=k, **v) for k, v in queue["variables"].items()]
    values = validate_values(variables, {"gpus": 4, "memory": "128Gi"})
    rendered = render_config(queue["config"], values, {"queue": "a100", "entity": "admin"})
    spec = json.loads((EXAMPLES / "spec.json").read_text())
    item = QueueItem(
        id="0123abcd",
        queue="a100",
        entity="admin",
        priority=Priority.MEDIUM,
        run_spec={**spec, "docker": {"docker_image": "org/train:1"}},
        template_values=values,
        rendered_config=rendered,
        requirements=requirements_of(values),
        state=ItemState.CLAIMED,
        state_times={},
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    job = render_job(item, PoolSettings(name="a100", namespace="ml-jobs"), "agent-1")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "train.py"]
    assert container["args"] == ["--epochs", "3"]
    assert container["resources"]["limits"] == {"memory": "128Gi", "nvidia.com/gpu": "4"}
    assert {"name": "DATA_SPLIT", "value": "train"} in container["env"]
    assert job["metadata"]["annotations"]["runyard.dev/start-timeout-s"] == "1800"
