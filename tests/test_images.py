"""The built images against the real Docker engine: each does its job (`make test-images`).

`make test-images` builds the four images from Debian bases made with mmdebstrap and runs this
module (marker `images`, outside `make test`). The server container publishes its port to
127.0.0.1 for the host's official wandb client; the job and agent containers reach it by name
on a user-defined Docker network; the operator container reaches a kmock API server that
listens on that network's gateway address. Nothing is mocked but the Kubernetes API (kmock).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import tarfile
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from kubernetes.client import CustomObjectsApi

from conftest import SCRIPTS, WandbClient
from runyard.server.auth import generate_api_key
from support.kube import FakeKubernetes

pytestmark = pytest.mark.images

ROOT = Path(__file__).resolve().parent.parent
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
TARGETS = ("server", "agent", "operator", "job")
T = TypeVar("T")


def docker(*args: str, check: bool = True, stdin: str | None = None) -> str:
    """Run the docker client; a failure shows its output."""
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, input=stdin, timeout=300
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout.strip()


def image(target: str) -> str:
    """The name `make images` gives a target's image."""
    return f"runyard-{target}:{VERSION}"


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 120) -> T:
    """Poll until `probe` returns something truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"never happened within {timeout:.0f} s: {what}")
        time.sleep(0.5)


def health(container: str) -> str:
    """The container's health status (starting, healthy, unhealthy), or its state if it died."""
    state = json.loads(docker("inspect", "--format", "{{json .State}}", container))
    if not state["Running"]:
        return f"exited {state['ExitCode']}"
    return str(state["Health"]["Status"])


def wait_healthy(container: str) -> None:
    """Wait until the image's own HEALTHCHECK passes; fail with the container's log if not."""

    def probe() -> bool:
        status = health(container)
        if status.startswith("exited") or status == "unhealthy":
            logs = docker("logs", "--tail", "60", container, check=False)
            pytest.fail(f"{container} is {status}; its log ends with:\n{logs}")
        return status == "healthy"

    eventually(probe, f"{container} healthy")


@pytest.fixture(scope="module")
def engine() -> None:
    """The engine answers and `make images` has built all four images."""
    docker("info")
    missing = [image(t) for t in TARGETS if not docker("images", "-q", image(t))]
    assert not missing, f"build them first with `make test-images` (missing: {missing})"


@pytest.fixture(scope="module")
def network(engine: None) -> Iterator[str]:
    """A user-defined network: containers reach each other by name on it."""
    name = f"runyard-test-{uuid.uuid4().hex[:8]}"
    docker("network", "create", name)
    yield name
    docker("network", "rm", name, check=False)


@pytest.fixture(scope="module")
def containers() -> Iterator[list[str]]:
    """Names of the containers a module started; removed (with their volumes) at the end."""
    started: list[str] = []
    yield started
    for name in started:
        docker("rm", "--force", "--volumes", name, check=False)


@dataclass
class ServerContainer:
    """The server image running on the network, with its port published on 127.0.0.1."""

    name: str
    url: str  # from the host, through the published port
    internal_url: str  # from other containers on the network
    admin_key: str

    def api(self) -> httpx.Client:
        """The native API as the admin, from the host."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.admin_key}"}, timeout=30
        )


@pytest.fixture(scope="module")
def server(network: str, containers: list[str]) -> ServerContainer:
    """`runyard-server` with its SQLite default, healthy by its own HEALTHCHECK."""
    name = f"runyard-server-{uuid.uuid4().hex[:8]}"
    key = generate_api_key()
    containers.append(name)
    docker(
        "run", "--detach", "--name", name, "--network", network,
        "--publish", "127.0.0.1::8080", "--health-interval", "1s",
        "--env", f"RUNYARD_ADMIN_API_KEY={key}",
        image("server"),
    )  # fmt: skip
    wait_healthy(name)
    published = docker("port", name, "8080/tcp").splitlines()[0]
    port = published.rsplit(":", 1)[1]
    return ServerContainer(name, f"http://127.0.0.1:{port}", f"http://{name}:8080", key)


# --- what every image is ------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_image_is_non_root_labelled_and_built_from_the_mmdebstrap_base(
    engine: None, target: str
) -> None:
    config = json.loads(docker("image", "inspect", "--format", "{{json .Config}}", image(target)))
    assert config["User"] == "10001:10001"
    assert docker("run", "--rm", "--entrypoint", "id", image(target), "-u") == "10001"
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == VERSION
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert labels["org.opencontainers.image.revision"] == head
    assert labels["org.opencontainers.image.source"]
    # hack/base-image.sh labels what it imports; images built FROM it inherit the label.
    assert "python3-venv" in labels["runyard.base.packages"], labels
    healthcheck = (config.get("Healthcheck") or {}).get("Test")
    if target == "job":
        assert healthcheck == ["NONE"]  # a batch process: its exit code is its health
    else:
        assert healthcheck and healthcheck[0] == "CMD", config


def _pem_blocks(text: str) -> set[str]:
    found = re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.S)
    return {"".join(block.split()) for block in found}


def _host_ca_bundle() -> Path:
    """The CA file the build got as its secret: what hack/build-images.sh picks by default."""
    result = subprocess.run(
        ["bash", "-c", "source <(sed -n '/^host_ca_bundle()/,/^}/p' hack/build-images.sh); "
         'echo "${CA_BUNDLE:-$(host_ca_bundle)}"'],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    path = Path(result.stdout.strip())
    assert path.is_file(), f"no host CA bundle found ({path})"
    return path


def layer_leaks(saved: Path, bundle: bytes, host_only: set[str]) -> tuple[list[str], int]:
    """Files in a `docker save` archive's layers that leak the CA bundle; and files read.

    A leak is a copy of the bundle, any file holding one of the `host_only` certificates
    (base64 bodies, whitespace removed), or anything under /run/secrets.
    """
    digest = hashlib.sha256(bundle).hexdigest()
    needles = {block.encode() for block in host_only}
    leaks: list[str] = []
    files = 0
    with tarfile.open(saved) as archive:
        for member in archive.getmembers():
            if not member.name.endswith("layer.tar"):
                continue
            layer = archive.extractfile(member)
            assert layer is not None
            with tarfile.open(fileobj=layer) as fs:
                for entry in fs:
                    if entry.name.lstrip("./").startswith("run/secrets/"):
                        leaks.append(f"{member.name}: {entry.name} exists")
                    if not entry.isfile():
                        continue
                    files += 1
                    content = fs.extractfile(entry)
                    data = content.read() if content else b""
                    if hashlib.sha256(data).hexdigest() == digest:
                        leaks.append(f"{member.name}: {entry.name} is the host's bundle")
                    elif needles and b"BEGIN CERTIFICATE" in data:
                        flat = b"".join(data.split())
                        if any(n in flat for n in needles):
                            leaks.append(f"{member.name}: {entry.name} holds a host-only CA")
    return leaks, files


def _tar_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_leak_scan_finds_a_baked_in_bundle_a_copied_ca_and_a_leftover_secret(
    tmp_path: Path,
) -> None:
    """The scan below can fail: a layer with the bundle, a CA inside another file, a secret."""
    cert = "MIIBkTCB+wIJAKHBfpegPjMCMA0GCSqGSIb3DQEBCwUAMBExDzANBgNVBAMMBmxvY2FsMB4X"
    pem = f"-----BEGIN CERTIFICATE-----\n{cert[:40]}\n{cert[40:]}\n-----END CERTIFICATE-----\n"
    bundle = ("# public\n" + pem).encode()
    clean = _tar_bytes({"usr/bin/tool": b"\x7fELF", "etc/ssl/certs/ca-certificates.crt": b"x"})
    dirty = _tar_bytes(
        {
            "etc/ssl/certs/ca-certificates.crt": bundle,
            "opt/venv/lib/certifi/cacert.pem": b"other\n" + pem.encode(),
            "run/secrets/ca": b"-",
        }
    )
    saved = tmp_path / "save.tar"
    saved.write_bytes(
        _tar_bytes({"a/layer.tar": clean, "b/layer.tar": dirty, "manifest.json": b""})
    )
    leaks, files = layer_leaks(saved, bundle, {cert})
    assert files == 5
    assert leaks == [
        "b/layer.tar: etc/ssl/certs/ca-certificates.crt is the host's bundle",
        "b/layer.tar: opt/venv/lib/certifi/cacert.pem holds a host-only CA",
        "b/layer.tar: run/secrets/ca exists",
    ]
    clean_only = tmp_path / "clean.tar"
    clean_only.write_bytes(_tar_bytes({"a/layer.tar": clean}))
    assert layer_leaks(clean_only, bundle, {cert}) == ([], 2)


def test_the_host_ca_bundle_is_in_no_layer_of_any_image(engine: None, tmp_path: Path) -> None:
    """pip and npm trusted the host's CAs through a BuildKit secret: it must not be in a layer.

    Every file of every layer (`docker save`) is read: none is the host's bundle, none holds a
    certificate that only the host trusts (its bundle minus Debian's public CAs), and nothing
    is left under /run/secrets.
    """
    bundle = _host_ca_bundle().read_bytes()
    own = docker(
        "run", "--rm", "--entrypoint", "cat", image("job"), "/etc/ssl/certs/ca-certificates.crt"
    )
    # Public CAs: the ones Debian's ca-certificates ships (the host's release and the image's,
    # which differ) and so may sit in any image, e.g. in pip's vendored certifi. What is left
    # of the host's bundle are the CAs only this host trusts (/usr/local/share/ca-certificates).
    public = _pem_blocks(own)
    for shipped in Path("/usr/share/ca-certificates").rglob("*.crt"):
        public |= _pem_blocks(shipped.read_text(errors="replace"))
    host_only = _pem_blocks(bundle.decode()) - public
    saved = tmp_path / "images.tar"
    docker("save", "--output", str(saved), *(image(t) for t in TARGETS))
    leaks, files = layer_leaks(saved, bundle, host_only)
    assert files > 1000  # the layers were really read
    assert not leaks, "\n".join(leaks)


# --- each image does its job --------------------------------------------------------------------


def test_server_image_serves_healthz_and_the_host_client_logs_a_run(
    server: ServerContainer, tmp_path: Path
) -> None:
    assert httpx.get(f"{server.url}/healthz", timeout=10).json() == {"status": "ok"}
    client = WandbClient(tmp_path, server)  # type: ignore[arg-type]  # duck-typed: url, key
    try:
        project = f"p-{uuid.uuid4().hex[:8]}"
        result = client.run("train.py", "--project", project, "--steps", "5")
    finally:
        client.kill_leftovers()
    assert result.returncode == 0, result.stderr
    run_id = result.results[0]["id"]
    with server.api() as api:
        run = api.get(f"/api/v1/runs/admin/{project}/{run_id}").json()
    assert run["state"] == "finished", run
    assert run["summary"]["best"] == 0.5


def test_job_image_runs_a_training_script_that_logs_to_the_server_container(
    server: ServerContainer, network: str
) -> None:
    project = f"p-{uuid.uuid4().hex[:8]}"
    # The script goes in on stdin: `python -` in the job image, as a user's training code.
    out = docker(
        "run", "--rm", "--interactive", "--network", network,
        "--env", f"WANDB_BASE_URL={server.internal_url}",
        "--env", f"WANDB_API_KEY={server.admin_key}",
        "--env", "WANDB_DISABLE_GIT=true", "--env", "WANDB_ERROR_REPORTING=false",
        image("job"), "python", "-", "--project", project, "--steps", "7",
        stdin=(SCRIPTS / "train.py").read_text(),
    )  # fmt: skip
    results = [json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT ")]
    assert results[-1] == {"phase": "finished"}, out
    with server.api() as api:
        run = api.get(f"/api/v1/runs/admin/{project}/{results[0]['id']}").json()
        history = api.get(f"/api/v1/runs/admin/{project}/{results[0]['id']}/history").json()
    assert run["state"] == "finished", run
    assert run["config"]["lr"] == 0.01
    assert [row["loss"] for row in _rows(history)] == [1.0 / (step + 1) for step in range(7)]


def _rows(history: Any) -> list[dict[str, Any]]:
    rows = history["rows"] if isinstance(history, dict) else history
    return [dict(row) for row in rows]


def test_agent_image_claims_an_item_and_runs_it(
    server: ServerContainer, network: str, containers: list[str]
) -> None:
    queue = f"images-{uuid.uuid4().hex[:8]}"
    with server.api() as api:
        body = {"name": queue, "entity": "admin", "resource": "local-process"}
        created = api.post("/api/v1/queues", json=body)
        assert created.status_code == 201, created.text
        name = f"runyard-agent-{uuid.uuid4().hex[:8]}"
        containers.append(name)
        docker(
            "run", "--detach", "--name", name, "--network", network, "--health-interval", "1s",
            "--env", f"RUNYARD_URL={server.internal_url}",
            "--env", f"RUNYARD_API_KEY={server.admin_key}",
            image("agent"), "-q", queue, "--gpus", "0", "--workdir", "/tmp/jobs",
        )  # fmt: skip
        wait_healthy(name)  # its /metrics answers
        code = "import os; print('ran as uid', os.getuid()); raise SystemExit(4)"
        spec = {"entry_point": ["python", "-c", code]}
        enqueued = api.post(f"/api/v1/queues/admin/{queue}/items", json={"run_spec": spec})
        assert enqueued.status_code == 201, enqueued.text
        item_id = enqueued.json()["id"]

        def done() -> dict[str, Any] | None:
            item = dict(api.get(f"/api/v1/items/{item_id}").json())
            return item if item["state"] in {"finished", "failed", "canceled"} else None

        item = eventually(done, f"item {item_id} ran in {name}")
        agents = api.get("/api/v1/agents").json()
    # The process ran inside the agent container, as its non-root user, and its exit code and
    # output came back on the item.
    assert item["state"] == "failed", item
    assert item["error"]["message"] == "the job's process exited with code 4"
    assert item["error"]["log"].splitlines()[-1] == "ran as uid 10001"
    assert [s for s in item["state_times"] if s in ("claimed", "running")] == [
        "claimed",
        "running",
    ]
    assert any(a["queues"] == [f"admin/{queue}"] and a["alive"] for a in agents), agents


def test_operator_image_reconciles_a_tracking_server_in_kmock(
    network: str, containers: list[str], tmp_path: Path
) -> None:
    gateway = docker(
        "network", "inspect", "--format", "{{(index .IPAM.Config 0).Gateway}}", network
    )
    namespace, group, version = "runyard", "runyard.dev", "v1alpha1"
    with FakeKubernetes(namespaces=("default", namespace), host=gateway) as cluster:
        for kind_group, plural, kind, namespaced in [
            ("apps", "deployments", "Deployment", True),
            ("apps", "statefulsets", "StatefulSet", True),
            ("networking.k8s.io", "ingresses", "Ingress", True),
            ("rbac.authorization.k8s.io", "roles", "Role", True),
            ("rbac.authorization.k8s.io", "rolebindings", "RoleBinding", True),
            ("rbac.authorization.k8s.io", "clusterrolebindings", "ClusterRoleBinding", False),
        ]:
            cluster.declare(kind_group, "v1", plural, kind, namespaced)
        for plural, kind in [
            ("trackingservers", "TrackingServer"),
            ("launchqueues", "LaunchQueue"),
            ("agentpools", "AgentPool"),
        ]:
            cluster.declare(group, version, plural, kind)
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(cluster.kubeconfig_path.read_text())
        kubeconfig.chmod(0o644)  # read by the container's user 10001
        tmp_path.chmod(0o755)
        name = f"runyard-operator-{uuid.uuid4().hex[:8]}"
        containers.append(name)
        docker(
            "run", "--detach", "--name", name, "--network", network, "--health-interval", "1s",
            "--volume", f"{kubeconfig}:/kube/config:ro", "--env", "KUBECONFIG=/kube/config",
            "--env", "RUNYARD_OPERATOR_INTERVAL_S=0.5",
            image("operator"),
        )  # fmt: skip
        wait_healthy(name)  # kopf's /healthz
        body = {
            "apiVersion": f"{group}/{version}",
            "kind": "TrackingServer",
            "metadata": {"name": "rs"},
            "spec": {"storage": {"size": "20Gi"}},
        }
        created = CustomObjectsApi(cluster.api_client()).create_namespaced_custom_object(
            group, version, namespace, "trackingservers", body
        )
        uid = created["metadata"]["uid"]

        def rendered() -> tuple[dict[str, Any], dict[str, Any]] | None:
            deployment = cluster.get("deployments", namespace, "rs")
            service = cluster.get("services", namespace, "rs")
            if deployment and service:
                return deployment, service
            return None

        deployment, service = eventually(rendered, f"Deployment and Service rendered by {name}")
        owners = deployment["metadata"]["ownerReferences"]
        assert [o["uid"] for o in owners if o.get("controller")] == [uid]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        # The operator's default server image is the name `make images` gives it.
        assert container["image"] == image("server")
        assert service["spec"]["ports"][0]["port"]
        docker("stop", "--time", "10", name)
