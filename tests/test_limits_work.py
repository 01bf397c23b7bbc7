"""Unbounded work is refused with a clear 4xx naming the limit and the fix (issue 13).

Each attack from the issue is replayed against a live server: a template bomb and
template tags that load other templates, a backtracking regex in a run filter, a GraphQL
query with 10,000 aliases, and a `$in` list with 100,000 values. After each, the server
still answers (`/healthz`), and nothing was stored.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from sqlalchemy import update

from conftest import unique_project
from runyard.launch.models import QueueSpec
from runyard.launch.queue.sql import SqlQueueStore, queues_table
from runyard.launch.template_sandbox import (
    ForbiddenTemplate,
    TemplateLimitError,
    TemplateTooLarge,
)
from runyard.launch.templating import render_config
from runyard.server.tracking.filters import FilterError, parse_filter
from support.server import LiveServer

UPSERT = """
mutation UpsertBucket($name: String, $project: String, $display: String) {
  upsertBucket(input: {name: $name, modelName: $project, displayName: $display}) {
    bucket { id name }
  }
}
"""
RUNS = """
query Runs($project: String!, $filters: JSONString) {
  project(name: $project, entityName: "admin") {
    runs(filters: $filters, first: 100) { edges { node { name } } }
  }
}
"""
PUSH = """
mutation Push($queue: String!, $values: JSONString) {
  pushToRunQueueByName(input: {entityName: "admin", projectName: "model-registry",
      queueName: $queue, runSpec: "{}", templateVariableValues: $values}) {
    runQueueItemId
  }
}
"""
UPSERT_QUEUE = """
mutation UpsertQueue($queue: String!, $config: JSONString!) {
  upsertRunQueue(input: {entityName: "admin", projectName: "model-registry",
      queueName: $queue, resourceType: "local-process", resourceConfig: $config}) {
    success
  }
}
"""
LOADING_TAGS = [
    ("{% include 'secrets.yaml' %}", "{% include %}"),
    ("{% import 'macros' as m %}", "{% import %}"),
    ("{% from 'macros' import x %}", "{% from ... import %}"),
    ("{% extends 'base' %}", "{% extends %}"),
]


def _graphql(api: httpx.Client, query: str, **variables: object) -> httpx.Response:
    return api.post("/graphql", json={"query": query, "variables": variables})


def _errors(response: httpx.Response) -> str:
    return " | ".join(e["message"] for e in response.json().get("errors", []))


def _healthy(server: LiveServer) -> None:
    with server.api() as api:
        assert api.get("/healthz").status_code == 200


def _queue(api: httpx.Client, config: dict[str, object], **settings: object) -> str:
    name = f"q-{uuid.uuid4().hex[:8]}"
    # kubernetes: items run an image, so an item needs no entry point to reach the template.
    body = {"name": name, "entity": "admin", "resource": "kubernetes", "config": config}
    response = api.post("/api/v1/queues", json={**body, **settings})
    assert response.status_code == 201, response.text
    return name


def _items(api: httpx.Client, queue: str) -> list[object]:
    response = api.get(f"/api/v1/queues/admin/{queue}/items")
    response.raise_for_status()
    items: list[object] = response.json()
    return items


# -- templates ----------------------------------------------------------------------------


def test_template_bomb_is_refused_before_it_allocates(sqlite_server: LiveServer) -> None:
    """`{{ 'a' * 100000000 }}` used to store 100 MB per item; now: 413 naming the limit."""
    with sqlite_server.api() as api:
        queue = _queue(api, {"args": ["{{ 'a' * 100000000 }}"]})
        response = api.post(f"/api/v1/queues/admin/{queue}/items", json={})
        assert response.status_code == 413, response.text
        message = response.json()["detail"]
        assert "config.args[0]" in message
        assert "4,000,000 bytes" in message and "RUNYARD_MAX_VALUE_BYTES" in message
        assert _items(api, queue) == []

        # The same through GraphQL (what `wandb launch` sends).
        pushed = _graphql(api, PUSH, queue=queue)
        assert "RUNYARD_MAX_VALUE_BYTES" in _errors(pushed)
        assert pushed.json()["errors"][0]["extensions"]["status"] == 413
        assert _items(api, queue) == []
    _healthy(sqlite_server)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 'a'|center(100000000) }}", "bytes of text"),
        ("{{ '%100000000s' % 'a' }}", "bytes of text"),
        ("{{ 'x' ~ 'y' * 50000000 }}", "bytes of text"),
        ("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}", "steps"),
        ("{{ 'a'.ljust(100000000) }}", "'ljust' of 'str' object is unsafe"),
        ("{{ 10 ** 10000000 }}", "integers in queue templates are limited"),
    ],
)
def test_other_expensive_templates_are_refused(
    sqlite_server: LiveServer, template: str, message: str
) -> None:
    with sqlite_server.api() as api:
        queue = _queue(api, {"cmd": template})
        response = api.post(f"/api/v1/queues/admin/{queue}/items", json={})
        assert response.status_code in (413, 422), response.text
        assert message in response.text
        assert _items(api, queue) == []


def test_template_values_and_rendered_config_are_held_to_the_value_limit(
    sqlite_server: LiveServer,
) -> None:
    variables = [{"name": "blob", "type": "string", "default": ""}]
    with sqlite_server.api() as api:
        queue = _queue(api, {"a": "{{blob}}"}, variables=variables)
        path = f"/api/v1/queues/admin/{queue}/items"
        huge = api.post(path, json={"template_values": {"blob": "x" * 1_100_000}})
        assert huge.status_code == 413, huge.text
        assert "template_values is 1,100,0" in huge.text and "1,000,000-byte limit" in huge.text

        # Each value fits, but the template repeats it past the limit.
        repeated = _queue(api, {k: "{{blob}}" for k in "abc"}, variables=variables)
        path = f"/api/v1/queues/admin/{repeated}/items"
        over = api.post(path, json={"template_values": {"blob": "x" * 400_000}})
        assert over.status_code == 413, over.text
        assert "the rendered config is 1,200,0" in over.text
        assert "RUNYARD_MAX_VALUE_BYTES" in over.text
        assert _items(api, queue) == [] and _items(api, repeated) == []

        fits = api.post(path, json={"template_values": {"blob": "x" * 1000}})
        assert fits.status_code == 201, fits.text
        assert fits.json()["rendered_config"]["c"] == "x" * 1000


@pytest.mark.parametrize(("template", "tag"), LOADING_TAGS)
def test_templates_cannot_load_other_templates(
    sqlite_server: LiveServer, template: str, tag: str
) -> None:
    """`{% include %}` & co. used to be a 500 at enqueue; now a 422 at create and update."""
    with sqlite_server.api() as api:
        name = f"q-{uuid.uuid4().hex[:8]}"
        body = {"name": name, "entity": "admin", "config": {"env": {"X": template}}}
        created = api.post("/api/v1/queues", json=body)
        assert created.status_code == 422, created.text
        assert tag in created.text and "config.env.X" in created.text

        good = _queue(api, {"env": {"X": "1"}})
        body = {"name": good, "entity": "admin", "config": {"env": {"X": template}}}
        updated = api.put(f"/api/v1/queues/admin/{good}", json=body)
        assert updated.status_code == 422, updated.text
        assert tag in updated.text

        config = {"resource_args": {"local-process": {"env": {"X": template}}}}
        upserted = _graphql(api, UPSERT_QUEUE, queue=name, config=json.dumps(config))
        assert tag in _errors(upserted) and "config.env.X" in _errors(upserted)
        assert api.get(f"/api/v1/queues/admin/{name}").status_code == 404


def test_a_stored_template_that_loads_others_is_refused_at_render(
    sqlite_server: LiveServer,
) -> None:
    """A queue stored before the check existed renders to a 422 naming the tag, not a 500."""
    store = sqlite_server.state.queue_store
    assert isinstance(store, SqlQueueStore)
    with sqlite_server.api() as api:
        name = _queue(api, {"cmd": "ok"})
        queue = store.get_queue("admin", name)
        assert queue is not None
        spec = queue.model_dump(mode="json", include=set(QueueSpec.model_fields))
        spec["config"] = {"cmd": "{% include 'x' %}"}
        stored = update(queues_table).where(queues_table.c.id == queue.id).values(spec=spec)
        with store.engine.begin() as conn:
            conn.execute(stored)
        assert api.get(f"/api/v1/queues/admin/{name}").json()["config"] == spec["config"]
        response = api.post(f"/api/v1/queues/admin/{name}/items", json={})
        assert response.status_code == 422, response.text
        assert "{% include %} is not supported" in response.text
        assert _items(api, name) == []


def test_render_limits_hold_without_a_server() -> None:
    """The pure renderer refuses the same things, naming where in the config."""
    with pytest.raises(TemplateTooLarge, match=r"config.x: rendering the template would make"):
        render_config({"x": "{{ ['a'] * 100000000 }}"}, {}, {})
    with pytest.raises(ForbiddenTemplate, match=r"config.y: \{% extends %\}"):
        render_config({"y": "{% extends 'base' %}"}, {}, {})
    ok = render_config({"x": "{{ 'ab' ~ 'c' * 2 }}-{{ n * 2 }}"}, {"n": 3}, {})
    assert ok == {"x": "abcc-6"}


BIG = "{% set b = 'a ' * 500000 %}"


@pytest.mark.parametrize(
    ("template", "refusal"),
    [
        ("{{ ['a'] * 100000000 }}", TemplateTooLarge),
        ("{{ 'x'|indent(100000000, true) }}", TemplateTooLarge),
        ("{{ ('a' * 100000)|replace('a', 'a' * 100) }}", TemplateTooLarge),
        ("{{ ('a' * 100000).replace('a', 'a' * 100) }}", TemplateTooLarge),
        (
            "{{ range(1000)|map('string')|map('replace', '1', 'a' * 100000)|join }}",
            TemplateTooLarge,
        ),
        (
            "{% set ns = namespace(s='a') %}{% for i in range(40) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            TemplateTooLarge,
        ),
        (BIG + "{% for i in range(100000) %}{% set c = b[1:] %}{% endfor %}", TemplateTooLarge),
        (BIG + "{% for i in range(100000) %}{{ b|wordcount }}{% endfor %}", TemplateLimitError),
        (
            BIG + "{% for i in range(100000) %}{% if 'x' in b %}{% endif %}{% endfor %}",
            TemplateLimitError,
        ),
        ("{{ ('a,' * 1000000).split(',')|length }}", TemplateLimitError),
        ("{{ ([0] * 100000)|map('default', 'a' * 100000, true)|list }}", TemplateLimitError),
        ("{{ '%*s' % (5, 'a') }}", TemplateLimitError),
        ("{{ {'a': 1}|tojson(indent=100000) }}", TemplateLimitError),
        ("{{ '{:>100000000}'.format(1) }}", ValueError),
        ("{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}", ValueError),
        ("{{ lipsum(100000) }}", ValueError),
        ("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", ForbiddenTemplate),
    ],
)
def test_renderer_refuses_each_way_to_make_work(template: str, refusal: type[Exception]) -> None:
    """Repetition, padding, replacement, loops, slices and scans are all charged or refused."""
    with pytest.raises(refusal, match=r"^config\.x: "):
        render_config({"x": template}, {}, {})


def test_ordinary_templates_render_as_before() -> None:
    template = (
        "{{ 'ab' ~ 'cd' }}-{{ gpus * 2 }}-{{ 'x' * 3 }}-{{ '%s-%d'|format('a', 3) }}-"
        "{{ 'a b'.split()|join(',') }}-{{ [1, 2]|join('/') }}{% if gpus > 1 %}-many{% endif %}-"
        "{{ spec.a|length }}{{ spec['a'][1:] }}"
        "{% for i in range(3) if i is odd %}{{ i }}{% endfor %}"
        "-{{ 'A100'|lower }}-{{ spec|tojson }}"
    )
    rendered = render_config({"x": template}, {"gpus": 2, "spec": {"a": [1, 2]}}, {})
    assert rendered == {"x": 'abcd-4-xxx-a-3-a,b-1/2-many-2[2]1-a100-{"a": [1, 2]}'}


# -- run filters --------------------------------------------------------------------------


def _runs(server: LiveServer, names: list[str]) -> str:
    project = unique_project()
    with server.api() as api:
        for name in names:
            response = _graphql(api, UPSERT, name=name, project=project, display=name)
            assert response.status_code == 200 and "errors" not in response.json(), response.text
    return project


def _rest_names(api: httpx.Client, project: str, filters: object) -> httpx.Response:
    return api.get(
        "/api/v1/runs", params={"project": f"admin/{project}", "filters": json.dumps(filters)}
    )


def test_backtracking_regex_answers_correctly(server: LiveServer) -> None:
    """`(a+)+$` over a 26-character name used to stall the whole server for seconds."""
    project = _runs(server, ["a" * 25 + "b", "a" * 10])
    doc = {"name": {"$regex": "(a+)+$"}}
    with server.api() as api:
        listed = _rest_names(api, project, doc)
        assert listed.status_code == 200, listed.text
        assert [r["id"] for r in listed.json()["runs"]] == ["a" * 10]
        found = _graphql(api, RUNS, project=project, filters=json.dumps(doc))
        edges = found.json()["data"]["project"]["runs"]["edges"]
        assert [e["node"]["name"] for e in edges] == ["a" * 10]
        nested = {"displayName": {"$regex": "^(a|aa)+$", "$options": "i"}}
        assert [r["id"] for r in _rest_names(api, project, nested).json()["runs"]] == ["a" * 10]
    _healthy(server)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(a)\\1", "no backreferences"),
        ("(?=a)", "lookarounds ('(?') is not supported in $regex"),
        ("a{300}", "repetition counts over 255 ({300})"),
        ("a" * 1001, "over the 1,000-character limit of $regex"),
    ],
)
def test_regexes_the_engine_cannot_run_are_refused(
    sqlite_server: LiveServer, pattern: str, message: str
) -> None:
    project = _runs(sqlite_server, ["r1"])
    doc = {"name": {"$regex": pattern}}
    with sqlite_server.api() as api:
        listed = _rest_names(api, project, doc)
        assert listed.status_code == 400, listed.text
        assert "$regex" in listed.text and message in listed.json()["detail"]
        found = _graphql(api, RUNS, project=project, filters=json.dumps(doc))
        assert message in _errors(found)


def test_list_operators_are_limited(server: LiveServer) -> None:
    """`$in` with 100,000 values used to take 18 s and then fail with a 500."""
    project = _runs(server, ["r1", "r2"])
    with server.api() as api:
        huge = {"name": {"$in": [f"run-{i}" for i in range(100_000)]}}
        found = _graphql(api, RUNS, project=project, filters=json.dumps(huge))
        message = _errors(found)
        assert "['$in']: $in has 100,000 items, over the limit of 1,000" in message
        assert found.json()["errors"][0]["extensions"]["status"] == 400

        many = {"$or": [{"name": f"run-{i}"} for i in range(1001)]}
        listed = _rest_names(api, project, many)
        assert listed.status_code == 400
        assert "$or has 1,001 items, over the limit of 1,000" in listed.text

        deep: dict[str, object] = {"name": "r1"}
        for _ in range(40):
            deep = {"$and": [deep]}
        nested = _rest_names(api, project, deep)
        assert nested.status_code == 400 and "nests deeper than 32 levels" in nested.text

        # At the limit, the filter works.
        fits = {"name": {"$in": ["r2", *(f"run-{i}" for i in range(999))]}}
        assert [r["id"] for r in _rest_names(api, project, fits).json()["runs"]] == ["r2"]
    _healthy(server)


def test_filter_text_nested_thousands_deep_is_a_filter_error() -> None:
    """`parse_filter` (for the adapters) turns JSON's RecursionError into a clear error."""
    with pytest.raises(FilterError, match="nests deeper than 32 levels"):
        parse_filter("[" * 100_000 + "]" * 100_000)
    with pytest.raises(FilterError, match="nests deeper than 32 levels"):
        parse_filter('{"$and": ' * 40 + '{"name": "x"}' + "}" * 40)
    with pytest.raises(FilterError, match="not valid JSON"):
        parse_filter("{")
    assert parse_filter('{"state": "finished"}') == {"state": "finished"}
    assert parse_filter(None) is None


# -- GraphQL ------------------------------------------------------------------------------


def _aliases(count: int) -> str:
    return "{ " + " ".join(f"a{i}: viewer {{ id }}" for i in range(count)) + " }"


def test_ten_thousand_aliases_are_refused_before_execution(sqlite_server: LiveServer) -> None:
    """10,000 aliases used to cost 44 s of CPU; the query is refused as it is read."""
    with sqlite_server.api() as api:
        response = api.post("/graphql", json={"query": _aliases(10_000)})
        assert response.status_code == 400
        message = _errors(response)
        assert "over 10,000 tokens, the limit (RUNYARD_GRAPHQL_MAX_TOKENS)" in message
        assert "data" not in response.json()

        # Fewer aliases, few enough tokens: the alias limit itself.
        response = api.post("/graphql", json={"query": _aliases(1_000)})
        assert response.status_code == 400
        message = _errors(response)
        assert "uses 1,000 aliases, over the limit of 200 (RUNYARD_GRAPHQL_MAX_ALIASES)" in message
        assert "selects 2,000 fields (fragments expanded), over the limit of 1,000" in message

        fits = api.post("/graphql", json={"query": _aliases(200)})
        assert fits.status_code == 200 and fits.json()["data"]["a199"]["id"]
    _healthy(sqlite_server)


def test_graphql_depth_fields_fragments_and_tokens_are_limited(sqlite_server: LiveServer) -> None:
    deep = "{ __schema { queryType { fields { type " + "{ ofType " * 20 + "{ name }" + " }" * 20
    deep += " } } } }"
    same_field = "{ viewer { " + "id " * 1_001 + "} }"
    # Each fragment doubles the one below it: 2^20 fields from a few hundred bytes.
    bomb = "query Bomb { viewer { ...F0 } }\n" + "\n".join(
        f"fragment F{i} on User {{ ...F{i + 1} ...F{i + 1} }}" for i in range(20)
    )
    bomb += "\nfragment F20 on User { id }"
    too_long = "{ viewer { " + "id " * 12_000 + "} }"
    very_deep = "{ " + "a { " * 3_000 + "b" + " }" * 3_000 + " }"
    cases = [
        (deep, "nests 25 fields deep, over the limit of 20 (RUNYARD_GRAPHQL_MAX_DEPTH)"),
        (same_field, "selects 1,002 fields (fragments expanded), over the limit of 1,000"),
        (bomb, "operation Bomb selects 1,048,57"),
        (too_long, "over 10,000 tokens, the limit (RUNYARD_GRAPHQL_MAX_TOKENS)"),
        (very_deep, "the query nests too deep"),
    ]
    with sqlite_server.api() as api:
        for query, message in cases:
            response = api.post("/graphql", json={"query": query})
            assert response.status_code == 400, response.text
            assert message in _errors(response), (query[:80], response.text[:500])
    _healthy(sqlite_server)


def test_introspection_and_ordinary_queries_are_within_the_limits(
    sqlite_server: LiveServer,
) -> None:
    from graphql import get_introspection_query

    introspection = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    with sqlite_server.api() as api:
        response = api.post("/graphql", json={"query": introspection})
        assert response.status_code == 200, response.text
        types = {t["name"] for t in response.json()["data"]["__schema"]["types"]}
        assert {"Project", "Run", "Query"} <= types
        viewer = api.post("/graphql", json={"query": "{ me: viewer { username } }"})
        assert viewer.json()["data"]["me"]["username"] == "admin"
