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

    def open_chunks(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield bytes `start..end` (inclusive; `None`: to the end) of `key` in chunks;
        raise FileNotFoundError if absent."""
        ...

    def size(self, key: str) -> int | None:
        """The stored size of `key` in bytes, or None if it is not stored."""
        ...

    def exists(self, key: str) -> bool:
        """Tell whether `key` is stored."""
        ...

    def delete(self, key: str) -> int:
        """Remove `key`; return the bytes freed (0 if it was not stored)."""
        ...


class StoredObject:
    """Size and MD5 of a stored object."""

    def __init__(self, size: int, md5_hex: str) -> None:
        self.size = size
        self.md5_hex = md5_hex


class TooLarge(Exception):
    """Raised when an upload exceeds the allowed size."""


def check_key(key: str) -> None:
    """Refuse keys that are empty, absolute, or climb out with `..`."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid object key {key!r}")


class FilesystemStore:
    """Objects as files under a root directory; writes go to a temp file, then rename."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        check_key(key)
        return self.root / key

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], max_bytes: int
    ) -> StoredObject:
        """Store the streamed bytes under `key`; a partial upload never replaces the old file."""
        path = self._path(key)
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        fd, tmp_name = self._temp_file(path.parent)
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

    @staticmethod
    def _temp_file(directory: Path, prefix: str = ".upload-") -> tuple[int, str]:
        """A new temp file in `directory`, created if missing; a second try covers `delete`
        removing the emptied directory between the mkdir and the file."""
        for attempt in range(2):
            directory.mkdir(parents=True, exist_ok=True)
            try:
                return tempfile.mkstemp(dir=directory, prefix=prefix)
            except FileNotFoundError:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        """Write `data` to a temp file, then rename it over `key`."""
        path = self._path(key)
        fd, tmp_name = self._temp_file(path.parent, ".write-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return StoredObject(len(data), hashlib.md5(data, usedforsecurity=False).hexdigest())

    def open_chunks(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield the file's bytes `start..end` (inclusive) in 64 KiB chunks."""
        with self._path(key).open("rb") as handle:
            handle.seek(start)
            left = None if end is None else end + 1 - start
            while left is None or left > 0:
                chunk = handle.read(65536 if left is None else min(65536, left))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    def size(self, key: str) -> int | None:
        """The file's size, or None if it is not there."""
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def exists(self, key: str) -> bool:
        """Tell whether the file exists."""
        return self._path(key).is_file()

    def delete(self, key: str) -> int:
        """Remove the file and the directories it leaves empty; 0 if it was not there."""
        path = self._path(key)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        parent = path.parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:  # not empty (or removed meanwhile): stop climbing
                break
            parent = parent.parent
        return size
