"""Byte ranges and sizes of signed downloads: the client's Parquet reader needs both.

With `keys`, wandb-core reads an export straight from its URL: a HEAD for the size, then
GETs of `Range: bytes=a-b` (the footer first, then the column chunks it wants).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.tracking import uploads
from runyard.server.unit_of_work import UnitOfWork

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True)
class ByteRange:
    """Bytes `start..end` (both inclusive) of an object of `size` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        """How many bytes the range holds."""
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        """The `Content-Range` header of a 206 answer."""
        return f"bytes {self.start}-{self.end}/{self.size}"


def parse_range(header: str, size: int) -> ByteRange:
    """One `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`) against an object's size."""
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.groups() == ("", ""):
        raise ServiceError(
            ErrorCode.INVALID,
            f"Range: {header!r} is not one byte range: send e.g. 'bytes=0-1023' or 'bytes=-8'",
        )
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise ServiceError(
            ErrorCode.INVALID,
            f"Range: {header!r} lies outside the object's {size} bytes",
        )
    return ByteRange(start, end, size)


def open_range(
    uow: UnitOfWork, key: str, expires: str | None, sig: str | None, header: str
) -> tuple[ByteRange, Iterator[bytes]]:
    """The bytes of one `Range` of a signed GET URL's object (the store reads only those)."""
    wanted = parse_range(header, uploads.download_size(uow, key, expires, sig))
    return wanted, uploads.open_download(uow, key, expires, sig, wanted.start, wanted.end)
