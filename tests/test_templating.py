"""Template variables are validated with clear errors, and configs render typed values."""

from __future__ import annotations

import pytest

from runyard.launch.models import EnqueueRequest, Priority, QueueSpec, TemplateVariable
from runyard.launch.templating import (
    TemplateValueError,
    render_config,
    requirements_of,
    validate_values,
)

VARIABLES = [
    TemplateVariable(name="gpus", type="integer", minimum=1, maximum=8, default=1),
    TemplateVariable(name="gpu_type", type="string", enum=["a100", "h100"], default="a100"),
    TemplateVariable(name="mem_gb", type="number", minimum=0.5),
]


def test_values_are_coerced_and_defaults_filled() -> None:
    values = validate_values(VARIABLES, {"gpus": "4", "mem_gb": "12.5"})
    assert values == {"gpus": 4, "gpu_type": "a100", "mem_gb": 12.5}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"mem_gb": 1, "gpu": 2},
            "unknown template variable 'gpu': this queue declares gpu_type, gpus, mem_gb",
        ),
        ({"mem_gb": 1, "gpus": "four"}, "'gpus' must be integer >= 1 <= 8, got 'four'"),
        ({"mem_gb": 1, "gpus": 2.5}, "'gpus' must be integer"),
        ({"mem_gb": 1, "gpus": 16}, "'gpus' must be <= 8, got 16"),
        ({"mem_gb": 1, "gpus": 0}, "'gpus' must be >= 1, got 0"),
        ({"mem_gb": 1, "gpu_type": "v100"}, "'gpu_type' must be one of 'a100', 'h100', got 'v100'"),
        ({}, "'mem_gb' is required (number >= 0.5)"),
        ({"mem_gb": True}, "'mem_gb' must be number"),
    ],
)
def test_each_violation_names_the_variable_and_what_is_allowed(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(TemplateValueError) as caught:
        validate_values(VARIABLES, values)
    assert message in str(caught.value)


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(TemplateValueError) as caught:
        validate_values(VARIABLES, {"gpus": 99, "gpu_type": "tpu"})
    assert len(caught.value.problems) == 3  # gpus, gpu_type, and the missing mem_gb


def test_render_keeps_types_for_whole_placeholders() -> None:
    template = {
        "resources": {"limits": {"nvidia.com/gpu": "{{gpus}}"}},
        "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-{{ gpu_type | upper }}"},
        "labels": ["queue-{{queue}}", "{{ entity }}"],
        "replicas": 1,
    }
    rendered = render_config(
        template, {"gpus": 4, "gpu_type": "a100"}, {"queue": "a100", "entity": "team"}
    )
    assert rendered == {
        "resources": {"limits": {"nvidia.com/gpu": 4}},
        "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-A100"},
        "labels": ["queue-a100", "team"],
        "replicas": 1,
    }


def test_render_refuses_undeclared_names_and_sandbox_escapes() -> None:
    with pytest.raises(ValueError, match=r"config.env: cannot render .*'HOME' is undefined"):
        render_config({"env": "{{ HOME }}"}, {}, {})
    with pytest.raises(ValueError, match="cannot render"):
        render_config({"x": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}, {}, {})
    with pytest.raises(ValueError, match="not allowed in templates"):
        render_config({}, {}, {"environ": {}})


def test_gpu_requirement_comes_from_the_gpus_variable() -> None:
    assert requirements_of({"gpus": 4}).gpus == 4
    assert requirements_of({"gpu_type": "a100"}).gpus == 0


@pytest.mark.parametrize(("raw", "level"), [("high", 1), ("CRITICAL", 0), (3, 3), ("2", 2)])
def test_priorities_parse_from_names_and_numbers(raw: object, level: int) -> None:
    assert EnqueueRequest(priority=raw).priority == Priority(level)  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", ["urgent", 7, -1, True, None])
def test_bad_priorities_say_what_is_allowed(raw: object) -> None:
    with pytest.raises(ValueError, match="priority must be one of critical, high, medium, low"):
        EnqueueRequest(priority=raw)  # type: ignore[arg-type]


def test_queue_specs_refuse_inconsistent_variables() -> None:
    with pytest.raises(ValueError, match="declared twice: gpus"):
        QueueSpec(name="q", entity="e", variables=[VARIABLES[0], VARIABLES[0]])
    with pytest.raises(ValueError, match="minimum/maximum only apply to numbers"):
        TemplateVariable(name="x", type="string", minimum=1)
