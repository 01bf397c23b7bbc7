"""Queue items by id or by a unique prefix of it, as git takes commit prefixes."""

from __future__ import annotations

import re
from collections.abc import Callable

from runyard.launch.queue.store import QueueStore
from runyard.server.errors import ErrorCode, ServiceError

MIN_PREFIX = 4
FULL_LENGTH = 32  # uuid4 hex
_HEX = re.compile(r"^[0-9a-f]+$")
# Shown when a prefix is ambiguous; enough to pick the right one.
_SHOWN = 10


def resolve_item_id(
    store: QueueStore, ref: str, visible: Callable[[str], bool] = lambda _: True
) -> str:
    """The full id of the one item whose id is `ref` or starts with it.

    `visible(entity)` hides other people's items, so a prefix neither matches nor lists them.
    """
    ref = ref.strip().lower()
    if not _HEX.match(ref):
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"queue item {ref!r} does not exist: ids are hexadecimal, e.g. as shown by "
            "`runyard queue describe`",
        )
    if len(ref) < MIN_PREFIX:
        raise ServiceError(
            ErrorCode.INVALID,
            f"item id prefix {ref!r} is too short: give at least {MIN_PREFIX} characters",
        )
    if len(ref) == FULL_LENGTH:
        return ref  # a whole id: no search (agents report by full id on every state change)
    matches = [
        item_id
        for item_id in store.find_item_ids(ref, limit=100)
        if (item := store.get_item(item_id)) is not None and visible(item.entity)
    ][: _SHOWN + 1]
    if not matches:
        raise ServiceError(ErrorCode.NOT_FOUND, f"queue item {ref} does not exist")
    if ref in matches:
        return ref
    if len(matches) > 1:
        shown = ", ".join(matches[:_SHOWN]) + (", ..." if len(matches) > _SHOWN else "")
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"item id prefix {ref!r} is ambiguous: it matches {shown}; give more characters",
        )
    return matches[0]
