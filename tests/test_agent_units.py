"""The agent's pure parts: settings loading, the local command line, GPU counting."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from runyard.launch.agent.config import ConfigError, load_agent_config, resolve_server
from runyard.launch.agent.gpus import local_gpus
from runyard.launch.agent.local_process import command_of, tail
from runyard.launch.agent.runner import LaunchError
from support.server import LiveServer


def test_flags_override_the_file_and_nest_into_the_pool(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(
        "queues: [a100]\nrunner: kubernetes\nmax_jobs: 4\n"
        "pool: {name: a100, namespace: ml-jobs, server_url: 'http://runyard:8080'}\n"
    )
    config = load_agent_config(path, {"max_jobs": 16, "pool.namespace": "other", "gpus": None})
    assert config.max_jobs == 16  # the flag wins
    assert config.pool is not None and config.pool.namespace == "other"
    assert config.pool.name == "a100"  # the rest of the pool stays from the file
    assert config.queues == ["a100"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("queues: []\n", "queues: List should have at least 1 item"),
        ("queues: [a]\nmax_jobs: many\n", "max_jobs: Input should be a valid integer"),
        (
            "queues: [a]\nrunner: slurm\n",
            "runner: Input should be 'local-process', 'local-container' or 'kubernetes'",
        ),
        ("queues: [a]\nmax_job: 3\n", "max_job: Extra inputs are not permitted"),
        ("- a\n- b\n", "must be a mapping of settings"),
        ("queues: [a\n", "is not valid YAML"),
    ],
)
def test_bad_settings_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_agent_config(path, {})


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read agent config .*nope\.yaml"):
        load_agent_config(tmp_path / "nope.yaml", {})


def test_server_comes_from_config_before_the_environment(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("RUNYARD_URL", "http://from-env:8080")
    monkeypatch.setenv("RUNYARD_API_KEY", "k" * 40)
    config = load_agent_config(None, {"queues": ["a"], "server_url": "http://from-flag:8080/"})
    assert resolve_server(config) == ("http://from-flag:8080", "k" * 40)
    assert "server URL from the config wins" in caplog.text  # never silently
    monkeypatch.delenv("RUNYARD_API_KEY")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="RUNYARD_API_KEY"):
        resolve_server(config)


@pytest.mark.parametrize(
    ("spec", "command"),
    [
        ({"entry_point": ["python", "train.py"]}, ["python", "train.py"]),
        ({"entry_point": "python train.py --x 'a b'"}, ["python", "train.py", "--x", "a b"]),
        (
            {"entry_point": ["python", "t.py"], "overrides": {"entry_point": ["python", "u.py"]}},
            ["python", "u.py"],
        ),
        (
            {"entry_point": ["python", "t.py"], "overrides": {"args": {"lr": 0.1, "epochs": 2}}},
            ["python", "t.py", "--lr", "0.1", "--epochs", "2"],
        ),
        ({"entry_point": ["t"], "overrides": {"args": ["-v", 3]}}, ["t", "-v", "3"]),
    ],
)
def test_command_of_a_run_spec(spec: dict[str, Any], command: list[str]) -> None:
    assert command_of(spec) == command


def test_command_errors_say_what_to_set() -> None:
    with pytest.raises(LaunchError, match=r"run_spec.entry_point .* org/x:1: use a kubernetes"):
        command_of({"docker": {"docker_image": "org/x:1"}})
    with pytest.raises(LaunchError, match=r"entry_point must be a list of strings"):
        command_of({"entry_point": ["python", 3]})
    with pytest.raises(LaunchError, match=r"overrides\.args must be a list or a mapping"):
        command_of({"entry_point": ["python"], "overrides": {"args": 5}})


def test_tail_keeps_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "output.log"
    log.write_text("".join(f"line {i}\n" for i in range(1000)))
    assert tail(log, 2) == "line 998\nline 999"
    assert tail(tmp_path / "missing.log", 5) == ""


def test_without_a_driver_the_machine_offers_no_gpus() -> None:
    # CI machines have no NVIDIA driver: NVML fails to load and no GPU is offered.
    assert local_gpus() == []


def test_gpus_are_counted_through_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    # No GPU exists on CI machines: a stand-in for the NVML library (the only mock here).
    class NVMLError(Exception):
        pass

    memory = types.SimpleNamespace(total=80 * 2**30, used=2**30)
    fake = types.SimpleNamespace(
        NVMLError=NVMLError,
        nvmlInit=lambda: None,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: b"NVIDIA H100 80GB HBM3" if h == 0 else "NVIDIA H100",
        nvmlDeviceGetMemoryInfo=lambda h: memory,
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    gpus = local_gpus()
    assert [g.name for g in gpus] == ["NVIDIA H100 80GB HBM3", "NVIDIA H100"]
    assert gpus[0].memory_total_mib == 81920 and gpus[0].memory_used_mib == 1024


def test_kubernetes_runner_without_a_cluster_says_what_to_set(
    sqlite_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from runyard.cli import main

    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("RUNYARD_URL", sqlite_server.url)
    monkeypatch.setenv("RUNYARD_API_KEY", sqlite_server.admin_key)
    with sqlite_server.api() as api:
        api.post("/api/v1/queues", json={"name": "k8s-nocluster", "entity": "admin"})
    args = ["agent", "-q", "k8s-nocluster", "--runner", "kubernetes", "--pool", "a100"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "cannot reach Kubernetes" in result.output and "--kubeconfig" in result.output
    assert "Traceback" not in result.output
