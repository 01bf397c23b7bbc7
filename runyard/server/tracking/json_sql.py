"""Typed access to values inside JSON columns, for SQLite and PostgreSQL alike.

Each accessor yields SQL NULL unless the JSON value has the asked-for type, so a
comparison such as ``config.lr > 0.1`` simply does not match runs whose ``lr`` is a
string, instead of failing the query (PostgreSQL would raise on a bad cast).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ARRAY, Boolean, Float, Integer, Text, case, cast, exists, func, literal
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from runyard.server.tracking.regex import regexp

SUPPORTED_DIALECTS = ("sqlite", "postgresql")


class JsonPath:
    """A path of object keys inside one JSON column, rendered for one SQL dialect."""

    def __init__(self, column: Any, keys: tuple[str, ...], dialect: str) -> None:
        if dialect not in SUPPORTED_DIALECTS:
            raise ValueError(f"unsupported SQL dialect {dialect!r}")
        if not keys:
            raise ValueError("a JSON path needs at least one key")
        self.column = column
        self.keys = keys
        self.dialect = dialect

    def _sqlite_path(self) -> str:
        # SQLite's JSON path syntax quotes labels with double quotes and has no escape
        # for them; filters.py rejects such keys before they get here.
        return "$" + "".join(f'."{key}"' for key in self.keys)

    def _pg_path(self) -> ColumnElement[Any]:
        return cast(literal(list(self.keys), ARRAY(Text)), ARRAY(Text))

    def json_type(self) -> ColumnElement[Any]:
        """The JSON type name, or NULL when the key is missing (JSON null is not NULL)."""
        if self.dialect == "sqlite":
            return func.json_type(self.column, self._sqlite_path())
        return func.jsonb_typeof(self.column.op("#>")(self._pg_path()))

    def _raw(self) -> ColumnElement[Any]:
        if self.dialect == "sqlite":
            return func.json_extract(self.column, self._sqlite_path())
        return self.column.op("#>>", return_type=Text)(self._pg_path())

    def number(self) -> ColumnElement[float]:
        """The value as a float when it is a JSON number, else NULL."""
        kind = self.json_type()
        if self.dialect == "sqlite":
            return case((kind.in_(["integer", "real"]), cast(self._raw(), Float)))
        return case((kind == "number", cast(self._raw(), Float)))

    def string(self) -> ColumnElement[str]:
        """The value when it is a JSON string, else NULL."""
        kind = self.json_type()
        if self.dialect == "sqlite":
            return case((kind == "text", cast(self._raw(), Text)))
        return case((kind == "string", self._raw()))

    def boolean(self) -> ColumnElement[int]:
        """1 or 0 when the value is a JSON boolean, else NULL."""
        kind = self.json_type()
        if self.dialect == "sqlite":
            return case((kind == "true", 1), (kind == "false", 0), else_=literal(None, Integer))
        return case((kind == "boolean", case((self._raw() == "true", 1), else_=0)))


def json_array_contains(column: Any, item: str, dialect: str) -> ColumnElement[bool]:
    """True when a JSON array column (e.g. tags) has `item` among its elements."""
    if dialect == "sqlite":
        elements = func.json_each(column).table_valued("value")
        return exists().where(elements.c.value == item)
    if dialect == "postgresql":
        return column.op("@>", return_type=Boolean)(literal([item], JSONB))
    raise ValueError(f"unsupported SQL dialect {dialect!r}")


def register_sqlite_regexp(dbapi_connection: Any, _record: Any) -> None:
    """Give a SQLite connection the REGEXP function (`x REGEXP pattern`), on RE2."""
    dbapi_connection.create_function("regexp", 2, regexp, deterministic=True)
