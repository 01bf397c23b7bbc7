"""Pure functions for the run page: summary values as short typed labels, config as rows.

A logged histogram or image is summarised as a dict with `_type`; flattened into cells it
made the page thousands of pixels wide. Here it is one short label ("histogram (64 bins)").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LONG_LIST = 8  # a list longer than this shows as "list (N items)"
MAX_TEXT = 200  # a longer string is cut, with an ellipsis


@dataclass(frozen=True)
class ConfigRow:
    """One row of the nested config table: a key at a depth, a value unless it is a group."""

    key: str
    depth: int
    value: str | None


def _media_label(kind: str, value: dict[str, Any]) -> str:
    """`histogram (64 bins)`, `image (48x32)`, `table (10 rows)`: a media value in words."""
    if kind == "histogram":
        count = len(value.get("values") or []) or max(len(value.get("bins") or []) - 1, 0)
        return f"histogram ({count} bins)"
    if kind == "image-file" and value.get("width") and value.get("height"):
        return f"image ({value['width']}x{value['height']})"
    if kind in ("table-file", "partitioned-table", "joined-table") and value.get("nrows"):
        return f"table ({value['nrows']} rows)"
    if kind == "images/separated" and value.get("count"):
        return f"images ({value['count']})"
    name = kind.removesuffix("-file").replace("-", " ")
    return name or "media"


def value_label(value: Any) -> str:
    """A summary or config value as one short cell (never a flattened media payload)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        kind = value.get("_type")
        if isinstance(kind, str):
            return _media_label(kind, value)
        return f"{len(value)} keys"
    if isinstance(value, list):
        if len(value) > LONG_LIST or any(isinstance(v, (dict, list)) for v in value):
            return f"list ({len(value)} items)"
        return ", ".join(value_label(v) for v in value)
    text = str(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def summary_rows(summary: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """(key, label) of each summary value; internal `_` keys hidden except `_runtime`."""
    rows: list[tuple[str, str]] = []
    for key in sorted(summary):
        value = summary[key]
        name = f"{prefix}{key}"
        if key.startswith("_") and name != "_runtime":
            continue
        if isinstance(value, dict) and "_type" not in value:
            rows.extend(summary_rows(value, name + "."))
        else:
            rows.append((name, value_label(value)))
    return rows


def config_rows(config: dict[str, Any], depth: int = 0) -> list[ConfigRow]:
    """The config as a nested table: a group row per dict, its keys indented below it."""
    rows: list[ConfigRow] = []
    for key in sorted(config):
        value = config[key]
        if isinstance(value, dict) and value and "_type" not in value:
            rows.append(ConfigRow(str(key), depth, None))
            rows.extend(config_rows(value, depth + 1))
        else:
            rows.append(ConfigRow(str(key), depth, value_label(value)))
    return rows
