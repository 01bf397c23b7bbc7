"""Template variables: validate the values given at enqueue, then render the queue's config.

Rendering uses jinja2's sandbox with StrictUndefined and sees only the declared
variables plus a fixed allow-list of run fields, never the agent's environment; its work is
bounded (`template_sandbox`), and templates cannot load other templates.
A string that is exactly one placeholder (``"{{gpus}}"``) becomes the variable's
typed value, so ``limits: {nvidia.com/gpu: "{{gpus}}"}`` renders to the number 4.
"""

from __future__ import annotations

import math
import re
from typing import Any

from jinja2 import TemplateSyntaxError

from .models import Requirements, TemplateVariable
from .template_sandbox import (
    BoundedEnvironment,
    ForbiddenTemplate,
    RenderLimits,
    TemplateLimitError,
    check_source,
)

# Run fields a template may use besides the declared variables.
RUN_FIELDS = ("entity", "project", "run_id", "queue", "item_id", "image", "job")
GPU_VARIABLES = ("gpus", "gpu_count", "num_gpus")

_WHOLE = re.compile(r"^\s*\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\s*$")


class TemplateValueError(ValueError):
    """Template values that do not fit the queue's declared variables."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _describe(variable: TemplateVariable) -> str:
    parts: list[str] = [variable.type]
    if variable.enum is not None:
        parts.append("one of " + ", ".join(repr(v) for v in variable.enum))
    if variable.minimum is not None:
        parts.append(f">= {variable.minimum:g}")
    if variable.maximum is not None:
        parts.append(f"<= {variable.maximum:g}")
    return " ".join(parts)


def _coerce(variable: TemplateVariable, value: Any) -> Any:
    """Turn a CLI string ("4") or JSON value into the declared type, or raise ValueError."""
    if variable.type == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ValueError
    if isinstance(value, bool):
        raise ValueError
    if variable.type == "integer":
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return int(value)
        raise ValueError
    number = float(value) if isinstance(value, int | float | str) else math.nan
    if not math.isfinite(number):
        raise ValueError
    return int(number) if isinstance(value, int) else number


def validate_values(variables: list[TemplateVariable], values: dict[str, Any]) -> dict[str, Any]:
    """Check values against the declared variables; fill defaults; name every problem."""
    declared = {v.name: v for v in variables}
    problems = [
        f"unknown template variable {name!r}: this queue declares "
        + (", ".join(sorted(declared)) or "no variables")
        for name in sorted(set(values) - set(declared))
    ]
    out: dict[str, Any] = {}
    for variable in variables:
        if variable.name not in values:
            if variable.default is None:
                problems.append(
                    f"template variable {variable.name!r} is required ({_describe(variable)})"
                )
            else:
                out[variable.name] = variable.default
            continue
        raw = values[variable.name]
        try:
            value = _coerce(variable, raw)
        except (ValueError, TypeError):
            problems.append(
                f"template variable {variable.name!r} must be {_describe(variable)}, got {raw!r}"
            )
            continue
        if variable.enum is not None and value not in variable.enum:
            allowed = ", ".join(repr(v) for v in variable.enum)
            problems.append(
                f"template variable {variable.name!r} must be one of {allowed}, got {raw!r}"
            )
            continue
        if variable.minimum is not None and value < variable.minimum:
            problems.append(
                f"template variable {variable.name!r} must be >= {variable.minimum:g}, got {raw!r}"
            )
            continue
        if variable.maximum is not None and value > variable.maximum:
            problems.append(
                f"template variable {variable.name!r} must be <= {variable.maximum:g}, got {raw!r}"
            )
            continue
        out[variable.name] = value
    if problems:
        raise TemplateValueError(problems)
    return out


def render_config(
    template: Any,
    values: dict[str, Any],
    run_fields: dict[str, Any],
    limits: RenderLimits | None = None,
) -> Any:
    """Render every string of a config template with the values and allowed run fields.

    Raises ValueError naming the path of a string that cannot render; TemplateLimitError
    (TemplateTooLarge for size) when the whole render would pass `limits`.
    """
    unknown = set(run_fields) - set(RUN_FIELDS)
    if unknown:
        raise ValueError(f"run fields not allowed in templates: {sorted(unknown)}")
    context = {**run_fields, **values}
    # One budget for the whole config: a value repeated in many strings counts each time.
    return _render(template, context, "config", BoundedEnvironment(limits or RenderLimits()))


def check_config(template: Any, path: str = "config") -> None:
    """Refuse templates that use tags queue templates cannot use, naming where (ValueError).

    A template that does not parse is left for rendering to report, with the values at hand.
    """
    for where, text in _strings(template, path):
        try:
            check_source(text)
        except TemplateSyntaxError:
            continue
        except ForbiddenTemplate as exc:
            raise ForbiddenTemplate(f"{where}: {exc}") from None


def _strings(node: Any, path: str) -> list[tuple[str, str]]:
    """Every template string of a config (keys included), with its path."""
    found: list[tuple[str, str]] = []
    stack = [(node, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if isinstance(key, str) and "{" in key:
                    found.append((where, key))
                stack.append((value, f"{where}.{key}"))
        elif isinstance(item, list):
            stack.extend((value, f"{where}[{i}]") for i, value in enumerate(item))
        elif isinstance(item, str) and "{" in item:
            found.append((where, item))
    return found


def _short(text: str) -> str:
    return repr(text) if len(text) <= 200 else repr(text[:200]) + "..."


def _render(node: Any, context: dict[str, Any], path: str, env: BoundedEnvironment) -> Any:
    if isinstance(node, dict):
        return {
            _render(k, context, path, env) if isinstance(k, str) else k: _render(
                v, context, f"{path}.{k}", env
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_render(v, context, f"{path}[{i}]", env) for i, v in enumerate(node)]
    if not isinstance(node, str) or "{" not in node:
        return node
    try:
        whole = _WHOLE.match(node)
        if whole and whole.group(1) in context:
            value = context[whole.group(1)]
            env.budget.charge_value(value)
            return value
        return env.render(node, context)
    except (TemplateLimitError, ForbiddenTemplate) as exc:
        raise type(exc)(f"{path}: {exc}") from None
    except Exception as exc:  # a user's template can fail in any way: 1/0, 'a' + 1, ...
        raise ValueError(f"{path}: cannot render {_short(node)}: {exc}") from exc


def requirements_of(values: dict[str, Any]) -> Requirements:
    """What an item needs from an agent, read from its GPU template variable if any."""
    for name in GPU_VARIABLES:
        if isinstance(values.get(name), int):
            return Requirements(gpus=values[name])
    return Requirements(gpus=0)
