"""Tag rules for versions and collections (pure), as W&B states them: words of letters,
digits, `_` or `-`, separated by single or multiple spaces, up to 128 characters."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from runyard.server.errors import ErrorCode, ServiceError

TAG_RE = re.compile(r"^[-\w]+( +[-\w]+)*$")
MAX_TAG_CHARS = 128
MAX_TAGS = 100


def check_tags(names: Iterable[str], field: str) -> list[str]:
    """The names, de-duplicated in order; refuse any that is not a valid tag."""
    out: list[str] = []
    for name in names:
        if len(name) > MAX_TAG_CHARS or not TAG_RE.fullmatch(name):
            raise ServiceError(
                ErrorCode.INVALID,
                f"{field}: {name!r} is not a valid tag; use letters, digits, '_' and '-', "
                f"words separated by spaces, at most {MAX_TAG_CHARS} characters",
            )
        if name not in out:
            out.append(name)
    return out


def changed_tags(current: list[str], add: list[str], remove: list[str], field: str) -> list[str]:
    """The tags after adding `add` and removing `remove`; refuse more than MAX_TAGS."""
    gone = set(remove)
    result = [t for t in current if t not in gone]
    result += [t for t in add if t not in result and t not in gone]
    if len(result) > MAX_TAGS:
        raise ServiceError(
            ErrorCode.INVALID, f"{field}: at most {MAX_TAGS} tags; remove some before adding"
        )
    return result


class TagInput(BaseModel):
    """A TagInput of the wire; Runyard keeps the name (categories and attributes are
    accepted and not stored)."""

    model_config = ConfigDict(extra="ignore")

    tagName: str
