"""The `filters` and `order` arguments of artifact listings, compiled to SQL.

The client sends Mongo-style filters (`{"state": "COMMITTED"}` for versions by default,
`{"name": {"$regex": "model"}}` from users) and orders such as `-createdAt`. The operators
are those of run filters (`runyard.server.tracking.filters`); only the fields differ.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.sql.elements import ColumnElement

from runyard.server.db.models import Artifact, ArtifactAlias, ArtifactCollection
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.tracking.filters import (
    FilterError,
    JsonValue,
    Resolver,
    StringColumn,
    Target,
    TimeColumn,
    compile_filter_on,
    parse_filter,
)
from runyard.server.tracking.json_sql import JsonPath

COLLECTION_STRINGS: dict[str, Any] = {
    "name": ArtifactCollection.name,
    "type": ArtifactCollection.type_name,
    "defaultArtifactType": ArtifactCollection.type_name,
}
COLLECTION_TIMES: dict[str, Any] = {
    "createdAt": ArtifactCollection.created_at,
    "created_at": ArtifactCollection.created_at,
}
COLLECTION_ORDERS: dict[str, Any] = {
    "id": ArtifactCollection.id,
    "name": ArtifactCollection.name,
    "type": ArtifactCollection.type_name,
    **COLLECTION_TIMES,
}

VERSION_STRINGS: dict[str, Any] = {
    "state": Artifact.state,
    "digest": Artifact.digest,
    "description": Artifact.description,
}
VERSION_TIMES: dict[str, Any] = {
    "createdAt": Artifact.created_at,
    "created_at": Artifact.created_at,
    "updatedAt": Artifact.updated_at,
    "updated_at": Artifact.updated_at,
}
VERSION_ORDERS: dict[str, Any] = {
    "id": Artifact.id,
    "versionIndex": Artifact.version_index,
    "version": Artifact.version_index,
    "size": Artifact.size,
    "digest": Artifact.digest,
    **VERSION_TIMES,
}
VERSION_FIELDS = "alias, version, versionIndex, metadata.<key>, " + ", ".join(
    sorted({*VERSION_STRINGS, *VERSION_TIMES})
)
COLLECTION_FIELDS = ", ".join(sorted({*COLLECTION_STRINGS, *COLLECTION_TIMES}))


class _VersionIndex(Target):
    """`versionIndex: 3` or `version: "v3"`: the number of a committed version."""

    def _index(self, value: Any, where: str) -> int:
        if self.field == "version":
            if isinstance(value, str) and value.startswith("v") and value[1:].isdigit():
                return int(value[1:])
        elif isinstance(value, int) and not isinstance(value, bool):
            return value
        example = '"v3"' if self.field == "version" else "3"
        raise FilterError(
            f"{where}: {self.field} is a version number like {example}, not {value!r}"
        )

    def equals(self, value: Any, where: str) -> ColumnElement[bool]:
        return Artifact.version_index == self._index(value, where)

    def compare(self, op: str, value: Any, where: str) -> ColumnElement[bool]:
        index = self._index(value, where)
        column = Artifact.version_index
        return {
            "$gt": column > index,
            "$gte": column >= index,
            "$lt": column < index,
            "$lte": column <= index,
        }[op]

    def exists(self) -> ColumnElement[bool]:
        return Artifact.version_index.is_not(None)


class _Alias(Target):
    """`alias: "best"`: versions an alias of their collection points at."""

    def _has(self, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        return exists(
            select(ArtifactAlias.id).where(ArtifactAlias.artifact_id == Artifact.id, condition)
        )

    def equals(self, value: Any, where: str) -> ColumnElement[bool]:
        if not isinstance(value, str):
            raise FilterError(f'{where}: an alias is a string such as "best", not {value!r}')
        return self._has(ArtifactAlias.alias == value)

    def exists(self) -> ColumnElement[bool]:
        return self._has(ArtifactAlias.id.is_not(None))

    def regex(self, pattern: Any, options: Any, where: str) -> ColumnElement[bool]:
        inner = StringColumn(self.field, ArtifactAlias.alias).regex(pattern, options, where)
        return self._has(inner)


def _collection_field(field: str, where: str) -> Target:
    if field in COLLECTION_STRINGS:
        return StringColumn(field, COLLECTION_STRINGS[field])
    if field in COLLECTION_TIMES:
        return TimeColumn(field, COLLECTION_TIMES[field])
    raise FilterError(
        f"{where}: unknown field {field!r}; collections can be filtered on {COLLECTION_FIELDS}"
    )


def _version_resolver(dialect: str) -> Resolver:
    def resolve(field: str, where: str) -> Target:
        if field in VERSION_STRINGS:
            return StringColumn(field, VERSION_STRINGS[field])
        if field in VERSION_TIMES:
            return TimeColumn(field, VERSION_TIMES[field])
        if field in ("version", "versionIndex"):
            return _VersionIndex(field)
        if field in ("alias", "aliases"):
            return _Alias(field)
        prefix, _, rest = field.partition(".")
        keys = tuple(rest.split(".")) if rest else ()
        if prefix == "metadata" and keys and all(k and '"' not in k for k in keys):
            return JsonValue(field, JsonPath(Artifact.metadata_json, keys, dialect))
        raise FilterError(
            f"{where}: unknown field {field!r}; versions can be filtered on {VERSION_FIELDS}"
        )

    return resolve


def _compile(text: str | None, resolve: Resolver) -> ColumnElement[bool]:
    try:
        return compile_filter_on(parse_filter(text.strip() if text else None), resolve)
    except FilterError as exc:
        raise ServiceError(ErrorCode.INVALID, f"invalid filter: {exc}") from exc


def collection_filter(text: str | None) -> ColumnElement[bool]:
    """The WHERE clause of a collections `filters` argument (JSON text; None: all)."""
    return _compile(text, _collection_field)


def version_filter(text: str | None, dialect: str) -> ColumnElement[bool]:
    """The WHERE clause of a versions `filters` argument (JSON text; None: all)."""
    return _compile(text, _version_resolver(dialect))


def _order(order: str | None, columns: dict[str, Any], key: Any, known: str) -> list[Any]:
    """ORDER BY terms for `+field` / `-field` (default: newest first), ties broken by id."""
    text = (order or "").strip()
    if not text:
        return [key.desc()]
    descending = text.startswith("-")
    field = text[1:] if text[:1] in "+-" else text
    column = columns.get(field)
    if column is None:
        raise ServiceError(
            ErrorCode.INVALID,
            f"order: unknown field {field!r}; order by one of {known}, e.g. '-createdAt'",
        )
    if descending:
        return [column.desc().nulls_last(), key.desc()]
    return [column.asc().nulls_last(), key.asc()]


def collection_order(order: str | None) -> list[Any]:
    """ORDER BY terms for collections (default: newest first, as W&B lists them)."""
    return _order(order, COLLECTION_ORDERS, ArtifactCollection.id, ", ".join(COLLECTION_ORDERS))


def version_order(order: str | None) -> list[Any]:
    """ORDER BY terms for versions (default: newest first)."""
    return _order(order, VERSION_ORDERS, Artifact.id, ", ".join(VERSION_ORDERS))
