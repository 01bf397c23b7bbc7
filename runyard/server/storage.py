"""Object store interface for run files and artifacts; the filesystem is the default backend."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Protocol


class ObjectStore(Protocol):
    """Where file bytes live; keys are `/`-separated relative paths."""

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], max_bytes: int
    ) -> StoredObject:
        """Store the streamed bytes under `key` atomically; raise TooLarge past `max_bytes`."""
        ...

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        """Store small server-made bytes (e.g. an assembled manifest) under `key` atomically."""
        ...

    def open_chunks(self, key: str) -> Iterator[bytes]:
        """Yield the stored bytes in chunks; raise FileNotFoundError if absent."""
        ...

    def exists(self, key: str) -> bool:
        """Tell whether `key` is stored."""
        ...


class StoredObject:
    """Size and MD5 of a stored object."""

    def __init__(self, size: int, md5_hex: str) -> None:
        self.size = size
        self.md5_hex = md5_hex


class TooLarge(Exception):
    """Raised when an upload exceeds the allowed size."""


def _check_key(key: str) -> None:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid object key {key!r}")


class FilesystemStore:
    """Objects as files under a root directory; writes go to a temp file, then rename."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        _check_key(key)
        return self.root / key

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], max_bytes: int
    ) -> StoredObject:
        """Store the streamed bytes under `key`; a partial upload never replaces the old file."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"upload exceeds {max_bytes} bytes")
                    digest.update(chunk)
                    tmp.write(chunk)
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return StoredObject(size, digest.hexdigest())

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        """Write `data` to a temp file, then rename it over `key`."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".write-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return StoredObject(len(data), hashlib.md5(data, usedforsecurity=False).hexdigest())

    def open_chunks(self, key: str) -> Iterator[bytes]:
        """Yield the file's bytes in 64 KiB chunks."""
        with self._path(key).open("rb") as handle:
            while chunk := handle.read(65536):
                yield chunk

    def exists(self, key: str) -> bool:
        """Tell whether the file exists."""
        return self._path(key).is_file()
