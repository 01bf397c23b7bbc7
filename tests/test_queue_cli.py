"""`runyard queue ...` and `runyard launch` against a live server, as a user types them."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from runyard import people_cli, queue_cli
from runyard.cli import main
from support.server import LiveServer

QUEUE_FILE = """
config:
  resources:
    limits:
      nvidia.com/gpu: "{{gpus}}"
  nodeSelector:
    nvidia.com/gpu.product: "{{gpu_type}}"
variables:
  gpus: {type: integer, minimum: 1, maximum: 8, default: 1}
  gpu_type: {type: string, enum: [a100, h100], default: a100}
"""


@pytest.fixture
def runyard(sqlite_server: LiveServer, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Invoke the CLI pointed at the server, as `runyard ...` with the admin key exported."""
    monkeypatch.setenv("RUNYARD_URL", sqlite_server.url)
    monkeypatch.setenv("RUNYARD_API_KEY", sqlite_server.admin_key)
    # A wide terminal: the module's console may have fixed its size at import (xdist workers).
    monkeypatch.setenv("COLUMNS", "200")
    for module in (queue_cli, people_cli):
        monkeypatch.setattr(module, "console", Console(width=200))
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_create_launch_and_describe(runyard, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = f"a100-{uuid.uuid4().hex[:6]}"
    config = tmp_path / "queue.yaml"
    config.write_text(QUEUE_FILE)
    created = runyard("queue", "create", name, "--resource", "kubernetes", "--config", str(config))
    assert created.exit_code == 0, created.output
    assert "variables: gpus, gpu_type" in created.output

    launched = runyard(
        "launch",
        "--queue",
        name,
        "--docker-image",
        "org/train:1",
        "--project",
        "p",
        "-v",
        "gpus=4",
        "--priority",
        "high",
    )
    assert launched.exit_code == 0, launched.output
    assert "priority high, state pending" in launched.output
    runyard("launch", "-q", name, "-v", "gpu_type=h100", "--priority", "low")

    described = runyard("queue", "describe", name)
    assert described.exit_code == 0, described.output
    assert "pending by priority: critical=0  high=1  medium=0  low=1" in described.output
    lines = [line for line in described.output.splitlines() if "pending" in line and "=" in line]
    assert any("gpus=4 gpu_type=a100" in line for line in lines)
    assert any("gpus=1 gpu_type=h100" in line for line in lines)

    listed = runyard("queue", "list")
    assert name in listed.output

    deleted = runyard("queue", "delete", name, "--yes")
    assert deleted.exit_code == 0
    assert name not in runyard("queue", "list").output


def test_bad_launches_explain_themselves(runyard, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = f"q-{uuid.uuid4().hex[:6]}"
    config = tmp_path / "queue.yaml"
    config.write_text(QUEUE_FILE)
    runyard("queue", "create", name, "--resource", "kubernetes", "--config", str(config))

    too_many = runyard("launch", "-q", name, "-v", "gpus=16")
    assert too_many.exit_code == 1
    assert "template variable 'gpus' must be <= 8, got '16'" in too_many.output
    typo = runyard("launch", "-q", name, "-v", "gpu=2")
    assert "unknown template variable 'gpu'" in typo.output
    no_equals = runyard("launch", "-q", name, "-v", "gpus")
    assert no_equals.exit_code == 2 and "must be NAME=VALUE" in no_equals.output
    bad_priority = runyard("launch", "-q", name, "--priority", "urgent")
    assert "priority must be one of critical, high, medium, low" in bad_priority.output
    unknown = runyard("launch", "-q", "no-such-queue")
    assert unknown.exit_code == 1 and "does not exist" in unknown.output
    items = runyard("queue", "items", name)
    assert "pending" not in items.output  # nothing was enqueued

    broken = tmp_path / "broken.yaml"
    broken.write_text("config: {}\nvars: {}\n")
    refused = runyard("queue", "create", "other", "--config", str(broken))
    assert refused.exit_code == 2 and "unknown keys ['vars']" in refused.output


def test_agents_lists_live_agents(runyard, sqlite_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    name = f"gpu-box-{uuid.uuid4().hex[:6]}"
    with sqlite_server.api() as api:
        body = {
            "name": name,
            "hostname": "node-7",
            "queues": ["admin/a100"],
            "capacity": {"gpus": 8},
        }
        agent = api.post("/api/v1/agents", json=body).json()
    listed = runyard("queue", "agents")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if name in line)
    assert "node-7" in row and "admin/a100" in row and "polling" in row and " 8 " in row
    assert agent["id"] in row


def test_prioritize_moves_a_pending_item(runyard, sqlite_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    name = f"q-{uuid.uuid4().hex[:6]}"
    runyard("queue", "create", name)
    with sqlite_server.api() as api:
        path = f"/api/v1/queues/admin/{name}/items"
        spec = {"entry_point": ["python", "train.py"]}
        item = api.post(path, json={"priority": "low", "run_spec": spec}).json()
    moved = runyard("queue", "prioritize", item["id"], "critical")
    assert moved.exit_code == 0 and "is now critical" in moved.output
    wrong = runyard("queue", "prioritize", item["id"], "asap")
    assert wrong.exit_code == 1 and "critical, high, medium, low" in wrong.output


def test_launch_takes_the_command_after_dashes(  # type: ignore[no-untyped-def]
    runyard, sqlite_server: LiveServer
) -> None:
    name = f"q-{uuid.uuid4().hex[:6]}"
    runyard("queue", "create", name)
    launched = runyard("launch", "-q", name, "--", "python", "train.py", "--lr", "0.1")
    assert launched.exit_code == 0, launched.output
    with sqlite_server.api() as api:
        (item,) = api.get(f"/api/v1/queues/admin/{name}/items").json()
    assert item["run_spec"]["entry_point"] == ["python", "train.py", "--lr", "0.1"]


def test_bad_commands_are_refused_and_nothing_is_enqueued(
    runyard, sqlite_server: LiveServer
) -> None:  # type: ignore[no-untyped-def]
    name = f"q-{uuid.uuid4().hex[:6]}"
    runyard("queue", "create", name)
    empty = runyard("launch", "-q", name, "--")
    assert empty.exit_code == 2 and "nothing after `--`" in empty.output
    stray = runyard("launch", "-q", name, "python", "train.py")
    assert stray.exit_code == 2 and "put the command after `--`" in stray.output
    # A local-process queue runs commands: an item that names none is refused at enqueue.
    bare = runyard("launch", "-q", name, "--project", "p")
    assert bare.exit_code == 1 and "run_spec.entry_point is required" in bare.output
    assert f"runyard launch -q {name} -- python train.py" in bare.output
    image = runyard("launch", "-q", name, "--docker-image", "org/train:1")
    assert image.exit_code == 1 and "names only the image org/train:1" in image.output
    assert "local-container or kubernetes queue" in image.output
    unknown = runyard("launch", "-q", f"{name}-nope", "--", "true")
    assert unknown.exit_code == 1 and f"queue admin/{name}-nope does not exist" in unknown.output
    with sqlite_server.api() as api:
        assert api.get(f"/api/v1/queues/admin/{name}/items").json() == []


def test_short_id_prefixes_work_for_prioritize_cancel_and_describe(
    runyard, sqlite_server: LiveServer
) -> None:  # type: ignore[no-untyped-def]
    name = f"q-{uuid.uuid4().hex[:6]}"
    runyard("queue", "create", name)
    launched = runyard("launch", "-q", name, "--priority", "low", "--", "sleep", "1")
    item_id = launched.output.split("enqueued item ")[1].split()[0]
    short = item_id[:8]
    moved = runyard("queue", "prioritize", short, "critical")
    assert moved.exit_code == 0 and "is now critical" in moved.output, moved.output
    described = runyard("queue", "describe", short)
    assert described.exit_code == 0 and item_id in described.output, described.output
    canceled = runyard("queue", "cancel", short)
    assert canceled.exit_code == 0 and "canceled" in canceled.output, canceled.output


def test_unknown_and_too_short_prefixes_explain_themselves(
    runyard, sqlite_server: LiveServer
) -> None:  # type: ignore[no-untyped-def]
    name = f"q-{uuid.uuid4().hex[:6]}"
    runyard("queue", "create", name)
    out = runyard("launch", "-q", name, "--", "true").output
    item_id = out.split("enqueued item ")[1].split()[0]
    other = "0000" if not item_id.startswith("0000") else "1111"
    unknown = runyard("queue", "cancel", other)
    assert unknown.exit_code == 1 and f"queue item {other} does not exist" in unknown.output
    too_short = runyard("queue", "prioritize", item_id[:2], "high")
    assert too_short.exit_code == 1 and "at least 4 characters" in too_short.output
    not_hex = runyard("queue", "cancel", "xyz!")
    assert not_hex.exit_code == 1 and "ids are hexadecimal" in not_hex.output
    with sqlite_server.api() as api:
        (item,) = api.get(f"/api/v1/queues/admin/{name}/items").json()
    assert item["state"] == "pending" and item["priority"] == 2  # nothing was changed


EXAMPLES = Path(__file__).parents[1] / "examples"


def test_the_readme_examples_create_a_queue_and_launch_a_spec(  # type: ignore[no-untyped-def]
    runyard, sqlite_server: LiveServer
) -> None:
    """`examples/queue.yaml` makes a queue and `examples/spec.json` launches on it, as the
    README shows; the spec's own entry point is enough for a local-process queue."""
    gpu = f"q-{uuid.uuid4().hex[:6]}"
    made = runyard(
        "queue", "create", gpu, "--resource", "kubernetes", "--config", str(EXAMPLES / "queue.yaml")
    )
    assert made.exit_code == 0, made.output
    spec = str(EXAMPLES / "spec.json")
    launched = runyard(
        "launch",
        "-q",
        gpu,
        "-c",
        spec,
        "--docker-image",
        "org/train:1",
        "-v",
        "gpus=4",
        "-v",
        "memory=128Gi",
    )
    assert launched.exit_code == 0, launched.output
    local = f"q-{uuid.uuid4().hex[:6]}"
    runyard("queue", "create", local)
    assert runyard("launch", "-q", local, "-c", spec).exit_code == 0
    with sqlite_server.api() as api:
        (item,) = api.get(f"/api/v1/queues/admin/{gpu}/items").json()
        (plain,) = api.get(f"/api/v1/queues/admin/{local}/items").json()
    assert item["requirements"] == {"gpus": 4}
    assert item["template_values"] == {"gpus": 4, "memory": "128Gi", "split": "train"}
    container = item["rendered_config"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["memory"] == "128Gi"
    assert container["env"] == [{"name": "DATA_SPLIT", "value": "train"}]
    assert plain["run_spec"]["entry_point"] == ["python", "train.py"]
    assert plain["run_spec"]["overrides"]["run_config"] == {"lr": 0.1, "batch_size": 64}
