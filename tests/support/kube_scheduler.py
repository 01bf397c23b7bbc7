"""The default kube-scheduler's placement rules, for the simulated cluster (pure functions).

Part of the cluster simulator for tests (see `support.cluster_sim`), which stands in for a
real Kubernetes cluster behind the fake API server (`support.kube`). It runs the filters
of the scheduler's default profile that GPU jobs meet, in the scheduler's order, each
node failing at its first filter:

1. NodeUnschedulable: `spec.unschedulable` (a cordon), unless tolerated;
2. TaintToleration: `NoSchedule`/`NoExecute` taints against the pod's tolerations
   (operators `Equal` and `Exists`, empty key and empty effect as wildcards);
3. NodeAffinity: `nodeSelector` and required node affinity (In, NotIn, Exists,
   DoesNotExist, Gt, Lt);
4. NodeResourcesFit: requests (limits stand in for missing requests) of cpu, memory, pods
   and extended resources such as `nvidia.com/gpu` against allocatable minus what the
   pods bound to the node (not Succeeded/Failed) request.

When no node fits, `unschedulable_message` words it exactly as kube-scheduler does,
preemption's verdict included: `0/4 nodes are available: 1 node(s) were unschedulable,
3 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: 1 Preemption is not
helpful for scheduling, 3 No preemption victims found for incoming pod.`
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from kubernetes.utils.quantity import parse_quantity

Obj = dict[str, Any]
UNRESOLVABLE = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
TERMINAL = ("Succeeded", "Failed")


def quantity(value: Any) -> Decimal:
    """`"500m"` → 0.5, `"64Gi"` → 68719476736, `4` → 4."""
    return parse_quantity(value) if value not in (None, "") else Decimal(0)


def pod_requests(pod: Mapping[str, Any]) -> dict[str, Decimal]:
    """What the pod asks of a node: the sum over containers (requests, else limits), or the
    largest init container where that is more, plus one `pods` slot."""
    spec = pod.get("spec") or {}

    def of(container: Mapping[str, Any]) -> dict[str, Decimal]:
        resources = container.get("resources") or {}
        wanted = dict(resources.get("limits") or {})
        wanted.update(resources.get("requests") or {})
        return {name: quantity(amount) for name, amount in wanted.items()}

    total: dict[str, Decimal] = {}
    for container in spec.get("containers") or []:
        for name, amount in of(container).items():
            total[name] = total.get(name, Decimal(0)) + amount
    for container in spec.get("initContainers") or []:
        for name, amount in of(container).items():
            total[name] = max(total.get(name, Decimal(0)), amount)
    total["pods"] = Decimal(1)
    return total


def tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """Whether some toleration tolerates the taint (Kubernetes' ToleratesTaint)."""
    for toleration in tolerations:
        effect = toleration.get("effect") or ""
        if effect and effect != taint.get("effect"):
            continue
        key = toleration.get("key") or ""
        operator = toleration.get("operator") or "Equal"
        if key and key != taint.get("key"):
            continue
        if not key and operator != "Exists":
            continue
        if operator == "Exists" or (toleration.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _expression_matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = expression.get("key"), expression.get("operator")
    values = [str(v) for v in expression.get("values") or []]
    present = key in labels
    value = labels.get(str(key), "")
    if operator == "In":
        return present and value in values
    if operator == "NotIn":
        return not present or value not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and values:
        try:
            number, bound = int(value), int(values[0])
        except ValueError:
            return False
        return number > bound if operator == "Gt" else number < bound
    return False


def matches_node_affinity(pod: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """`nodeSelector` (all pairs) and required node affinity (any term, all expressions)."""
    spec = pod.get("spec") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return True
    return any(
        all(_expression_matches(e, labels) for e in term.get("matchExpressions") or [])
        and all(
            _expression_matches(e, {"metadata.name": node["metadata"]["name"]})
            for e in term.get("matchFields") or []
        )
        for term in terms
    )


def usage_by_node(pods: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Decimal]]:
    """Per node, what its bound pods that have not ended (Succeeded/Failed) request."""
    used: dict[str, dict[str, Decimal]] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or (pod.get("status") or {}).get("phase") in TERMINAL:
            continue
        mine = used.setdefault(node, {})
        for name, amount in pod_requests(pod).items():
            mine[name] = mine.get(name, Decimal(0)) + amount
    return used


def filter_node(
    pod: Mapping[str, Any], node: Mapping[str, Any], used: Mapping[str, Decimal]
) -> list[tuple[str, bool]]:
    """Why the pod cannot go to the node: [(reason, resolvable by preemption)], [] if it can."""
    spec = pod.get("spec") or {}
    tolerations = spec.get("tolerations") or []
    node_spec = node.get("spec") or {}
    if node_spec.get("unschedulable") and not tolerates(
        tolerations, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
    ):
        return [("node(s) were unschedulable", False)]
    for taint in node_spec.get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not tolerates(tolerations, taint):
            key, value = taint.get("key", ""), taint.get("value", "")
            return [(f"node(s) had untolerated taint {{{key}: {value}}}", False)]
    if not matches_node_affinity(pod, node):
        return [("node(s) didn't match Pod's node affinity/selector", False)]
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    reasons = []
    for name, amount in sorted(pod_requests(pod).items()):
        if amount <= 0:
            continue
        free = quantity(allocatable.get(name, 0)) - used.get(name, Decimal(0))
        if amount > free:
            reasons.append(("Too many pods" if name == "pods" else f"Insufficient {name}", True))
    return reasons


def unschedulable_message(nodes: int, reasons: Mapping[str, list[tuple[str, bool]]]) -> str:
    """kube-scheduler's FitError text for the per-node reasons."""
    if nodes == 0:
        return "no nodes available to schedule pods"
    histogram: dict[str, int] = {}
    preemption: dict[str, int] = {}
    for node_reasons in reasons.values():
        for reason, _ in node_reasons:
            histogram[reason] = histogram.get(reason, 0) + 1
        verdict = NO_VICTIMS if all(ok for _, ok in node_reasons) else UNRESOLVABLE
        preemption[verdict] = preemption.get(verdict, 0) + 1
    head = ", ".join(sorted(f"{count} {reason}" for reason, count in histogram.items()))
    tail = ", ".join(sorted(f"{count} {verdict}" for verdict, count in preemption.items()))
    return (
        f"0/{nodes} nodes are available: {head}. preemption: 0/{nodes} nodes are available: {tail}."
    )


def choose_node(
    pod: Mapping[str, Any],
    nodes: list[Obj],
    used: Mapping[str, Mapping[str, Decimal]],
    pack: bool = False,
) -> tuple[Obj | None, str]:
    """The node for the pod (the feasible one with the most free GPUs-like resources left,
    then by name; `pack`: the fewest, as a MostAllocated scoring profile would), or None and
    the scheduler's message."""
    feasible, reasons = [], {}
    for node in nodes:
        name = node["metadata"]["name"]
        why = filter_node(pod, node, used.get(name, {}))
        if why:
            reasons[name] = why
        else:
            feasible.append(node)
    if not feasible:
        return None, unschedulable_message(len(nodes), reasons)
    wanted = pod_requests(pod)

    def score(node: Obj) -> tuple[Decimal, str]:
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        mine = used.get(node["metadata"]["name"], {})
        # Least allocated on what the pod asks for besides cpu/memory/pods, as a tiebreak.
        left = sum(
            (
                quantity(allocatable.get(r, 0)) - mine.get(r, Decimal(0)) - wanted[r]
                for r in wanted
                if r not in ("cpu", "memory", "pods")
            ),
            Decimal(0),
        )
        return (left if pack else -left, node["metadata"]["name"])

    return min(feasible, key=score), ""
