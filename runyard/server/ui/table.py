"""Runs-table decisions: multi-column sort (click, shift-click) and grouping by a config key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

DEFAULT_ORDER = "-created_at"


def parse_order(order: str) -> list[tuple[str, bool]]:
    """`+config.lr,-summary_metrics.loss` → [(field, descending), ...] (blank parts dropped)."""
    keys: list[tuple[str, bool]] = []
    for part in order.split(","):
        text = part.strip()
        field = text[1:] if text[:1] in "+-" else text
        if field:
            keys.append((field, text.startswith("-")))
    return keys


def format_order(keys: list[tuple[str, bool]]) -> str:
    """The `order` parameter for these keys ('' means the default: newest first)."""
    return ",".join(("-" if desc else "+") + field for field, desc in keys)


def next_order(order: str, field: str, add: bool) -> str:
    """The order after clicking `field`'s header (`add`: shift-click, a further sort key).

    A click sorts by that column alone, ascending, or descending when it already was the
    only key ascending. A shift-click appends the column as the last key, or flips an
    existing key from ascending to descending, and drops it on the third click.
    """
    keys = parse_order(order)
    if not add:
        return format_order([(field, keys == [(field, False)])])
    for i, (name, desc) in enumerate(keys):
        if name == field:
            if desc:
                return format_order(keys[:i] + keys[i + 1 :])
            return format_order([*keys[:i], (field, True), *keys[i + 1 :]])
    return format_order([*keys, (field, False)])


def table_query(filters: str, order: str, group: str) -> str:
    """The table page's query string for this filter, order and grouping (empty ones left out)."""
    params = {"filters": filters, "order": order, "group": group}
    return urlencode({k: v for k, v in params.items() if v})


def sort_mark(order: str, field: str) -> str:
    """What a header shows: ▲ or ▼ for a sort key, numbered by priority when several."""
    keys = parse_order(order)
    for i, (name, desc) in enumerate(keys):
        if name == field:
            arrow = "▼" if desc else "▲"
            return f"{arrow}{i + 1}" if len(keys) > 1 else arrow
    return ""


def aria_sort(order: str, field: str) -> str | None:
    """`aria-sort` for a header: only the primary sort key carries it."""
    keys = parse_order(order)
    if keys and keys[0][0] == field:
        return "descending" if keys[0][1] else "ascending"
    return None


@dataclass
class Group:
    """Rows sharing one value of the grouping config key."""

    value: Any
    label: str
    rows: list[dict[str, Any]]


def _group_sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (3, "")
    if isinstance(value, bool):
        return (1, str(value))
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value))


def group_rows(rows: list[dict[str, Any]], key: str) -> list[Group]:
    """Rows grouped by `row["config"][key]`, groups ordered by value, rows keeping their order.

    Runs without the key form a last group labelled "(none)".
    """
    groups: dict[str, Group] = {}
    for row in rows:
        value = row["config"].get(key)
        label = "(none)" if value is None else str(value)
        groups.setdefault(label, Group(value, label, [])).rows.append(row)
    return sorted(groups.values(), key=lambda g: _group_sort_key(g.value))


def _leaves(value: Any, name: str, out: set[str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _leaves(inner, f"{name}.{key}", out)
    else:
        out.add(name)


def _is_media(value: Any) -> bool:
    return isinstance(value, dict) and "_type" in value


def hidden_by_default(doc: dict[str, Any], prefix: str = "") -> set[str]:
    """Flattened keys of a config or summary that the table hides until a user picks them:
    internal keys (`_step`, `_wandb.runtime`), everything inside a media or table value
    (`samples.sha256`, `final_table._latest_artifact_path`, their paths and sizes)."""
    hidden: set[str] = set()
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if key.startswith("_") or _is_media(value):
            _leaves(value, name, hidden)
        elif isinstance(value, dict):
            hidden |= hidden_by_default(value, name + ".")
    return hidden


def truncated(text: str, limit: int = 40) -> bool:
    """Whether a cell's text is long enough to be cut to one line (the full text in a tooltip)."""
    return len(text) > limit
