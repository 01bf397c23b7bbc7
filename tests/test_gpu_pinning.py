"""GPU pinning in the local-process runner.

No GPU machine is available in CI (nor was one in the session that wrote this): the
machine's GPUs come from a fake NVML (`support/fake_nvml.py`); the jobs are real processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runyard.agent_cli import make_runner
from runyard.launch.agent.config import ConfigError, load_agent_config
from runyard.launch.agent.gpu_pinning import GpuRequestError, pick_gpus, visible_devices_env
from runyard.launch.agent.gpus import local_gpus
from runyard.launch.agent.local_process import LocalProcessRunner
from runyard.launch.agent.runner import JobUpdate, LaunchError
from runyard.launch.models import ItemState, Priority, QueueItem, Requirements
from support.fake_nvml import FakeGpu, FakeNvml
from support.server import LiveServer

# Writes the GPUs it sees to a file in its folder, then waits until told to end.
JOB = (
    "import os, pathlib, time\n"
    "pathlib.Path('seen').write_text(os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>'))\n"
    "while not pathlib.Path('go').exists(): time.sleep(0.02)\n"
)


def _item(item_id: str, gpus: int) -> QueueItem:
    return QueueItem(
        id=item_id,
        queue="default",
        entity="admin",
        priority=Priority.MEDIUM,
        run_spec={"entry_point": [sys.executable, "-c", JOB]},
        template_values={},
        rendered_config={},
        requirements=Requirements(gpus=gpus),
        state=ItemState.CLAIMED,
        state_times={},
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    nvml = FakeNvml(gpus=[FakeGpu(), FakeGpu()])
    monkeypatch.setitem(sys.modules, "pynvml", nvml.module())
    return nvml


def _runner(workdir: Path) -> LocalProcessRunner:
    config = load_agent_config(None, {"queues": ["q"], "workdir": str(workdir)})
    runner = make_runner(config, "http://unused", "key")
    assert isinstance(runner, LocalProcessRunner)
    return runner


async def _until(path: Path) -> str:
    while not path.exists() or not path.read_text():
        await asyncio.sleep(0.02)
    return path.read_text()


async def _final(updates: asyncio.Queue[JobUpdate], count: int) -> list[JobUpdate]:
    done = []
    while len(done) < count:
        update = await asyncio.wait_for(updates.get(), 60)
        if update.state.is_final:
            done.append(update)
    return done


def test_the_allocator_gives_the_lowest_free_indices_in_nvml_order() -> None:
    assert pick_gpus([0, 1, 2, 3], {}, 2) == (0, 1)
    assert pick_gpus([0, 1, 2, 3], {"a": (0, 2)}, 2) == (1, 3)
    assert pick_gpus([0, 1], {"a": (0, 1)}, 0) == ()
    assert visible_devices_env((1, 3), [0, 1, 2, 3]) == {
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        "CUDA_VISIBLE_DEVICES": "1,3",
    }
    assert visible_devices_env((), [0, 1]) == {
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        "CUDA_VISIBLE_DEVICES": "",  # a 0-GPU item must not grab GPU 0
    }
    assert visible_devices_env((), []) == {}  # no GPUs here: nothing to hide


def test_asking_for_more_gpus_than_the_machine_has_names_the_field() -> None:
    with pytest.raises(
        GpuRequestError,
        match=r"requirements\.gpus: .*asks for 3 GPUs but this "
        r"machine has 2 \(0, 1\)",
    ):
        pick_gpus([0, 1], {}, 3)
    with pytest.raises(GpuRequestError, match=r"requirements\.gpus: .*only 1 of this machine's 2"):
        pick_gpus([0, 1], {"a": (0,)}, 2)
    with pytest.raises(GpuRequestError, match=r"machine has none"):
        pick_gpus([], {}, 1)


def test_an_agent_offering_more_gpus_than_the_machine_has_names_the_field(
    two_gpus: FakeNvml, tmp_path: Path
) -> None:
    config = load_agent_config(None, {"queues": ["q"], "workdir": str(tmp_path), "gpus": 3})
    with pytest.raises(
        ConfigError,
        match=r"^gpus: the agent offers 3 GPUs but NVML finds 2 \(0, 1\) on this machine; "
        r"lower gpus \(or --gpus\)",
    ):
        make_runner(config, "http://unused", "key")
    fewer = load_agent_config(None, {"queues": ["q"], "workdir": str(tmp_path), "gpus": 1})
    runner = make_runner(fewer, "http://unused", "key")
    assert isinstance(runner, LocalProcessRunner) and runner.gpus == [0]


def test_the_agent_command_refuses_gpus_on_a_machine_without_any(tmp_path: Path) -> None:
    # This machine has no NVIDIA driver: NVML finds no GPU, so offering 2 is a config error
    # (found before the server is ever called: none listens at this URL).
    env = {**os.environ, "RUNYARD_URL": "http://127.0.0.1:9", "RUNYARD_API_KEY": "key"}
    command = [sys.executable, "-m", "runyard.cli", "agent", "-q", "q", "--gpus", "2"]
    command += ["--workdir", str(tmp_path / "jobs")]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "gpus: the agent offers 2 GPUs but NVML finds none (no NVIDIA driver)" in result.stderr
    assert not (tmp_path / "jobs").exists()  # refused before anything was started


def test_two_one_gpu_items_on_a_two_gpu_machine_see_different_gpus(
    two_gpus: FakeNvml, tmp_path: Path
) -> None:
    async def scenario() -> tuple[set[str], int, int]:
        runner = _runner(tmp_path / "agent")
        assert runner.gpus == [0, 1]  # found through NVML
        updates: asyncio.Queue[JobUpdate] = asyncio.Queue()
        await runner.start("agent-1", updates)
        await runner.launch(_item("a0", 1))
        await runner.launch(_item("b0", 1))
        seen = {await _until(runner.workdir / i / "seen") for i in ("a0", "b0")}
        capacity = await runner.capacity()
        assert capacity is not None
        for i in ("a0", "b0"):
            (runner.workdir / i / "go").touch()
        await _final(updates, 2)
        after = await runner.capacity()
        assert after is not None
        return seen, capacity.gpus, after.gpus

    seen, busy, freed = asyncio.run(scenario())
    assert seen == {"0", "1"}
    assert busy == 0  # both GPUs held while the jobs run
    assert freed == 2  # and freed when they end


def test_an_item_asking_for_more_gpus_than_the_machine_has_fails_naming_the_field(
    two_gpus: FakeNvml, tmp_path: Path
) -> None:
    async def scenario() -> int:
        runner = _runner(tmp_path / "agent")
        await runner.start("agent-1", asyncio.Queue())
        with pytest.raises(LaunchError, match=r"requirements\.gpus: the item asks for 3 GPUs"):
            await runner.launch(_item("big", 3))
        capacity = await runner.capacity()
        assert capacity is not None
        return capacity.gpus

    assert asyncio.run(scenario()) == 2  # nothing stays reserved
    assert not (tmp_path / "agent" / "big" / "job.json").exists()  # nothing started


def test_a_restarted_agent_knows_which_gpus_its_predecessors_jobs_hold(
    two_gpus: FakeNvml, tmp_path: Path
) -> None:
    async def first_agent() -> None:
        runner = _runner(tmp_path / "agent")
        await runner.start("agent-1", asyncio.Queue())
        await runner.launch(_item("old", 1))
        assert await _until(runner.workdir / "old" / "seen") == "0"
        await runner.stop()  # the job keeps running, on GPU 0

    async def second_agent() -> tuple[int, str, int]:
        runner = _runner(tmp_path / "agent")
        updates: asyncio.Queue[JobUpdate] = asyncio.Queue()
        await runner.start("agent-2", updates)
        assert await runner.recover() == ["old"]
        capacity = await runner.capacity()
        assert capacity is not None
        await runner.resume(_item("old", 1))
        await runner.launch(_item("new", 1))
        seen = await _until(runner.workdir / "new" / "seen")
        for i in ("old", "new"):
            (runner.workdir / i / "go").touch()
        await _final(updates, 2)
        after = await runner.capacity()
        assert after is not None
        return capacity.gpus, seen, after.gpus

    asyncio.run(first_agent())
    free_on_restart, seen, freed = asyncio.run(second_agent())
    assert free_on_restart == 1
    assert seen == "1"  # not GPU 0, which the adopted job still holds
    assert freed == 2


def test_without_a_driver_the_runner_pins_nothing_and_offers_no_gpus(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(gpus=[FakeGpu()], driver=False).module())
    assert local_gpus() == []

    async def scenario() -> tuple[int, str]:
        runner = _runner(tmp_path / "agent")
        updates: asyncio.Queue[JobUpdate] = asyncio.Queue()
        await runner.start("agent-1", updates)
        capacity = await runner.capacity()
        assert capacity is not None
        await runner.launch(_item("cpu", 0))
        seen = await _until(runner.workdir / "cpu" / "seen")
        (runner.workdir / "cpu" / "go").touch()
        await _final(updates, 1)
        return capacity.gpus, seen

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert asyncio.run(scenario()) == (0, "<unset>")


FAKE_PYNVML = '''"""A stand-in NVML for the agent subprocess: two GPUs (no GPU in CI)."""
import types

class NVMLError(Exception):
    pass

def nvmlInit(): pass
def nvmlShutdown(): pass
def nvmlDeviceGetCount(): return 2
def nvmlDeviceGetHandleByIndex(index): return index
def nvmlDeviceGetName(handle): return "NVIDIA H100 80GB HBM3"
def nvmlDeviceGetMemoryInfo(handle): return types.SimpleNamespace(total=80 * 2**30, used=0)
def nvmlDeviceGetUtilizationRates(handle): return types.SimpleNamespace(gpu=50, memory=0)
def nvmlDeviceGetPowerUsage(handle): return 100000
'''


def test_the_agent_cli_pins_two_one_gpu_items_to_different_gpus(
    sqlite_server: LiveServer, tmp_path: Path
) -> None:
    fake = tmp_path / "fake-nvml"
    fake.mkdir()
    (fake / "pynvml.py").write_text(FAKE_PYNVML)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")]),
        "RUNYARD_URL": sqlite_server.url,
        "RUNYARD_API_KEY": sqlite_server.admin_key,
    }
    env.pop("CUDA_VISIBLE_DEVICES", None)
    queue = "pinning"
    with sqlite_server.api() as api:
        body = {
            "name": queue,
            "entity": "admin",
            "resource": "local-process",
            "config": {"gpus": "{{gpus}}"},
            "variables": [{"name": "gpus", "type": "integer"}],
        }
        assert api.post("/api/v1/queues", json=body).status_code == 201
        workdir = tmp_path / "jobs"
        # No --gpus: the agent counts the machine's GPUs through (the stand-in) NVML.
        cmd = [sys.executable, "-m", "runyard.cli", "agent", "-q", queue, "--max-jobs", "2"]
        cmd += ["--workdir", str(workdir)]
        log = (tmp_path / "agent.log").open("wb")
        agent = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            item = {"run_spec": {"entry_point": [sys.executable, "-c", JOB]}}
            item["template_values"] = {"gpus": 1}
            ids = [
                api.post(f"/api/v1/queues/admin/{queue}/items", json=item).json()["id"]
                for _ in range(2)
            ]
            deadline = time.monotonic() + 90
            seen: dict[str, str] = {}
            while len(seen) < 2:
                assert time.monotonic() < deadline, (tmp_path / "agent.log").read_text()
                for item_id in ids:
                    path = workdir / item_id / "seen"
                    if path.exists() and path.read_text():
                        seen[item_id] = path.read_text()
                time.sleep(0.05)
            assert sorted(seen.values()) == ["0", "1"]
            for item_id in ids:
                (workdir / item_id / "go").touch()
                doc = json.loads((workdir / item_id / "job.json").read_text())
                assert [str(i) for i in doc["gpus"]] == [seen[item_id]]  # recorded for restarts
        finally:
            agent.terminate()
            agent.wait(timeout=30)
            for job_file in workdir.glob("*/job.json"):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(json.loads(job_file.read_text())["pid"], signal.SIGKILL)
