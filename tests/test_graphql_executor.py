"""The GraphQL executor takes a list of `str` for a string list as it is, and otherwise
answers exactly as graphql-core's own executor (values coerced, errors located)."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import build_schema, graphql_sync

from runyard.server.graphql.executor import Executor

SCHEMA = build_schema(
    """
    type Query {
      lines: [String!]!
      maybe: [String]
      ids: [ID!]!
      nested: [[String!]!]!
    }
    """
)
VALUES: dict[str, Any] = {
    "plain": {"lines": ['{"_step": 0}', 'é\\n"x"', ""], "maybe": ["a", None]},
    "coerced": {"lines": ["a", 1, 2.5, True], "maybe": ["a", 7]},
    "refused": {"lines": ["a", None, "c"], "maybe": [{"no": 1}]},
    "others": {"lines": ("a", "b"), "ids": ["1", 2], "nested": [["a"], ["b", 3]]},
}


@pytest.mark.parametrize("name", sorted(VALUES))
def test_answers_are_graphql_cores_own(name: str) -> None:
    query = "{ lines maybe ids nested }"
    root = {"ids": [], "nested": [], "maybe": None, **VALUES[name]}
    ours = graphql_sync(SCHEMA, query, root_value=root, executor_class=Executor)
    theirs = graphql_sync(SCHEMA, query, root_value=root)
    assert ours.formatted == theirs.formatted


def test_a_list_of_str_comes_back_as_it_is() -> None:
    lines = [f"line {n}" for n in range(1000)]
    answer = graphql_sync(SCHEMA, "{ lines }", root_value={"lines": lines}, executor_class=Executor)
    assert answer.errors is None and answer.data == {"lines": lines}
