"""The Registry with the official client: registries, links, search, use_model and roles."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from conftest import ScriptResult, WandbClient, unique_project
from support.server import LiveServer

MODEL = {"weights.txt": "0.1 0.2 0.3\n", "config.json": '{"layers": 3}\n'}


def _result(result: ScriptResult) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    assert len(result.results) == 1, result.stdout + result.stderr
    return result.results[0]


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _src(tmp: Path, files: dict[str, str]) -> Path:
    root = tmp / _name("src")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _new_user(server: LiveServer, name: str) -> str:
    with server.api() as admin:
        made = admin.post("/api/v1/users", json={"username": name})
        assert made.status_code == 201, made.text
        return str(made.json()["api_key"])


def test_model_linked_into_two_collections_is_searched_and_used(
    server: LiveServer, wandb_client: WandbClient, tmp_path: Path
) -> None:
    reg_a, reg_b = _name("prod"), _name("eval")
    for reg in (reg_a, reg_b):
        made = _result(
            wandb_client.run(
                "registry.py", "create", "--name", reg, "--description", f"{reg} models"
            )
        )
        assert made["full_name"] == f"wandb-registry-{reg}"
        assert made["visibility"] == "organization"
        assert made["description"] == f"{reg} models"

    linked = _result(
        wandb_client.run(
            "registry.py",
            "link",
            "--project",
            unique_project(),
            "--name",
            "resnet",
            "--src",
            str(_src(tmp_path, MODEL)),
            "--target",
            f"wandb-registry-{reg_a}/classifier=production,best",
            "--target",
            f"wandb-registry-{reg_b}/candidates=staging",
        )
    )
    assert "error" not in linked, linked
    first, second = linked["links"]
    assert first["is_link"] and second["is_link"]
    assert first["name"] == "classifier:v0"
    assert first["aliases"] == ["best", "latest", "production"]
    assert second["name"] == "candidates:v0"
    # Aliases are per collection: the second collection knows only its own.
    assert second["aliases"] == ["latest", "staging"]
    assert first["source_name"] == second["source_name"] == linked["logged"]["name"]
    assert linked["logged"]["aliases"] == ["latest"]

    # Search: versions by alias, by metadata; collections by name.
    by_alias = _result(
        wandb_client.run("registry.py", "search", "--version-filter", '{"alias": "production"}')
    )
    assert [(f["collection"], f["project"]) for f in by_alias["found"]] == [
        ("classifier", f"wandb-registry-{reg_a}")
    ]
    by_meta = _result(
        wandb_client.run(
            "registry.py",
            "search",
            "--registry-filter",
            f'{{"name": {{"$in": ["{reg_a}", "{reg_b}"]}}}}',
            "--version-filter",
            '{"metadata.accuracy": {"$gt": 0.9}}',
        )
    )
    assert sorted(f["collection"] for f in by_meta["found"]) == ["candidates", "classifier"]
    by_name = _result(
        wandb_client.run(
            "registry.py",
            "search",
            "--registry-filter",
            f'{{"name": "{reg_b}"}}',
            "--collection-filter",
            '{"name": {"$regex": "^cand"}}',
        )
    )
    assert [(f["collection"], f["type"]) for f in by_name["found"]] == [("candidates", "model")]

    used = _result(
        wandb_client.run(
            "registry.py",
            "use_model",
            "--name",
            f"wandb-registry-{reg_a}/classifier:production",
            "--project",
            unique_project(),
        )
    )
    assert used["files"] == MODEL
    assert used["artifact"]["version"] == "v0"
    assert used["artifact"]["aliases"] == ["best", "latest", "production"]
