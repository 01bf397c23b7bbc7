"""The GraphQL executor: graphql-core's, with string lists completed in one step."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import Any

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLString,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.execution.incremental.incremental_executor import IncrementalExecutor
from graphql.pyutils import AwaitableOrValue, Path


def _is_string(item_type: GraphQLOutputType) -> bool:
    """Whether list items of this type are `String` or `String!` (the built-in scalar)."""
    if isinstance(item_type, GraphQLNonNull):
        item_type = item_type.of_type
    return item_type is GraphQLString


class Executor(IncrementalExecutor):
    """graphql-core's default executor, but a `[String!]` list of `str` is taken as it is.

    A history page is a list of up to 10,000 JSON lines; graphql-core completes each item on
    its own (a path entry, a leaf check, `String.serialize`), which costs more than reading
    the page. For a list whose items are all `str`, serializing each gives it back unchanged,
    so the answer is the same list; anything else (a None, a number, an awaitable, `@stream`)
    takes graphql-core's own path, errors included.
    """

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        result: AsyncIterable[Any] | Iterable[Any],
        position_context: Any,
    ) -> AwaitableOrValue[list[Any]]:
        """Complete a list value; a list of `str` for a string list in one step."""
        if (
            type(result) is list
            and _is_string(return_type.of_type)
            and all(type(item) is str for item in result)
            and self.get_stream_usage(field_details_list, path) is None
        ):
            return result
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )
