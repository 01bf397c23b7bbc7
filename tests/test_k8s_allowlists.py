"""Pool allow-lists of Secrets and priority classes: what counts as a reference, what a pool
allows, the agent's check before it launches, and which pools the server checks at enqueue."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from runyard.launch.kubernetes.allowlists import PoolPolicy, allowlist_problems, references
from runyard.launch.kubernetes.job import render_job
from runyard.launch.kubernetes.pool import PoolSettings, WorkloadKind, pool_policy
from runyard.launch.kubernetes.security import PodSecurityError
from runyard.launch.kubernetes.workload import render_manifest
from runyard.server.queues.pools import PoolPolicyRefused, check_pools, live_policies
from support.k8s import NOW, POOL, make_item

P = "spec.template.spec"
NONE_ALLOWED = PoolPolicy(name="a100", namespace="ml-jobs")


def _job(**pod: Any) -> dict[str, Any]:
    return {"spec": {"template": {"spec": pod}}}


# Every way a pod can name a Secret, and the path each is reported at.
SECRET_REFERENCES = [
    (
        {"containers": [{"env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "db"}}}]}]},
        f"{P}.containers[0].env[0].valueFrom.secretKeyRef.name",
    ),
    ({"containers": [{"envFrom": [{"secretRef": {"name": "db"}}]}]}, ""),
    ({"initContainers": [{"envFrom": [{"secretRef": {"name": "db"}}]}]}, ""),
    ({"volumes": [{"name": "v", "secret": {"secretName": "db"}}]}, f"{P}.volumes[0].secret"),
    (
        {"volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "db"}}]}}]},
        f"{P}.volumes[0].projected.sources[0].secret.name",
    ),
    ({"imagePullSecrets": [{"name": "db"}]}, f"{P}.imagePullSecrets[0].name"),
    (
        {
            "volumes": [
                {"name": "v", "csi": {"driver": "x", "nodePublishSecretRef": {"name": "db"}}}
            ]
        },
        f"{P}.volumes[0].csi.nodePublishSecretRef.name",
    ),
]


@pytest.mark.parametrize(("pod", "path"), SECRET_REFERENCES)
def test_every_kind_of_secret_reference_is_found_and_refused_by_default(
    pod: dict[str, Any], path: str
) -> None:
    secrets, classes = references(_job(**pod))
    assert [name for _, name in secrets] == ["db"] and classes == []
    problems = allowlist_problems(_job(**pod), NONE_ALLOWED)
    assert len(problems) == 1
    assert "Secret 'db' is not allowed on pool a100 (namespace ml-jobs)" in problems[0]
    assert "spec.allowedSecrets (AgentPool; pool.allowed_secrets" in problems[0]
    assert problems[0].startswith(path or P)


def test_config_maps_fields_and_unset_priority_classes_are_no_references() -> None:
    pod = {
        "priorityClassName": "",
        "containers": [
            {"env": [{"name": "SECRET", "valueFrom": {"configMapKeyRef": {"name": "cm"}}}]},
            {"envFrom": [{"configMapRef": {"name": "cm"}}]},
        ],
        "volumes": [{"name": "secret", "configMap": {"name": "cm"}}],
    }
    assert references(_job(**pod)) == ([], [])
    assert allowlist_problems(_job(**pod), NONE_ALLOWED) == []


def test_priority_classes_are_refused_unless_the_pool_lists_them() -> None:
    manifest = _job(priorityClassName="system-node-critical")
    [problem] = allowlist_problems(manifest, NONE_ALLOWED)
    assert problem.startswith(f"{P}.priorityClassName: priority class 'system-node-critical'")
    assert "spec.allowedPriorityClasses (AgentPool; pool.allowed_priority_classes" in problem
    allowed = NONE_ALLOWED.model_copy(update={"allowed_priority_classes": ["team-a-*"]})
    assert allowlist_problems(_job(priorityClassName="team-a-high"), allowed) == []
    assert len(allowlist_problems(manifest, allowed)) == 1


def test_globs_allow_names_and_every_refused_reference_is_listed() -> None:
    policy = NONE_ALLOWED.model_copy(update={"allowed_secrets": ["team-a-*", "shared?"]})
    pod = {
        "containers": [
            {
                "envFrom": [
                    {"secretRef": {"name": "team-a-db"}},
                    {"secretRef": {"name": "shared1"}},
                    {"secretRef": {"name": "team-b-db"}},
                ]
            }
        ],
        "volumes": [{"name": "v", "secret": {"secretName": "shared12"}}],
    }
    problems = allowlist_problems(_job(**pod), policy)
    assert [p.split(":")[0] for p in problems] == [
        f"{P}.containers[0].envFrom[2].secretRef.name",
        f"{P}.volumes[0].secret.secretName",
    ]


def test_allow_list_entries_must_be_names_or_globs() -> None:
    with pytest.raises(ValidationError, match=r"allowed_secrets[\s\S]*'Team_A'"):
        PoolSettings(name="a100", allowed_secrets=["ok-*", "Team_A"])
    with pytest.raises(ValidationError, match="allowed_priority_classes"):
        PoolPolicy(name="a100", allowed_priority_classes=["high priority"])


def test_the_agent_allows_the_secrets_it_adds_itself() -> None:
    policy = pool_policy(POOL.model_copy(update={"allowed_secrets": ["team-*"]}))
    assert policy.allowed_secrets == ["team-*", "runyard-api-key", "regcred"]
    assert policy.allowed_priority_classes == []
    # A template naming the pool's own API key and pull secret launches.
    pod = {
        "imagePullSecrets": [{"name": "regcred"}],
        "containers": [{"envFrom": [{"secretRef": {"name": "runyard-api-key"}}]}],
    }
    job = render_job(make_item(config=_job(**pod)), POOL, "agent-1")
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["WANDB_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "runyard-api-key"


def test_the_agent_refuses_a_job_naming_another_secret_or_priority_class() -> None:
    pod = {
        "priorityClassName": "system-node-critical",
        "containers": [{"envFrom": [{"secretRef": {"name": "prod-db"}}]}],
    }
    with pytest.raises(PodSecurityError) as refused:
        render_job(make_item(config=_job(**pod)), POOL, "agent-1")
    assert [p.split(":")[0] for p in refused.value.problems] == [
        f"{P}.containers[0].envFrom[0].secretRef.name",
        f"{P}.priorityClassName",
    ]
    pool = POOL.model_copy(
        update={"allowed_secrets": ["prod-db"], "allowed_priority_classes": ["system-*"]}
    )
    job = render_job(make_item(config=_job(**pod)), pool, "agent-1")
    assert job["spec"]["template"]["spec"]["priorityClassName"] == "system-node-critical"


def test_a_custom_workload_is_checked_in_its_pod_templates_and_its_own_fields() -> None:
    jobset = WorkloadKind(apiVersion="jobset.x-k8s.io/v1alpha2", kind="JobSet")
    pool = POOL.model_copy(update={"workload_kinds": [jobset]})
    pod = {"containers": [{"name": "t", "envFrom": [{"secretRef": {"name": "prod-db"}}]}]}
    manifest = {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "spec": {
            "replicatedJobs": [{"name": "w", "template": {"spec": {"template": {"spec": pod}}}}],
            "credentials": {"secretRef": {"name": "cloud-admin"}},
        },
    }
    with pytest.raises(PodSecurityError) as refused:
        render_manifest(make_item(config=manifest), pool, "agent-1")
    assert [p.split(":")[0] for p in refused.value.problems] == [
        "spec.replicatedJobs[0].template.spec.template.spec.containers[0].envFrom[0]"
        ".secretRef.name",
        "spec.credentials.secretRef.name",
    ]


def test_enqueue_checks_every_live_pool_serving_the_queue() -> None:
    strict = {"name": "a100", "namespace": "ml", "allowed_secrets": []}
    loose = {"name": "h100", "namespace": "ml", "allowed_secrets": ["*"]}
    quiet = NOW - timedelta(seconds=31)  # 3 missed heartbeats of 10 s: gone
    agents = [
        (["team/q"], strict, NOW, 10.0),
        (["team/q"], strict, NOW, 10.0),  # a second agent of the same pool
        (["team/q"], loose, NOW, 10.0),
        (["team/q"], {**strict, "name": "gone"}, quiet, 10.0),
        (["team/other"], {**strict, "name": "other"}, NOW, 10.0),
        (["team/q"], None, NOW, 10.0),  # a local-process or W&B agent: no pool
        (["team/q"], {"name": "x", "unknown": 1}, NOW, 10.0),  # not a policy this server reads
    ]
    policies = live_policies(agents, "team/q", NOW)
    assert [p.name for p in policies] == ["a100", "h100"]
    rendered = _job(containers=[{"envFrom": [{"secretRef": {"name": "db"}}]}])
    with pytest.raises(PoolPolicyRefused) as refused:
        check_pools(rendered, policies)
    assert refused.value.status == 422
    assert [re.sub(r" \(namespace.*", "", p) for p in refused.value.problems] == [
        f"{P}.containers[0].envFrom[0].secretRef.name: Secret 'db' is not allowed on pool a100"
    ]
    check_pools(rendered, policies[1:])  # h100 alone allows it
    check_pools(rendered, [])  # no pool known: the agents check before they launch


def test_a_deeply_nested_config_is_searched_without_exhausting_the_stack() -> None:
    root: dict[str, Any] = {}
    node = root
    for _ in range(5000):
        node["x"] = {}
        node = node["x"]
    node["secretRef"] = {"name": "deep"}
    [problem] = allowlist_problems(root, NONE_ALLOWED)
    assert problem.startswith("x." * 5000 + "secretRef.name: Secret 'deep'")
