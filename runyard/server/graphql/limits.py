"""Limits on the size of a GraphQL operation, checked before it is validated or executed.

Every field in a query runs a resolver, and aliases let one request ask for the same
field thousands of times (`a1: viewer {id} a2: viewer {id} ...`). So a query's depth, its
selected fields and its aliases are counted first, fragments expanded, in time linear in
the document (each fragment is measured once), and an operation over a limit is refused
with a message that names the limit and the setting. The standard validation rules (some
of which are quadratic in the number of fields) run only on queries within the limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)


@dataclass(frozen=True)
class GraphQLLimits:
    """How big one GraphQL operation may be (settings RUNYARD_GRAPHQL_MAX_*)."""

    max_depth: int = 20
    max_fields: int = 1_000
    max_aliases: int = 200
    max_tokens: int = 10_000


@dataclass(frozen=True)
class Size:
    """What an operation or fragment selects: fields and aliases (fragments expanded), depth."""

    fields: int = 0
    aliases: int = 0
    depth: int = 0


@dataclass
class _Measure:
    fragments: dict[str, FragmentDefinitionNode]
    done: dict[str, Size] = field(default_factory=dict)
    busy: set[str] = field(default_factory=set)

    def selection_set(self, node: SelectionSetNode | None) -> Size:
        if node is None:
            return Size()
        fields = aliases = depth = 0
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                inner = self.selection_set(selection.selection_set)
                fields += 1 + inner.fields
                aliases += (1 if selection.alias else 0) + inner.aliases
                depth = max(depth, 1 + inner.depth)
                continue
            if isinstance(selection, FragmentSpreadNode):
                inner = self.fragment(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                inner = self.selection_set(selection.selection_set)
            else:
                continue
            fields += inner.fields
            aliases += inner.aliases
            depth = max(depth, inner.depth)
        return Size(fields, aliases, depth)

    def fragment(self, name: str) -> Size:
        if name in self.done:
            return self.done[name]
        definition = self.fragments.get(name)
        # Unknown fragments and cycles are the standard rules' to report; they add nothing.
        if definition is None or name in self.busy:
            return Size()
        self.busy.add(name)
        size = self.selection_set(definition.selection_set)
        self.busy.discard(name)
        self.done[name] = size
        return size


def measure(document: DocumentNode) -> dict[str, Size]:
    """The size of each operation of a document, by name ("" for an anonymous one)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    measurer = _Measure(fragments)
    return {
        (d.name.value if d.name else ""): measurer.selection_set(d.selection_set)
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    }


def _error(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "invalid", "status": 400})


def parse_limited(query: str, limits: GraphQLLimits) -> DocumentNode:
    """Parse a query, refusing one over the token limit (GraphQLError naming it)."""
    too_deep = _error(
        f"the query nests too deep to read; the limit is {limits.max_depth} levels "
        "(RUNYARD_GRAPHQL_MAX_DEPTH): ask for less nested data"
    )
    try:
        return parse(query, max_tokens=limits.max_tokens)
    except RecursionError:
        raise too_deep from None
    except GraphQLError as exc:
        if "Parsing aborted" in exc.message and "tokens" in exc.message:
            raise _error(
                f"the query has over {limits.max_tokens:,} tokens, the limit "
                "(RUNYARD_GRAPHQL_MAX_TOKENS); split it into several smaller queries"
            ) from None
        if "Parsing aborted" in exc.message and "nested too deeply" in exc.message:
            raise too_deep from None
        raise


def check_limits(document: DocumentNode, limits: GraphQLLimits) -> list[GraphQLError]:
    """Errors for each operation over a limit, naming the limit and the fix (pure)."""
    errors: list[GraphQLError] = []
    for name, size in measure(document).items():
        which = f"operation {name}" if name else "the operation"
        if size.depth > limits.max_depth:
            errors.append(
                _error(
                    f"{which} nests {size.depth} fields deep, over the limit of "
                    f"{limits.max_depth} (RUNYARD_GRAPHQL_MAX_DEPTH); ask for less nested data"
                )
            )
        if size.aliases > limits.max_aliases:
            errors.append(
                _error(
                    f"{which} uses {size.aliases:,} aliases, over the limit of "
                    f"{limits.max_aliases:,} (RUNYARD_GRAPHQL_MAX_ALIASES); split it into "
                    "several requests, or use a list field with filters instead"
                )
            )
        if size.fields > limits.max_fields:
            errors.append(
                _error(
                    f"{which} selects {size.fields:,} fields (fragments expanded), over the "
                    f"limit of {limits.max_fields:,} (RUNYARD_GRAPHQL_MAX_FIELDS); split it "
                    "into several requests"
                )
            )
    return errors
