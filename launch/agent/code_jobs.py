"""W&B code jobs on the local-process runner, as W&B's local-process resource runs them.

`wandb job create code DIR -E "python train.py"` logs two artifacts: the job (its
`wandb-job.json` names the code artifact and the entry point; `requirements.frozen.txt`)
and the code. To run an item whose run spec names the job, the runner downloads both from
the server (`/api/v1/artifacts`), installs the requirements into a virtual environment
kept in a cache keyed by their hash (the next job with the same requirements reuses it), and
runs the entry point with that environment's Python in the downloaded code's folder.

The environment layers on the agent's own packages (its site-packages are visible after the
venv's own), so a job whose requirements the agent already has (wandb) installs nothing.
Reading the job, choosing the command and the cache key are pure functions.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import importlib.util
import json
import re
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import httpx

from .runner import LaunchError

JOB_FILE = "wandb-job.json"
REQUIREMENT_FILES = ("requirements.frozen.txt", "requirements.txt")
ARTIFACT_ID_PREFIX = "wandb-artifact://_id/"
READY = ".runyard-ready"
_PYTHON = re.compile(r"python(\d+(\.\d+)*)?")


@dataclass(frozen=True)
class JobSource:
    """What a job's `wandb-job.json` says to run: the code artifact and the entry point."""

    code_artifact_id: str
    entrypoint: list[str]


def split_job_name(job: str, entity: str, project: str) -> tuple[str, str, str]:
    """`entity/project/name:alias` (or `name:alias`, in the item's entity and project)."""
    parts = job.split("/")
    if len(parts) == 1:
        return entity, project, job
    if len(parts) == 3 and all(parts):
        return parts[0], parts[1], parts[2]
    raise LaunchError("launch", f"run_spec.job {job!r} must be ENTITY/PROJECT/NAME:ALIAS")


def job_source(job: str, doc: dict[str, Any]) -> JobSource:
    """The code artifact and entry point of a job (pure); LaunchError for what a local
    process cannot run (image jobs, git jobs, notebooks)."""
    source_type = doc.get("source_type")
    source = doc.get("source") or {}
    if source_type == "image" or "image" in source:
        raise LaunchError(
            "launch",
            f"job {job} runs the image {source.get('image')}: a local-process queue runs "
            "code jobs; use a local-container or kubernetes queue for it",
        )
    if source_type == "repo" or "git" in source:
        raise LaunchError(
            "launch",
            f"job {job} runs code from a git repository, which the runyard agent does not "
            "fetch: create it from a folder (`wandb job create code DIR`)",
        )
    if source.get("notebook"):
        raise LaunchError("launch", f"job {job} is a notebook job: export it to a script first")
    reference = source.get("artifact")
    entrypoint = source.get("entrypoint")
    if not isinstance(reference, str) or not reference.startswith(ARTIFACT_ID_PREFIX):
        raise LaunchError("launch", f"job {job}: {JOB_FILE} names no code artifact")
    if not isinstance(entrypoint, list) or not entrypoint:
        raise LaunchError("launch", f"job {job}: {JOB_FILE} has no entrypoint")
    return JobSource(reference[len(ARTIFACT_ID_PREFIX) :], [str(p) for p in entrypoint])


def requirement_lines(text: str) -> list[str]:
    """The requirements in a requirements file, without comments and blank lines."""
    lines = (line.split(" #", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def venv_key(requirements: list[str], python: str, base: str) -> str:
    """The cache key of a job environment: its requirements, Python and agent environment."""
    text = "\n".join([python, base, *requirements])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def is_python(word: str) -> bool:
    """Whether a command's first word names a Python interpreter (`python3`, `/usr/bin/python`)."""
    return bool(_PYTHON.fullmatch(PurePosixPath(word).name))


def job_command(entrypoint: list[str], python: str, args: list[str]) -> list[str]:
    """The entry point run with the job environment's Python (when it starts with one)."""
    first, *rest = entrypoint
    return [python if is_python(first) else first, *rest, *args]


def safe_path(root: Path, name: str) -> Path:
    """`root/name` for an artifact file name, refusing names that leave `root`."""
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or any(p in ("..", ".") for p in parts):
        raise LaunchError("launch", f"artifact file name {name!r} is not a relative path")
    return root.joinpath(*parts)


class JobFetcher:
    """Downloads job and code artifacts and builds their environments."""

    def __init__(self, server_url: str, api_key: str, cache: Path) -> None:
        self.server_url = server_url
        self.api_key = api_key
        self.cache = cache

    async def prepare(
        self, job: str, entity: str, project: str, folder: Path, log: Path
    ) -> tuple[JobSource, Path, Path]:
        """Download the job into `folder/code`; returns its source, the code folder and
        the Python of its environment (pip's output goes to `log`)."""
        owner, proj, name = split_job_name(job, entity, project)
        timeout = httpx.Timeout(120.0, connect=10.0)
        # File URLs are signed capability URLs (maybe an object store's): no key goes there.
        async with (
            httpx.AsyncClient(
                base_url=self.server_url + "/api/v1",
                headers={"Authorization": f"Bearer {self.api_key}"},
                timeout=timeout,
            ) as http,
            httpx.AsyncClient(timeout=timeout, follow_redirects=True) as files,
        ):
            job_doc = await self._get(http, f"/artifacts/{owner}/{proj}/{name}", job)
            if job_doc.get("type") not in (None, "job"):
                raise LaunchError(
                    "launch", f"run_spec.job {job} is a {job_doc['type']} artifact, not a job"
                )
            meta = folder / "job"
            await self._download(files, job_doc["files"], meta)
            job_file = meta / JOB_FILE
            if not job_file.exists():
                raise LaunchError("launch", f"job {job} has no {JOB_FILE}")
            source = job_source(job, json.loads(job_file.read_text()))
            code_doc = await self._get(http, f"/artifacts/id/{source.code_artifact_id}", job)
            code = folder / "code"
            await self._download(files, code_doc["files"], code)
        requirements: list[str] = []
        for where in (meta, code):
            found = [where / n for n in REQUIREMENT_FILES if (where / n).exists()]
            if found:
                requirements = requirement_lines(found[0].read_text())
                break
        python = await asyncio.to_thread(self.environment, requirements, log)
        return source, code, python

    async def _get(self, http: httpx.AsyncClient, path: str, job: str) -> dict[str, Any]:
        try:
            response = await http.get(path)
        except httpx.HTTPError as exc:
            raise LaunchError("launch", f"cannot read job {job} from the server: {exc}") from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise LaunchError("launch", f"cannot read job {job}: {detail}")
        doc: dict[str, Any] = response.json()
        return doc

    async def _download(
        self, http: httpx.AsyncClient, files: list[dict[str, Any]], root: Path
    ) -> None:
        if root.exists():
            shutil.rmtree(root)  # a retried launch starts from a clean copy
        root.mkdir(parents=True)
        for entry in files:
            target = safe_path(root, entry["name"])
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                async with http.stream("GET", entry["url"]) as got:
                    got.raise_for_status()
                    with target.open("wb") as out:
                        async for chunk in got.aiter_bytes():
                            out.write(chunk)
            except httpx.HTTPError as exc:
                raise LaunchError("launch", f"cannot download {entry['name']}: {exc}") from exc

    def environment(self, requirements: list[str], log: Path) -> Path:
        """The Python of a venv with `requirements`, from the cache or built now (blocking)."""
        python_tag = f"{sys.implementation.name}-{sys.version_info[0]}.{sys.version_info[1]}"
        key = venv_key(requirements, python_tag, sys.prefix)
        root = self.cache / key
        python = root / "bin" / "python"
        self.cache.mkdir(parents=True, exist_ok=True)
        with (self.cache / f"{key}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one build per key; others wait and reuse it
            if (root / READY).exists():
                return python
            if root.exists():
                shutil.rmtree(root)  # a build that was interrupted
            with log.open("ab") as out:
                self._build(root, requirements, out)
            (root / READY).touch()
        return python

    def _build(self, root: Path, requirements: list[str], out: Any) -> None:
        def run(*cmd: str) -> None:
            out.write(f"$ {' '.join(cmd)}\n".encode())
            out.flush()
            done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
            if done.returncode != 0:
                what = "pip install" if "install" in cmd else "python -m venv"
                raise LaunchError(
                    "setup",
                    f"preparing the job's environment failed: {what} exited with code "
                    f"{done.returncode} (its output is in the log)",
                )

        has_pip = importlib.util.find_spec("pip") is not None
        venv = [sys.executable, "-m", "venv", "--system-site-packages"]
        run(*venv, *(["--without-pip"] if has_pip else []), str(root))
        if sys.prefix != sys.base_prefix:
            # The agent runs in a venv: let jobs see its packages too, after their own.
            found = list(root.glob("lib/python*/site-packages"))
            if found:
                (found[0] / "_runyard_agent.pth").write_text(
                    "\n".join(site.getsitepackages()) + "\n"
                )
        if not requirements:
            return
        listed = root / "requirements.txt"
        listed.write_text("\n".join(requirements) + "\n")
        pip = [sys.executable, "-m", "pip", "--python", str(root / "bin" / "python")]
        if not has_pip:
            pip = [str(root / "bin" / "python"), "-m", "pip"]
        run(*pip, "install", "--disable-pip-version-check", "-r", str(listed))
