"""The pure parts of running W&B code jobs on the local-process runner, and of deciding
whether an item can run on a local-process queue at all."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from runyard.launch.agent.code_jobs import (
    READY,
    JobFetcher,
    JobSource,
    job_command,
    job_source,
    requirement_lines,
    safe_path,
    split_job_name,
    venv_key,
)
from runyard.launch.agent.local_process import LocalProcessRunner
from runyard.launch.agent.run_env import wandb_values
from runyard.launch.agent.runner import JobUpdate, LaunchError
from runyard.launch.models import ItemState, Priority, QueueItem, Requirements
from runyard.launch.run_spec import entry_point_of, job_of, missing_entry_point

CODE_JOB = {
    "source_type": "artifact",
    "source": {
        "artifact": "wandb-artifact://_id/QXJ0aWZhY3Q6MQ==",
        "entrypoint": ["python", "train.py"],
        "notebook": False,
    },
    "runtime": "3.11",
}


def test_a_code_job_names_its_code_artifact_and_entry_point() -> None:
    source = job_source("admin/p/trainer:latest", CODE_JOB)
    assert source.code_artifact_id == "QXJ0aWZhY3Q6MQ=="
    assert source.entrypoint == ["python", "train.py"]


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({"source_type": "image", "source": {"image": "org/x:1"}}, "runs the image org/x:1"),
        ({"source_type": "repo", "source": {"git": {"remote": "r"}}}, "git repository"),
        ({"source": {**CODE_JOB["source"], "notebook": True}}, "notebook job"),  # type: ignore[dict-item]
        ({"source": {"entrypoint": ["python", "t.py"]}}, "names no code artifact"),
        ({"source": {"artifact": "wandb-artifact://_id/x"}}, "has no entrypoint"),
    ],
)
def test_jobs_a_local_process_cannot_run_say_why(doc: dict[str, Any], words: str) -> None:
    with pytest.raises(LaunchError, match=words) as info:
        job_source("admin/p/j:v0", doc)
    assert info.value.error.stage == "launch"


def test_job_names_are_split_or_take_the_items_entity_and_project() -> None:
    assert split_job_name("team/proj/trainer:v2", "admin", "p") == ("team", "proj", "trainer:v2")
    assert split_job_name("trainer:latest", "admin", "p") == ("admin", "p", "trainer:latest")
    with pytest.raises(LaunchError, match="ENTITY/PROJECT/NAME:ALIAS"):
        split_job_name("a/b", "admin", "p")


def test_the_entry_points_python_becomes_the_venvs() -> None:
    venv = "/w/venvs/k/bin/python"
    assert job_command(["python", "train.py"], venv, ["--lr", "0.1"]) == [
        venv,
        "train.py",
        "--lr",
        "0.1",
    ]
    assert job_command(["/usr/bin/python3.11", "t.py"], venv, []) == [venv, "t.py"]
    assert job_command(["bash", "run.sh"], venv, []) == ["bash", "run.sh"]  # PATH has the venv


def test_the_cache_key_follows_the_requirements_not_their_comments() -> None:
    text = "# pinned\nwandb==0.31.0\n\nnumpy>=2  # arrays\n"
    assert requirement_lines(text) == ["wandb==0.31.0", "numpy>=2"]
    same = venv_key(requirement_lines("wandb==0.31.0\nnumpy>=2"), "cpython-3.11", "/venv")
    assert venv_key(requirement_lines(text), "cpython-3.11", "/venv") == same
    assert venv_key(["wandb==0.30.0", "numpy>=2"], "cpython-3.11", "/venv") != same
    assert venv_key(requirement_lines(text), "cpython-3.12", "/venv") != same


def test_artifact_file_names_stay_inside_the_folder(tmp_path: Any) -> None:
    assert safe_path(tmp_path, "src/train.py") == tmp_path / "src" / "train.py"
    for bad in ("../x", "/etc/passwd", "a/../../b", ""):
        with pytest.raises(LaunchError, match="not a relative path"):
            safe_path(tmp_path, bad)


def test_what_needs_an_entry_point_on_which_queue() -> None:
    assert entry_point_of({"entry_point": "python t.py"}) == ["python", "t.py"]
    assert entry_point_of({"entry_point": ["a"], "overrides": {"entry_point": ["b"]}}) == ["b"]
    assert job_of({"job": "admin/p/j:latest"}) == "admin/p/j:latest"
    assert missing_entry_point("local-process", "admin/q", {"entry_point": ["t"]}) is None
    assert missing_entry_point("local-process", "admin/q", {"job": "admin/p/j:v0"}) is None
    assert missing_entry_point("kubernetes", "admin/q", {}) is None
    bare = missing_entry_point("local-process", "admin/q", {})
    assert bare is not None and "run_spec.entry_point is required" in bare
    assert "`runyard launch -q q -- python train.py`" in bare
    image = missing_entry_point("local-process", "admin/q", {"docker": {"docker_image": "o/i"}})
    assert image is not None and "names only the image o/i" in image


def test_a_job_run_uses_its_job_artifact() -> None:
    item = QueueItem(
        id="i1",
        queue="default",
        entity="admin",
        priority=Priority.MEDIUM,
        run_spec={"job": "admin/p/trainer:latest", "project": "p"},
        template_values={},
        rendered_config={},
        requirements=Requirements(),
        state=ItemState.CLAIMED,
        state_times={},
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    env = wandb_values(item, "http://x", "r1")
    assert json.loads(env["WANDB_ARTIFACTS"]) == {"_wandb_job": "admin/p/trainer:latest"}
    assert env["WANDB_DISABLE_JOB_CREATION"] == "false"
    plain = item.model_copy(update={"run_spec": {"entry_point": ["t"]}})
    assert "WANDB_ARTIFACTS" not in wandb_values(plain, "http://x", "r1")


def test_requirements_pip_cannot_install_fail_the_setup_and_are_not_cached(
    tmp_path: Path,
) -> None:
    fetcher = JobFetcher("http://unused", "key", tmp_path / "venvs")
    log = tmp_path / "output.log"
    missing = str(tmp_path / "no-such-package")
    with pytest.raises(LaunchError, match="pip install exited with code") as info:
        fetcher.environment([missing], log)
    assert info.value.error.stage == "setup"
    assert "no-such-package" in log.read_text()  # pip's own words are in the job's log
    assert not list((tmp_path / "venvs").glob(f"*/{READY}"))  # the next launch tries again
    python = fetcher.environment([], log)  # no requirements: a bare venv, built once
    assert python.exists() and fetcher.environment([], log) == python


def test_a_code_job_canceled_while_it_is_prepared_never_starts(tmp_path: Path) -> None:
    item = QueueItem(
        id="c0ffee00",
        queue="default",
        entity="admin",
        priority=Priority.MEDIUM,
        run_spec={"job": "admin/p/trainer:latest"},
        template_values={},
        rendered_config={},
        requirements=Requirements(),
        state=ItemState.CLAIMED,
        state_times={},
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )

    async def scenario() -> list[ItemState]:
        runner = LocalProcessRunner(tmp_path / "agent", "http://unused", "key", None)
        preparing, release = asyncio.Event(), asyncio.Event()

        class SlowDownload:
            async def prepare(self, *_: object) -> tuple[JobSource, Path, Path]:
                preparing.set()
                await release.wait()
                return JobSource("id", ["python", "t.py"]), tmp_path, Path(sys.executable)

        runner.jobs = cast(JobFetcher, SlowDownload())
        updates: asyncio.Queue[JobUpdate] = asyncio.Queue()
        await runner.start("agent-1", updates)
        launching = asyncio.create_task(runner.launch(item))
        await preparing.wait()
        await runner.cancel(item.id)  # the queue says canceled while the code downloads
        release.set()
        await launching
        return [updates.get_nowait().state for _ in range(updates.qsize())]

    assert asyncio.run(scenario()) == [ItemState.LAUNCHING]
    assert not (tmp_path / "agent" / item.id / "job.json").exists()  # no process started
