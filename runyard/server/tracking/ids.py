"""Opaque GraphQL node ids in W&B's style: base64 of `Type:pk`."""

from __future__ import annotations

import base64
import binascii


def encode_id(type_name: str, pk: int | str) -> str:
    """Encode a primary key as W&B clients expect node ids (e.g. `UnVuOjE=` for Run 1)."""
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def decode_id(type_name: str, node_id: str) -> int:
    """Decode a node id of `type_name`; raise ValueError naming the id when it is not one."""
    try:
        kind, _, pk = base64.b64decode(node_id, validate=True).decode().partition(":")
        if kind == type_name:
            return int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ValueError(f"{node_id!r} is not a {type_name} id")


def decode_key(type_name: str, node_id: str) -> str:
    """Like decode_id, for node ids whose key is a string (queue and item ids)."""
    try:
        kind, _, key = base64.b64decode(node_id, validate=True).decode().partition(":")
        if kind == type_name and key:
            return key
    except (binascii.Error, UnicodeDecodeError):
        pass
    raise ValueError(f"{node_id!r} is not a {type_name} id")
