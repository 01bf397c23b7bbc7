"""`runyard agent`: serve launch queues with a local-process, local-container or Kubernetes
runner."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runyard import log_setup

if TYPE_CHECKING:
    from runyard.launch.agent.config import AgentConfig
    from runyard.launch.agent.runner import Runner


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="YAML file of agent settings (flags override it).",
)
@click.option("-q", "--queue", "queues", multiple=True, help="Queue to serve (repeatable).")
@click.option(
    "--runner",
    type=click.Choice(["local-process", "local-container", "kubernetes"]),
    default=None,
)
@click.option(
    "--pull-policy",
    type=click.Choice(["always", "if-not-present", "never"]),
    default=None,
    help="local-container: when to pull an item's image [if-not-present].",
)
@click.option("--pool", default=None, help="kubernetes: the GPU node pool's name.")
@click.option("--namespace", default=None, help="kubernetes: namespace of the Jobs.")
@click.option("--max-jobs", type=int, default=None, help="Items running at once [1].")
@click.option(
    "--prometheus-url",
    default=None,
    help="kubernetes: Prometheus scraping dcgm-exporter [the jobs' own gpu.* metrics].",
)
@click.option("--gpus", type=int, default=None, help="local runners: GPUs offered [NVML count].")
@click.option("--entity", default=None, help="Entity of the queues [the key's].")
@click.option("--name", default=None, help="Name shown in agent listings [host-pid].")
@click.option("--server-url", default=None, help="Server URL [RUNYARD_URL, WANDB_BASE_URL].")
@click.option("--metrics-port", type=int, default=None, help="Serve Prometheus /metrics here.")
@click.option("--workdir", default=None, help="local runners: folder of job folders.")
@click.option(
    "--heartbeat-interval",
    type=float,
    default=None,
    help="Seconds between heartbeats that renew leases [10]; sooner for short queue leases.",
)
@click.option("--claim-wait", type=float, default=None, help="Long-poll length of a claim [30].")
@click.option(
    "--backfill/--no-backfill",
    default=None,
    help="Let smaller items overtake one that does not fit [backfill].",
)
def agent(config_path: Path | None, **flags: Any) -> None:
    """Claim items from launch queues and run them until interrupted."""
    from runyard.launch.agent.config import ConfigError, load_agent_config, resolve_server

    overrides = {
        "queues": flags["queues"],
        "runner": flags["runner"],
        "container.pull_policy": flags["pull_policy"],
        "pool.name": flags["pool"],
        "pool.namespace": flags["namespace"],
        "max_jobs": flags["max_jobs"],
        "gpus": flags["gpus"],
        "prometheus_url": flags["prometheus_url"],
        "entity": flags["entity"],
        "name": flags["name"],
        "server_url": flags["server_url"],
        "metrics_port": flags["metrics_port"],
        "workdir": flags["workdir"],
        "backfill": flags["backfill"],
        "heartbeat_interval_s": flags["heartbeat_interval"],
        "claim_wait_s": flags["claim_wait"],
    }
    try:
        config = load_agent_config(config_path, overrides)
        url, key = resolve_server(config)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    log_setup.configure(logging.INFO)
    from runyard.launch.agent.api import Refused

    try:
        asyncio.run(_serve(config, url, key))
    except Refused as exc:  # an unknown queue, a revoked key: nothing to retry
        raise click.ClickException(f"the server refused the agent: {exc}") from None
    except ConfigError as exc:  # found on start, e.g. a workload kind the cluster lacks
        raise click.ClickException(str(exc)) from None


def make_runner(config: AgentConfig, url: str, key: str) -> Runner:
    """The runner the config asks for."""
    if config.runner == "kubernetes":
        from runyard.launch.kubernetes.runner import KubernetesRunner

        assert config.pool is not None  # the config model requires it
        return KubernetesRunner(config.pool, config.kubeconfig, config.log_tail_lines)
    from runyard.launch.agent.config import offered_gpus
    from runyard.launch.agent.gpus import local_gpus

    # NVML indices of this machine's GPUs; a configured count means the first that many.
    gpus = offered_gpus(config.gpus, [gpu.index for gpu in local_gpus()])
    if config.runner == "local-container":
        from runyard.launch.agent.local_container import LocalContainerRunner

        return LocalContainerRunner(
            config.workdir, url, key, gpus, config.container, config.log_tail_lines
        )
    from runyard.launch.agent.local_process import LocalProcessRunner

    return LocalProcessRunner(config.workdir, url, key, gpus, config.log_tail_lines)


async def _serve(config: AgentConfig, url: str, key: str) -> None:
    from runyard.launch.agent.api import AgentApi
    from runyard.launch.agent.loop import Agent

    api = AgentApi(url, key)
    agent_loop = Agent(config, api, make_runner(config, url, key))
    if config.metrics_port is not None:
        port = agent_loop.metrics.serve(config.metrics_port)
        logging.getLogger(__name__).info("metrics", extra={"port": port})
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, agent_loop.stop)
    try:
        await agent_loop.run()
    finally:
        await api.close()
