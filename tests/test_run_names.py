"""Runs started without a name get W&B-style names (`gentle-river-12`), unique per project."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor

from conftest import WandbClient, unique_project
from runyard.server.tracking.run_names import (
    ADJECTIVES,
    GENERATED_NAME_RE,
    NOUNS,
    compose,
    pick_name,
)
from support.server import LiveServer

UPSERT = """
mutation Upsert($name: String, $project: String, $displayName: String) {
  upsertBucket(input: {name: $name, modelName: $project, displayName: $displayName}) {
    bucket { name displayName }
  }
}
"""


def test_words_are_lowercase_distinct_and_compose_into_the_pattern() -> None:
    for words in (ADJECTIVES, NOUNS):
        assert len(set(words)) == len(words) >= 50
        assert all(w.isascii() and w.isalpha() and w.islower() for w in words)
    assert compose("gentle", "river", 12) == "gentle-river-12"
    assert GENERATED_NAME_RE.fullmatch(compose(ADJECTIVES[0], NOUNS[-1], 7))


def test_a_taken_name_is_skipped_and_a_full_number_moves_on() -> None:
    rng = random.Random(7)
    first = pick_name(3, lambda _: False, random.Random(7))
    assert first.endswith("-3") and GENERATED_NAME_RE.fullmatch(first)
    assert pick_name(3, lambda name: name == first, rng) != first
    # Every name ending in -3 taken (e.g. users named their runs so): the next number.
    assert pick_name(3, lambda name: name.endswith("-3"), rng).endswith("-4")
    assert pick_name(0, lambda _: False, rng).endswith("-1")


def test_unnamed_runs_of_the_official_client_get_unique_generated_names(
    server: LiveServer, wandb_client: WandbClient
) -> None:
    project = unique_project()
    names = []
    for _ in range(3):
        result = wandb_client.run("run_urls.py", "--project", project)
        assert result.returncode == 0, result.stderr
        found = result.results[0]
        # The client shows the server's name, and the public API reads the same one.
        assert found["name"] == found["api_name"]
        assert GENERATED_NAME_RE.fullmatch(str(found["name"])), found
        assert found["name"] != found["id"]
        names.append(str(found["name"]))
    assert len(set(names)) == 3
    # The number is the run's place in its project.
    assert [n.rsplit("-", 1)[1] for n in names] == ["1", "2", "3"]


def test_a_given_display_name_is_kept_and_concurrent_runs_get_distinct_names(
    server: LiveServer,
) -> None:
    project = unique_project()
    with server.api() as api:

        def upsert(name: str, display: str | None = None) -> str | None:
            variables = {"name": name, "project": project, "displayName": display}
            answer = api.post("/graphql", json={"query": UPSERT, "variables": variables})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert "errors" not in body, json.dumps(body)
            shown: str | None = body["data"]["upsertBucket"]["bucket"]["displayName"]
            return shown

        assert upsert("named", "my baseline") == "my baseline"
        # A later upsert without a display name (the client's resume) keeps the given one.
        assert upsert("named") == "my baseline"
        with ThreadPoolExecutor(max_workers=8) as pool:
            generated = list(pool.map(upsert, [f"run-{i}" for i in range(16)]))
    assert all(n and GENERATED_NAME_RE.fullmatch(n) for n in generated), generated
    assert len(set(generated)) == 16
