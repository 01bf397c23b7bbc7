"""Rendering queue items into Kubernetes Jobs: a real Job, on its pool, with its run's env."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from kubernetes.client import ApiClient
from pydantic import ValidationError

from runyard.launch.kubernetes.job import (
    START_TIMEOUT_ANNOTATION,
    JobRenderError,
    job_name,
    render_job,
    start_timeout_s,
)
from runyard.launch.kubernetes.pool import PoolSettings
from runyard.launch.kubernetes.wandb_env import run_id_for
from runyard.launch.kubernetes.workload import render_manifest
from support.k8s import ITEM_ID, POOL, SELECTOR, TEMPLATE, make_item

LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _pod_spec(config: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": config}}}


def _main(job: dict[str, Any]) -> dict[str, Any]:
    return dict(job["spec"]["template"]["spec"]["containers"][0])


def _env(job: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in _main(job)["env"]}


def test_the_manifest_is_a_real_job_with_every_field_kept() -> None:
    job = render_job(make_item(), POOL, "agent-1")
    api = ApiClient()
    model = api._ApiClient__deserialize(job, "V1Job")  # type: ignore[attr-defined]
    # Serializing the typed Job again gives the same manifest: no field was unknown to it.
    assert api.sanitize_for_serialization(model) == job
    pod = model.spec.template.spec
    main = pod.containers[0]
    assert model.metadata.name == job_name(ITEM_ID) and model.metadata.namespace == "ml-jobs"
    assert model.spec.backoff_limit == 0 and model.spec.parallelism == 1
    assert model.spec.ttl_seconds_after_finished > 0
    assert pod.restart_policy == "Never" and pod.node_selector == SELECTOR
    assert main.name == "job" and main.image == "org/train:1" and main.args == ["--epochs", "3"]
    assert main.resources.limits == {"memory": "64Gi", "nvidia.com/gpu": "4"}  # the item's 4
    assert main.resources.requests == {"nvidia.com/gpu": "4"}
    assert [(t.key, t.operator, t.effect) for t in pod.tolerations] == [
        ("nvidia.com/gpu", "Exists", "NoSchedule")
    ]
    assert pod.service_account_name == "runyard-job" and pod.automount_service_account_token
    assert [s.name for s in pod.image_pull_secrets] == ["regcred"]
    for meta in (model.metadata, model.spec.template.metadata):
        assert meta.labels == {
            "runyard.dev/queue": "a100",
            "runyard.dev/item": ITEM_ID,
            "runyard.dev/pool": "a100",
            "runyard.dev/run-id": run_id_for(make_item()),
            "runyard.dev/agent": "agent-1",
        }
        assert meta.annotations == {
            "runyard.dev/queue-path": "team/a100",
            "runyard.dev/item-id": ITEM_ID,
        }
    env = {e.name: e for e in main.env}
    assert env["WANDB_RUN_ID"].value == run_id_for(make_item())
    assert env["WANDB_BASE_URL"].value == "http://runyard.runyard:8080"
    assert env["WANDB_DOCKER"].value == "org/train:1"
    assert json.loads(env["WANDB_CONFIG"].value) == {"lr": 0.1}
    key = env["WANDB_API_KEY"]
    assert key.value is None and key.value_from.secret_key_ref.name == "runyard-api-key"


def test_no_api_key_is_ever_written_into_the_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "wandb-key-b5f0c1d2e3f4a5b6c7d8e9f0"
    monkeypatch.setenv("WANDB_API_KEY", secret)  # the agent's own key must not leak
    template = _pod_spec({"containers": [{"env": [{"name": "WANDB_API_KEY", "value": secret}]}]})
    job = render_job(make_item(config=template), POOL, "agent-1")
    assert secret not in json.dumps(job)
    assert _env(job)["WANDB_API_KEY"] == {
        "secretKeyRef": {"name": "runyard-api-key", "key": "api-key"}
    }


@pytest.mark.parametrize(
    "item_id",
    [ITEM_ID, ITEM_ID.upper(), "3f2a9c0d-4b1e-4f6a-8c7d-9e0f1a2b3c4d", "x" * 200, "___", "Q1"],
)
def test_job_names_are_deterministic_dns_labels(item_id: str) -> None:
    name = job_name(item_id)
    assert name == job_name(item_id) and name.startswith("runyard-")
    assert DNS_LABEL.match(name) and len(name) <= 63
    assert len(f"{name[:58]}-r12") <= 63  # the runner's per-attempt suffix still fits


def test_ids_that_clean_up_alike_get_different_job_names() -> None:
    assert job_name(ITEM_ID) == f"runyard-{ITEM_ID}"  # uuid4 hex ids are used as they are
    assert job_name("abc") != job_name("ABC") != job_name("a-b-c")
    assert job_name("x" * 200) != job_name("x" * 201)


def test_labels_stay_valid_for_any_queue_item_and_agent_name() -> None:
    item = make_item(item_id="item/with spaces_" + "z" * 80).model_copy(
        update={"queue": "Team.GPU_queue-"}
    )
    agent = "gpu-node-7.cluster.example.com-4242/" + "worker" * 20
    job = render_job(item, POOL, agent)
    labels = {**job["metadata"]["labels"], **job["spec"]["template"]["metadata"]["labels"]}
    assert all(LABEL_VALUE.match(v) and len(v) <= 63 for v in labels.values())
    assert labels["runyard.dev/queue"] == "Team.GPU_queue"
    assert job["metadata"]["annotations"]["runyard.dev/item-id"] == item.id  # the whole id


def test_the_pool_decides_placement() -> None:
    config = _pod_spec(
        {
            "nodeSelector": {"nvidia.com/gpu.product": "H100", "zone": "a"},
            "tolerations": [{"key": "spot", "operator": "Exists"}],
        }
    )
    pool = POOL.model_copy(
        update={"tolerations": [{"key": "team", "value": "ml", "effect": "NoSchedule"}]}
    )
    pod = render_job(make_item(config=config), pool, "a")["spec"]["template"]["spec"]
    # The pool's selector wins; a template may only narrow it with labels of its own.
    assert pod["nodeSelector"] == {**SELECTOR, "zone": "a"}
    assert [t["key"] for t in pod["tolerations"]] == ["spot", "team", "nvidia.com/gpu"]
    with pytest.raises(JobRenderError, match=r"spec\.template\.spec\.nodeName"):
        render_job(make_item(config=_pod_spec({"nodeName": "n1"})), POOL, "a")


def test_gpus_come_from_the_item_and_only_the_main_container_gets_them() -> None:
    amd = POOL.model_copy(update={"gpu_resource": "amd.com/gpu"})
    job = render_job(make_item(gpus=8, config={}), amd, "a")
    assert _main(job)["resources"] == {
        "requests": {"amd.com/gpu": "8"},
        "limits": {"amd.com/gpu": "8"},
    }
    assert job["spec"]["template"]["spec"]["tolerations"][-1]["key"] == "amd.com/gpu"
    cpu = render_job(make_item(gpus=0), POOL, "a")
    assert "tolerations" not in cpu["spec"]["template"]["spec"]  # stays off GPU-tainted nodes
    sidecar = {"name": "s", "image": "s:1", "resources": {"limits": {"nvidia.com/gpu": 1}}}
    with pytest.raises(JobRenderError, match=r"containers\[1\]\.resources asks for nvidia"):
        render_job(make_item(config=_pod_spec({"containers": [{}, sidecar]})), POOL, "a")


def test_the_template_is_merged_under_what_the_item_and_pool_set() -> None:
    template = {
        "metadata": {"generateName": "x-", "labels": {"team": "nlp", "runyard.dev/pool": "h"}},
        "spec": {
            "backoffLimit": 6,
            "activeDeadlineSeconds": 86400,
            "template": {
                "spec": {
                    "imagePullSecrets": [{"name": "team-registry"}],
                    "containers": [
                        {
                            "image": "template/default:1",
                            "command": ["python"],
                            "env": [
                                {"name": "NCCL_DEBUG", "value": "INFO"},
                                {"name": "WANDB_PROJECT", "value": "other"},
                            ],
                            "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}],
                        },
                        {"name": "metrics", "image": "exporter:2"},
                    ],
                    "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory"}}],
                }
            },
        },
    }
    pool = POOL.model_copy(update={"allowed_secrets": ["team-*"]})  # the template's pull secret
    job = render_job(make_item(config=template), pool, "a")
    assert "generateName" not in job["metadata"]
    assert job["metadata"]["labels"]["team"] == "nlp"
    assert job["metadata"]["labels"]["runyard.dev/pool"] == "a100"
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] == 86400
    pod = job["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["job", "metrics"]
    assert pod["imagePullSecrets"] == [{"name": "team-registry"}, {"name": "regcred"}]
    main = _main(job)
    assert main["image"] == "org/train:1"  # the item's image, not the template's
    assert main["command"] == ["python"] and main["volumeMounts"][0]["name"] == "shm"
    assert _env(job)["NCCL_DEBUG"] == "INFO" and _env(job)["WANDB_PROJECT"] == "llm"
    assert [e["name"] for e in main["env"]].count("WANDB_PROJECT") == 1


def test_a_templates_wandb_config_cannot_shadow_the_items_chunks() -> None:
    big = {f"k{i}": "v" * 100 for i in range(1000)}
    template = _pod_spec({"containers": [{"env": [{"name": "WANDB_CONFIG", "value": "{}"}]}]})
    item = make_item(config=template, overrides={"run_config": big})
    env = _env(render_job(item, POOL, "a"))
    assert "WANDB_CONFIG" not in env and "WANDB_CONFIG_0" in env


def test_image_and_command_come_from_the_run_spec() -> None:
    item = make_item(
        config={},
        docker={},
        overrides={"entry_point": "python train.py --name 'a b'", "args": {"lr": 0.1}},
    )
    fallback = POOL.model_copy(update={"default_image": "base:2"})
    main = _main(render_job(item, fallback, "a"))
    assert main["image"] == "base:2"
    assert main["command"] == ["python", "train.py", "--name", "a b"]
    assert main["args"] == ["--lr", "0.1"]
    templated = make_item(config=_pod_spec({"containers": [{"image": "tpl:3"}]}), docker={})
    assert _main(render_job(templated, fallback, "a"))["image"] == "tpl:3"
    uri = make_item(config={}, docker={}, image_uri="org/uri:5")
    assert _main(render_job(uri, POOL, "a"))["image"] == "org/uri:5"


@pytest.mark.parametrize(
    ("item_kw", "message"),
    [
        ({"docker": {}}, r"run_spec\.docker\.docker_image .*default_image"),
        (
            {"config": {"kind": "Deployment", "apiVersion": "apps/v1"}},
            r"asks for apps/v1 Deployment; pool a100 runs batch/v1 Job: add it to the pool's "
            "workload_kinds",
        ),
        ({"config": {"namespace": "kube-system"}}, r"unknown top-level keys \['namespace'\]"),
        ({"config": {"spec": {"parallelism": 4}}}, r"spec\.parallelism must be 1"),
        ({"config": {"spec": {"template": []}}}, r"spec\.template must be a mapping"),
        (
            {"config": _pod_spec({"containers": [{}, {"name": "side"}]})},
            r"containers\[1\] needs a name and an image",
        ),
        ({"overrides": {"entry_point": [1, 2]}}, r"run_spec\.overrides\.entry_point"),
        ({"overrides": {"entry_point": "python 'x"}}, 'entry_point "python \'x": No closing'),
        ({"overrides": {"args": "--lr 1"}}, r"run_spec\.overrides\.args must be a list"),
        (
            {
                "config": _pod_spec(
                    {"containers": [{"resources": {"requests": {"memory": "8 GB"}}}]}
                )
            },
            r"containers\[0\]\.resources\.requests\.memory: '8 GB' is not a quantity; write e\.g\.",
        ),
    ],
)
def test_render_errors_name_the_field_to_fix(item_kw: dict[str, Any], message: str) -> None:
    with pytest.raises(JobRenderError, match=message):
        render_manifest(make_item(**item_kw), POOL, "a")


def test_a_config_too_big_for_kubernetes_is_refused_with_its_cause() -> None:
    item = make_item(overrides={"run_config": {f"k{i}": "v" * 1000 for i in range(1200)}})
    with pytest.raises(JobRenderError, match=r"run_spec\.overrides\.run_config alone is"):
        render_job(item, POOL, "a")


def test_rendering_leaves_the_item_and_template_untouched() -> None:
    before = json.dumps(TEMPLATE, sort_keys=True)
    item = make_item()
    render_job(item, POOL, "a")
    assert json.dumps(TEMPLATE, sort_keys=True) == before
    assert json.dumps(item.rendered_config, sort_keys=True) == before


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"name": "a100 pool"}, "'a100 pool' cannot be a label value"),
        ({"namespace": "ML_Jobs"}, "'ML_Jobs' is not a namespace name"),
        ({"gpu_resource": "gpu"}, "use vendor/name, e.g. nvidia.com/gpu or amd.com/gpu"),
        ({"server_url": "runyard:8080"}, "'runyard:8080' is not an http\\(s\\) URL"),
        ({"labels": {"runyard.dev/pool": "x"}}, "runyard.dev/ keys are set by the agent"),
        ({"image_pull_secrets": ["Reg_Cred"]}, "not Secret names: 'Reg_Cred'"),
        (
            {"tolerations": [{"key": "a", "operator": "Exists", "value": "x"}]},
            r"tolerations\[0\]\.value: must be empty with operator: Exists",
        ),
        ({"tolerations": [{"key": "a", "efect": "NoSchedule"}]}, r"unknown keys \['efect'\]"),
        ({"privileged": True}, "Extra inputs are not permitted"),
    ],
)
def test_pool_settings_the_api_would_refuse_are_named_at_start(
    setting: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        PoolSettings.model_validate({"name": "a100", **setting})


def test_a_queue_template_annotation_sets_its_own_start_timeout() -> None:
    def annotated(value: object) -> dict[str, Any]:
        return {"metadata": {"annotations": {START_TIMEOUT_ANNOTATION: value}}}

    assert start_timeout_s(make_item(config={}), POOL) == POOL.start_timeout_s
    assert start_timeout_s(make_item(config=annotated("1800")), POOL) == 1800
    for bad in ("15m", "0", "-3", "nan"):
        with pytest.raises(JobRenderError, match=r"annotations\[runyard.dev/start-timeout-s\]"):
            render_job(make_item(config=annotated(bad)), POOL, "a")


def test_typed_template_values_in_env_become_the_strings_kubernetes_wants() -> None:
    env = [
        {"name": "SECONDS", "value": 1.5},
        {"name": "WORKERS", "value": 4},
        {"name": "DEBUG", "value": True},
    ]
    job = render_job(make_item(config=_pod_spec({"containers": [{"env": env}]})), POOL, "a")
    values = {e["name"]: e.get("value") for e in _main(job)["env"]}
    assert (values["SECONDS"], values["WORKERS"], values["DEBUG"]) == ("1.5", "4", "true")
    nested = [{"name": "OPTS", "value": {"a": 1}}]
    with pytest.raises(
        JobRenderError, match=r"containers\[0\]\.env\[0\]\.value \(OPTS\) is a dict"
    ):
        render_job(make_item(config=_pod_spec({"containers": [{"env": nested}]})), POOL, "a")
