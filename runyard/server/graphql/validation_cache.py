"""Parse and validate each GraphQL document text once: clients repeat a handful of documents.

Validation is a pure function of the schema, the document and the rules, yet it was the
largest single cost of a small operation: a `HistoryPage` request (the paged
`scan_history` of older clients, 1,000 pages for a million rows) spent ~10 ms of its
~25 ms server CPU in it. A document text the schema accepted is remembered (bounded,
least recently used first out); one with errors is validated again each time, so every
refusal still comes with its messages. Parsing (and measuring against the size limits) is
likewise done once per accepted text: it was the next largest fixed cost of a page.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    TypeInfo,
    validate,
)

from runyard.server.graphql.limits import GraphQLLimits

MAX_DOCUMENTS = 512
# Longer texts are parsed each time: a parsed document takes many times its text's memory.
MAX_PARSED_CHARS = 32_768


class ParsedDocuments:
    """Documents parsed from texts that were within the limits, by text (bounded, LRU)."""

    def __init__(self, size: int = MAX_DOCUMENTS, max_chars: int = MAX_PARSED_CHARS) -> None:
        self._size = size
        self._max_chars = max_chars
        self._documents: OrderedDict[tuple[str, GraphQLLimits], DocumentNode] = OrderedDict()
        self._lock = threading.Lock()  # operations run on a thread pool

    def get(self, text: str, limits: GraphQLLimits) -> DocumentNode | None:
        """The document parsed from `text` under `limits` before, if any."""
        with self._lock:
            document = self._documents.get((text, limits))
            if document is not None:
                self._documents.move_to_end((text, limits))
            return document

    def put(self, text: str, limits: GraphQLLimits, document: DocumentNode) -> None:
        """Remember a document that parsed and was within `limits` (graphql-core never
        changes a document it executes, so one may serve many requests at once)."""
        if len(text) > self._max_chars:
            return
        with self._lock:
            self._documents[(text, limits)] = document
            while len(self._documents) > self._size:
                self._documents.popitem(last=False)


class ValidatedDocuments:
    """An ariadne `query_validator` that skips validating a text it accepted before."""

    def __init__(self, size: int = MAX_DOCUMENTS) -> None:
        self._size = size
        self._accepted: OrderedDict[tuple[int, str, tuple[Any, ...]], None] = OrderedDict()
        self._lock = threading.Lock()  # operations run on a thread pool

    def __call__(
        self,
        schema: GraphQLSchema,
        document_ast: DocumentNode,
        rules: Collection[type[ASTValidationRule]] | None = None,
        max_errors: int | None = None,
        type_info: TypeInfo | None = None,
    ) -> list[GraphQLError]:
        """The document's validation errors (none when its text was accepted before)."""
        body = document_ast.loc.source.body if document_ast.loc is not None else None
        key = (id(schema), body or "", tuple(rules or ()))
        if body is not None:
            with self._lock:
                if key in self._accepted:
                    self._accepted.move_to_end(key)
                    return []
        # graphql-core 3.3 dropped `type_info`; ariadne passes it only when it has one.
        extra: dict[str, Any] = {"type_info": type_info} if type_info is not None else {}
        errors = validate(schema, document_ast, rules=rules, max_errors=max_errors, **extra)
        if not errors and body is not None:
            with self._lock:
                self._accepted[key] = None
                while len(self._accepted) > self._size:
                    self._accepted.popitem(last=False)
        return errors
