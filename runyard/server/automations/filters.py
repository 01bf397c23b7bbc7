"""Event filters as the client writes them, parsed and evaluated (pure functions, no I/O).

Three shapes of `eventFilter` (JSON text):
- artifact events (alias added, version created): a MongoDB-style filter wrapped as
  `{"$or": [{"$and": [...]}]}` over the event's `alias` / `tag` facts;
- run metric events: `{"run_filter": "<json>", "run_metric_filter": {"threshold_filter": {...}}`
  or `{"change_filter": {...}}`;
- run state events: `{"run_filter": "<json>", "run_state_filter": {"states": [...]}}`.
Metric conditions fire when they *become* true (edge-triggered), so a run that stays below a
threshold fires once, not on every step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

ARTIFACT_EVENTS = ("ADD_ARTIFACT_ALIAS", "CREATE_ARTIFACT", "LINK_MODEL")
METRIC_EVENTS = ("RUN_METRIC", "RUN_METRIC_CHANGE")
STATE_EVENTS = ("RUN_STATE",)
# LINK_MODEL (registry links) parses and renders like the other artifact events, but nothing
# emits it yet: it is refused until the registry calls `firing.on_artifact_event` on a link.
SUPPORTED_EVENTS = ("ADD_ARTIFACT_ALIAS", "CREATE_ARTIFACT", *METRIC_EVENTS, *STATE_EVENTS)
COARSE_STATES = ("RUNNING", "FINISHED", "FAILED")
COMPARISONS = ("$gt", "$gte", "$lt", "$lte")
MAX_WINDOW = 100


class FilterError(ValueError):
    """An event filter the server cannot evaluate; the message names the part and the fix."""


class ThresholdFilter(BaseModel):
    """`RunEvent.metric(name) < x` (optionally over the last `window_size` values)."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    agg_op: Literal["MAX", "MIN", "AVERAGE"] | None = None
    window_size: int = Field(1, ge=1, le=MAX_WINDOW)
    cmp_op: Literal["$gt", "$gte", "$lt", "$lte"]
    threshold: float


class ChangeFilter(BaseModel):
    """`RunEvent.metric(name).changes_by(diff=|frac=)`: current window against the prior one."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    agg_op: Literal["MAX", "MIN", "AVERAGE"] | None = None
    current_window_size: int = Field(1, ge=1, le=MAX_WINDOW)
    prior_window_size: int = Field(1, ge=1, le=MAX_WINDOW)
    change_amount: float = Field(ge=0)
    change_type: Literal["ABSOLUTE", "RELATIVE"] = "ABSOLUTE"
    change_dir: Literal["INCREASE", "DECREASE", "ANY"] = "ANY"


@dataclass(frozen=True)
class ParsedFilter:
    """An event filter ready to evaluate."""

    event_type: str
    mutation: Any = None  # the Mongo-like filter of artifact events
    run: Any = None  # the Mongo-like run filter of run events
    threshold: ThresholdFilter | None = None
    change: ChangeFilter | None = None
    states: tuple[str, ...] = ()

    @property
    def metric_name(self) -> str | None:
        """The metric a metric filter watches."""
        spec = self.threshold or self.change
        return spec.name if spec else None

    @property
    def window(self) -> int:
        """How many latest values (current plus prior windows) evaluating it needs."""
        if self.threshold:
            return self.threshold.window_size + 1
        if self.change:
            return self.change.current_window_size + self.change.prior_window_size + 1
        return 0


def _json(value: Any, where: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise FilterError(f"{where}: not valid JSON ({exc.msg})") from exc
    return value


def parse_filter(event_type: str, text: str) -> ParsedFilter:
    """Parse and check `eventFilter` for `event_type`; raise FilterError naming the problem."""
    if event_type not in SUPPORTED_EVENTS:
        raise FilterError(
            f"triggeringEventType: {event_type!r} is not supported; use one of "
            f"{', '.join(SUPPORTED_EVENTS)}"
        )
    doc = _json(text, "eventFilter")
    if event_type in ARTIFACT_EVENTS:
        check_mongo(doc, "eventFilter")
        return ParsedFilter(event_type, mutation=doc)
    if not isinstance(doc, dict):
        raise FilterError("eventFilter: a run event filter must be a JSON object")
    run = _json(doc.get("run_filter") or {}, "eventFilter.run_filter")
    check_mongo(run, "eventFilter.run_filter")
    if event_type in STATE_EVENTS:
        spec = doc.get("run_state_filter")
        states = spec.get("states") if isinstance(spec, dict) else None
        if not isinstance(states, list) or not states:
            raise FilterError("eventFilter.run_state_filter.states: name at least one state")
        bad = [s for s in states if str(s).upper() not in COARSE_STATES]
        if bad:
            raise FilterError(
                f"eventFilter.run_state_filter.states: {bad} unknown; use {COARSE_STATES}"
            )
        return ParsedFilter(event_type, run=run, states=tuple(str(s).upper() for s in states))
    metric = doc.get("run_metric_filter")
    if metric is None and doc.get("metric_filter"):
        metric = {"threshold_filter": _json(doc["metric_filter"], "eventFilter.metric_filter")}
    if not isinstance(metric, dict):
        raise FilterError("eventFilter.run_metric_filter: missing; give a metric condition")
    try:
        if event_type == "RUN_METRIC":
            if "threshold_filter" not in metric:
                raise FilterError(
                    "eventFilter.run_metric_filter: RUN_METRIC needs threshold_filter"
                )
            threshold = ThresholdFilter.model_validate(metric["threshold_filter"])
            return ParsedFilter(event_type, run=run, threshold=threshold)
        if "change_filter" not in metric:
            raise FilterError(
                "eventFilter.run_metric_filter: RUN_METRIC_CHANGE needs change_filter"
            )
        change = ChangeFilter.model_validate(metric["change_filter"])
        return ParsedFilter(event_type, run=run, change=change)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FilterError(f"eventFilter.run_metric_filter.{where}: {first['msg']}") from exc


# ---- MongoDB-style filters ------------------------------------------------------------------

_LOGICAL = ("$and", "$or", "$nor")
_FIELD_OPS = ("$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$regex", "$contains")
_EXISTS = "$exists"


def check_mongo(doc: Any, where: str) -> None:
    """Refuse a filter with operators the server does not evaluate."""
    if not isinstance(doc, dict):
        raise FilterError(f"{where}: a filter must be a JSON object")
    for key, value in doc.items():
        if key in _LOGICAL:
            if not isinstance(value, list):
                raise FilterError(f"{where}.{key}: must be a list of filters")
            for i, inner in enumerate(value):
                check_mongo(inner, f"{where}.{key}[{i}]")
        elif key == "$not":
            check_mongo(value, f"{where}.$not")
        elif key.startswith("$"):
            raise FilterError(f"{where}: operator {key!r} is not supported")
        elif isinstance(value, dict):
            for op in value:
                if op not in (*_FIELD_OPS, _EXISTS, "$not"):
                    raise FilterError(f"{where}.{key}: operator {op!r} is not supported")


def _values(facts: Mapping[str, Any], path: str) -> list[Any]:
    value: Any = facts
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return []
        value = value[part]
    return list(value) if isinstance(value, list | tuple) else [value]


def _compare(op: str, have: Any, want: Any) -> bool:
    try:
        if op == "$eq":
            return bool(have == want)
        if op == "$ne":
            return bool(have != want)
        if op == "$in":
            return have in want
        if op == "$nin":
            return have not in want
        if op == "$regex":
            return re.search(str(want), str(have)) is not None
        if op == "$contains":
            return str(want) in str(have)
        if have is None or isinstance(have, str) != isinstance(want, str):
            return False
        return {
            "$gt": have > want,
            "$gte": have >= want,
            "$lt": have < want,
            "$lte": have <= want,
        }[op]
    except (TypeError, re.error):
        return False


def _field_matches(values: Sequence[Any], cond: Any) -> bool:
    if not isinstance(cond, dict):
        return any(v == cond for v in values)
    for op, want in cond.items():
        if op == _EXISTS:
            ok = bool(values) == bool(want)
        elif op == "$not":
            ok = not _field_matches(values, want)
        elif op in ("$ne", "$nin"):
            ok = all(_compare(op, v, want) for v in values)
        else:
            ok = any(_compare(op, v, want) for v in values)
        if not ok:
            return False
    return True


def mongo_matches(doc: Any, facts: Mapping[str, Any]) -> bool:
    """Whether `facts` satisfy the filter; an empty `$and` / `$or` list matches everything."""
    if not isinstance(doc, dict):
        return True
    for key, value in doc.items():
        if key == "$and":
            ok = all(mongo_matches(inner, facts) for inner in value)
        elif key == "$or":
            ok = not value or any(mongo_matches(inner, facts) for inner in value)
        elif key == "$nor":
            ok = not any(mongo_matches(inner, facts) for inner in value)
        elif key == "$not":
            ok = not mongo_matches(value, facts)
        else:
            ok = _field_matches(_values(facts, key), value)
        if not ok:
            return False
    return True


# ---- run conditions ------------------------------------------------------------------------


def coarse_state(state: str) -> str:
    """W&B's coarse run state of a Runyard run state (crashed and preempted runs failed)."""
    if state == "running":
        return "RUNNING"
    if state == "finished":
        return "FINISHED"
    return "FAILED"


def state_fires(spec: ParsedFilter, before: str | None, after: str) -> bool:
    """Whether a change of a run's state from `before` to `after` fires a state filter."""
    now = coarse_state(after)
    return now in spec.states and (before is None or coarse_state(before) != now)


def _agg(values: Sequence[float], op: str | None) -> float:
    if op == "MAX":
        return max(values)
    if op == "MIN":
        return min(values)
    if op == "AVERAGE":
        return sum(values) / len(values)
    return values[-1]


def _threshold_holds(spec: ThresholdFilter, values: Sequence[float]) -> bool:
    if len(values) < spec.window_size:
        return False
    value = _agg(values[-spec.window_size :], spec.agg_op)
    return _compare(spec.cmp_op, value, spec.threshold)


def _change_holds(spec: ChangeFilter, values: Sequence[float]) -> bool:
    cur_n, prior_n = spec.current_window_size, spec.prior_window_size
    if len(values) < cur_n + prior_n:
        return False
    current = _agg(values[-cur_n:], spec.agg_op)
    prior = _agg(values[-(cur_n + prior_n) : -cur_n], spec.agg_op)
    delta = current - prior
    if spec.change_type == "RELATIVE":
        if prior == 0:
            return False
        delta = delta / abs(prior)
    if spec.change_dir == "INCREASE":
        return delta >= spec.change_amount
    if spec.change_dir == "DECREASE":
        return -delta >= spec.change_amount
    return abs(delta) >= spec.change_amount


def condition_holds(spec: ParsedFilter, values: Sequence[float]) -> bool:
    """Whether the metric condition holds at the last of `values` (oldest first)."""
    if spec.threshold:
        return _threshold_holds(spec.threshold, values)
    if spec.change:
        return _change_holds(spec.change, values)
    return False


def metric_fires(spec: ParsedFilter, before: Sequence[float], new: Sequence[float]) -> list[int]:
    """Indexes in `new` at which the condition becomes true (oldest first).

    `before`: the metric's latest stored values ahead of `new` (oldest first). A condition
    that already held at the last earlier value does not fire again until it stops holding.
    """
    series = list(before)
    held = condition_holds(spec, series) if series else False
    fired: list[int] = []
    for i, value in enumerate(new):
        series.append(value)
        holds = condition_holds(spec, series)
        if holds and not held:
            fired.append(i)
        held = holds
    return fired
