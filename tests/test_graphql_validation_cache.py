"""A GraphQL document is validated once per text: repeats answer alike, refusals stay refusals."""

from __future__ import annotations

from typing import Any

from support.server import LiveServer

VIEWER = "query V { viewer { username } }"
UNKNOWN_FIELD = "query V { viewer { username shoeSize } }"


def _post(server: LiveServer, query: str, **variables: Any) -> tuple[int, dict[str, Any]]:
    with server.api() as api:
        response = api.post("/graphql", json={"query": query, "variables": variables})
    return response.status_code, response.json()


def test_a_repeated_document_answers_the_same_and_a_bad_one_is_refused_each_time(
    sqlite_server: LiveServer,
) -> None:
    first = _post(sqlite_server, VIEWER)
    assert first[0] == 200 and first[1]["data"]["viewer"]["username"] == "admin"
    assert _post(sqlite_server, VIEWER) == first

    for _ in range(2):
        status, body = _post(sqlite_server, UNKNOWN_FIELD)
        assert status in (200, 400)
        assert "data" not in body or body["data"] is None
        assert "Cannot query field 'shoeSize' on type 'User'." in body["errors"][0]["message"]
    # The accepted text is still answered after the refusals.
    assert _post(sqlite_server, VIEWER) == first
