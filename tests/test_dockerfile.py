"""The Dockerfile's targets: each exists, runs as a non-root user, and installs with one
`pip install` an extra that pyproject.toml really declares (renaming an extra breaks this).

These parse the Dockerfile; tests/test_images.py (`make test-images`) builds and runs it.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"server": "server", "agent": "launch", "operator": "operator"}


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse_dockerfile(text: str) -> dict[str, Stage]:
    """Stages by name, with their instructions (continuation lines joined, comments dropped)."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.fullmatch(r"(?i)(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", args.strip())
            assert match, f"cannot parse FROM {args}"
            current = Stage(name=(match.group(2) or "").lower(), base=match.group(1))
            stages[current.name] = current
        elif current is not None:
            current.instructions.append((keyword, " ".join(args.split())))
    return stages


def lineage(stages: dict[str, Stage], name: str) -> list[Stage]:
    """The stage and the local stages it is built FROM, nearest first."""
    chain = [stages[name]]
    while chain[-1].base.lower() in stages:
        chain.append(stages[chain[-1].base.lower()])
    return chain


def pip_installs(chain: list[Stage]) -> list[list[str]]:
    """The requirement arguments of every `pip install` in the chain's RUN instructions."""
    found = []
    for stage in chain:
        for run in stage.all("RUN"):
            for command in re.split(r"&&|;", run):
                words = shlex.split(command)
                if "pip" in words and "install" in words:
                    after = words[words.index("install") + 1 :]
                    found.append([w for w in after if not w.startswith("-") and w != "/wheels"])
    return found


def effective_user(chain: list[Stage]) -> str | None:
    for stage in chain:
        users = stage.all("USER")
        if users:
            return users[-1]
    return None


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def extras() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return dict(project["optional-dependencies"])


def test_every_image_target_exists(stages: dict[str, Stage]) -> None:
    assert {"server", "agent", "operator", "job"} <= set(stages)


@pytest.mark.parametrize("target", ["server", "agent", "operator", "job"])
def test_target_runs_as_a_numeric_non_root_user(stages: dict[str, Stage], target: str) -> None:
    user = effective_user(lineage(stages, target))
    assert user is not None, f"target {target} sets no USER and would run as root"
    uid = user.split(":")[0]
    # Numeric, so that Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
    assert uid.isdigit(), f"target {target}: USER {user} should be numeric"
    assert int(uid) != 0, f"target {target} runs as root"


@pytest.mark.parametrize(("target", "extra"), sorted(TARGETS.items()))
def test_target_installs_its_runyard_extra_once(
    stages: dict[str, Stage], extras: dict[str, list[str]], target: str, extra: str
) -> None:
    installs = pip_installs(lineage(stages, target))
    assert len(installs) == 1, f"target {target}: expected one pip install, got {installs}"
    (requirements,) = installs
    wanted = [r for r in requirements if r.startswith("runyard[")]
    assert wanted == [f"runyard[{extra}]"], f"target {target} installs {requirements}"
    assert extra in extras, (
        f"Dockerfile target {target} installs runyard[{extra}] but pyproject.toml has no "
        f"extra {extra!r} (extras: {sorted(extras)}): rename it in the Dockerfile too"
    )


def test_job_image_has_the_official_wandb_client_at_the_tested_version(
    stages: dict[str, Stage], extras: dict[str, list[str]]
) -> None:
    installs = pip_installs(lineage(stages, "job"))
    assert len(installs) == 1
    args = {
        a.split("=", 1)[0]: a.split("=", 1)[1].strip('"')
        for a in stages["job"].all("ARG")
        if "=" in a
    }
    (requirement,) = installs[0]
    requirement = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], requirement)
    tested = next(r for r in extras["test"] if r.startswith("wandb"))
    assert requirement == tested, (
        f"the job image installs {requirement}, the tests run against {tested}"
    )


def test_images_copy_only_what_the_wheel_needs_and_ignore_local_state() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".runyard", "wandb", "**/__pycache__"} <= ignored
    for copied in ("runyard", "launch", "operator", "pyproject.toml", "README.md"):
        assert copied not in ignored


def test_make_images_builds_every_target_with_the_ca_bundle_as_a_secret(
    stages: dict[str, Stage], tmp_path: Path
) -> None:
    # DOCKER=echo prints each docker command instead of running it.
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    result = subprocess.run(
        ["make", "--no-print-directory", "images", "DOCKER=echo", "IMAGE_REGISTRY=reg.example/ml",
         "BASE_IMAGE=local/python:1", f"CA_BUNDLE={bundle}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    builds = [shlex.split(line) for line in result.stdout.splitlines() if line.startswith("build ")]
    assert len(builds) == 4, result.stdout
    for target, words in zip(("server", "agent", "operator", "job"), builds, strict=True):
        assert target in stages
        assert words[0] == "build" and words[-1] == "."
        assert words[words.index("--target") + 1] == target
        assert words[words.index("-t") + 1] == f"reg.example/ml/runyard-{target}:{version}"
        # The bundle is a BuildKit secret (mounted per RUN, never in a layer), not a build arg.
        assert f"id=ca,src={bundle}" in words
        assert "BASE_IMAGE=local/python:1" in words
        assert f"VERSION={version}" in words
        assert not any(str(bundle) in w for w in words if w.startswith(("VERSION", "SOURCE")))


def test_make_images_refuses_a_missing_ca_bundle_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    result = subprocess.run(
        ["make", "--no-print-directory", "images", "DOCKER=echo", f"CA_BUNDLE={missing}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert f"CA_BUNDLE={missing} is not a readable file" in result.stderr
    assert not [line for line in result.stdout.splitlines() if line.startswith("build ")]


def test_ca_bundle_reaches_pip_and_npm_only_as_a_secret(stages: dict[str, Stage]) -> None:
    # Every RUN that reaches a package index mounts the secret; nothing COPYs or ADDs a CA file.
    for name, stage in stages.items():
        for run in stage.all("RUN"):
            if "pip install" in run or "pip wheel" in run or "npm ci" in run:
                assert "--mount=type=secret,id=ca" in run, f"stage {name}: {run}"
        for copy in stage.all("COPY") + stage.all("ADD"):
            assert "cert" not in copy and "/run/secrets" not in copy, copy
        for env in stage.all("ENV") + stage.all("ARG"):
            assert "/run/secrets" not in env, env


def test_server_wheel_carries_the_ui_bundle_built_with_npm_ci(stages: dict[str, Stage]) -> None:
    web = stages["web"]
    runs = " && ".join(web.all("RUN"))
    assert "npm ci" in runs and "npm run build" in runs
    # The bundle lands where package.json's esbuild command writes and pyproject packages it.
    build = json.loads((ROOT / "web" / "package.json").read_text())["scripts"]["build"]
    assert "--outdir=../runyard/server/ui/static/build" in build
    workdir = web.all("WORKDIR")[-1]
    out = (Path(workdir) / "../runyard/server/ui/static/build").resolve()
    copies = stages["wheel"].all("COPY")
    assert f"--from=web {out} ./runyard/server/ui/static/build" in copies
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "static/build/*" in package_data["package-data"]["runyard.server.ui"]
    # A local bundle never slips into the image instead of the fresh one.
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "runyard/server/ui/static/build" in ignored


def test_every_python_package_folder_is_listed_for_the_wheel() -> None:
    # The images install a non-editable wheel: a package folder missing from pyproject's
    # explicit `packages` list installs fine in the dev venv and fails to import in the image.
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    folders = {
        name: Path(folder) for name, folder in setuptools["package-dir"].items() if folder != name
    }
    found = set()
    for init in (ROOT / "runyard").rglob("__init__.py"):
        found.add(".".join(init.parent.relative_to(ROOT).parts))
    for name, folder in folders.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            found.add(".".join((name, *init.parent.relative_to(ROOT / folder).parts)))
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
