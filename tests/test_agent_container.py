"""The local-container runner: pure decisions, and `runyard agent --runner local-container`
against the real Docker engine of this machine.

The engine-backed tests (marker `docker`) run real containers of a Debian minbase image
built here with mmdebstrap (`hack/base-image.sh`; nothing can be pulled on these machines).
A session fixture starts the engine where it can and fails loudly where it cannot: no skips.
No GPU exists here: the GPU device request is checked as built (a pure function), and the
containers run with 0 GPUs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from docker.types import DeviceRequest

from runyard.launch.agent.container_settings import ContainerSettings
from runyard.launch.agent.container_spec import (
    LABEL_ITEM,
    LABEL_SCOPE,
    ContainerOptionError,
    build_spec,
    container_server_url,
    interpret_exit,
    parse_size,
)
from runyard.launch.agent.local_container import LocalContainerRunner
from runyard.launch.agent.runner import LaunchError
from runyard.launch.models import ItemState, Priority, QueueItem, Requirements
from support.local_agents import AgentProcess, enqueue, is_final, make_queue, wait_item
from support.server import LiveServer

REPO = Path(__file__).resolve().parent.parent
IMAGE = "runyard-test/minbase:bookworm"
ADMIN = "http://127.0.0.1:8080"


def _item(
    run_spec: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    gpus: int = 0,
) -> QueueItem:
    return QueueItem(
        id=f"it-{uuid.uuid4().hex[:8]}",
        queue="boxes",
        entity="admin",
        priority=Priority.MEDIUM,
        run_spec=run_spec if run_spec is not None else {"docker": {"docker_image": IMAGE}},
        template_values={},
        rendered_config=config or {},
        requirements=Requirements(gpus=gpus),
        state=ItemState.CLAIMED,
        state_times={},
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def _spec(item: QueueItem, settings: ContainerSettings | None = None, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "settings": settings or ContainerSettings(),
        "scope": "/agent",
        "server_url": ADMIN,
        "api_key": "k" * 40,
        "run_id": "run1",
        "gpus": (),
        "machine_has_gpus": False,
    }
    args.update(kw)
    return build_spec(item, **args)


# --- pure decisions -------------------------------------------------------------------


def test_pinned_gpus_become_an_nvidia_device_request_with_their_indices() -> None:
    spec = _spec(_item(gpus=2), gpus=(1, 3), machine_has_gpus=True)
    assert spec.device_requests == [
        DeviceRequest(driver="nvidia", device_ids=["1", "3"], capabilities=[["gpu"]])
    ]
    assert spec.labels["runyard.gpus"] == "1,3"
    # Renumbered from 0 inside the container by the runtime: CUDA needs no mask.
    assert "CUDA_VISIBLE_DEVICES" not in spec.environment
    assert spec.create_kwargs()["device_requests"] == spec.device_requests


def test_a_zero_gpu_item_on_a_gpu_machine_sees_no_gpu() -> None:
    spec = _spec(_item(gpus=0), machine_has_gpus=True)
    assert spec.device_requests == []
    assert "device_requests" not in spec.create_kwargs()
    # CUDA images set NVIDIA_VISIBLE_DEVICES=all; the nvidia runtime would honour it.
    assert spec.environment["NVIDIA_VISIBLE_DEVICES"] == "void"


def test_the_job_gets_the_wandb_env_limits_and_labels_from_item_and_template() -> None:
    item = _item(
        {"docker": {"docker_image": IMAGE}, "project": "p", "entry_point": ["sh", "-c", "x"]},
        {"cpus": 1.5, "memory": "64m", "env": ["A=1", "WANDB_API_KEY=stolen"]},
    )
    spec = _spec(item)
    env = spec.environment
    assert env["WANDB_BASE_URL"] == "http://host.docker.internal:8080"
    assert spec.extra_hosts == {"host.docker.internal": "host-gateway"}
    assert env["WANDB_API_KEY"] == "k" * 40  # the template cannot replace the agent's key
    assert env["WANDB_RUN_ID"] == "run1" and env["WANDB_PROJECT"] == "p" and env["A"] == "1"
    assert env["WANDB_DOCKER"] == IMAGE
    assert spec.nano_cpus == 1_500_000_000 and spec.mem_limit == 64 * 2**20
    assert spec.create_kwargs()["memswap_limit"] == 64 * 2**20
    assert spec.command == ["sh", "-c", "x"]
    assert spec.labels[LABEL_ITEM] == item.id and spec.labels[LABEL_SCOPE] == "/agent"
    assert spec.labels["runyard.memory-limit"] == str(64 * 2**20)


def test_the_server_url_stays_as_is_off_loopback_on_host_network_or_when_configured() -> None:
    plain = ContainerSettings()
    assert container_server_url("http://10.0.0.5:8080", plain, None) == (
        "http://10.0.0.5:8080",
        {},
    )
    assert container_server_url(ADMIN, plain, "host") == (ADMIN, {})
    chosen = ContainerSettings(server_url="http://runyard.lan:8080/")
    assert container_server_url(ADMIN, chosen, None) == ("http://runyard.lan:8080", {})


def test_sizes_read_like_docker_run_flags() -> None:
    assert parse_size("64m", "memory") == 64 * 2**20
    assert parse_size("1.5g", "memory") == 1536 * 2**20
    assert parse_size("512MiB", "memory") == 512 * 2**20
    assert parse_size(1024, "memory") == 1024
    with pytest.raises(ValueError, match="memory: expected a size like 64m or 2g, not 'lots'"):
        parse_size("lots", "memory")


def test_an_oom_kill_is_reported_in_words_with_the_limit() -> None:
    outcome = interpret_exit({"ExitCode": 137, "OOMKilled": True}, 64 * 2**20)
    assert outcome.state is ItemState.FAILED
    assert outcome.message is not None
    assert outcome.message.startswith(
        "the job's container was killed: out of memory (limit 64 MiB)"
    )
    assert interpret_exit({"ExitCode": 0}, None).state is ItemState.FINISHED
    # A child was OOM-killed but the job coped and succeeded: it finished.
    assert interpret_exit({"ExitCode": 0, "OOMKilled": True}, 2**20).state is ItemState.FINISHED
    assert interpret_exit({"ExitCode": 3}, None).message == "the job's container exited with code 3"
    killed = interpret_exit({"ExitCode": 137}, None).message
    assert killed == "the job's container was killed by SIGKILL (exit code 137)"


def test_privileged_is_refused_naming_the_option_and_the_setting_that_allows_it() -> None:
    item = _item(config={"privileged": True})
    with pytest.raises(ContainerOptionError) as refused:
        _spec(item)
    assert refused.value.problems == [
        "privileged: privileged containers are refused on this agent; remove it from the "
        "queue's config, or set container.allow_privileged: true in the agent's settings"
    ]
    assert _spec(item, ContainerSettings(allow_privileged=True)).privileged is True


def test_the_host_network_is_refused_naming_the_option_and_the_setting_that_allows_it() -> None:
    item = _item(config={"network": "host"})
    with pytest.raises(ContainerOptionError, match="network: host") as refused:
        _spec(item)
    assert "container.allow_host_network: true" in str(refused.value)
    allowed = _spec(item, ContainerSettings(allow_host_network=True))
    assert allowed.network_mode == "host"
    assert allowed.environment["WANDB_BASE_URL"] == ADMIN  # the host's loopback is reachable


def test_a_host_path_mount_is_refused_naming_the_option_and_the_setting_that_allows_it() -> None:
    item = _item(config={"volume": ["/etc:/host-etc:ro", "cache:/cache"]})
    with pytest.raises(ContainerOptionError) as refused:
        _spec(item)
    # Only the bind mount: a named volume is no host path.
    assert refused.value.problems == [
        "volume: '/etc:/host-etc:ro' mounts a host path, which is refused on this agent; use a "
        "named volume, or set container.allow_host_paths: true in the agent's settings"
    ]
    allowed = _spec(item, ContainerSettings(allow_host_paths=True))
    assert allowed.volumes == ["/etc:/host-etc:ro", "cache:/cache"]


def test_unknown_options_and_bad_values_are_refused_together_by_name() -> None:
    item = _item({}, {"cap-add": ["SYS_ADMIN"], "memory": "lots", "cpus": -1, "gpus": "all"})
    with pytest.raises(ContainerOptionError) as refused:
        _spec(item)
    text = str(refused.value)
    assert "cap-add: unknown container option; supported: image, cpus, memory" in text
    assert "memory: expected a size like 64m or 2g, not 'lots'" in text
    assert "cpus: expected a number of CPUs more than 0" in text
    assert "gpus: 'all' in the queue's config, but the agent pins the item's GPUs" in text
    assert "image: the item names no image; give run_spec.docker.docker_image" in text


# --- against the real engine ----------------------------------------------------------


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[docker.DockerClient]:
    """A Docker engine (started here where it can be) with the minbase test image."""
    for script in (["hack/docker-engine.sh"], ["hack/base-image.sh", IMAGE]):
        done = subprocess.run(script, cwd=REPO, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(
                f"the docker tests need a Docker engine and the {IMAGE} image, but "
                f"{' '.join(script)} failed (exit {done.returncode}):\n{done.stderr[-3000:]}",
                pytrace=False,
            )
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="module")
def reachable_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server listening on every address, so containers reach it via the bridge."""
    server = LiveServer(tmp_path_factory.mktemp("container-server"), bind="0.0.0.0").start()
    yield server
    server.stop()


@pytest.fixture
def api(reachable_server: LiveServer) -> Iterator[httpx.Client]:
    with reachable_server.api() as client:
        yield client


def _container_agent(server: LiveServer, workdir: Path, queue: str, *extra: str) -> AgentProcess:
    """`runyard agent --runner local-container` on `workdir`, heartbeating every second."""
    args = ("--runner", "local-container", "--workdir", str(workdir), "--gpus", "0")
    return AgentProcess(server, workdir.parent, queue, *args, "--heartbeat-interval", "1", *extra)


@pytest.fixture
def workdir(tmp_path: Path, docker_engine: docker.DockerClient) -> Iterator[Path]:
    folder = tmp_path / "jobs"
    yield folder
    # The engine is shared: remove whatever this test's agents left.
    for container in docker_engine.containers.list(
        all=True, filters={"label": f"{LABEL_SCOPE}={folder}"}
    ):
        container.remove(force=True)


@pytest.fixture
def start_agent(
    reachable_server: LiveServer, workdir: Path
) -> Iterator[Callable[..., AgentProcess]]:
    agents: list[AgentProcess] = []

    def start(queue: str, *extra: str) -> AgentProcess:
        agent = _container_agent(reachable_server, workdir, queue, *extra)
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.stop()


def _queue(api: httpx.Client, **extra: Any) -> str:
    return make_queue(api, "local-container", "box", **extra)


def _enqueue(api: httpx.Client, queue: str, command: str, image: str = IMAGE, **kw: Any) -> str:
    spec = {"docker": {"docker_image": image}, "entry_point": ["bash", "-c", command]}
    return enqueue(api, queue, spec, **kw)


def _containers(client: docker.DockerClient, item_id: str) -> list[Any]:
    return client.containers.list(all=True, filters={"label": f"{LABEL_ITEM}={item_id}"})


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _wait_removed(client: docker.DockerClient, item_id: str, agent: AgentProcess) -> None:
    deadline = time.monotonic() + 60

    # A sparse list: a full one inspects each container, which fails (404) when the agent
    # removes it between the listing and the inspection.
    def listed() -> list[Any]:
        filters = {"label": f"{LABEL_ITEM}={item_id}"}
        return list(client.containers.list(all=True, sparse=True, filters=filters))

    while time.monotonic() < deadline and listed():
        time.sleep(0.1)
    assert listed() == [], agent.output()


# Talks HTTP to WANDB_BASE_URL with bash's /dev/tcp (minbase has no curl): the job reaches
# the server from its bridge network and the key the agent gave it is accepted.
VIEWER = r"""
set -e
hostport=${WANDB_BASE_URL#http://}
exec 3<>/dev/tcp/${hostport%:*}/${hostport##*:}
printf 'GET /api/v1/viewer HTTP/1.0\r\nAuthorization: Bearer %s\r\n\r\n' "$WANDB_API_KEY" >&3
head -n 1 <&3
echo "run $WANDB_RUN_ID project $WANDB_PROJECT"
"""


@pytest.mark.docker
def test_a_container_job_reaches_the_server_with_its_wandb_env_and_finishes(
    api: httpx.Client, start_agent: Callable[..., AgentProcess], workdir: Path
) -> None:
    queue = _queue(api)
    agent = start_agent(queue)
    item_id = _enqueue(api, queue, VIEWER)
    item = wait_item(api, item_id, is_final, agent)
    assert item["state"] == "finished", (item, agent.output())
    assert list(item["state_times"]) == ["pending", "claimed", "launching", "running", "finished"]
    log = (workdir / item_id / "output.log").read_text()
    assert log.splitlines()[0].startswith("HTTP/1.1 200"), log
    assert f"run {item['run_id']} project uncategorized" in log


@pytest.mark.docker
def test_a_failing_container_reports_its_exit_code_and_log_tail(
    api: httpx.Client,
    start_agent: Callable[..., AgentProcess],
    docker_engine: docker.DockerClient,
) -> None:
    queue = _queue(api)
    agent = start_agent(queue)
    item_id = _enqueue(api, queue, "echo loading data; echo 'bad batch' >&2; exit 3")
    item = wait_item(api, item_id, is_final, agent)
    assert item["state"] == "failed"
    assert item["error"]["stage"] == "run"
    assert item["error"]["message"] == "the job's container exited with code 3"
    # stdout and stderr are two streams: the engine may interleave them either way.
    assert sorted(item["error"]["log"].splitlines()[-2:]) == ["bad batch", "loading data"]
    _wait_removed(docker_engine, item_id, agent)  # removed once its end was reported


@pytest.mark.docker
def test_a_container_over_its_memory_limit_is_reported_as_killed_out_of_memory(
    api: httpx.Client, start_agent: Callable[..., AgentProcess]
) -> None:
    # CPU and memory limits come from the queue's template variables.
    queue = _queue(
        api,
        config={"cpus": "{{cpus}}", "memory": "{{memory}}"},
        variables=[
            {"name": "cpus", "type": "number", "default": 1},
            {"name": "memory", "type": "string", "default": "256m"},
        ],
    )
    agent = start_agent(queue)
    values = {"memory": "64m", "cpus": 0.5}
    item_id = _enqueue(
        api, queue, "echo eating; head -c 300M /dev/zero | tail", template_values=values
    )
    item = wait_item(api, item_id, is_final, agent)
    assert item["state"] == "failed", item
    assert item["error"]["message"].startswith(
        "the job's container was killed: out of memory (limit 64 MiB)"
    )
    assert "eating" in item["error"]["log"]


@pytest.mark.docker
def test_canceling_an_item_stops_and_removes_its_container(
    api: httpx.Client,
    start_agent: Callable[..., AgentProcess],
    docker_engine: docker.DockerClient,
    workdir: Path,
) -> None:
    queue = _queue(api)
    agent = start_agent(queue)
    # The job is told first (SIGTERM), so it can save its work, before it is killed.
    command = "trap 'echo stopping; exit 143' TERM; echo up; sleep 300 & wait"
    item_id = _enqueue(api, queue, command)
    wait_item(api, item_id, lambda i: i["state"] == "running", agent)
    assert [c.status for c in _containers(docker_engine, item_id)] == ["running"]
    assert api.post(f"/api/v1/items/{item_id}/cancel").status_code == 200
    _wait_removed(docker_engine, item_id, agent)  # heard at the next heartbeat
    assert api.get(f"/api/v1/items/{item_id}").json()["state"] == "canceled"
    assert (workdir / item_id / "output.log").read_text().splitlines() == ["up", "stopping"]


@pytest.mark.docker
def test_a_restarted_agent_adopts_the_running_container_and_reports_its_end(
    api: httpx.Client,
    start_agent: Callable[..., AgentProcess],
    docker_engine: docker.DockerClient,
    workdir: Path,
) -> None:
    queue = _queue(api)
    first = start_agent(queue)
    command = "echo started; until [ -e /tmp/go ]; do sleep 0.1; done; echo ending; exit 5"
    item_id = _enqueue(api, queue, command)
    running = wait_item(api, item_id, lambda i: i["state"] == "running", first)
    log_file = workdir / item_id / "output.log"
    deadline = time.monotonic() + 60  # the log streams into the item's file while it runs
    while time.monotonic() < deadline and "started" not in _read(log_file):
        time.sleep(0.1)
    assert _read(log_file) == "started\n", first.output()
    first.stop(signal.SIGKILL)  # the agent dies mid-job; its container lives on
    (container,) = _containers(docker_engine, item_id)
    second = start_agent(queue)
    adopted = wait_item(
        api,
        item_id,
        lambda i: i["agent_id"] not in (None, running["agent_id"]) and i["state"] == "running",
        second,
    )
    assert adopted["run_id"] == running["run_id"]
    container.exec_run(["touch", "/tmp/go"])
    item = wait_item(api, item_id, is_final, second)
    assert item["state"] == "failed"
    assert item["error"]["message"] == "the job's container exited with code 5"
    # One container, started once, across both agents; its whole log is the item's.
    log = (workdir / item_id / "output.log").read_text()
    assert log.splitlines() == ["started", "ending"]
    _wait_removed(docker_engine, item_id, second)


@pytest.mark.docker
def test_an_image_missing_with_pull_policy_never_fails_the_item_naming_the_image(
    api: httpx.Client, start_agent: Callable[..., AgentProcess]
) -> None:
    queue = _queue(api)
    agent = start_agent(queue, "--pull-policy", "never")
    item_id = _enqueue(api, queue, "true", image="runyard-test/absent:1")
    item = wait_item(api, item_id, is_final, agent)
    assert item["state"] == "failed"
    assert item["error"]["stage"] == "launch"
    assert item["error"]["message"].startswith(
        "image 'runyard-test/absent:1' not found locally and pull-policy is never"
    )


@pytest.mark.docker
def test_an_image_that_cannot_be_pulled_fails_the_item_with_the_engines_reason(
    api: httpx.Client, start_agent: Callable[..., AgentProcess]
) -> None:
    queue = _queue(api)
    agent = start_agent(queue)  # if-not-present: absent here, so the agent pulls
    # A registry on a closed local port: the pull fails at once, with no network needed.
    item_id = _enqueue(api, queue, "true", image="127.0.0.1:9/absent:1")
    item = wait_item(api, item_id, is_final, agent)
    assert item["state"] == "failed"
    message = item["error"]["message"]
    assert message.startswith("image '127.0.0.1:9/absent:1' not found locally and pulling it")
    assert "connection refused" in message.lower(), message


@pytest.mark.docker
@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"privileged": True}, "container.allow_privileged"),
        ({"network": "host"}, "container.allow_host_network"),
        ({"volume": ["/:/host"]}, "container.allow_host_paths"),
    ],
    ids=["privileged", "host-network", "host-path"],
)
def test_a_forbidden_container_option_fails_the_item_naming_option_and_setting(
    api: httpx.Client,
    start_agent: Callable[..., AgentProcess],
    docker_engine: docker.DockerClient,
    config: dict[str, Any],
    named: str,
) -> None:
    queue = _queue(api, config=config)
    agent = start_agent(queue)
    item_id = _enqueue(api, queue, "true")
    item = wait_item(api, item_id, is_final, agent)
    assert item["state"] == "failed"
    assert item["error"]["stage"] == "launch"
    option = next(iter(config))
    assert f"\n  - {option}: " in item["error"]["message"]
    assert f"{named}: true in the agent's settings" in item["error"]["message"]
    assert _containers(docker_engine, item_id) == []  # nothing was started


@pytest.mark.docker
def test_more_gpus_than_the_machine_has_fails_the_container_item_naming_the_field(
    tmp_path: Path, docker_engine: docker.DockerClient
) -> None:
    # The machine's GPUs are a configured list here (no GPU exists): the check is the
    # local-process runner's allocator, which the container runner shares.
    runner = LocalContainerRunner(tmp_path, ADMIN, "k" * 40, gpus=[0, 1])
    item = _item(gpus=4)

    async def launch() -> None:
        await runner.start("agent", asyncio.Queue())
        try:
            await runner.launch(item)
        finally:
            await runner.stop()

    with pytest.raises(LaunchError) as refused:
        asyncio.run(launch())
    assert refused.value.error.message == (
        "requirements.gpus: the item asks for 4 GPUs but this machine has 2 (0, 1); lower the "
        "item's gpus value or send it to a queue whose agents have that many"
    )
    assert runner.pinned(item.id) == ()
    assert _containers(docker_engine, item.id) == []


@pytest.mark.docker
def test_a_container_that_ended_while_no_agent_ran_is_reported_by_the_next_agent(
    api: httpx.Client,
    start_agent: Callable[..., AgentProcess],
    docker_engine: docker.DockerClient,
    workdir: Path,
) -> None:
    queue = _queue(api)
    first = start_agent(queue)
    command = "echo started; until [ -e /tmp/go ]; do sleep 0.1; done; echo done"
    item_id = _enqueue(api, queue, command)
    wait_item(api, item_id, lambda i: i["state"] == "running", first)
    first.stop(signal.SIGKILL)
    (container,) = _containers(docker_engine, item_id)
    container.exec_run(["touch", "/tmp/go"])
    container.wait()  # it ends while no agent watches
    second = start_agent(queue)
    item = wait_item(api, item_id, is_final, second)
    assert item["state"] == "finished", (item, second.output())
    assert (workdir / item_id / "output.log").read_text().splitlines() == ["started", "done"]
    _wait_removed(docker_engine, item_id, second)


def test_an_agent_without_a_docker_engine_stops_and_says_how_to_fix_it(
    reachable_server: LiveServer, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "RUNYARD_URL": reachable_server.url,
        "RUNYARD_API_KEY": reachable_server.admin_key,
        "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock",
    }
    with reachable_server.api() as api:
        queue = _queue(api)
    cmd = [sys.executable, "-m", "runyard.cli", "agent", "-q", queue, "--runner"]
    cmd += ["local-container", "--workdir", str(tmp_path / "jobs"), "--gpus", "0"]
    result = subprocess.run(
        cmd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "runner local-container: no Docker engine answers" in result.stderr
    assert "start dockerd (or set DOCKER_HOST), then start the agent again" in result.stderr


def test_a_bad_pull_policy_in_the_agent_settings_names_the_field(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(
        "queues: [boxes]\nrunner: local-container\ncontainer:\n  pull_policy: daily\n"
    )
    env = {**os.environ, "RUNYARD_URL": "http://127.0.0.1:9", "RUNYARD_API_KEY": "k" * 40}
    result = subprocess.run(
        [sys.executable, "-m", "runyard.cli", "agent", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert (
        "container.pull_policy: Input should be 'always', 'if-not-present' or 'never'"
        in result.stderr
    )


@pytest.mark.docker
def test_the_agent_warns_at_start_when_jobs_could_not_reach_a_loopback_only_server(
    sqlite_server: LiveServer, tmp_path: Path, docker_engine: docker.DockerClient
) -> None:
    with sqlite_server.api() as api:  # this server listens on 127.0.0.1 only
        queue = _queue(api)
    agent = _container_agent(sqlite_server, tmp_path / "jobs", queue)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "jobs cannot reach" not in agent.output():
            time.sleep(0.1)
        assert (
            "jobs cannot reach the server: it does not answer on the Docker bridge's gateway; "
            "run the server with --host 0.0.0.0, or set container.server_url"
        ) in agent.output()
    finally:
        agent.stop()


@pytest.mark.docker
def test_a_gpu_items_device_request_reaches_the_engine(
    tmp_path: Path, docker_engine: docker.DockerClient
) -> None:
    # No GPU and no nvidia runtime here: the machine's GPUs are a configured list (the agent
    # command itself refuses --gpus beyond what NVML finds), and the engine refuses the device
    # request the runner sent, so the launch fails with the engine's words (on a GPU machine it
    # runs).
    runner = LocalContainerRunner(tmp_path, ADMIN, "k" * 40, gpus=[0])
    item = _item(gpus=1)

    async def launch() -> None:
        await runner.start("agent", asyncio.Queue())
        try:
            await runner.launch(item)
        finally:
            await runner.stop()

    with pytest.raises(LaunchError) as refused:
        asyncio.run(launch())
    message = refused.value.error.message
    assert message.startswith("docker could not start the container: "), message
    assert 'could not select device driver "nvidia" with capabilities: [[gpu]]' in message
    assert runner.pinned(item.id) == ()  # the GPU is free again
    assert _containers(docker_engine, item.id) == []
